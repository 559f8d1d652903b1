//! The Standard Webhooks payload every delivery carries:
//! `{"type", "timestamp", "data": {"alert", "transition", "previous_state", "webhook": {id, name},
//! "account": {id}}}`. `alert` is the alert as the transition left it (state, timeline,
//! links); `transition` is the timeline entry of this event (its number, who made it).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{
    alert::{lifecycle::AlertState, TimelineEntry},
    event::EventType,
    webhook::Webhook,
};

#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub event: EventType,
    pub timestamp: String,
    pub data: PayloadData<'a>,
}

#[derive(Debug, Serialize)]
pub struct PayloadData<'a> {
    pub alert: &'a Value,
    /// None for a test delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<&'a TimelineEntry>,
    /// The state before this transition (null for the first); absent for a test delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<Option<AlertState>>,
    pub webhook: WebhookRef<'a>,
    pub account: AccountRef<'a>,
}

#[derive(Debug, Serialize)]
pub struct WebhookRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct AccountRef<'a> {
    pub id: &'a str,
}

impl<'a> Payload<'a> {
    pub fn new(
        event: EventType,
        alert: &'a Value,
        transition: Option<&'a TimelineEntry>,
        webhook: &'a Webhook,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            event,
            timestamp: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            data: PayloadData {
                alert,
                transition,
                previous_state: transition.map(|t| t.from),
                webhook: WebhookRef {
                    id: &webhook.id,
                    name: &webhook.settings.name,
                },
                account: AccountRef {
                    id: &webhook.account_id,
                },
            },
        }
    }

    /// The body as sent: rendered once, so every attempt sends the same bytes.
    pub fn render(&self) -> String {
        // Serializing plain structs and a serde_json::Value cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The body, to carry in a queue message as JSON.
    pub fn to_raw(&self) -> Box<serde_json::value::RawValue> {
        serde_json::value::to_raw_value(self).unwrap_or_default()
    }
}
