//! The event-triggered functions: the deliver worker and the alert ingest queue (both
//! SQS, with ReportBatchItemFailures), and CloudWatch alarm changes from EventBridge.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use std::collections::HashMap;

use hookline_shared::{
    alert::{cloudwatch, lifecycle::Actor, AlertInput},
    delivery::{
        digest,
        message::DeliveryMessage,
        queue::{self, not_yet_due, PutOff, QueueMessage, TimerMessage},
        worker::Handled,
    },
    error::FieldError,
    ingest::idempotency_key,
    metrics::{Metrics, Unit},
    ApiError,
};
use serde_json::{json, Value};

use crate::{http::strict_json, App};

/// Runs `handle` on every record at once and reports the ones to keep on the queue.
/// (The alerts queue; the deliver function works on its batch as a whole.)
async fn each_record<'a, F, Fut>(records: Vec<SqsMessage>, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: std::future::Future<Output = bool> + 'a,
{
    let ids: Vec<String> = records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let done = join_all(records.into_iter().map(handle)).await;
    batch_response(
        ids.into_iter()
            .zip(done)
            .filter(|(_, ok)| !ok)
            .map(|(id, _)| id)
            .collect(),
    )
}

/// The deliver function: one attempt per message, all of a batch at once, claimed and
/// recorded together; and the alert timers that ride the same queue. A message not yet
/// due is put off until it is (see [`hookline_shared::delivery::queue::Queue::postpone_all`]),
/// the batch's together. Every message is answered by its own id: one that got no result
/// is left on the queue, never taken as done.
pub async fn deliver(
    app: &App,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let now = app.attempter.now();
    let mut received = HashMap::new();
    let mut messages = Vec::new();
    let mut timers = Vec::new();
    let mut recoveries = Vec::new();
    let mut failed = Vec::new();
    let mut metrics = Metrics::new("deliver");
    for record in event.records {
        let r = Received::of(record);
        match QueueMessage::parse(&r.body) {
            Ok(QueueMessage::Delivery(m)) => {
                late(&mut metrics, m.not_before, r.sent_at, now);
                messages.push((r.id.clone(), m.clone()));
                received.insert(r.id.clone(), (r, m));
            }
            Ok(QueueMessage::Timer(t)) => {
                late(&mut metrics, Some(t.not_before), r.sent_at, now);
                timers.push((r, t));
            }
            Ok(QueueMessage::Recovery(m)) => recoveries.push((r, m)),
            Err(_) => {
                // Left on the queue: after maxReceiveCount it lands in the dead-letter queue.
                tracing::error!(sqs_message = %r.id, "not a delivery message");
                failed.push(r.id);
            }
        }
    }
    if metrics.has_values() {
        metrics.emit(now);
    }
    let (results, timed, recovered) = futures::join!(
        app.worker.handle_batch(messages),
        join_all(timers.into_iter().map(|(r, t)| async move {
            let result = run_timer(app, &t).await;
            (r, t, result)
        })),
        join_all(recoveries.into_iter().map(|(r, m)| async move {
            let result = app.worker.recover(&m.recovery).await;
            (r, m, result)
        }))
    );
    let now = app.attempter.now();
    // What is put off or sent again goes in batches once every result is in.
    let mut put_offs: Vec<(Received, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut sends: Vec<InPlace> = Vec::new();
    for (id, result) in results {
        let Some((r, m)) = received.remove(&id) else {
            continue;
        };
        let (delivery, attempt) = (&m.delivery_id, m.attempt);
        match result {
            Ok(Handled::Postponed(until)) => {
                tracing::info!(sqs_message = %r.id, %delivery, attempt, %until, outcome = "Postponed", "message handled");
                put_offs.push((r, until));
            }
            Ok(Handled::Deferred(at)) => {
                tracing::info!(sqs_message = %r.id, %delivery, attempt, %at, outcome = "Deferred", "message handled");
                // Sent again carrying its granted time, and this copy deleted; kept on the
                // queue if that fails, to be granted a time again.
                let granted = DeliveryMessage {
                    slot: Some(at),
                    not_before: Some(at),
                    ..m
                };
                let wait = (at - now).to_std().unwrap_or_default();
                sends.push((r.id, serde_json::to_string(&granted), wait));
            }
            Ok(Handled::Digested(Some(due))) => {
                tracing::info!(sqs_message = %r.id, %delivery, attempt, digest = %due.id, at = %due.at, outcome = "Digested", "message handled; it sends its digest");
                // Kept on the queue if the digest's message cannot be queued: back, it
                // finds itself in the digest and queues it again.
                let message = digest::message(&m.account_id, &m.webhook_id, &due.id, due.at);
                let wait = (due.at - now).to_std().unwrap_or_default();
                sends.push((r.id, serde_json::to_string(&message), wait));
            }
            Ok(handled) => {
                tracing::info!(sqs_message = %r.id, %delivery, attempt, outcome = ?handled, "message handled");
                if handled == Handled::Busy {
                    failed.push(r.id);
                }
            }
            Err(err) => {
                tracing::error!(sqs_message = %r.id, %delivery, attempt, error = %err, "delivery failed; the message will be retried");
                failed.push(r.id);
            }
        }
    }
    failed.extend(unanswered(received.into_keys()));
    for (r, timer, result) in timed {
        match result {
            Ok(None) => {}
            Ok(Some(until)) => put_offs.push((r, until)),
            Err(err) => {
                tracing::error!(sqs_message = %r.id, alert = %timer.alert_id, error = %err, "alert timer failed; it will be retried");
                failed.push(r.id);
            }
        }
    }
    let (postponed, sent) = futures::join!(postpone_all(app, &put_offs, now), send_all(app, sends));
    failed.extend(postponed);
    failed.extend(sent);
    for (r, m, result) in recovered {
        if let Err(err) = result {
            tracing::error!(sqs_message = %r.id, recovery = %m.recovery.id, error = %err, "recovery page failed; it will be retried");
            failed.push(r.id);
        }
    }
    Ok(batch_response(failed))
}

/// Messages the worker gave no result for: failures, so they come back.
fn unanswered(ids: impl Iterator<Item = String>) -> Vec<String> {
    ids.inspect(
        |id| tracing::error!(sqs_message = %id, "no result for a message; it will be retried"),
    )
    .collect()
}

/// Adds how late a message is handled, if it is due (see [`queue::lateness`]).
fn late(
    metrics: &mut Metrics,
    not_before: Option<chrono::DateTime<chrono::Utc>>,
    sent_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Some(late) = queue::lateness(not_before, sent_at, now) {
        metrics.add(
            "Lateness",
            Unit::Milliseconds,
            late.num_milliseconds() as f64,
        );
    }
}

/// A received queue message, as needed to put it off.
struct Received {
    id: String,
    receipt: String,
    receives: u32,
    body: String,
    /// When SQS took it (its `SentTimestamp`); now, if it does not say.
    sent_at: chrono::DateTime<chrono::Utc>,
}

impl Received {
    fn of(record: SqsMessage) -> Self {
        let attribute =
            |name: &str| (record.attributes.get(name)).and_then(|v| v.parse::<i64>().ok());
        Self {
            receives: attribute("ApproximateReceiveCount")
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(1),
            sent_at: attribute("SentTimestamp")
                .and_then(chrono::DateTime::from_timestamp_millis)
                .unwrap_or_else(chrono::Utc::now),
            id: record.message_id.unwrap_or_default(),
            receipt: record.receipt_handle.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
        }
    }
}

/// Puts messages off, each until its time: returns the ids to leave on the queue (batch
/// failures), those held and those that could not be put off (they come back after the
/// visibility timeout, and are put off again).
async fn postpone_all(
    app: &App,
    put_offs: &[(Received, chrono::DateTime<chrono::Utc>)],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let all: Vec<PutOff> = (put_offs.iter())
        .map(|(r, until)| PutOff {
            receipt_handle: &r.receipt,
            receives: r.receives,
            body: &r.body,
            wait: (*until - now).to_std().unwrap_or_default(),
        })
        .collect();
    let results = app.queue.postpone_all(&all).await;
    (put_offs.iter().zip(results))
        .filter_map(|((r, _), result)| match result {
            Ok(true) => Some(r.id.clone()),
            Ok(false) => None,
            Err(err) => {
                tracing::warn!(sqs_message = %r.id, error = %err, "could not put a message off");
                Some(r.id.clone())
            }
        })
        .collect()
}

/// A message to send in a received one's place: the received one's id, the new message,
/// and its wait.
type InPlace = (
    String,
    Result<String, serde_json::Error>,
    std::time::Duration,
);

/// Sends messages that take a received one's place (a granted time, a digest's close),
/// each after its wait: returns the ids of the received ones to leave on the queue, for
/// those not sent. Back, they are granted a time again, or find their digest and queue it.
async fn send_all(app: &App, sends: Vec<InPlace>) -> Vec<String> {
    let mut kept = Vec::new();
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for (id, body, wait) in sends {
        match body {
            Ok(body) => {
                ids.push(id);
                bodies.push((body, wait));
            }
            Err(err) => {
                tracing::error!(sqs_message = %id, error = %err, "a message could not be encoded");
                kept.push(id);
            }
        }
    }
    let sent = app.queue.send_all_delayed(bodies).await;
    for (id, sent) in ids.into_iter().zip(sent) {
        if !sent {
            tracing::warn!(sqs_message = %id, "could not send a message in its place; it stays on the queue");
            kept.push(id);
        }
    }
    kept
}

/// Runs a timer that is due; `Ok(Some(t))`: not due until `t`.
async fn run_timer(
    app: &App,
    timer: &TimerMessage,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let now = app.attempter.now();
    if not_yet_due(timer.not_before, now) {
        return Ok(Some(timer.not_before));
    }
    let acted = app.ingest(None).run_timer(timer).await?;
    tracing::info!(alert = %timer.alert_id, timer = timer.timer.name(), fired = acted.as_ref().is_some_and(|a| a.changed), "alert timer ran");
    Ok(None)
}

fn batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// A message on the alerts queue: `{"account_id": ..., "alert": {...}, "idempotency_key"?: ...}`.
fn parse_queued(body: &str) -> Result<(String, AlertInput, Option<String>), Vec<FieldError>> {
    let value = strict_json(body.as_bytes())
        .map_err(|e| vec![FieldError::new("body", format!("is not JSON: {e}"))])?;
    let Value::Object(map) = &value else {
        return Err(vec![FieldError::new(
            "body",
            "must be an object {account_id, alert}",
        )]);
    };
    let mut errors = Vec::new();
    for key in map
        .keys()
        .filter(|k| !matches!(k.as_str(), "account_id" | "alert" | "idempotency_key"))
    {
        errors.push(FieldError::new(key.clone(), "is not a known field"));
    }
    let account = match map.get("account_id").and_then(Value::as_str) {
        Some(a) if !a.is_empty() && a.len() <= 128 => Some(a.to_string()),
        _ => {
            errors.push(FieldError::new(
                "account_id",
                "is required: the Hookline account the alert belongs to",
            ));
            None
        }
    };
    let alert = match map.get("alert") {
        Some(a) => AlertInput::parse_at(a, "alert.")
            .map_err(|e| errors.extend(e))
            .ok(),
        None => {
            errors.push(FieldError::new("alert", "is required"));
            None
        }
    };
    let key = match idempotency_key(map.get("idempotency_key").and_then(Value::as_str)) {
        Ok(k) => k,
        Err(e) => {
            errors.extend(e.details().iter().cloned());
            None
        }
    };
    match (account, alert) {
        (Some(account), Some(alert)) if errors.is_empty() => Ok((account, alert, key)),
        _ => Err(errors),
    }
}

/// The ingest function of the alerts queue.
pub async fn ingest_queue(
    app: &App,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(each_record(event.records, |record| async move {
        let id = record.message_id.unwrap_or_default();
        let (account, alert, key) = match parse_queued(record.body.as_deref().unwrap_or("")) {
            Ok(parsed) => parsed,
            Err(errors) => {
                let faults: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                tracing::error!(sqs_message = %id, faults = ?faults, "invalid alert message; it will go to the dead-letter queue");
                return false;
            }
        };
        match app.store.get_account(&account).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::error!(sqs_message = %id, account = %account, "alert message for an unknown account");
                return false;
            }
            Err(err) => {
                tracing::error!(sqs_message = %id, error = %err, "could not check the account");
                return false;
            }
        }
        // SQS delivers at least once: the message id keeps a redelivery from fanning out twice.
        let key = key.unwrap_or_else(|| format!("sqs:{id}"));
        match app.ingest(None).accept(&account, alert, Some(&key), Actor::Queue).await {
            Ok(accepted) => {
                tracing::info!(sqs_message = %id, account = %account, alert = accepted.alert_id.as_deref().unwrap_or("none"), outcome = ?accepted.outcome, deliveries = accepted.deliveries, "queued alert accepted");
                true
            }
            Err(err) => {
                tracing::error!(sqs_message = %id, error = %err, "queued alert not accepted; it will be retried");
                false
            }
        }
    })
    .await)
}

