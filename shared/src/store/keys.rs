//! Every item's key, in one place. The table has one partition per account
//! (`ACCOUNT#<id>`) holding its webhooks, health, alerts, deliveries and attempts, and a
//! few partitions of their own: tokens and sessions found by a hash, and the keys.
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

/// A webhook's health, apart from its configuration: deliver writes it often.
pub(super) fn health_sk(webhook_id: &str) -> String {
    format!("HEALTH#{webhook_id}")
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
pub(super) fn alert_key_sk(key: &str) -> String {
    format!("ALERTKEY#{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// A transition's snapshot (not under `ALERT#`, so listings never read them).
pub(super) fn snapshot_sk(alert_id: &str, transition: u32) -> String {
    format!("ALERTAT#{alert_id}#{transition:06}")
}

pub(super) fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// A webhook's deliveries, newest last (the ids are UUIDv7).
pub(super) fn delivery_prefix(webhook_id: &str) -> String {
    format!("DLV#{webhook_id}#")
}

pub(super) fn delivery_sk(webhook_id: &str, delivery_id: &str) -> String {
    format!("{}{delivery_id}", delivery_prefix(webhook_id))
}

/// A webhook's attempts, of every delivery.
pub(super) fn webhook_attempts_prefix(webhook_id: &str) -> String {
    format!("ATT#{webhook_id}#")
}

/// One delivery's attempts.
pub(super) fn attempt_prefix(webhook_id: &str, delivery_id: &str) -> String {
    format!("{}{delivery_id}#", webhook_attempts_prefix(webhook_id))
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
