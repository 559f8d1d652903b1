//! Alerts, idempotency keys, deliveries and attempts.
//!
//! | item | sk (under `ACCOUNT#<account>`) |
//! |---|---|
//! | alert | `ALERT#<alert id>` |
//! | idempotency key | `IDEM#<sha256 of the key>` |
//! | delivery | `DLV#<webhook id>#<delivery id>` |
//! | attempt | `ATT#<webhook id>#<delivery id>#<attempt, 4 digits>` |
//!
//! Each carries `expires_at` for TTL; TTL deletion is lazy, so reads skip expired items.
//!
//! An attempt is claimed before its HTTP request, in a transaction that also checks the
//! webhook's version (so the config used is current) and writes a lease on the delivery
//! item; it is finished by one transaction writing the attempt, the delivery's new state
//! and the webhook's status. That is two DynamoDB requests per attempt.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::*;
use crate::{
    alert::Alert,
    model::{LastDelivery, Webhook},
    records::{AttemptRecord, Delivery, DeliveryState, Trigger},
};

fn delivery_sk(webhook_id: &str, delivery_id: &str) -> String {
    format!("DLV#{webhook_id}#{delivery_id}")
}

fn attempt_prefix(webhook_id: &str, delivery_id: &str) -> String {
    format!("ATT#{webhook_id}#{delivery_id}#")
}

fn idempotency_sk(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("IDEM#{hex}")
}

/// A fixed-width UTC timestamp, so that comparing the strings compares the times.
fn stamp(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

/// An alert as kept for `GET /alerts/{id}` and redelivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The alert's JSON: kept as text, since `data` may nest deeper than DynamoDB allows.
    #[serde(with = "alert_text")]
    pub alert: Alert,
    pub targets: Vec<Target>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub webhook_id: String,
    pub delivery_id: String,
}

