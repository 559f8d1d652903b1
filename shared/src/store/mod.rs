//! The DynamoDB store: one table, every item under a key that names its account, laid
//! out so that no key takes all of an account's writes ([`keys`] says how).
//!
//! | item | pk | sk | module |
//! |---|---|---|---|
//! | account (webhook count, quota, webhook version) | `ACCOUNT#<account>` | `ACCOUNT` | [`accounts`] |
//! | token, by account (for listing) | `ACCOUNT#<account>` | `TOKEN#<token id>` | [`accounts`] |
//! | token, by hash (for auth) | `TOKEN#<sha256 of token>` | `TOKEN` | [`accounts`] |
//! | webhook | `ACCOUNT#<account>` | `WEBHOOK#<webhook id>` | [`webhooks`] |
//! | operational event | `ACCOUNT#<account>` | `NOTICE#<event id>` | [`notices`] |
//! | bulk recovery | `ACCOUNT#<account>` | `RECOVERY#<webhook id>#<recovery id>` | [`recoveries`] |
//! | alert, as it now is | `ALERTS#<account>#<shard>` | `ALERT#<alert id>` | [`alerts`] |
//! | alert as a transition left it | `ALERTS#<account>#<shard>` | `ALERTAT#<alert id>#<transition, 6 digits>` | [`alerts`] |
//! | the webhooks of a large transition, a page | `ALERTS#<account>#<shard>` | `FANOUT#<alert id>#<transition>#<page>` | [`moves`] |
//! | alert key (`dedup_key`) to its alert | `ALERTS#<account>#<shard of the key>` | `ALERTKEY#<sha256 of the key>` | [`alerts`] |
//! | idempotency key | `ALERTS#<account>#<shard of the key>` | `IDEM#<sha256 of the key>` | [`alerts`] |
//! | delivery, with its first attempt | `HOOK#<account>#<webhook id>` | `DLV#<delivery id>` | [`deliveries`] |
//! | attempt after the first | `HOOK#<account>#<webhook id>` | `ATT#<delivery id>#<attempt, 4 digits>` | [`attempts`] |
//! | webhook health | `HOOK#<account>#<webhook id>` | `HEALTH` | [`health`] |
//! | portal session, by hash (the cookie names it) | `SESSION#<sha256 of the session id>` | `SESSION` | [`sessions`] |
//! | portal link, by hash (one use) | `PORTALLINK#<sha256 of the link token>` | `PORTALLINK` | [`sessions`] |
//! | the portal's cookie-signing key | `PORTAL` | `KEY` | [`sessions`] |
//!
//! Alert items also carry the keys of the `by_state` index (`state_pk`, `state_sk`), which
//! lists an account's alerts in one state a shard at a time ([`alert_lists`]).
//!
//! Every read is a GetItem, a BatchGetItem or a Query on one partition; nothing here
//! scans. Items are written with serde_dynamo. Times are written one way, as serde writes
//! them; the two that conditions compare are numbers: `lease_until` (ms) and the TTL
//! `expires_at` (s), which reads skip once past, since TTL deletion is lazy.
//!
//! The store holds no domain rules: what to write is decided by the callers.

use std::{collections::HashMap, future::Future};

use aws_sdk_dynamodb::{
    types::{AttributeValue, Put, TransactWriteItem},
    Client,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::keys::Keyring;

/// Implements [`Expiring`] for types with an `expires_at` field; each store file names the
/// items it reads.
macro_rules! expiring {
    ($($t:ty),*) => {
        $(impl super::Expiring for $t {
            fn expires_at(&self) -> i64 {
                self.expires_at
            }
        })*
    };
}

pub mod accounts;
mod alert_lists;
pub mod alerts;
mod attempts;
mod batch;
pub mod deliveries;
mod digests;
pub mod error;
mod health;
mod keys;
mod limits;
mod moves;
pub mod notices;
pub mod recoveries;
pub mod sealing;
pub mod sessions;
mod update;
mod webhook_cache;
mod webhook_import;
pub mod webhooks;

pub use accounts::{Account, TokenInfo};
pub use alert_lists::AlertQuery;
pub use alerts::{IdempotencyRecord, Move, Snapshot, StoredAlert, Target};
pub use attempts::AttemptSample;
pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use deliveries::{AttemptClaim, Claim};
pub use digests::{ClosedDigest, Joined};
pub use error::StoreError;
use error::{conditional, corrupt, refused_with_item, sdk_error};
use keys::*;
pub use limits::{Backlog, Gate, Granted};
pub use moves::TargetCursor;
use update::{filled, Expression, UpdateBuilder};

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn av<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(corrupt)
}

/// A time, written as every serialized item writes it.
fn time(t: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    av(&t)
}

/// A time a condition compares: milliseconds since the epoch.
fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

/// `value` as an item under the key of `sk` in the account's partition, tagged `entity`.
fn item_of<T: Serialize>(
    account_id: &str,
    sk: String,
    entity: &str,
    value: &T,
) -> Result<Item, StoreError> {
    item_at((account_pk(account_id), sk), entity, value)
}

/// `value` as an item under `(pk, sk)`, tagged `entity`.
fn item_at<T: Serialize>(
    (pk, sk): (String, String),
    entity: &str,
    value: &T,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(corrupt)?;
    item.extend(key(pk, sk));
    item.insert("entity".into(), s(entity));
    Ok(item)
}

