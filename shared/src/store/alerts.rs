//! Alerts as received, and the idempotency keys that keep a repeated request from
//! fanning out twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_with::{json::JsonString, serde_as};
use sha2::{Digest, Sha256};

use super::*;
use crate::alert::Alert;

fn alert_sk(alert_id: &str) -> String {
    format!("ALERT#{alert_id}")
}

fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// An alert as kept for `GET /alerts/{id}` and redelivery.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The alert's JSON: kept as text, since `data` may nest deeper than DynamoDB allows.
    #[serde_as(as = "JsonString")]
    pub alert: Alert,
    pub targets: Vec<Target>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub webhook_id: String,
    pub delivery_id: String,
}

/// An idempotency key's first use: what was asked, and the alert it made.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IdempotencyRecord {
    /// A hash of the request the key was first used for.
    pub fingerprint: String,
    pub alert_id: String,
    pub expires_at: i64,
}

impl Store {
    /// Takes `key` for `alert_id` unless a live earlier use holds it, and then returns
    /// that use.
    pub async fn take_idempotency_key(
        &self,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        alert_id: &str,
        now: DateTime<Utc>,
        keep_for: chrono::Duration,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
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
        if conditional(result)?.is_some() {
            return Ok(None);
        }
        let Some(existing): Option<IdempotencyRecord> = self
            .get(account_pk(account_id), idempotency_sk(key))
            .await?
        else {
            // Expired and removed between the two calls: a rare race; let the client retry.
            return Err(StoreError::Throttled);
        };
        if existing.expires_at < now.timestamp() {
            return Err(StoreError::Throttled);
        }
        Ok(Some(existing))
    }

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
        let alert: Option<StoredAlert> =
            self.get(account_pk(account_id), alert_sk(alert_id)).await?;
        Ok(alert.filter(|a| a.expires_at > now.timestamp()))
    }
}

pub(super) fn alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    item_of(account_id, alert_sk(&stored.alert.id), "alert", stored)
}
