//! The delivery queue: one message per delivery attempt, sent in batches of ten.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use std::time::Duration;

use aws_sdk_sqs::{types::SendMessageBatchRequestEntry, Client};
use chrono::{DateTime, Utc};
use futures::{stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::record::{uuid_time, Delivery, Trigger};
use crate::event::EventType;

/// SQS's largest DelaySeconds; longer waits hop through several messages.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// Batches sent at once by one fan-out.
const CONCURRENT_BATCHES: usize = 10;
/// Tries per entry before a fan-out gives up on it.
const SEND_TRIES: u32 = 4;

/// One attempt to make, as the deliver function receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub account_id: String,
    pub webhook_id: String,
    /// The webhook's version at fan-out: a hint that cached config is stale.
    #[serde(default)]
    pub webhook_version: u64,
    pub delivery_id: String,
    pub alert_id: String,
    pub event: EventType,
    pub attempt: u32,
    pub trigger: Trigger,
    /// The body to send, rendered once so that every attempt sends the same bytes.
    pub payload: String,
    /// Not to be attempted before this time (for delays longer than SQS allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

impl DeliveryMessage {
    /// The delivery this message attempts, as it stood before the attempt.
    pub fn delivery(&self, now: DateTime<Utc>, expires_at: i64) -> Delivery {
        let mut delivery = Delivery::pending(
            self.delivery_id.clone(),
            self.webhook_id.clone(),
            self.alert_id.clone(),
            self.event,
            self.trigger,
            uuid_time(&self.delivery_id).unwrap_or(now),
            expires_at,
        );
        delivery.attempt_count = self.attempt.saturating_sub(1);
        delivery
    }

    /// The message for the next scheduled attempt, due at `at`.
    pub fn next(&self, at: DateTime<Utc>) -> Self {
        Self {
            attempt: self.attempt + 1,
            trigger: Trigger::Scheduled,
            not_before: Some(at),
            ..self.clone()
        }
    }
}

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

    /// Sends every message, ten to a request, several requests at once, retrying the
    /// entries SQS refuses. Returns how many messages were queued, in the order given:
    /// `queued[i]` says whether `messages[i]` is on the queue.
    pub async fn send_all(&self, messages: &[DeliveryMessage]) -> Vec<bool> {
        let mut queued = vec![false; messages.len()];
        let chunks: Vec<Vec<usize>> = (0..messages.len())
            .collect::<Vec<_>>()
            .chunks(10)
            .map(<[usize]>::to_vec)
            .collect();
        let results: Vec<Vec<usize>> = stream::iter(chunks)
            .map(|chunk| self.send_batch_with_retries(messages, chunk))
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
        messages: &[DeliveryMessage],
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
            let entries: Vec<SendMessageBatchRequestEntry> = pending
                .iter()
                .filter_map(|&i| {
                    let body = serde_json::to_string(&messages[i]).ok()?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .ok()
                })
                .collect();
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
    pub async fn send_delayed(
        &self,
        message: &DeliveryMessage,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?;
        // Rounded up: a message must not come back before it is due.
        let seconds = i32::try_from(delay.min(MAX_DELAY).as_millis().div_ceil(1000)).unwrap_or(900);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|e| QueueError(format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e))))?;
        Ok(())
    }
}