/// An item DynamoDB's TTL removes once `expires_at` (Unix seconds) has passed. The sweep
/// comes up to days later, so every read treats it as gone from that moment.
pub trait Expiring {
    fn expires_at(&self) -> i64;

    fn live_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at() > now.timestamp()
    }
}

/// A Query on one account's partition.
struct PrefixQuery {
    pk: String,
    prefix: String,
    /// The id after which the page starts (the sort key is prefix + id).
    after: Option<String>,
    newest_first: bool,
    /// Only ids at or after this one (the sort key is prefix + id).
    from: Option<String>,
    /// Only ids at or before this one.
    to: Option<String>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    /// Seals and opens credentials (see [`crate::keys`]).
    keys: Keyring,
    /// Link keys opened by this instance, by their sealed form: a rotated key is sealed
    /// anew, so it is never found here.
    link_keys: accounts::LinkKeys,
    /// Accounts' webhooks as this instance last read them (see
    /// [`Store::account_webhooks`]).
    webhook_lists: webhook_cache::WebhookLists,
    /// Webhooks as this instance last read them (see [`Store::current_webhooks`]).
    webhook_configs: webhook_cache::WebhookConfigs,
}

impl Store {
    /// A store that reads plain credentials only: see [`Store::with_keys`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            keys: Keyring::none(),
            link_keys: Default::default(),
            webhook_lists: Default::default(),
            webhook_configs: Default::default(),
        }
    }

    /// The store with the data key that seals and opens credentials.
    pub fn with_keys(self, keys: Keyring) -> Self {
        Self { keys, ..self }
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// A store on the default AWS configuration (which honours `AWS_ENDPOINT_URL_DYNAMODB`
    /// and `AWS_ENDPOINT_URL_KMS`), sealing with the KMS key `DATA_KEY_ID` when it is set.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = crate::aws::config().await;
        let store = Self::new(Client::new(&config), table);
        match std::env::var("DATA_KEY_ID") {
            Ok(key) if !key.is_empty() => {
                store.with_keys(Keyring::kms(aws_sdk_kms::Client::new(&config), key))
            }
            _ => store,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item of that key, unless its TTL has passed (see [`Expiring`]).
    async fn get_live<T: serde::de::DeserializeOwned + Expiring>(
        &self,
        pk: String,
        sk: String,
        now: DateTime<Utc>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.get::<T>(pk, sk).await?.filter(|t| t.live_at(now)))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        output
            .item
            .map(|item| serde_dynamo::from_item(item).map_err(corrupt))
            .transpose()
    }

    /// Writes `item` whatever was there.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    /// Writes `item` unless an item of its key exists; false when one did.
    async fn insert(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    fn put_new(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(corrupt)
    }

    /// Runs a transaction. `Ok(Some(i))` says the condition of item `i` failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<usize>, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        if let Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                cancelled,
            ),
        ) = err.as_service_error()
        {
            let failed = cancelled
                .cancellation_reasons()
                .iter()
                .position(|r| r.code() == Some("ConditionalCheckFailed"));
            if failed.is_some() {
                return Ok(failed);
            }
            let throttled = cancelled.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ThrottlingError" | "ProvisionedThroughputExceeded" | "TransactionConflict")
                )
            });
            if throttled {
                return Err(StoreError::Throttled);
            }
        }
        Err(sdk_error(err))
    }

    /// Items of the query's partition whose sort key starts with its prefix,
    /// filtered, `limit` at a time (all of them when `None`).
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        query: PrefixQuery,
        limit: Option<usize>,
        filter: impl Fn(&T) -> bool,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Page<T>, StoreError> {
        let mut found = Vec::new();
        let mut start = (query.after.as_ref())
            .map(|after| key(query.pk.clone(), format!("{}{after}", query.prefix)));
        // One more than asked for tells whether another page exists.
        let page_size = limit.map(|l| i32::try_from(l + 1).unwrap_or(i32::MAX));
        // `~` sorts after every character of an id.
        let (condition, lower, upper) = match (&query.from, &query.to) {
            (None, None) => (
                "pk = :pk AND begins_with(sk, :lower)",
                query.prefix.clone(),
                None,
            ),
            (from, to) => (
                "pk = :pk AND sk BETWEEN :lower AND :upper",
                format!("{}{}", query.prefix, from.as_deref().unwrap_or("")),
                Some(format!("{}{}", query.prefix, to.as_deref().unwrap_or("~"))),
            ),
        };
        let mut values = HashMap::from([
            (":pk".to_string(), s(query.pk.clone())),
            (":lower".to_string(), s(lower)),
        ]);
        if let Some(upper) = upper {
            values.insert(":upper".into(), s(upper));
        }
        'pages: loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .set_limit(page_size)
                .scan_index_forward(!query.newest_first)
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items.unwrap_or_default() {
                let value: T = serde_dynamo::from_item(item).map_err(corrupt)?;
                if filter(&value) {
                    found.push(value);
                    if limit.is_some_and(|l| found.len() > l) {
                        break 'pages;
                    }
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let next_after = match limit {
            Some(l) if found.len() > l => {
                found.truncate(l);
                found.last().map(&id_of)
            }
            _ => None,
        };
        Ok(Page {
            items: found,
            next_after,
        })
    }
}
