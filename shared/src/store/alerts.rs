//! Alerts as received, and the idempotency keys that keep a repeated request from
//! fanning out twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_with::{json::JsonString, serde_as};

use super::*;
use crate::{
    alert::{links::LinkSource, Alert},
    delivery::record::delivery_id,
    event::EventType,
};

/// The most recent transitions whose deliveries an alert keeps track of.
pub const MOVES_KEPT: usize = 10;
/// The most webhooks a transition names in the alert's own item; one that went to more
/// keeps them in pages of [`PAGE_IDS`] (about 39 KB each) beside it, so that the alert
/// stays small however many webhooks an account has.
pub const INLINE_IDS: usize = 16;
pub const PAGE_IDS: usize = 1000;

/// How long a dedup key's item outlives the alert's expiry as it was when the key was
/// written: the alert's writes push its expiry on, and write the key again only when
/// its expiry passes the key's (about once a week for an alert that keeps changing).
const KEY_GRACE_SECONDS: i64 = 7 * 86_400;

/// An alert as kept: the alert as it now is, and the deliveries of its latest transitions.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The alert's JSON: kept as text, since `data` may nest deeper than DynamoDB allows.
    /// Kept without its links, which are signed again from `links` when read.
    #[serde_as(as = "JsonString")]
    pub alert: Alert,
    /// Where the latest transition's action links came from, if it made any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<LinkSource>,
    /// The latest transition whose snapshot is stored (see [`Store::save_alert`]); set by
    /// the store.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snapshotted: u32,
    /// When the dedup key's item expires; set by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expires_at: Option<i64>,
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
    /// The webhooks it went to, in fan-out order: in memory always, in the alert's item
    /// only when they are at most [`INLINE_IDS`] (see `paged`).
    #[serde(default)]
    pub webhook_ids: Vec<String>,
    /// How many webhooks it went to, when more than [`INLINE_IDS`]: their ids are then
    /// kept in pages of their own (see [`Store::move_ids`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged: Option<usize>,
    /// The report that made it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
}

impl Move {
    /// How many webhooks it went to.
    pub fn count(&self) -> usize {
        self.paged.unwrap_or(self.webhook_ids.len())
    }

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
    /// A first write of `alert`, with these transitions' deliveries.
    pub fn new(alert: Alert, moves: Vec<Move>, expires_at: i64) -> Self {
        Self {
            alert,
            links: None,
            snapshotted: 0,
            key_expires_at: None,
            moves,
            last_report: None,
            version: 1,
            expires_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub webhook_id: String,
    pub delivery_id: String,
    pub transition: u32,
    pub event: EventType,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The alert as a transition left it, for rebuilding what its deliveries sent. Written
/// only once the alert changes again: until then the alert item is that snapshot.
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde_as(as = "JsonString")]
    pub alert: Alert,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<LinkSource>,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeyItem {
    pub(super) alert_id: String,
    pub(super) expires_at: i64,
}

expiring!(StoredAlert, KeyItem);

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
        let (pk, sk) = idempotency_key(account_id, key);
        item.extend(super::key(pk, sk));
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
        let (pk, sk) = idempotency_key(account_id, key);
        let Some(existing): Option<IdempotencyRecord> = self.get(pk, sk).await? else {
            // Expired and removed between the two calls: a rare race; let the client retry.
            return Err(StoreError::Throttled);
        };
        if existing.expires_at < now.timestamp() {
            return Err(StoreError::Throttled);
        }
        Ok(Some(existing))
    }

