//! Bulk recovery: "retry everything that failed since the outage". A recovery queues a
//! manual attempt for every delivery of one webhook that ended `failed` within a window,
//! a page of the delivery log at a time: the route does the first page, and each further
//! page rides the delivery queue as a [`RecoveryMessage`], so thousands of deliveries take
//! many short invocations rather than one long one.
//!
//! Once each: a recovery's id comes from its webhook and window, and asking for the same
//! window again (while it runs or after) returns it as it stands; each page moves the stored cursor on condition that
//! nobody moved it first; and an attempt queued twice (a page redone after a crash) is
//! claimed once, since both copies carry the same attempt number.

use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::message::{RecoveryMessage, RecoveryRef};
use super::{
    outcome::DeliveryState,
    queue::{Queue, QueueError},
    record::Delivery,
    redeliver,
};
use crate::{auth::Access, settings::DeliverySettings, store::StoreError, webhook::Webhook, Store};

/// Delivery items read per page (one Query).
pub const PAGE_ITEMS: usize = 200;
/// Payloads rebuilt at once within a page.
const CONCURRENT_READS: usize = 16;

named_enum! {
    #[strum(serialize_all = "snake_case")]
    pub enum RecoveryState {
        Running,
        Finished,
    }
}

/// A recovery as stored and reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub id: String,
    pub webhook_id: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub state: RecoveryState,
    /// Manual attempts queued so far.
    pub queued: u64,
    /// Delivery records read so far.
    pub scanned: u64,
    /// The last delivery id read: the next page starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing)]
    #[serde(default)]
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Why a window is refused (the route names the field).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("since: must be before until")]
    Empty,
    #[error("since: deliveries are kept for {0} days; choose a later time")]
    TooOld(i64),
    #[error("until: must not be in the future")]
    Future,
}

/// The window `[since, until]` (until defaults to now), checked against the log's retention.
pub fn window(
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    settings: &DeliverySettings,
) -> Result<(DateTime<Utc>, DateTime<Utc>), WindowError> {
    // A minute of leeway for the caller's clock.
    if until.is_some_and(|u| u > now + ChronoDuration::minutes(1)) {
        return Err(WindowError::Future);
    }
    // By default the end of the current second, so that calls a moment apart (a double
    // click) name the same window, which runs once, and nothing failed so far is left out.
    let until = match until {
        Some(u) => u.min(now),
        None => now.with_nanosecond(0).unwrap_or(now) + ChronoDuration::seconds(1),
    };
    if since >= until {
        return Err(WindowError::Empty);
    }
    let retention = ChronoDuration::from_std(settings.retention).unwrap_or(ChronoDuration::MAX);
    if since < now - retention {
        return Err(WindowError::TooOld(retention.num_days()));
    }
    Ok((since, until))
}

/// The same webhook and window give the same recovery.
pub fn recovery_id(webhook_id: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let seed = format!(
        "{webhook_id}/{}/{}",
        since.timestamp_millis(),
        until.timestamp_millis()
    );
    hex::encode(&Sha256::digest(seed.as_bytes())[..16])
}

/// How long before `since` a delivery that ended in the window may have been made: its
/// whole retry schedule (with jitter), an hour of waiting for an earlier transition, and
/// a lease. The log is read from there.
pub fn earliest_made(since: DateTime<Utc>, settings: &DeliverySettings) -> DateTime<Utc> {
    let schedule: std::time::Duration = settings.retry.delays.iter().sum();
    let span = schedule.mul_f64(1.0 + settings.retry.jitter)
        + std::time::Duration::from_secs(3600)
        + settings.lease;
    since - ChronoDuration::from_std(span).unwrap_or(ChronoDuration::MAX / 2)
}

/// Whether the recovery re-attempts `delivery`: it ended failed within the window.
pub fn wanted(delivery: &Delivery, since: DateTime<Utc>, until: DateTime<Utc>) -> bool {
    let ended = delivery.updated_at.unwrap_or(delivery.created_at);
    delivery.state == DeliveryState::Failed && ended >= since && ended <= until
}

