//! The event-triggered functions: the deliver worker and the alert ingest queue (both
//! SQS, with ReportBatchItemFailures), and CloudWatch alarm changes from EventBridge.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use hookline_shared::{
    alert::{cloudwatch, AlertInput},
    delivery::{queue::DeliveryMessage, worker::Handled},
    error::FieldError,
    ingest::idempotency_key,
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
/// recorded together. A message not yet due is held out of sight until it is (or for as
/// long as SQS allows) and left on the queue.
pub async fn deliver(
    app: &App,
    event: SqsEvent,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut ids = Vec::new();
    let mut messages = Vec::new();
    let mut failed = Vec::new();
    for record in event.records {
        let id = record.message_id.unwrap_or_default();
        match record
            .body
            .as_deref()
            .map(serde_json::from_str::<DeliveryMessage>)
        {
            Some(Ok(m)) => {
                let receipt = record.receipt_handle.unwrap_or_default();
                ids.push((id, receipt, m.delivery_id.clone(), m.attempt));
                messages.push(m);
            }
            _ => {
                // Left on the queue: after maxReceiveCount it lands in the dead-letter queue.
                tracing::error!(sqs_message = %id, "not a delivery message");
                failed.push(id);
            }
        }
    }
    let results = app.worker.handle_batch(messages).await;
    let now = app.attempter.now();
    for ((id, receipt, delivery, attempt), result) in ids.into_iter().zip(results) {
        match result {
            Ok(Handled::Postponed(until)) => {
                let wait = (until - now).to_std().unwrap_or_default();
                if let Err(err) = app.queue.hold(&receipt, wait).await {
                    // Then it comes back after the visibility timeout, and is held again.
                    tracing::warn!(sqs_message = %id, %delivery, error = %err, "could not hold a message");
                }
                tracing::info!(sqs_message = %id, %delivery, attempt, %until, outcome = "Postponed", "message handled");
                failed.push(id);
            }
            Ok(handled) => {
                tracing::info!(sqs_message = %id, %delivery, attempt, outcome = ?handled, "message handled");
                if handled == Handled::Busy {
                    failed.push(id);
                }
            }
            Err(err) => {
                tracing::error!(sqs_message = %id, %delivery, attempt, error = %err, "delivery failed; the message will be retried");
                failed.push(id);
            }
        }
    }
    Ok(batch_response(failed))
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
        match app.ingest().accept(&account, alert, Some(&key)).await {
            Ok(accepted) => {
                tracing::info!(sqs_message = %id, account = %account, alert = %accepted.alert_id, deliveries = accepted.deliveries, "queued alert accepted");
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

/// CloudWatch alarm state changes (EventBridge): ALARM fires, OK resolves, for the
/// account named by the `CLOUDWATCH_ACCOUNT_ID` setting.
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
    let accepted = app
        .ingest()
        .accept(account, input, None)
        .await
        .map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
    Ok(serde_json::to_value(accepted)?)
}

#[cfg(test)]
mod tests {
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
}
