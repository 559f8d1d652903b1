//! Alerts in, and every change to them: reports (which create or update an alert by its
//! key), actions (by token or link) and timers. Each change is decided by
//! [`crate::alert::lifecycle`], saved with a condition on the version read (a lost race
//! reads and decides again), and a transition is then fanned out: one delivery per
//! enabled webhook that subscribes to its event, queued in order behind the previous
//! transition's delivery to the same webhook.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    alert::{
        lifecycle::{after_move, decide, Action, Actor, AlertState, Decision},
        links::{self, Claim, LinkAction, LINK_LIFETIME},
        Alert, AlertInput, AlertStatus, Links,
    },
    delivery::{
        payload::Payload,
        queue::{DeliveryMessage, Queue, TimerMessage},
        record::{uuid_time, Trigger},
        render::RenderError,
        sandbox::Sandbox,
    },
    error::ApiError,
    event::EventType,
    metrics::Metrics,
    settings::DeliverySettings,
    store::{
        alerts::{MOVES_KEPT, MOVE_IDS_KEPT},
        Move, StoredAlert,
    },
    webhook::{
        condition::{self, Judged},
        Webhook,
    },
    Store,
};

/// How long an idempotency key holds.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);
pub const IDEMPOTENCY_KEY_MAX: usize = 256;
/// Reads and decides again this often when concurrent writers keep winning.
const SAVE_TRIES: u32 = 8;

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
}