    /// Writes the alert, conditional on the version `read` had (`None`: it must be new).
    /// `Ok(false)`: another writer got there first; read again and decide again.
    ///
    /// The alert as `read` left its latest transition is written as that transition's
    /// snapshot first, if it was not yet: a transition's deliveries read the alert item
    /// itself until the alert changes again (see [`Store::alert_at`]). A new alert with a
    /// dedup key is written with its key item in one transaction, on condition that the key
    /// names no live alert (or still names `key_named`, the dead one its reader found);
    /// later writes refresh the key item only when its expiry comes near the alert's.
    pub async fn save_alert(
        &self,
        account_id: &str,
        stored: &mut StoredAlert,
        read: Option<&StoredAlert>,
        key_named: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if let Some(r) = read.filter(|r| r.snapshotted < r.alert.transition) {
            let mut alert = r.alert.clone();
            alert.links = None;
            let snap = Snapshot {
                alert,
                links: r.links.clone(),
                expires_at: stored.expires_at,
            };
            let at = (
                alert_pk(account_id, &r.alert.id),
                snapshot_sk(&r.alert.id, r.alert.transition),
            );
            self.put(item_at(at, "alert_snapshot", &snap)?).await?;
        }
        // A large transition's webhooks, before the alert that names their pages.
        self.page_out(account_id, stored).await?;
        stored.snapshotted = read.map_or(0, |r| r.alert.transition);
        stored.key_expires_at = read.and_then(|r| r.key_expires_at);
        let key = stored.alert.input.dedup_key.clone();
        let key_due = key.is_some()
            && (read.is_none() || stored.key_expires_at.unwrap_or(0) < stored.expires_at);
        if key_due {
            stored.key_expires_at = Some(stored.expires_at + KEY_GRACE_SECONDS);
        }
        let item = alert_item(account_id, stored)?;
        let key_item = |stored: &StoredAlert| -> Result<Option<Item>, StoreError> {
            let (Some(key), Some(expires_at)) = (&key, stored.key_expires_at) else {
                return Ok(None);
            };
            let key_item = KeyItem {
                alert_id: stored.alert.id.clone(),
                expires_at,
            };
            item_at(alert_key_key(account_id, key), "alert_key", &key_item).map(Some)
        };
        let Some(read) = read else {
            let Some(key_item) = key_item(stored)?.filter(|_| key_due) else {
                return self.insert(item).await;
            };
            // Concurrent first reports of one key race here: one alert takes it.
            let mut condition = "attribute_not_exists(pk) OR expires_at < :now".to_string();
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(key_item))
                .expression_attribute_values(":now", n(now.timestamp()));
            if let Some(named) = key_named {
                condition.push_str(" OR alert_id = :named");
                put = put.expression_attribute_values(":named", s(named));
            }
            let items = vec![
                TransactWriteItem::builder()
                    .put(self.put_new(item)?)
                    .build(),
                TransactWriteItem::builder()
                    .put(
                        put.condition_expression(condition)
                            .build()
                            .map_err(corrupt)?,
                    )
                    .build(),
            ];
            return match self.transact(items).await {
                Ok(failed) => Ok(failed.is_none()),
                // Concurrent transactions on the same items: as a lost race, read again.
                Err(StoreError::Throttled) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(read.version))
            .send()
            .await;
        if conditional(result)?.is_none() {
            return Ok(false);
        }
        if let Some(key_item) = key_item(stored)?.filter(|_| key_due) {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(key_item))
                .condition_expression("alert_id = :id")
                .expression_attribute_values(":id", s(&stored.alert.id))
                .send()
                .await;
            // A key taken by another alert meanwhile stays with it.
            conditional(result)?;
        }
        Ok(true)
    }

    pub async fn get_alert(
        &self,
        account_id: &str,
        alert_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        self.get_live(alert_pk(account_id, alert_id), alert_sk(alert_id), now)
            .await
    }

    /// The alert a test delivery sent (see [`test_alert_sk`]).
    pub async fn get_test_alert(
        &self,
        account_id: &str,
        alert_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAlert>, StoreError> {
        (self.get_live(alert_pk(account_id, alert_id), test_alert_sk(alert_id), now)).await
    }

    /// The live alert of `key`, if any, and the alert the key's item names (live or not:
    /// a new alert of the key may take it from a dead one, see [`Store::save_alert`]).
    pub async fn get_alert_by_key(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<StoredAlert>, Option<String>), StoreError> {
        let (pk, sk) = alert_key_key(account_id, key);
        let found: Option<KeyItem> = self.get_live(pk, sk, now).await?;
        match found {
            Some(k) => Ok((
                self.get_alert(account_id, &k.alert_id, now).await?,
                Some(k.alert_id),
            )),
            None => Ok((None, None)),
        }
    }

    /// The alert as transition `n` left it, and where its links came from: the alert item
    /// while the alert has not changed since, its snapshot after.
    pub async fn alert_at(
        &self,
        account_id: &str,
        alert_id: &str,
        n: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<(Alert, Option<LinkSource>)>, StoreError> {
        // The alert first: a change writes the snapshot before the alert, so an alert read
        // still at `n` and not snapshotted is as `n` left it.
        if let Some(stored) = self.get_alert(account_id, alert_id, now).await? {
            if stored.alert.transition == n && stored.snapshotted < n {
                return Ok(Some((stored.alert, stored.links)));
            }
        }
        let snapshot: Option<Snapshot> = self
            .get(alert_pk(account_id, alert_id), snapshot_sk(alert_id, n))
            .await?;
        Ok(snapshot.map(|s| (s.alert, s.links)))
    }
}

/// The alert's item, without its links (see [`StoredAlert::alert`]), with its keys in the
/// state index.
pub(super) fn alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    let id = &stored.alert.id;
    let mut unlinked = stored.clone();
    unlinked.alert.links = None;
    for m in unlinked.moves.iter_mut().filter(|m| m.paged.is_some()) {
        m.webhook_ids = Vec::new();
    }
    let mut item = item_at((alert_pk(account_id, id), alert_sk(id)), "alert", &unlinked)?;
    let state = stored.alert.state.as_str();
    item.insert(
        STATE_PK.into(),
        s(state_pk(account_id, state, shard_of(id))),
    );
    item.insert(STATE_SK.into(), s(id));
    Ok(item)
}

pub(super) fn test_alert_item(account_id: &str, stored: &StoredAlert) -> Result<Item, StoreError> {
    let id = &stored.alert.id;
    item_at(
        (alert_pk(account_id, id), test_alert_sk(id)),
        "test_alert",
        stored,
    )
}
