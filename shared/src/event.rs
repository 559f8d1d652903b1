//! The events a webhook can subscribe to (its `events` list), by their wire names.

named_enum! {
    /// An event type. Its name, as the API and every payload's `type` carry it, is written
    /// once here: serde, parsing and the error messages all take it from strum.
    pub enum EventType {
        /// A new alert fired (transition 1 of an alert that fires).
        #[strum(serialize = "alert.triggered")]
        AlertTriggered,
        /// Someone took an alert on: by token or action link.
        #[strum(serialize = "alert.acknowledged")]
        AlertAcknowledged,
        /// An acknowledged alert went back to triggered.
        #[strum(serialize = "alert.unacknowledged")]
        AlertUnacknowledged,
        /// An alert was resolved: by its source (a resolved report of its key), a token
        /// or an action link.
        #[strum(serialize = "alert.resolved")]
        AlertResolved,
        /// A resolved alert fired again (a firing report of its key) or was reopened.
        #[strum(serialize = "alert.unresolved")]
        AlertUnresolved,
        /// An alert was silenced until a time (or its silence was moved).
        #[strum(serialize = "alert.silenced")]
        AlertSilenced,
        /// A silence ended: by hand, or at its `until` by the timer.
        #[strum(serialize = "alert.unsilenced")]
        AlertUnsilenced,
        /// An alert was still triggered when its escalation delay ran out (once).
        #[strum(serialize = "alert.escalated")]
        AlertEscalated,
        /// Someone asked to hear no more of an alert (Highlight's "ignore"): its reports
        /// update it quietly until it is unignored or resolved.
        #[strum(serialize = "alert.ignored")]
        AlertIgnored,
        /// An ignored alert was taken back: it is triggered again.
        #[strum(serialize = "alert.unignored")]
        AlertUnignored,
        /// Alerts a rate-limited webhook had queued too long, sent together (see
        /// [`crate::delivery::digest`]).
        #[strum(serialize = "alert.digest")]
        AlertDigest,
        /// `POST /webhooks/{id}/test` sent a synthetic alert.
        #[strum(serialize = "alert.test")]
        AlertTest,
        /// Operational: Hookline disabled one of the account's webhooks (with the reason).
        #[strum(serialize = "webhook.disabled")]
        WebhookDisabled,
        /// Operational: a delivery failed its last scheduled attempt.
        #[strum(serialize = "delivery.exhausted")]
        DeliveryExhausted,
        /// Operational: a webhook succeeded again after a failure streak.
        #[strum(serialize = "webhook.recovered")]
        WebhookRecovered,
        /// Operational: a webhook's receiver asked for a pause (429 or 503 with
        /// `Retry-After`, or a spent rate-limit window); its deliveries wait until then.
        #[strum(serialize = "webhook.paused")]
        WebhookPaused,
        /// Operational: a webhook took a delivery again after a pause.
        #[strum(serialize = "webhook.resumed")]
        WebhookResumed,
    }
}

impl EventType {
    /// An event about Hookline's own webhooks rather than an alert. A webhook gets these
    /// only when its `events` names them (an empty list means every alert event), and
    /// never about itself.
    pub fn is_operational(self) -> bool {
        matches!(
            self,
            Self::WebhookDisabled
                | Self::DeliveryExhausted
                | Self::WebhookRecovered
                | Self::WebhookPaused
                | Self::WebhookResumed
        )
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
            "alert.triggered, alert.acknowledged, alert.unacknowledged, alert.resolved, \
             alert.unresolved, alert.silenced, alert.unsilenced, alert.escalated, alert.ignored, \
             alert.unignored, alert.digest, alert.test, webhook.disabled, delivery.exhausted, webhook.recovered, \
             webhook.paused, webhook.resumed"
        );
    }
}
