//! Alerts as received, and the idempotency keys that keep a repeated request from
//! fanning out twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_with::{json::JsonString, serde_as};

use super::*;
use crate::{
    alert::{lifecycle::AlertState, Alert},
    delivery::record::delivery_id,
    event::EventType,
};

/// The most recent transitions whose deliveries an alert keeps track of.
pub const MOVES_KEPT: usize = 10;
/// The most webhook ids those keep together (about 80 KB), so that the alert item stays
/// far below DynamoDB's 400 KB; the latest transition's are always kept.
pub const MOVE_IDS_KEPT: usize = 2000;

/// An alert as kept: the alert as it now is, and the deliveries of its latest transitions.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The alert's JSON: kept as text, since `data` may nest deeper than DynamoDB allows.
    #[serde_as(as = "JsonString")]
    pub alert: Alert,
    /// The latest [`MOVES_KEPT`] transitions, oldest first, and whom each went to.
    #[serde(default)]
    pub moves: Vec<Move>,
    /// The report that last changed the alert: a repeat of it changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<String>,
    /// Bumped by every write; writes are conditional on the version read.
    #[serde(default)]
    pub version: u64,
    pub expires_at: i64,
}

/// A transition and the webhooks it was sent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub transition: u32,
    pub event: EventType,
    pub at: DateTime<Utc>,
    pub webhook_ids: Vec<String>,
    /// The report that made it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
}

impl Move {
    /// The id of the delivery of this transition to `webhook_id`. The first transition's
    /// ids are those of an alert before it had a lifecycle.
    pub fn delivery_id(&self, alert_id: &str, webhook_id: &str) -> String {
        if self.transition <= 1 {
            delivery_id(alert_id, webhook_id, self.at)
        } else {
            delivery_id(
                &format!("{alert_id}#{}", self.transition),
                webhook_id,
                self.at,
            )
        }
    }
}

impl StoredAlert {
    /// Every delivery of the kept transitions, as `(webhook, delivery)`.
    pub fn targets(&self) -> Vec<Target> {
        self.moves
            .iter()
            .flat_map(|m| {
                m.webhook_ids.iter().map(move |w| Target {
                    webhook_id: w.clone(),
                    delivery_id: m.delivery_id(&self.alert.id, w),
                    transition: m.transition,
                    event: m.event,
                })
            })
            .collect()
    }

    /// The delivery to `webhook_id` of the latest kept transition before `transition`
    /// that went to it: the one a delivery of `transition` waits for.
    pub fn previous_delivery(&self, webhook_id: &str, transition: u32) -> Option<String> {
        self.moves
            .iter()
            .rev()
            .filter(|m| m.transition < transition)
            .find(|m| m.webhook_ids.iter().any(|w| w == webhook_id))
            .map(|m| m.delivery_id(&self.alert.id, webhook_id))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub webhook_id: String,
    pub delivery_id: String,
    pub transition: u32,
    pub event: EventType,
}

/// The alert as a transition left it, for rebuilding what its deliveries sent.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde_as(as = "JsonString")]
    pub alert: Alert,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeyItem {
    pub(super) alert_id: String,
    pub(super) expires_at: i64,
}

expiring!(StoredAlert, KeyItem);

/// What `GET /alerts` may narrow a listing to.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub state: Option<AlertState>,
    pub alert_type: Option<String>,
    /// Alerts first reported at or after this time.
    pub since: Option<DateTime<Utc>>,
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

    /// Writes the alert, conditional on the version it was read at (`None`: it must be
    /// new), with its key item and, for a transition, its snapshot, in one transaction.
    /// `Ok(false)`: another writer got there first; read again and decide again.
    pub async fn save_alert(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        read_version: Option<u64>,
        snapshot: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let alert = &stored.alert;
        let item = alert_item(account_id, stored)?;
        let put = match read_version {
            None => self.put_new(item)?,
            Some(version) => Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(version))
                .build()
                .map_err(corrupt)?,
        };
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if let Some(key) = &alert.input.dedup_key {
            let key_item = KeyItem {
                alert_id: alert.id.clone(),
                expires_at: stored.expires_at,
            };
            // The key names this alert, or nothing live: concurrent first reports race here.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item_of(
                    account_id,
                    alert_key_sk(key),
                    "alert_key",
                    &key_item,
                )?))
                .condition_expression(
                    "attribute_not_exists(pk) OR alert_id = :id OR expires_at < :now",
                )
                .expression_attribute_values(":id", s(&alert.id))
                .expression_attribute_values(":now", n(now.timestamp()))
                .build()
                .map_err(corrupt)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        if snapshot {
            let snap = Snapshot {
                alert: alert.clone(),
                expires_at: stored.expires_at,
            };
            let item = item_of(
                account_id,
                snapshot_sk(&alert.id, alert.transition),
                "alert_snapshot",
                &snap,
            )?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(corrupt)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items).await {
            Ok(failed) => Ok(failed.is_none()),
            // Concurrent transactions on the same items: as a lost race, read again.
            Err(StoreError::Throttled) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn get_alert(
        &self,
        account_id: &str,
        alert_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        self.get_live(account_pk(account_id), alert_sk(alert_id), now)
            .await
    }

    /// The alert a test delivery sent (see [`test_alert_sk`]).
    pub async fn get_test_alert(
        &self,
        account_id: &str,
        alert_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        self.get_live(account_pk(account_id), test_alert_sk(alert_id), now)
            .await
    }

    /// The live alert of `key`, if any.
    pub async fn get_alert_by_key(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        let found: Option<KeyItem> = self
            .get_live(account_pk(account_id), alert_key_sk(key), now)
            .await?;
        match found {
            Some(k) => self.get_alert(account_id, &k.alert_id, now).await,
            None => Ok(None),
        }
    }

    /// The alert as transition `transition` left it.
    pub async fn get_snapshot(
        &self,
        account_id: &str,
        alert_id: &str,
        transition: u32,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.get(account_pk(account_id), snapshot_sk(alert_id, transition))
            .await
    }

    /// The account's alerts, newest first (ids are UUIDv7, so the sort key orders them by
    /// their first report), by one Query.
    pub async fn list_alerts(
        &self,
        account_id: &str,
        query: &AlertQuery,
        limit: usize,
        after: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Page<StoredAlert>, StoreError> {
        let from = query.since.map(crate::delivery::record::uuid_floor);
        self.page(
            PrefixQuery {
                account_id,
                prefix: ALERT_PREFIX.into(),
                after: after.map(str::to_string),
                newest_first: true,
                from,
                to: None,
            },
            Some(limit),
            |a: &StoredAlert| {
                a.expires_at > now.timestamp()
                    && query.state.is_none_or(|s| a.alert.state == s)
                    && query
                        .alert_type
                        .as_ref()
                        .is_none_or(|t| &a.alert.input.alert_type == t)
            },
            |a| a.alert.id.clone(),
        )
        .await
    }
}

pub(super) fn alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    item_of(account_id, alert_sk(&stored.alert.id), "alert", stored)
}

pub(super) fn test_alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    item_of(
        account_id,
        test_alert_sk(&stored.alert.id),
        "test_alert",
        stored,
    )
}
