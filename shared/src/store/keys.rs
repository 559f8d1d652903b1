//! Every item's key, in one place. Every partition key names its account, and none takes
//! all of an account's writes (DynamoDB serves about 1,000 write and 3,000 read units a
//! second to one partition key):
//! - `ACCOUNT#<id>`: the account, its tokens, webhooks, operational events and recoveries,
//!   all written rarely;
//! - `ALERTS#<id>#<shard>`: alerts and what their ids and keys name (snapshots, dedup and
//!   idempotency keys), spread over [`ALERT_SHARDS`] partitions by a hash, and listed by
//!   one Query a shard; the `by_state` index lists them by state the same way;
//! - `HOOK#<id>#<webhook>`: a webhook's deliveries, their attempts and its health, so an
//!   account's delivery writes spread with its webhooks;
//! - tokens and sessions found by a hash, and the keys.
//!
//! Sort keys start with the noun, so a Query by prefix lists one kind.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{s, Item};

/// An item's primary key.
pub(super) fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// The key of `sk` in the account's partition.
pub(super) fn key_of(account_id: &str, sk: String) -> Item {
    key(account_pk(account_id), sk)
}

pub(super) fn account_pk(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

/// The account itself: its quota and link key.
pub(super) const ACCOUNT_SK: &str = "ACCOUNT";

pub(super) const WEBHOOK_PREFIX: &str = "WEBHOOK#";

pub(super) fn webhook_sk(webhook_id: &str) -> String {
    format!("{WEBHOOK_PREFIX}{webhook_id}")
}

/// A webhook's own partition (see the module's head).
pub(super) fn hook_pk(account_id: &str, webhook_id: &str) -> String {
    format!("HOOK#{account_id}#{webhook_id}")
}

/// The account and webhook a [`hook_pk`] names.
pub(super) fn hook_of(pk: &str) -> Option<(&str, &str)> {
    pk.strip_prefix("HOOK#")?.rsplit_once('#')
}

pub(super) const HEALTH_SK: &str = "HEALTH";

/// A webhook's rate-limit log: the send times last granted (see [`crate::delivery::pace`]).
pub(super) fn limit_key(account_id: &str, webhook_id: &str) -> Item {
    key(hook_pk(account_id, webhook_id), "LIMIT".into())
}

/// A webhook's health, apart from its configuration: deliver writes it often.
pub(super) fn health_key(account_id: &str, webhook_id: &str) -> Item {
    key(hook_pk(account_id, webhook_id), HEALTH_SK.into())
}

/// How many partitions an account's alerts are spread over.
pub(super) const ALERT_SHARDS: u8 = 16;

/// The shard of an alert id, a dedup key or an idempotency key.
pub(super) fn shard_of(text: &str) -> u8 {
    Sha256::digest(text.as_bytes())[0] % ALERT_SHARDS
}

pub(super) fn alerts_pk(account_id: &str, shard: u8) -> String {
    format!("ALERTS#{account_id}#{shard:02}")
}

/// The partition of an alert, its snapshots and its test alert.
pub(super) fn alert_pk(account_id: &str, alert_id: &str) -> String {
    alerts_pk(account_id, shard_of(alert_id))
}

/// The index that lists an account's alerts in one state, a shard at a time: its keys
/// are written on the alert's item (KEYS_ONLY: listings read the items after).
pub(super) const STATE_INDEX: &str = "by_state";
pub(super) const STATE_PK: &str = "state_pk";
pub(super) const STATE_SK: &str = "state_sk";

pub(super) fn state_pk(account_id: &str, state: &str, shard: u8) -> String {
    format!("ALERTSTATE#{account_id}#{state}#{shard:02}")
}

pub(super) const ALERT_PREFIX: &str = "ALERT#";

pub(super) fn alert_sk(alert_id: &str) -> String {
    format!("{ALERT_PREFIX}{alert_id}")
}

/// A test delivery's alert: not under `ALERT#`, so no list, count or action finds it;
/// only its delivery's log entry reads it.
pub(super) fn test_alert_sk(alert_id: &str) -> String {
    format!("TESTALERT#{alert_id}")
}

/// The live alert of a dedup key (hashed: a key may be any text).
pub(super) fn alert_key_key(account_id: &str, key: &str) -> (String, String) {
    (
        alerts_pk(account_id, shard_of(key)),
        format!("ALERTKEY#{}", hex::encode(Sha256::digest(key.as_bytes()))),
    )
}

/// A transition's snapshot (not under `ALERT#`, so listings never read them).
pub(super) fn snapshot_sk(alert_id: &str, transition: u32) -> String {
    format!("ALERTAT#{alert_id}#{transition:06}")
}

/// A page of the webhooks a large transition went to (see
/// [`super::alerts::Move::paged`]), in the alert's partition.
pub(super) fn fan_out_sk(alert_id: &str, transition: u32, page: usize) -> String {
    format!("FANOUT#{alert_id}#{transition:06}#{page:05}")
}

pub(super) fn idempotency_key(account_id: &str, key: &str) -> (String, String) {
    (
        alerts_pk(account_id, shard_of(key)),
        format!("IDEM#{}", hex::encode(Sha256::digest(key.as_bytes()))),
    )
}

/// A webhook's deliveries (in its partition), newest last (the ids are UUIDv7).
pub(super) const DELIVERY_PREFIX: &str = "DLV#";

pub(super) fn delivery_sk(delivery_id: &str) -> String {
    format!("{DELIVERY_PREFIX}{delivery_id}")
}

/// A webhook's attempts after the first (which its delivery's item keeps), of every
/// delivery.
pub(super) const ATTEMPT_PREFIX: &str = "ATT#";

/// One delivery's attempts.
pub(super) fn attempt_prefix(delivery_id: &str) -> String {
    format!("{ATTEMPT_PREFIX}{delivery_id}#")
}

pub(super) fn notice_sk(id: &str) -> String {
    format!("NOTICE#{id}")
}

pub(super) fn recovery_sk(webhook_id: &str, id: &str) -> String {
    format!("RECOVERY#{webhook_id}#{id}")
}

/// A token, found by its hash; the account lists its tokens under [`token_sk`].
pub(super) fn token_pk(token_hash: &str) -> String {
    format!("TOKEN#{token_hash}")
}

pub(super) const TOKEN_SK: &str = "TOKEN";

pub(super) fn token_key(token_hash: &str) -> Item {
    key(token_pk(token_hash), TOKEN_SK.into())
}

pub(super) const TOKEN_PREFIX: &str = "TOKEN#";

/// A token as its account lists it, by id.
pub(super) fn token_sk(token_id: &str) -> String {
    format!("{TOKEN_PREFIX}{token_id}")
}

/// A portal session, found by the hash of its cookie's secret.
pub(super) fn session_pk(hash: &str) -> String {
    format!("SESSION#{hash}")
}

pub(super) const SESSION_SK: &str = "SESSION";

pub(super) fn session_key(hash: &str) -> Item {
    key(session_pk(hash), SESSION_SK.into())
}

/// A one-time portal link, found by the hash of its secret.
pub(super) fn link_key_of(hash: &str) -> Item {
    key(format!("PORTALLINK#{hash}"), "PORTALLINK".into())
}

/// The data key, as KMS wrapped it.
pub(super) const DATA_KEY_PK: &str = "KEYRING";
pub(super) const DATA_KEY_SK: &str = "DATAKEY";

pub(super) fn data_key_key() -> Item {
    key(DATA_KEY_PK.into(), DATA_KEY_SK.into())
}

/// The portal's cookie-signing key.
pub(super) const PORTAL_KEY_PK: &str = "PORTAL";
pub(super) const PORTAL_KEY_SK: &str = "KEY";

pub(super) fn portal_key_key() -> Item {
    key(PORTAL_KEY_PK.into(), PORTAL_KEY_SK.into())
}
