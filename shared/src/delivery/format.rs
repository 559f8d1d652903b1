//! The built-in formats: the body a kind of receiver expects, each a template shipped in
//! `formats/` and rendered like a user's (see [`super::render`]). `standard` is the
//! Standard Webhooks payload itself.

use crate::event::EventType;

named_enum! {
    #[derive(Default)]
    #[strum(serialize_all = "snake_case")]
    pub enum Format {
        /// The Standard Webhooks payload (see [`super::payload`]).
        #[default]
        Standard,
        Slack,
        Teams,
        Discord,
        GoogleChat,
        Pagerduty,
        Opsgenie,
        Alertmanager,
        Boxwatch,
        Highlight,
    }
}

impl Format {
    /// The template that renders it; none for `standard`.
    pub fn template(self) -> Option<&'static str> {
        Some(match self {
            Self::Standard => return None,
            Self::Slack => include_str!("formats/slack.j2"),
            Self::Teams => include_str!("formats/teams.j2"),
            Self::Discord => include_str!("formats/discord.j2"),
            Self::GoogleChat => include_str!("formats/google_chat.j2"),
            Self::Pagerduty => include_str!("formats/pagerduty.j2"),
            Self::Opsgenie => include_str!("formats/opsgenie.j2"),
            Self::Alertmanager => include_str!("formats/alertmanager.j2"),
            Self::Boxwatch => include_str!("formats/boxwatch.j2"),
            Self::Highlight => include_str!("formats/highlight.j2"),
        })
    }

    /// Whether the receiver has a use for `event`. PagerDuty's events have three actions:
    /// a silence is not one of them. Opsgenie's create call only raises an alert.
    pub fn carries(self, event: EventType) -> bool {
        use EventType::*;
        // The built-in formats show alerts; operational events go as standard JSON (or
        // through a webhook's own template, which sees them as `payload`).
        if event.is_operational() {
            return self == Self::Standard;
        }
        match self {
            Self::Pagerduty => {
                !matches!(event, AlertSilenced | AlertUnsilenced | AlertUnacknowledged)
            }
            Self::Opsgenie => matches!(
                event,
                AlertTriggered | AlertUnresolved | AlertEscalated | AlertTest
            ),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_passes_the_save_check() {
        use strum::VariantArray;
        for format in Format::VARIANTS {
            if let Some(source) = format.template() {
                super::super::template::check(source).unwrap_or_else(|e| panic!("{format}: {e}"));
            }
        }
        assert_eq!(Format::parse("google_chat"), Some(Format::GoogleChat));
        assert_eq!(Format::parse("pagerduty"), Some(Format::Pagerduty));
        assert!(!Format::Pagerduty.carries(EventType::AlertSilenced));
        assert!(Format::Pagerduty.carries(EventType::AlertResolved));
        assert!(!Format::Opsgenie.carries(EventType::AlertResolved));
        assert!(Format::Slack.carries(EventType::AlertSilenced));
    }
}