impl Ingest<'_> {
    /// Accepts one report for `account_id`. Without a `dedup_key` it is a new alert. With
    /// one, it updates the open alert of that key (no one is notified), resolves it, or
    /// reopens a resolved one (`alert.unresolved`). With an idempotency key, a repeat
    /// within 24 h answers as the first did and changes nothing.
    pub async fn accept(
        &self,
        account_id: &str,
        input: AlertInput,
        idempotency_key: Option<&str>,
        by: Actor,
    ) -> Result<Accepted, ApiError> {
        let now = Utc::now();
        let mut report_id = uuid::Uuid::now_v7().to_string();
        if let Some(key) = idempotency_key {
            let fingerprint = fingerprint(&input);
            let earlier = self
                .store
                .take_idempotency_key(
                    account_id,
                    key,
                    &fingerprint,
                    &report_id,
                    now,
                    IDEMPOTENCY_WINDOW,
                )
                .await?;
            if let Some(earlier) = earlier {
                if earlier.fingerprint != fingerprint {
                    return Err(ApiError::Conflict {
                        code: "idempotency_key_reused",
                        message: "this idempotency key was used in the last 24 hours for a different alert".into(),
                    });
                }
                // Done again under the first request's id: what it finished is found done.
                report_id = earlier.alert_id;
            }
        }
        // What the report does: to its key's alert, and as a new alert.
        let (action, new_event, new_state) = match input.status {
            AlertStatus::Firing => (
                Action::Fired,
                EventType::AlertTriggered,
                AlertState::Triggered,
            ),
            AlertStatus::Resolved => (
                Action::ResolvedReport,
                EventType::AlertResolved,
                AlertState::Resolved,
            ),
        };
        for tries in 0..SAVE_TRIES {
            lost_race(tries).await;
            let found = match &input.dedup_key {
                Some(key) => self.store.get_alert_by_key(account_id, key, now).await?,
                // A keyless report's alert has the report's id: found only on a repeat.
                None if idempotency_key.is_some() => {
                    self.store.get_alert(account_id, &report_id, now).await?
                }
                None => None,
            };
            let Some(stored) = found else {
                if input.dedup_key.is_some() && input.status == AlertStatus::Resolved {
                    return Ok(Accepted {
                        alert_id: None,
                        outcome: Outcome::Ignored,
                        event: None,
                        transition: None,
                        deliveries: 0,
                    });
                }
                // The id's own time: a repeat makes the same delivery ids.
                let received_at = uuid_time(&report_id).unwrap_or(now);
                let alert = Alert::new(report_id.clone(), input.clone(), received_at);
                let change = Change {
                    moved: Some((new_event, new_state, action)),
                    by: by.clone(),
                    report_id: Some(report_id.clone()),
                };
                match self
                    .save(account_id, None, alert, change, received_at)
                    .await?
                {
                    Some((saved, deliveries)) => {
                        return Ok(accepted(&saved, Outcome::Created, deliveries))
                    }
                    None => continue,
                }
            };
            if let Some(done) = self.repeat(account_id, &stored, &report_id).await? {
                return Ok(done);
            }
            let moved = match decide(&stored.alert.standing(), action) {
                Decision::Move { event, to } => Some((event, to, action)),
                Decision::Unchanged(_) | Decision::Refused(_) => None,
            };
            let mut alert = stored.alert.clone();
            // A reopening is armed with the report's escalation delay; otherwise the alert
            // keeps the delay it was triggered with.
            let escalate_after = match moved {
                Some((EventType::AlertUnresolved, ..)) => input.escalate_after_seconds,
                _ => alert.input.escalate_after_seconds,
            };
            alert.input = AlertInput {
                escalate_after_seconds: escalate_after,
                ..input.clone()
            };
            alert.reports += 1;
            alert.last_seen = now;
            let outcome = if moved.is_some() {
                Outcome::Transitioned
            } else {
                Outcome::Updated
            };
            let change = Change {
                moved,
                by: by.clone(),
                report_id: Some(report_id.clone()),
            };
            if let Some((saved, deliveries)) = self
                .save(account_id, Some(&stored), alert, change, now)
                .await?
            {
                return Ok(accepted(&saved, outcome, deliveries));
            }
        }
        Err(contended())
    }

    /// A report already taken (by its id): queues its transition's deliveries again, in
    /// case the first request stopped before queueing them (a copy of one already queued
    /// is turned away by its claim), and answers as the first did.
    async fn repeat(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        report_id: &str,
    ) -> Result<Option<Accepted>, ApiError> {
        let alert_id = Some(stored.alert.id.clone());
        if let Some(m) = stored
            .moves
            .iter()
            .find(|m| m.report_id.as_deref() == Some(report_id))
        {
            let snapshot = self
                .store
                .get_snapshot(account_id, &stored.alert.id, m.transition)
                .await?;
            let alert = snapshot.map_or_else(|| stored.alert.clone(), |s| s.alert);
            let ids: Vec<_> = m
                .webhook_ids
                .iter()
                .map(|w| (account_id, w.as_str()))
                .collect();
            let webhooks = self.store.get_webhook_configs(&ids).await?;
            // The transition's webhooks stay as fan-out chose them; a condition that could
            // not be judged then still fails its delivery.
            let alert_json = serde_json::to_value(&alert).map_err(internal)?;
            let (_, unjudged) = (self.judge(webhooks.clone(), &alert, &alert_json, m)).await?;
            let deliveries = self
                .enqueue(account_id, stored, &alert, m, &webhooks, unjudged)
                .await?;
            let outcome = if m.transition == 1 {
                Outcome::Created
            } else {
                Outcome::Transitioned
            };
            return Ok(Some(Accepted {
                alert_id,
                outcome,
                event: Some(m.event),
                transition: Some(m.transition),
                deliveries,
            }));
        }
        Ok(
            (stored.last_report.as_deref() == Some(report_id)).then_some(Accepted {
                alert_id,
                outcome: Outcome::Updated,
                event: None,
                transition: None,
                deliveries: 0,
            }),
        )
    }

    /// Takes `action` on the alert. `Err(Conflict)` when it does not apply to the alert's
    /// state; `changed: false` when the alert is already where it leads.
    pub async fn act(
        &self,
        account_id: &str,
        alert_id: &str,
        action: Action,
        by: Actor,
    ) -> Result<Acted, ApiError> {
        for tries in 0..SAVE_TRIES {
            lost_race(tries).await;
            let now = Utc::now();
            let stored = self
                .store
                .get_alert(account_id, alert_id, now)
                .await?
                .ok_or(ApiError::NotFound("alert"))?;
            let (event, to) = match decide(&stored.alert.standing(), action) {
                Decision::Refused(message) => {
                    return Err(ApiError::Conflict {
                        code: "invalid_transition",
                        message,
                    })
                }
                Decision::Unchanged(message) => {
                    return Ok(Acted {
                        alert: stored.alert,
                        changed: false,
                        message: format!("nothing changed: {message}"),
                        deliveries: 0,
                    })
                }
                Decision::Move { event, to } => (event, to),
            };
            let alert = stored.alert.clone();
            let change = Change {
                moved: Some((event, to, action)),
                by: by.clone(),
                report_id: None,
            };
            if let Some((saved, deliveries)) = self
                .save(account_id, Some(&stored), alert, change, now)
                .await?
            {
                return Ok(Acted {
                    message: format!("the alert is now {}", saved.alert.state),
                    alert: saved.alert,
                    changed: true,
                    deliveries,
                });
            }
        }
        Err(contended())
    }

    /// Runs out a timer: the escalation, or the end of a silence. One that no longer
    /// applies (the alert moved on, or is gone) does nothing. A timer is never refused
    /// (lifecycle drops one that no longer applies), so a Conflict here is `contended`: an
    /// error, so that the message comes back and the timer runs again rather than be lost.
    pub async fn run_timer(&self, timer: &TimerMessage) -> Result<Option<Acted>, ApiError> {
        let by = Actor::Timer {
            timer: timer.timer.name().into(),
        };
        match self
            .act(&timer.account_id, &timer.alert_id, timer.timer.action(), by)
            .await
        {
            Ok(acted) => Ok(Some(acted)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves `alert` (as changed from `read`, or new) and, for a transition, makes it
    /// (escalation is armed with the alert's `escalate_after_seconds`, or else the
    /// account's), arms its timer and queues its deliveries. `None`: another writer
    /// changed the alert first.
    async fn save(
        &self,
        account_id: &str,
        read: Option<&StoredAlert>,
        mut alert: Alert,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<Option<(StoredAlert, u32)>, ApiError> {
        let transitioned = change.moved.is_some();
        let mut moves = read.map(|r| r.moves.clone()).unwrap_or_default();
        let mut webhooks = Vec::new();
        let mut unjudged = Vec::new();
        let mut timer = None;
        if let Some((event, to, action)) = change.moved {
            let escalate_after = match alert.input.escalate_after_seconds {
                // The account's default, read only when a move could arm escalation.
                None if to == AlertState::Triggered => self
                    .store
                    .get_account(account_id)
                    .await?
                    .and_then(|a| a.escalate_after_seconds),
                given => given,
            };
            let (standing, armed) =
                after_move(&alert.standing(), event, to, action, escalate_after, now);
            alert.record_move(event, standing, change.by, now);
            alert.links = self.links(account_id, &alert, now).await?;
            let alert_json = serde_json::to_value(&alert).map_err(internal)?;
            let matched = self
                .store
                .all_webhooks(account_id, |w| w.wants(&alert_json, event))
                .await?;
            let mut made = Move {
                transition: alert.transition,
                event,
                at: now,
                webhook_ids: Vec::new(),
                report_id: change.report_id.clone(),
            };
            (webhooks, unjudged) = self.judge(matched, &alert, &alert_json, &made).await?;
            made.webhook_ids = webhooks.iter().map(|w| w.id.clone()).collect();
            moves.push(made);
            let ids = |moves: &[Move]| moves.iter().map(|m| m.webhook_ids.len()).sum::<usize>();
            while moves.len() > 1 && (moves.len() > MOVES_KEPT || ids(&moves) > MOVE_IDS_KEPT) {
                moves.remove(0);
            }
            timer = armed;
        }
        let stored = StoredAlert {
            alert,
            moves,
            last_report: change
                .report_id
                .or_else(|| read.and_then(|r| r.last_report.clone())),
            version: read.map_or(1, |r| r.version + 1),
            expires_at: self.settings.expires_at(now),
        };
        // The timer goes first: one for a write that then loses its race finds the alert
        // not as it expected, and does nothing.
        if let Some(timer) = timer {
            let message = TimerMessage {
                account_id: account_id.to_string(),
                alert_id: stored.alert.id.clone(),
                timer,
                not_before: timer.at(),
            };
            let wait = (timer.at() - now).to_std().unwrap_or_default();
            self.queue
                .send_delayed(&message, wait)
                .await
                .map_err(internal)?;
        }
        let read_version = read.map(|r| r.version);
        if !self
            .store
            .save_alert(account_id, &stored, read_version, transitioned, now)
            .await?
        {
            return Ok(None);
        }
        let deliveries = match stored.moves.last().filter(|_| transitioned) {
            Some(m) => {
                self.enqueue(account_id, &stored, &stored.alert, m, &webhooks, unjudged)
                    .await?
            }
            None => 0,
        };
        tracing::info!(account = %account_id, alert = %stored.alert.id, state = %stored.alert.state, transition = stored.alert.transition, deliveries, "alert saved");
        Ok(Some((stored, deliveries)))
    }

    /// The action links for the alert's state, signed with the account's key.
    async fn links(
        &self,
        account_id: &str,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<Option<Links>, ApiError> {
        let Some(base) = self.links_base else {
            return Ok(None);
        };
        let actions = LinkAction::applicable(&alert.standing(), now);
        if actions.is_empty() {
            return Ok(None);
        }
        let key = self
            .store
            .link_key(account_id)
            .await?
            .ok_or(ApiError::NotFound("account"))?;
        let expires_at = now + LINK_LIFETIME;
        let urls = actions
            .into_iter()
            .map(|action| {
                let claim = Claim {
                    account_id: account_id.to_string(),
                    alert_id: alert.id.clone(),
                    action,
                    expires_at: expires_at.timestamp(),
                    key_id: key.id.clone(),
                };
                let url = format!(
                    "{}/links/{}",
                    base.trim_end_matches('/'),
                    links::sign(&key, &claim)
                );
                (action.as_str().to_string(), url)
            })
            .collect();
        Ok(Some(Links { expires_at, urls }))
    }

    /// The webhooks of `matched` whose condition passes for transition `m` of `alert`
    /// (see [`crate::webhook::condition`]), and the errors of those whose condition could
    /// not be judged (they are kept: their delivery fails with it), by webhook id.
    async fn judge(
        &self,
        matched: Vec<Webhook>,
        alert: &Alert,
        alert_json: &serde_json::Value,
        m: &Move,
    ) -> Result<(Vec<Webhook>, Vec<(String, RenderError)>), ApiError> {
        if matched.iter().all(|w| w.settings.condition.is_none()) {
            return Ok((matched, Vec::new()));
        }
        let entry = alert.timeline.iter().find(|t| t.transition == m.transition);
        let judged: Vec<Judged> = (matched.iter())
            .map(|webhook| Judged {
                webhook,
                payload: serde_json::to_value(Payload::new(
                    m.event, alert_json, entry, webhook, m.at,
                ))
                .unwrap_or_default(),
                delivery_id: m.delivery_id(&alert.id, &webhook.id),
            })
            .collect();
        let verdicts = condition::judge(&judged, self.sandbox)
            .await
            .map_err(internal)?;
        let mut unjudged = Vec::new();
        let mut kept = Vec::new();
        for (webhook, verdict) in matched.into_iter().zip(verdicts) {
            match verdict {
                Ok(true) => kept.push(webhook),
                Ok(false) => {}
                Err(error) => {
                    unjudged.push((webhook.id.clone(), RenderError::new("condition", error)));
                    kept.push(webhook);
                }
            }
        }
        Ok((kept, unjudged))
    }

    /// Queues the deliveries of transition `m` (the alert as it left it: `alert`), each
    /// behind the delivery of the alert's previous transition to the same webhook.
    async fn enqueue(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        alert: &Alert,
        m: &Move,
        webhooks: &[Webhook],
        mut unjudged: Vec<(String, RenderError)>,
    ) -> Result<u32, ApiError> {
        let alert_json = serde_json::to_value(alert).map_err(internal)?;
        let entry = alert.timeline.iter().find(|t| t.transition == m.transition);
        let messages: Vec<DeliveryMessage> = m
            .webhook_ids
            .iter()
            .filter_map(|id| {
                let webhook = webhooks.iter().find(|w| &w.id == id)?;
                Some(DeliveryMessage {
                    account_id: account_id.to_string(),
                    webhook_id: id.clone(),
                    delivery_id: m.delivery_id(&alert.id, id),
                    alert_id: alert.id.clone(),
                    event: m.event,
                    attempt: 1,
                    trigger: Trigger::Scheduled,
                    payload: Payload::new(m.event, &alert_json, entry, webhook, m.at).to_raw(),
                    not_before: None,
                    transition: Some(m.transition),
                    waits_for: stored.previous_delivery(id, m.transition),
                    out_of_order: false,
                    condition_error: (unjudged.iter().position(|(w, _)| w == id))
                        .map(|at| unjudged.swap_remove(at).1),
                })
            })
            .collect();
        let queued = self.queue.send_all(&messages).await;
        let sent = queued.iter().filter(|q| **q).count();
        let mut metrics = Metrics::new("ingest");
        metrics.count("FanOut", sent);
        metrics.property("alert_id", alert.id.clone().into());
        metrics.emit(Utc::now());
        if sent < messages.len() {
            return Err(ApiError::NotQueued {
                queued: sent,
                total: messages.len(),
            });
        }
        Ok(u32::try_from(sent).unwrap_or(u32::MAX))
    }
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

/// Before try `tries` + 1 after a lost race: a short, growing, jittered pause, so that
/// writers racing on one alert fall out of step.
async fn lost_race(tries: u32) {
    if tries > 0 {
        let jitter = rand::random::<u64>() % 20;
        tokio::time::sleep(std::time::Duration::from_millis(
            10 * u64::from(tries) + jitter,
        ))
        .await;
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