impl Recovery {
    pub fn new(
        webhook_id: &str,
        (since, until): (DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
        expires_at: i64,
    ) -> Self {
        Self {
            id: recovery_id(webhook_id, since, until),
            webhook_id: webhook_id.to_string(),
            since,
            until,
            state: RecoveryState::Running,
            queued: 0,
            scanned: 0,
            cursor: None,
            created_at: now,
            updated_at: now,
            expires_at,
        }
    }

    pub fn message(&self, account_id: &str) -> RecoveryMessage {
        RecoveryMessage {
            recovery: RecoveryRef {
                account_id: account_id.to_string(),
                webhook_id: self.webhook_id.clone(),
                id: self.id.clone(),
            },
        }
    }
}

/// Runs one page of `recovery` for `webhook`: queues its failed deliveries, moves the
/// cursor, and queues the next page if there is one. Returns the recovery as it now
/// stands, or `None` if another worker ran this page first.
pub async fn run_page(
    store: &Store,
    queue: &Queue,
    webhook: &Webhook,
    recovery: &Recovery,
    settings: &DeliverySettings,
    now: DateTime<Utc>,
) -> Result<Option<Recovery>, RecoveryError> {
    let account = &webhook.account_id;
    let made = (earliest_made(recovery.since, settings), recovery.until);
    let page = store
        .delivery_page(
            account,
            &webhook.id,
            made,
            recovery.cursor.as_deref(),
            PAGE_ITEMS,
            now,
        )
        .await?;
    let chosen: Vec<&Delivery> = page
        .items
        .iter()
        .filter(|d| wanted(d, recovery.since, recovery.until))
        .collect();
    let mut messages = Vec::with_capacity(chosen.len());
    for chunk in chosen.chunks(CONCURRENT_READS) {
        let reads = join_all(
            chunk
                .iter()
                .map(|d| redeliver::payload_of(store, webhook, d, Access::Write, now)),
        )
        .await;
        for (d, payload) in chunk.iter().zip(reads) {
            // A delivery whose alert expired from the log has nothing to send: skipped.
            if let Some(payload) = payload? {
                messages.push(redeliver::message(webhook, d, payload));
            }
        }
    }
    let sent = queue.send_all(&messages).await;
    if sent.iter().any(|ok| !ok) {
        // The page is read again when the message comes back; what was queued is then
        // queued again, and claimed once.
        return Err(QueueError("some recovery attempts could not be queued".into()).into());
    }
    let mut next = recovery.clone();
    next.queued += messages.len() as u64;
    next.scanned += page.items.len() as u64;
    next.updated_at = now;
    match page.next_after {
        Some(last) => next.cursor = Some(last),
        None => next.state = RecoveryState::Finished,
    }
    if !store
        .advance_recovery(account, recovery.cursor.as_deref(), &next)
        .await?
    {
        return Ok(None);
    }
    if next.state == RecoveryState::Running {
        queue
            .send_delayed(&next.message(account), std::time::Duration::ZERO)
            .await?;
    }
    tracing::info!(account = %account, webhook = %webhook.id, recovery = %next.id, queued = next.queued, scanned = next.scanned, state = %next.state, "recovery page done");
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{
        outcome::Trigger,
        record::{uuid_floor, uuid_time},
    };
    use crate::event::EventType;

    fn settings() -> DeliverySettings {
        crate::Settings::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "DELIVERY_QUEUE_URL" => Some("http://q".into()),
            "RETRY_SCHEDULE" => Some("1m,1h".into()),
            _ => None,
        })
        .unwrap()
        .delivery
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn windows() {
        let s = settings();
        let now = at(10_000);
        let next_second = now + ChronoDuration::seconds(1);
        assert_eq!(window(at(0), None, now, &s), Ok((at(0), next_second)));
        let mid_second = now + ChronoDuration::milliseconds(400);
        assert_eq!(
            window(at(0), None, mid_second, &s),
            Ok((at(0), next_second))
        );
        assert_eq!(window(at(0), Some(at(5)), now, &s), Ok((at(0), at(5))));
        assert_eq!(window(at(5), Some(at(5)), now, &s), Err(WindowError::Empty));
        assert_eq!(window(now, Some(now), now, &s), Err(WindowError::Empty));
        assert_eq!(
            window(at(0), Some(now + ChronoDuration::hours(1)), now, &s),
            Err(WindowError::Future)
        );
        let old = now - ChronoDuration::from_std(s.retention).unwrap() - ChronoDuration::seconds(1);
        assert!(matches!(
            window(old, None, now, &s),
            Err(WindowError::TooOld(_))
        ));
    }

    #[test]
    fn ids_name_the_webhook_and_window() {
        assert_eq!(
            recovery_id("w", at(0), at(1)),
            recovery_id("w", at(0), at(1))
        );
        assert_ne!(
            recovery_id("w", at(0), at(1)),
            recovery_id("w", at(0), at(2))
        );
        assert_ne!(
            recovery_id("w", at(0), at(1)),
            recovery_id("v", at(0), at(1))
        );
    }

    #[test]
    fn the_log_is_read_from_the_schedule_before_since() {
        let s = settings();
        // 61 minutes of schedule with 20 % jitter, an hour of order wait, the lease.
        let span = at(0) - earliest_made(at(0), &s);
        let expected = ChronoDuration::seconds(61 * 60 * 12 / 10 + 3600)
            + ChronoDuration::from_std(s.lease).unwrap();
        assert_eq!(span, expected);
    }

    #[test]
    fn only_failures_ended_in_the_window() {
        let mut d = Delivery::pending(
            "d".into(),
            "w".into(),
            "a".into(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            at(0),
            0,
        );
        d.state = DeliveryState::Failed;
        d.updated_at = Some(at(50));
        assert!(wanted(&d, at(10), at(100)));
        assert!(wanted(&d, at(50), at(50)));
        assert!(!wanted(&d, at(51), at(100)));
        assert!(!wanted(&d, at(10), at(49)));
        d.state = DeliveryState::Succeeded;
        assert!(!wanted(&d, at(10), at(100)));
        d.state = DeliveryState::Retrying;
        assert!(!wanted(&d, at(10), at(100)));
    }

    #[test]
    fn uuid_bounds_order_with_real_ids() {
        let id = uuid::Uuid::now_v7().to_string();
        let made = uuid_time(&id).unwrap();
        assert!(uuid_floor(made) <= id);
        assert!(uuid_floor(made + ChronoDuration::milliseconds(1)) > id);
    }
}
