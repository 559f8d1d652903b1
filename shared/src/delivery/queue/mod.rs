//! The delivery queue: one message per delivery attempt, sent in batches of ten.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use std::time::Duration;

use aws_sdk_sqs::{types::SendMessageBatchRequestEntry, Client};
use chrono::{DateTime, Utc};
use futures::{stream, StreamExt};
use serde::Serialize;

pub use super::message::{DeliveryMessage, QueueMessage, TimerMessage};
pub use put_off::PutOff;

mod put_off;

/// SQS's largest DelaySeconds: a message waiting longer is held out of sight when it
/// comes (see [`Queue::postpone_all`]).
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// The longest a received message is held out of sight. SQS allows 12 hours from when a
/// message is received; this leaves an invocation's worth of margin.
pub const MAX_HOLD: Duration = Duration::from_secs(11 * 3600);
/// The most a SendMessageBatch may carry, all its messages together: SQS refuses the
/// whole batch past it. (Newer regions take 1 MiB; this holds everywhere.)
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Messages to a SendMessageBatch.
const MAX_BATCH_MESSAGES: usize = 10;
/// Batches sent at once by one fan-out.
const CONCURRENT_BATCHES: usize = 10;
/// Tries per entry before a fan-out gives up on it.
const SEND_TRIES: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("SQS request failed: {0}")]
pub struct QueueError(pub String);