/// CloudWatch alarm state changes (EventBridge): ALARM fires, OK resolves (the alarm's ARN
/// keys the alert), for the account named by the `CLOUDWATCH_ACCOUNT_ID` setting.
pub async fn ingest_cloudwatch(app: &App, event: Value) -> Result<Value, lambda_runtime::Error> {
    let account = app
        .settings
        .cloudwatch_account
        .as_deref()
        .ok_or("CLOUDWATCH_ACCOUNT_ID is not set: no account to raise CloudWatch alarms in")?;
    let input = match cloudwatch::convert(&event) {
        Ok(Some(input)) => input,
        Ok(None) => return Ok(json!({"skipped": "the alarm state raises no alert"})),
        Err(fault) => {
            // Retrying a malformed event cannot help: log it and let it go.
            tracing::error!(fault = %fault, "not a CloudWatch alarm state change");
            return Ok(json!({"skipped": fault}));
        }
    };
    let key = cloudwatch::idempotency_key(&event);
    let accepted = app
        .ingest(None)
        .accept(account, input, key.as_deref(), Actor::Cloudwatch)
        .await
        .map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
    Ok(serde_json::to_value(accepted)?)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;

    #[test]
    fn queued_messages_are_validated() {
        let ok =
            parse_queued(r#"{"account_id": "a", "alert": {"type": "t", "message": "m"}}"#).unwrap();
        assert_eq!(ok.0, "a");
        let err = parse_queued(r#"{"alert": {"type": 1}, "extra": true}"#).unwrap_err();
        let mut fields: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            ["account_id", "alert.message", "alert.type", "extra"]
        );
        assert!(parse_queued("not json").is_err());
        // One reader must not see a different alert than another.
        assert!(parse_queued(
            r#"{"account_id": "a", "account_id": "b", "alert": {"type": "t", "message": "m"}}"#
        )
        .is_err());
    }

    fn record(body: Value, sent: chrono::DateTime<chrono::Utc>) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(uuid::Uuid::new_v4().to_string());
        record.body = Some(body.to_string());
        (record.attributes).insert("SentTimestamp".into(), sent.timestamp_millis().to_string());
        record
    }

    fn delivery(not_before: Option<chrono::DateTime<chrono::Utc>>) -> Value {
        json!({"account_id": "a", "webhook_id": "w", "delivery_id": "d", "alert_id": "l",
               "event": "alert.triggered", "attempt": 2, "trigger": "scheduled",
               "payload": {}, "not_before": not_before})
    }

    /// The lateness alarm's input: none for a retry held for two hours, ten minutes for a
    /// delivery handled ten minutes after it was due (past the alarm's default, 300 s).
    #[test]
    fn only_due_messages_count_and_a_late_one_raises_the_alarm_input() {
        let now = Utc::now();
        let held = record(
            delivery(Some(now + Duration::hours(2))),
            now - Duration::minutes(15),
        );
        let late_one = record(
            delivery(Some(now - Duration::minutes(10))),
            now - Duration::hours(2),
        );
        let mut metrics = Metrics::new("deliver");
        for r in [held, late_one].map(Received::of) {
            let Ok(QueueMessage::Delivery(m)) = QueueMessage::parse(&r.body) else {
                panic!("a delivery message");
            };
            late(&mut metrics, m.not_before, r.sent_at, now);
        }
        let samples = metrics.values("Lateness");
        assert_eq!(samples.len(), 1, "{samples:?}");
        assert!((599_000.0..=601_000.0).contains(&samples[0]), "{samples:?}");
        assert!(samples[0] > 300_000.0);
    }

    #[test]
    fn a_message_without_a_result_is_a_failure() {
        let failed = unanswered(["m1".to_string(), "m2".to_string()].into_iter());
        assert_eq!(failed, ["m1", "m2"]);
        assert_eq!(batch_response(failed).batch_item_failures.len(), 2);
    }
}