mod alert_text {
    use super::Alert;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(alert: &Alert, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&serde_json::to_string(alert).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Alert, D::Error> {
        serde_json::from_str(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What an idempotency key says about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// First use: go ahead with this alert id.
    New,
    /// An earlier request with the key did not finish: finish it, with its alert id.
    Unfinished { alert_id: String },
    /// Done before: answer as then.
    Done { alert_id: String, deliveries: u32 },
    /// The key was used for a different alert.
    Conflict,
}

#[derive(Debug, Deserialize)]
struct IdempotencyItem {
    fingerprint: String,
    alert_id: String,
    #[serde(default)]
    deliveries: Option<u32>,
    expires_at: i64,
}

/// How a claim went.
#[derive(Debug)]
pub enum Claim {
    Claimed,
    /// The webhook's version or enabled flag differs from the copy used: reload it.
    WebhookChanged,
    /// The delivery is past this attempt, leased by another worker, or (for a scheduled
    /// attempt) already final. The current delivery item is given.
    Refused(Option<Delivery>),
}

/// The webhook status that one attempt, or the attempts of a batch, leave behind.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookStatus {
    pub last_delivery: LastDelivery,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    /// Failures after the last success (all of them when none succeeded).
    pub failures: u32,
    /// When those failures began; `None` when the last attempt succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// A success came before those failures, so the stored run of failures is over.
    pub reset: bool,
}

impl WebhookStatus {
    /// The status after these attempts, in the order they finished.
    pub fn after(attempts: &[LastDelivery]) -> Option<Self> {
        let last = attempts.last()?.clone();
        let latest = |ok: bool| {
            attempts
                .iter()
                .rev()
                .find(|d| d.success == ok)
                .map(|d| d.timestamp)
        };
        let last_success = attempts.iter().rposition(|d| d.success);
        let run = &attempts[last_success.map_or(0, |i| i + 1)..];
        Some(Self {
            last_delivery: last,
            last_success: latest(true),
            last_failure: latest(false),
            failures: u32::try_from(run.len()).unwrap_or(u32::MAX),
            failing_since: run.first().map(|d| d.timestamp),
            reset: last_success.is_some(),
        })
    }
}

/// The delivery fields an attempt sets.
#[derive(Debug)]
pub struct DeliveryUpdate {
    pub state: DeliveryState,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Store {
    // ---- idempotency ----------------------------------------------------------------

    /// Takes `key` for an alert, unless a live earlier use holds it.
    pub async fn begin_idempotent(
        &self,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        alert_id: &str,
        now: DateTime<Utc>,
        keep_for: chrono::Duration,
    ) -> Result<Idempotency, StoreError> {
        let mut item = Item::from([
            ("fingerprint".to_string(), s(fingerprint)),
            ("alert_id".to_string(), s(alert_id)),
            ("expires_at".to_string(), n((now + keep_for).timestamp())),
            ("entity".to_string(), s("idempotency")),
        ]);
        item.extend(key_of(account_id, idempotency_sk(key)));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Idempotency::New),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(sdk_error(e)),
        }
        let Some(existing): Option<IdempotencyItem> = self
            .get(account_pk(account_id), idempotency_sk(key))
            .await?
        else {
            // Expired and removed between the two calls: a rare race; let the client retry.
            return Err(StoreError::Throttled);
        };
        if existing.expires_at < now.timestamp() {
            return Err(StoreError::Throttled);
        }
        Ok(if existing.fingerprint != fingerprint {
            Idempotency::Conflict
        } else if let Some(deliveries) = existing.deliveries {
            Idempotency::Done {
                alert_id: existing.alert_id,
                deliveries,
            }
        } else {
            Idempotency::Unfinished {
                alert_id: existing.alert_id,
            }
        })
    }

    pub async fn finish_idempotent(
        &self,
        account_id: &str,
        key: &str,
        deliveries: u32,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, idempotency_sk(key))))
            .update_expression("SET deliveries = :d")
            .expression_attribute_values(":d", n(deliveries))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    // ---- alerts ---------------------------------------------------------------------

    pub async fn put_alert(
        &self,
        account_id: &str,
        stored: &StoredAlert,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(alert_item(account_id, stored)?))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    pub async fn get_alert(
        &self,
        account_id: &str,
        alert_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        let alert: Option<StoredAlert> = self
            .get(account_pk(account_id), format!("ALERT#{alert_id}"))
            .await?;
        Ok(alert.filter(|a| a.expires_at > now.timestamp()))
    }

    // ---- deliveries -----------------------------------------------------------------

    /// Writes pending delivery items for a fan-out, 25 to a request, several at once.
    pub async fn put_pending_deliveries(
        &self,
        account_id: &str,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let items = deliveries
            .iter()
            .map(|d| delivery_item(account_id, d))
            .collect::<Result<Vec<_>, _>>()?;
        self.put_items(items).await
    }

    /// Puts items with BatchWriteItem, 25 to a request and several requests at once,
    /// retrying what DynamoDB leaves unprocessed.
    async fn put_items(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        use futures::{stream, StreamExt, TryStreamExt};
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(corrupt)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let chunks: Vec<Vec<WriteRequest>> =
            requests.chunks(25).map(<[WriteRequest]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| self.batch_write(chunk))
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    pub async fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let d: Option<Delivery> = self
            .get(account_pk(account_id), delivery_sk(webhook_id, delivery_id))
            .await?;
        Ok(d.filter(|d| d.expires_at > now.timestamp()))
    }

    /// The delivery items of `targets`, in one or a few BatchGetItem calls.
    pub async fn get_deliveries(
        &self,
        account_id: &str,
        targets: &[Target],
    ) -> Result<Vec<Delivery>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        for chunk in targets.chunks(100) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|t| key_of(account_id, delivery_sk(&t.webhook_id, &t.delivery_id)))
                .collect();
            let mut tries = 0;
            while !keys.is_empty() {
                tries += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(corrupt)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    found.push(serde_dynamo::from_item(item).map_err(corrupt)?);
                }
                keys = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    if tries >= 5 {
                        return Err(StoreError::Throttled);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << tries)).await;
                }
            }
        }
        Ok(found)
    }

    /// A webhook's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: usize,
        after: Option<&str>,
        state: Option<DeliveryState>,
        now: DateTime<Utc>,
    ) -> Result<Page<Delivery>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: format!("DLV#{webhook_id}#"),
            after: after.map(str::to_string),
            newest_first: true,
        };
        let live =
            |d: &Delivery| d.expires_at > now.timestamp() && state.is_none_or(|s| d.state == s);
        self.page(query, Some(limit), live, |d: &Delivery| {
            d.delivery_id.clone()
        })
        .await
    }

    pub async fn list_attempts(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: attempt_prefix(webhook_id, delivery_id),
            after: None,
            newest_first: false,
        };
        Ok(self
            .page(
                query,
                None,
                |_: &AttemptRecord| true,
                |a| a.attempt.to_string(),
            )
            .await?
            .items)
    }

    /// Claims attempt `attempt` of `delivery` for `lease_until`, provided `webhook` (the
    /// copy about to be used) is still current and enabled.
    pub async fn claim_attempt(
        &self,
        webhook: &Webhook,
        delivery: &Delivery,
        attempt: u32,
        trigger: Trigger,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let items = vec![
            self.webhook_check(webhook)?,
            self.claim_item(
                &webhook.account_id,
                delivery,
                attempt,
                trigger,
                lease_until,
                now,
            )?,
        ];
        match self.transact(items).await? {
            None => Ok(Claim::Claimed),
            Some(0) => Ok(Claim::WebhookChanged),
            Some(_) => Ok(Claim::Refused(
                self.get(
                    account_pk(&webhook.account_id),
                    delivery_sk(&webhook.id, &delivery.delivery_id),
                )
                .await?,
            )),
        }
    }

    /// Claims several attempts in one transaction: all of them or none, with one check of
    /// each webhook's version. `false` says a condition failed; claim them one by one to
    /// learn which.
    pub async fn claim_attempts(
        &self,
        claims: &[(&Webhook, &Delivery, u32, Trigger)],
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut items = Vec::with_capacity(claims.len() * 2);
        let mut checked: Vec<(&str, &str)> = Vec::new();
        for (webhook, delivery, attempt, trigger) in claims {
            let id = (webhook.account_id.as_str(), webhook.id.as_str());
            if !checked.contains(&id) {
                checked.push(id);
                items.push(self.webhook_check(webhook)?);
            }
            items.push(self.claim_item(
                &webhook.account_id,
                delivery,
                *attempt,
                *trigger,
                lease_until,
                now,
            )?);
        }
        Ok(self.transact(items).await?.is_none())
    }

    /// The webhook copy about to be used is current and enabled.
    fn webhook_check(&self, webhook: &Webhook) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(&webhook.account_id, webhook_sk(&webhook.id))))
            .condition_expression("attribute_exists(pk) AND #version = :v AND enabled = :true")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", n(webhook.version))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(corrupt)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The lease on attempt `attempt` of `delivery`: refused when the delivery is past
    /// that attempt, leased by another worker, or (for a scheduled attempt) final.
    fn claim_item(
        &self,
        account_id: &str,
        delivery: &Delivery,
        attempt: u32,
        trigger: Trigger,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let previous = if attempt <= 1 {
            "(attribute_not_exists(attempt_count) OR attempt_count = :zero)"
        } else {
            "attempt_count = :prev"
        };
        // A scheduled attempt only continues a delivery still in progress; a manual one
        // may follow a final state.
        let in_progress = match trigger {
            Trigger::Scheduled => " AND #state IN (:pending, :retrying)",
            Trigger::Manual | Trigger::Test => "",
        };
        let condition = format!(
            "attribute_not_exists(pk) OR ({previous} AND (attribute_not_exists(lease_until) OR lease_until < :now){in_progress})"
        );
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, delivery_sk(&delivery.webhook_id, &delivery.delivery_id))))
            .update_expression(
                "SET lease_until = :lease, webhook_id = :w, delivery_id = :d, alert_id = :a, #event = :e, \
                 msg_id = :m, #trigger = if_not_exists(#trigger, :t), #state = if_not_exists(#state, :pending), \
                 created_at = if_not_exists(created_at, :created), expires_at = if_not_exists(expires_at, :exp), \
                 entity = :entity",
            )
            .condition_expression(condition)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#trigger", "trigger")
            .expression_attribute_names("#event", "event")
            .expression_attribute_values(":lease", millis(lease_until))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":w", s(&delivery.webhook_id))
            .expression_attribute_values(":d", s(&delivery.delivery_id))
            .expression_attribute_values(":a", s(&delivery.alert_id))
            .expression_attribute_values(":e", av(&delivery.event)?)
            .expression_attribute_values(":m", s(&delivery.msg_id))
            .expression_attribute_values(":t", av(&delivery.trigger)?)
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":created", s(delivery.created_at.to_rfc3339()))
            .expression_attribute_values(":exp", n(delivery.expires_at))
            .expression_attribute_values(":entity", s("delivery"));
        if attempt <= 1 {
            update = update.expression_attribute_values(":zero", n(0));
        } else {
            update = update.expression_attribute_values(":prev", n(attempt - 1));
        }
        if trigger == Trigger::Scheduled {
            update = update
                .expression_attribute_values(":retrying", s(DeliveryState::Retrying.as_str()));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(corrupt)?)
            .build())
    }

    /// Records a claimed attempt: the attempt item, the delivery's new state (releasing the
    /// lease) and, given `status`, the webhook's last delivery. One request. Returns false
    /// if the lease was lost to another worker meanwhile.
    pub async fn finish_attempt(
        &self,
        account_id: &str,
        record: &AttemptRecord,
        update: &DeliveryUpdate,
        lease_until: DateTime<Utc>,
        status: Option<&WebhookStatus>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut items = self.finish_items(account_id, record, update, lease_until, now)?;
        if let Some(status) = status {
            items.push(self.status_item(account_id, &record.webhook_id, status)?);
        }
        match self.transact(items).await? {
            None => Ok(true),
            // The webhook was deleted meanwhile: record the attempt without its status.
            Some(2) => {
                Box::pin(self.finish_attempt(account_id, record, update, lease_until, None, now))
                    .await
            }
            Some(_) => Ok(false),
        }
    }

    /// Records claimed attempts of a batch: the attempt items and the deliveries' new state
    /// in BatchWriteItem calls and the webhooks' status in one transaction, all at once.
    ///
    /// No condition is needed: the claims made these attempts ours, and a lease outlives
    /// any invocation of the deliver function (see `DeliveryConfig::lease`), so nobody
    /// else can write these deliveries meanwhile.
    pub async fn record_attempts(
        &self,
        finished: &[(&str, &AttemptRecord, &Delivery)],
        statuses: &[(&str, &str, WebhookStatus)],
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(finished.len() * 2);
        for (account_id, record, delivery) in finished {
            items.push(attempt_item(account_id, record)?);
            items.push(delivery_item(account_id, delivery)?);
        }
        let (written, updated) =
            tokio::join!(self.put_items(items), self.update_statuses(statuses));
        written.and(updated)
    }

    /// Every webhook's status in one transaction; one by one if one of them was deleted
    /// meanwhile (its status then no longer matters).
    async fn update_statuses(
        &self,
        statuses: &[(&str, &str, WebhookStatus)],
    ) -> Result<(), StoreError> {
        if statuses.len() > 1 {
            let items = statuses
                .iter()
                .map(|(account_id, webhook_id, status)| {
                    self.status_item(account_id, webhook_id, status)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if self.transact(items).await?.is_none() {
                return Ok(());
            }
        }
        let updates = statuses.iter().map(|(account_id, webhook_id, status)| {
            self.update_status(account_id, webhook_id, status)
        });
        join_all(updates).await.into_iter().collect()
    }

    async fn batch_write(
        &self,
        mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        while !requests.is_empty() {
            tries += 1;
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(sdk_error)?;
            requests = output
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !requests.is_empty() {
                if tries >= 5 {
                    return Err(StoreError::Throttled);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << tries)).await;
            }
        }
        Ok(())
    }

    async fn update_status(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: &WebhookStatus,
    ) -> Result<(), StoreError> {
        let (expression, names, values) = status_expression(status)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, webhook_sk(webhook_id))))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            // Deleted meanwhile: its status no longer matters.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// The attempt item and the delivery's new state, releasing the lease.
    fn finish_items(
        &self,
        account_id: &str,
        record: &AttemptRecord,
        update: &DeliveryUpdate,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let attempt_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(attempt_item(account_id, record)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let mut delivery = UpdateBuilder::default();
        delivery.set("state", s(update.state.as_str()));
        delivery.set("attempt_count", n(record.attempt));
        delivery.set("updated_at", s(now.to_rfc3339()));
        match update.last_status_code {
            Some(code) => delivery.set("last_status_code", n(code)),
            None => delivery.remove("last_status_code"),
        }
        match &update.last_error {
            Some(e) => delivery.set("last_error", s(e)),
            None => delivery.remove("last_error"),
        }
        match update.next_attempt_at {
            Some(t) => delivery.set("next_attempt_at", s(t.to_rfc3339())),
            None => delivery.remove("next_attempt_at"),
        }
        delivery.remove("lease_until");
        let (expression, mut names, mut values) = delivery.build();
        names.insert("#lease".into(), "lease_until".into());
        values.insert(":lease".into(), millis(lease_until));
        let delivery_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(
                account_id,
                delivery_sk(&record.webhook_id, &record.delivery_id),
            )))
            .update_expression(expression)
            .condition_expression("#lease = :lease")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(corrupt)?;
        Ok(vec![
            TransactWriteItem::builder().put(attempt_put).build(),
            TransactWriteItem::builder().update(delivery_update).build(),
        ])
    }

    /// The webhook's status after one or more attempts (see [`WebhookStatus`]).
    fn status_item(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: &WebhookStatus,
    ) -> Result<TransactWriteItem, StoreError> {
        let (expression, names, values) = status_expression(status)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, webhook_sk(webhook_id))))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(corrupt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Disables an enabled webhook with `reason`; with `failing_before`, only if its run
    /// of failures began before then (a success since then keeps it enabled).
    pub async fn disable_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        reason: &str,
        failing_before: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut condition = "enabled = :true".to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, webhook_sk(webhook_id))))
            .update_expression("SET enabled = :false, disabled_reason = :reason, #version = if_not_exists(#version, :zero) + :one")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        if let Some(cutoff) = failing_before {
            condition.push_str(" AND failing_since < :cutoff");
            request = request.expression_attribute_values(":cutoff", stamp(cutoff));
        }
        match request.condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Marks a delivery still in progress as failed without an attempt (its webhook was
    /// disabled meanwhile), so it does not stay pending for ever.
    pub async fn abandon_delivery(
        &self,
        account_id: &str,
        delivery: &Delivery,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = delivery.clone();
        item.state = DeliveryState::Failed;
        item.last_error = Some(reason.to_string());
        item.updated_at = Some(now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(account_id, &item)?))
            .condition_expression("attribute_not_exists(pk) OR (#state IN (:pending, :retrying) AND (attribute_not_exists(lease_until) OR lease_until < :now))")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":retrying", s(DeliveryState::Retrying.as_str()))
            .expression_attribute_values(":now", millis(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Records a test delivery (no queue, no lease): its alert, delivery and attempt.
    pub async fn record_test(
        &self,
        account_id: &str,
        alert: &StoredAlert,
        delivery: &Delivery,
        attempt: &AttemptRecord,
    ) -> Result<(), StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(corrupt)
        };
        let items = vec![
            TransactWriteItem::builder()
                .put(put(alert_item(account_id, alert)?)?)
                .build(),
            TransactWriteItem::builder()
                .put(put(delivery_item(account_id, delivery)?)?)
                .build(),
            TransactWriteItem::builder()
                .put(put(attempt_item(account_id, attempt)?)?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt(
                "unconditional test record refused".into(),
            )),
        }
    }
}

