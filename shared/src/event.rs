//! The events a webhook can subscribe to (its `events` list), by their wire names.

named_enum! {
    /// An event type. Its name, as the API and every payload's `type` carry it, is written
    /// once here: serde, parsing and the error messages all take it from strum.
    pub enum EventType {
        /// An alert fired.
        #[strum(serialize = "alert.triggered")]
        AlertTriggered,
        /// An alert was resolved.
        #[strum(serialize = "alert.resolved")]
        AlertResolved,
        /// `POST /webhooks/{id}/test` sent a synthetic alert.
        #[strum(serialize = "alert.test")]
        AlertTest,
    }
}

impl EventType {
    /// `alert.triggered, alert.resolved, ...`, for error messages.
    pub fn names() -> String {
        use strum::VariantArray;
        Self::VARIANTS
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        assert_eq!(
            serde_json::to_string(&EventType::AlertTriggered).unwrap(),
            "\"alert.triggered\""
        );
        let back: EventType = serde_json::from_str("\"alert.test\"").unwrap();
        assert_eq!(back, EventType::AlertTest);
        assert_eq!(
            EventType::parse("alert.resolved"),
            Some(EventType::AlertResolved)
        );
        assert_eq!(EventType::parse("alert.nope"), None);
        assert_eq!(
            EventType::names(),
            "alert.triggered, alert.resolved, alert.test"
        );
    }
}
