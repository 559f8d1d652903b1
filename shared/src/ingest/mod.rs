//! Alerts in, and every change to them: reports (which create or update an alert by its
//! key), actions (by token or link) and timers. Each change is decided by
//! [`crate::alert::lifecycle`], saved with a condition on the version read (a lost race
//! reads and decides again), and a transition is then fanned out: one delivery per
//! enabled webhook that subscribes to its event, queued in order behind the previous
//! transition's delivery to the same webhook.
//!
//! - [`report`]: reports and idempotency;
//! - [`act`]: actions and timers, and the save-and-retry loop they share with reports;
//! - [`fan_out`]: judging conditions and queueing a transition's deliveries;
//! - [`action_links`]: the action links a transition carries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

mod act;
mod action_links;
mod fan_out;
mod report;

use crate::{
    alert::{
        lifecycle::{after_move, decide, Action, Actor, AlertState, Decision},
        links::{self, LinkKey, LinkSource},
        Alert, AlertInput, AlertStatus,
    },
    backoff::Backoff,
    delivery::{
        outcome::Trigger,
        payload::Payload,
        queue::{DeliveryMessage, Queue, TimerMessage},
        record::uuid_time,
        render::RenderError,
        sandbox::Sandbox,
    },
    error::ApiError,
    event::EventType,
    metrics::Metrics,
    settings::DeliverySettings,
    store::{alerts::MOVES_KEPT, Account, Move, StoredAlert},
    webhook::{
        condition::{self, Judged},
        Webhook,
    },
    Store,
};

/// How long an idempotency key holds.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);
pub const IDEMPOTENCY_KEY_MAX: usize = 256;
/// What a report did to its alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new alert.
    Created,
    /// An open alert of the same key took the report: no one is notified.
    Updated,
    /// The report moved the alert of its key (resolved it, or reopened it).
    Transitioned,
    /// A resolved report for a key with no alert: there is nothing to resolve.
    Ignored,
}

/// The answer to an accepted report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub alert_id: Option<String>,
    pub outcome: Outcome,
    /// The event the report raised, if it made a transition.
    pub event: Option<EventType>,
    pub transition: Option<u32>,
    pub deliveries: u32,
}

/// The answer to an action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Acted {
    pub alert: Alert,
    /// False when the alert was already where the action leads.
    pub changed: bool,
    pub message: String,
    pub deliveries: u32,
}

/// What changes an alert needs.
pub struct Ingest<'a> {
    pub store: &'a Store,
    pub queue: &'a Queue,
    pub settings: &'a DeliverySettings,
    /// The API's base URL, which action links start with. Without it, payloads carry no
    /// links.
    pub links_base: Option<&'a str>,
    /// Where webhooks' conditions are judged.
    pub sandbox: &'a Sandbox,
}

fn fingerprint(input: &AlertInput) -> String {
    let text = serde_json::to_string(input).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// A change to save: a transition, or (for a report of an open alert) an update.
struct Change {
    /// For a transition: its event, the state it leads to, and the action that made it.
    moved: Option<(EventType, AlertState, Action)>,
    by: Actor,
    report_id: Option<String>,
    /// For a new alert with a dedup key: the dead alert its key item still names.
    key_named: Option<String>,
}

fn accepted(stored: &StoredAlert, outcome: Outcome, deliveries: u32) -> Accepted {
    let moved = outcome != Outcome::Updated;
    Accepted {
        alert_id: Some(stored.alert.id.clone()),
        outcome,
        event: stored.moves.last().filter(|_| moved).map(|m| m.event),
        transition: moved.then_some(stored.alert.transition),
        deliveries,
    }
}

fn contended() -> ApiError {
    ApiError::Conflict {
        code: "contended",
        message: "the alert kept changing while this request was applied; try again".into(),
    }
}

/// Checks an `Idempotency-Key` header value.
pub fn idempotency_key(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let key = raw.trim();
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || key.chars().any(|c| c.is_control()) {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_carry_their_time() {
        let before = Utc::now() - chrono::Duration::milliseconds(2);
        let id = uuid::Uuid::now_v7().to_string();
        let t = uuid_time(&id).unwrap();
        assert!(t >= before && t <= Utc::now());
        assert_eq!(uuid_time("nope"), None);
    }

    #[test]
    fn fingerprints_follow_content() {
        let a = AlertInput::parse(&serde_json::json!({"type": "t", "message": "m"})).unwrap();
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.message = "other".into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert_eq!(idempotency_key(None).unwrap(), None);
        assert_eq!(
            idempotency_key(Some(" k1 ")).unwrap().as_deref(),
            Some("k1")
        );
        assert!(idempotency_key(Some("")).is_err());
        assert!(idempotency_key(Some(&"k".repeat(300))).is_err());
    }
}