/// The update expression for a webhook's status.
fn status_expression(status: &WebhookStatus) -> Result<Expression, StoreError> {
    let mut u = UpdateBuilder::default();
    u.set("last_delivery", av(&status.last_delivery)?);
    if let Some(t) = status.last_success {
        u.set("last_success", s(t.to_rfc3339()));
    }
    if let Some(t) = status.last_failure {
        u.set("last_failure", s(t.to_rfc3339()));
    }
    match status.failing_since {
        None => {
            u.set("consecutive_failures", n(0));
            u.remove("failing_since");
        }
        // A success in the batch ended the stored run of failures: this one starts afresh.
        Some(since) if status.reset => {
            u.set("consecutive_failures", n(status.failures));
            u.set("failing_since", stamp(since));
        }
        Some(since) => {
            u.add("consecutive_failures", status.failures);
            u.set_if_absent("failing_since", stamp(since));
        }
    }
    Ok(u.build())
}

fn key_of(account_id: &str, sk: String) -> Item {
    key(account_pk(account_id), sk)
}

fn alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(stored).map_err(corrupt)?;
    item.extend(key_of(account_id, format!("ALERT#{}", stored.alert.id)));
    item.insert("entity".into(), s("alert"));
    Ok(item)
}

fn delivery_item(account_id: &str, d: &Delivery) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(d).map_err(corrupt)?;
    item.extend(key_of(
        account_id,
        delivery_sk(&d.webhook_id, &d.delivery_id),
    ));
    item.insert("entity".into(), s("delivery"));
    Ok(item)
}

fn attempt_item(account_id: &str, a: &AttemptRecord) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(a).map_err(corrupt)?;
    item.extend(key_of(
        account_id,
        format!(
            "{}{:04}",
            attempt_prefix(&a.webhook_id, &a.delivery_id),
            a.attempt
        ),
    ));
    item.insert("entity".into(), s("attempt"));
    Ok(item)
}