#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
    url: String,
    /// Shared by clones, so one figure covers a whole function.
    calls: Arc<AtomicU64>,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// SQS requests this handle has made (for the benchmark and the fan-out figures).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sends every message, in batches of at most ten and [`MAX_BATCH_BYTES`], several
    /// requests at once, retrying the entries SQS refuses: `queued[i]` says whether
    /// `messages[i]` is on the queue. One that cannot be encoded is not queued.
    pub async fn send_all<M: Serialize>(&self, messages: &[M]) -> Vec<bool> {
        let bodies: Vec<Option<String>> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| match serde_json::to_string(m) {
                Ok(body) => Some(body),
                Err(e) => {
                    tracing::error!(message = i, error = %e, "a queue message could not be encoded");
                    None
                }
            })
            .collect();
        self.send_encoded(bodies, &vec![None; messages.len()]).await
    }

    /// Sends message bodies, each after its delay (at most [`MAX_DELAY`]; a message's
    /// `not_before` carries the rest), in batches as [`Queue::send_all`] does: `sent[i]`
    /// says whether `bodies[i]` is on the queue.
    pub async fn send_all_delayed(&self, bodies: Vec<(String, Duration)>) -> Vec<bool> {
        let (bodies, delays): (Vec<_>, Vec<_>) = (bodies.into_iter())
            .map(|(b, d)| (Some(b), Some(d)))
            .unzip();
        self.send_encoded(bodies, &delays).await
    }

    /// Sends the bodies that were encoded, each with its delay if it has one.
    async fn send_encoded(
        &self,
        bodies: Vec<Option<String>>,
        delays: &[Option<Duration>],
    ) -> Vec<bool> {
        let mut queued = vec![false; bodies.len()];
        // Only what was encoded is batched: usize::MAX is past any batch's size.
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| b.as_ref().map_or(usize::MAX, String::len))
            .collect();
        let (batches, too_big) = batches(&sizes);
        for i in too_big.into_iter().filter(|&i| bodies[i].is_some()) {
            tracing::error!(
                message = i,
                bytes = sizes[i],
                "a queue message is larger than SQS takes"
            );
        }
        let results: Vec<Vec<usize>> = stream::iter(batches)
            .map(|batch| self.send_batch_with_retries(&bodies, delays, batch))
            .buffer_unordered(CONCURRENT_BATCHES)
            .collect()
            .await;
        for ok in results.into_iter().flatten() {
            queued[ok] = true;
        }
        queued
    }

    /// Sends one batch; returns the indexes that were queued.
    async fn send_batch_with_retries(
        &self,
        bodies: &[Option<String>],
        delays: &[Option<Duration>],
        mut pending: Vec<usize>,
    ) -> Vec<usize> {
        let mut sent = Vec::new();
        for try_number in 0..SEND_TRIES {
            if pending.is_empty() {
                break;
            }
            if try_number > 0 {
                tokio::time::sleep(Duration::from_millis(50 << try_number)).await;
            }
            // An entry that cannot be built stays pending, and so ends up not queued.
            let entries: Vec<SendMessageBatchRequestEntry> = pending
                .iter()
                .filter_map(|&i| {
                    let built = SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_message_group_id(bodies[i].as_deref().and_then(tenant))
                        .set_message_body(bodies[i].clone())
                        .set_delay_seconds(
                            (delays.get(i).copied().flatten())
                                .map(|d| whole_seconds(d.min(MAX_DELAY))),
                        )
                        .build();
                    built
                        .map_err(|e| tracing::error!(message = i, error = %e, "a batch entry could not be built"))
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                break;
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            let result = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(output) => {
                    let ok: Vec<usize> = output
                        .successful()
                        .iter()
                        .filter_map(|e| e.id().parse().ok())
                        .collect();
                    pending.retain(|i| !ok.contains(i));
                    sent.extend(ok);
                    for failure in output.failed() {
                        tracing::warn!(
                            code = failure.code(),
                            sender_fault = failure.sender_fault(),
                            "SQS refused a delivery message"
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "SendMessageBatch failed")
                }
            }
        }
        sent
    }

    /// Sends one message after `delay` (at most [`MAX_DELAY`]; the message's `not_before`
    /// carries the rest).
    pub async fn send_delayed<T: Serialize>(
        &self,
        message: &T,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?;
        self.send_raw(body, delay).await
    }

    /// Sends a message body as it is, after `delay` (at most [`MAX_DELAY`]).
    pub async fn send_raw(&self, body: String, delay: Duration) -> Result<(), QueueError> {
        let seconds = whole_seconds(delay.min(MAX_DELAY));
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.client
            .send_message()
            .queue_url(&self.url)
            .set_message_group_id(tenant(&body))
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

/// The account a message is for (every message the delivery queue carries names one), as
/// its `MessageGroupId`: that makes the delivery queue an SQS fair queue, on which one
/// account's backlog (a storm) does not hold up the messages of the others.
fn tenant(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Of {
        account_id: Option<String>,
        recovery: Option<Recovery>,
    }
    #[derive(serde::Deserialize)]
    struct Recovery {
        account_id: String,
    }
    let of: Of = serde_json::from_str(body).ok()?;
    of.account_id.or(of.recovery.map(|r| r.account_id))
}

/// Whether a message due at `not_before` must wait at `now`: more than a second early (SQS
/// delays are whole seconds, so a message may come back a little before its time).
pub fn not_yet_due(not_before: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (not_before - now)
        .to_std()
        .is_ok_and(|wait| wait > Duration::from_secs(1))
}

/// How late a message is handled at `now`: the time since it was due (its `not_before`,
/// else when it was sent); `None` while it is not yet due. A message held for hours on
/// purpose (a retry, a silence) is on time: `ApproximateAgeOfOldestMessage` cannot tell.
pub fn lateness(
    not_before: Option<DateTime<Utc>>,
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<chrono::Duration> {
    let due = not_before.unwrap_or(sent_at);
    if not_yet_due(due, now) {
        return None;
    }
    Some((now - due).max(chrono::Duration::zero()))
}

/// SQS's whole seconds, rounded up: a message must not come back before it is due.
fn whole_seconds(wait: Duration) -> i32 {
    i32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
}

fn queue_error<E: std::error::Error + 'static>(err: aws_sdk_sqs::error::SdkError<E>) -> QueueError {
    QueueError(aws_sdk_sqs::error::DisplayErrorContext(&err).to_string())
}

/// Packs messages of these sizes, in order, into batches SQS takes: at most ten and
/// [`MAX_BATCH_BYTES`] together. Also returns the messages too large to send at all.
fn batches(sizes: &[usize]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut too_big = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > MAX_BATCH_BYTES {
            too_big.push(i);
            continue;
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_BATCH_MESSAGES && bytes + size <= MAX_BATCH_BYTES => {
                batch.push(i);
                bytes += size;
            }
            _ => {
                batches.push(vec![i]);
                bytes = size;
            }
        }
    }
    (batches, too_big)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::lifecycle::Timer;

    #[test]
    fn lateness_counts_from_when_a_message_was_due() {
        let now = Utc::now();
        let minutes = chrono::Duration::minutes;
        // A retry two hours away, back after SQS's 15-minute delay: held, not late.
        assert_eq!(
            lateness(Some(now + minutes(105)), now - minutes(15), now),
            None
        );
        // Handled ten minutes after it was due.
        assert_eq!(
            lateness(Some(now - minutes(10)), now - minutes(130), now),
            Some(minutes(10))
        );
        // A first attempt is due when sent.
        assert_eq!(lateness(None, now - minutes(10), now), Some(minutes(10)));
        assert_eq!(lateness(None, now + minutes(1), now), None);
        assert_eq!(lateness(None, now, now), Some(chrono::Duration::zero()));
    }

    /// A message that cannot be encoded is reported not queued, and nothing is sent for
    /// it (an empty body in its place would be a message nobody can read).
    #[tokio::test]
    async fn an_unencodable_message_is_not_queued() {
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("cannot be encoded"))
            }
        }
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let queue = Queue::new(Client::from_conf(config), "http://127.0.0.1:9/q");
        assert_eq!(
            queue.send_all(&[Unencodable, Unencodable]).await,
            [false, false]
        );
        assert_eq!(queue.calls(), 0);
    }

    #[test]
    fn batches_hold_ten_messages_and_256_kib_at_most() {
        let small = vec![1_000; 23];
        let (b, too_big) = batches(&small);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
        assert!(too_big.is_empty());
        // Ten of the largest alerts: two to a batch.
        let large = vec![120 * 1024; 10];
        let (b, _) = batches(&large);
        assert_eq!(b.len(), 5);
        assert!(b
            .iter()
            .all(|batch| batch.len() * 120 * 1024 <= MAX_BATCH_BYTES));
        // Exactly the limit fits; one byte more goes alone, or not at all.
        let (b, too_big) = batches(&[MAX_BATCH_BYTES, 1, MAX_BATCH_BYTES + 1, 5]);
        assert_eq!(b, [vec![0], vec![1, 3]]);
        assert_eq!(too_big, [2]);
        let order: Vec<usize> = batches(&[200_000, 100_000, 50_000]).0.concat();
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn timers_and_attempts_share_the_queue() {
        let timer = TimerMessage {
            account_id: "a".into(),
            alert_id: "x".into(),
            timer: Timer::SilenceEnds { until: Utc::now() },
            not_before: Utc::now(),
        };
        let body = serde_json::to_string(&timer).unwrap();
        assert!(matches!(QueueMessage::parse(&body), Ok(QueueMessage::Timer(t)) if t == timer));
        let attempt = r#"{"account_id": "a", "webhook_id": "w", "delivery_id": "d", "alert_id": "x",
            "event": "alert.triggered", "attempt": 1, "trigger": "scheduled", "payload": {"k": 1}}"#;
        assert!(matches!(
            QueueMessage::parse(attempt),
            Ok(QueueMessage::Delivery(_))
        ));
        assert!(QueueMessage::parse(r#"{"timer": "nope"}"#).is_err());
        assert!(QueueMessage::parse("[]").is_err());
    }

    #[test]
    fn the_body_is_the_payload_as_sent() {
        let text = r#"{"type":"alert.triggered","data":{"a":"say \"hi\""}}"#;
        let message = serde_json::json!({
            "account_id": "a", "webhook_id": "w", "delivery_id": "d", "alert_id": "x",
            "event": "alert.triggered", "attempt": 1, "trigger": "scheduled",
        });
        let mut raw = serde_json::to_string(&message).unwrap();
        raw.insert_str(raw.len() - 1, &format!(r#","payload":{text}"#));
        let parsed: DeliveryMessage = serde_json::from_str(&raw).unwrap();
        assert_eq!(parsed.payload_json(), text);
        assert!(
            serde_json::to_string(&parsed).unwrap().contains(text),
            "not re-escaped"
        );
        // A message from before carries the payload as a string.
        let mut legacy = message.clone();
        legacy["payload"] = text.into();
        let parsed: DeliveryMessage = serde_json::from_value(legacy).unwrap();
        assert_eq!(parsed.payload_json(), text);
    }

    #[test]
    fn every_message_is_grouped_by_its_account() {
        assert_eq!(
            tenant(r#"{"account_id":"a1","payload":{"x":[1]}}"#),
            Some("a1".into())
        );
        let recovery = r#"{"recovery":{"account_id":"a2","webhook_id":"w","id":"r"}}"#;
        assert_eq!(tenant(recovery), Some("a2".into()));
        assert_eq!(tenant("not json"), None);
    }
}
