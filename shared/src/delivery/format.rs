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

    /// The template that renders a digest (see [`super::digest`]): the formats of
    /// receivers that can show one; `standard` sends the payload itself.
    pub fn digest_template(self) -> Option<&'static str> {
        Some(match self {
            Self::Slack => include_str!("formats/digest/slack.j2"),
            Self::Teams => include_str!("formats/digest/teams.j2"),
            Self::Discord => include_str!("formats/digest/discord.j2"),
            Self::GoogleChat => include_str!("formats/digest/google_chat.j2"),
            Self::Pagerduty => include_str!("formats/digest/pagerduty.j2"),
            _ => return None,
        })
    }

    /// Whether a webhook of this format may be sent digests: Opsgenie and Alertmanager
    /// group alerts themselves, and BoxWatch's and Highlight's receivers take alerts
    /// only, so their webhooks' queues are sent in full, at their limit.
    pub fn shows_digests(self) -> bool {
        self == Self::Standard || self.digest_template().is_some()
    }

    /// A URL template ([`super::template::Syntax::Url`]) of what to add to the webhook's
    /// URL for an event: the receiver takes some events at other paths of its API.
    pub fn path(self) -> Option<&'static str> {
        match self {
            Self::Opsgenie => Some(include_str!("formats/opsgenie_path.j2")),
            _ => None,
        }
    }

    /// The `User-Agent` the receiver's own sender uses, if it matters to receivers written
    /// for it (a webhook's own `User-Agent` header still wins).
    pub fn user_agent(self) -> Option<&'static str> {
        match self {
            Self::Boxwatch => Some("BoxWatch-Webhook/1.0"),
            _ => None,
        }
    }

    /// Whether the receiver has a use for `event`. PagerDuty's events have three actions:
    /// a silence is not one of them, nor is taking an acknowledgement back.
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
            let sources = format.template().into_iter().chain(format.path());
            for source in sources.chain(format.digest_template()) {
                super::super::template::check(source).unwrap_or_else(|e| panic!("{format}: {e}"));
            }
        }
        assert_eq!(Format::parse("google_chat"), Some(Format::GoogleChat));
        assert_eq!(Format::parse("pagerduty"), Some(Format::Pagerduty));
        assert!(!Format::Pagerduty.carries(EventType::AlertSilenced));
        assert!(Format::Pagerduty.carries(EventType::AlertResolved));
        assert!(Format::Opsgenie.carries(EventType::AlertResolved));
        assert!(Format::Slack.carries(EventType::AlertSilenced));
    }
}
