//! Accounts and their API tokens.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::{
    alert::{
        links::{self, LinkKey, LinkSource},
        Alert,
    },
    auth::{Principal, Scope},
};

/// Link keys this instance opened, by their sealed form.
pub(super) type LinkKeys = std::sync::Arc<std::sync::Mutex<HashMap<String, LinkKey>>>;

/// The most opened link keys an instance keeps.
const LINK_KEYS_CACHED: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub webhook_count: u32,
    /// Overrides the service-wide quota for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_quota: Option<u32>,
    /// Signs the account's action links; made with its first link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_key: Option<LinkKey>,
    /// Every portal session started at or before this time has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_ended_at: Option<DateTime<Utc>>,
    /// The escalation delay of the account's alerts that do not give their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_seconds: Option<u32>,
    /// Moved on by every write of one of its webhooks (see [`Store::account_webhooks`]).
    #[serde(default)]
    pub webhooks_version: u64,
}

/// A token as the admin tool lists it: never the token, never its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub account_id: String,
    pub scopes: Vec<Scope>,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let item = item_of(&account.account_id, ACCOUNT_SK.into(), "account", account)?;
        match self.insert(item).await? {
            true => Ok(()),
            false => Err(StoreError::AlreadyExists),
        }
    }

    pub async fn get_account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        self.get(account_pk(account_id), ACCOUNT_SK.into()).await
    }

    /// Sets (or with `None`, removes) the account's default escalation delay.
    pub async fn set_escalate_after(
        &self,
        account_id: &str,
        seconds: Option<u32>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), ACCOUNT_SK.into())))
            .condition_expression("attribute_exists(pk)");
        let update = match seconds {
            Some(seconds) => update
                .update_expression("SET escalate_after_seconds = :s")
                .expression_attribute_values(":s", n(seconds)),
            None => update.update_expression("REMOVE escalate_after_seconds"),
        };
        conditional(update.send().await)?
            .map(|_| ())
            .ok_or(StoreError::NoAccount)
    }

    pub async fn set_webhook_quota(&self, account_id: &str, quota: u32) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), ACCOUNT_SK.into())))
            .update_expression("SET webhook_quota = :q")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":q", n(quota))
            .send()
            .await;
        conditional(result)?
            .map(|_| ())
            .ok_or(StoreError::NoAccount)
    }

    /// The account's link key, made now if it has none (`None`: no such account).
    pub async fn link_key(&self, account_id: &str) -> Result<Option<LinkKey>, StoreError> {
        match self.get_account(account_id).await? {
            Some(account) => self.link_key_of(&account).await,
            None => Ok(None),
        }
    }

    /// The link key of `account` (as just read), made now if it has none.
    pub async fn link_key_of(&self, account: &Account) -> Result<Option<LinkKey>, StoreError> {
        let account_id = &account.account_id;
        if let Some(key) = account.link_key.clone() {
            return self.opened_link_key(account_id, key).await.map(Some);
        }
        match self.set_link_key(account_id, true).await {
            // A concurrent first link made it.
            Err(StoreError::Contended(_)) => self.link_key_if_any(account_id).await,
            result => result.map(Some),
        }
    }

    /// The account's link key, without making one (for checking a link).
    pub async fn link_key_if_any(&self, account_id: &str) -> Result<Option<LinkKey>, StoreError> {
        match self.get_account(account_id).await?.and_then(|a| a.link_key) {
            Some(key) => self.opened_link_key(account_id, key).await.map(Some),
            None => Ok(None),
        }
    }

    /// `alert` with the links its latest transition made, signed again from `source` (see
    /// [`links::mint`]); none if the account's key has been rotated since.
    pub async fn with_links(
        &self,
        account_id: &str,
        mut alert: Alert,
        source: Option<&LinkSource>,
    ) -> Result<Alert, StoreError> {
        alert.links = match source {
            Some(source) => match self.link_key_if_any(account_id).await? {
                Some(key) => links::mint(&key, source, account_id, &alert),
                None => None,
            },
            None => None,
        };
        Ok(alert)
    }

    /// A stored link key opened (once per instance). One still stored plain (made before
    /// keys were sealed) is sealed in place now, on condition that it is unchanged: it has
    /// no other next write.
    async fn opened_link_key(
        &self,
        account_id: &str,
        stored: LinkKey,
    ) -> Result<LinkKey, StoreError> {
        let owner = sealing::link_key_owner(account_id);
        if crate::keys::is_sealed(&stored.secret) {
            if let Some(key) = self
                .link_keys
                .lock()
                .ok()
                .and_then(|k| k.get(&stored.secret).cloned())
            {
                return Ok(key);
            }
            let secret = self.open(&owner, &stored.secret).await?;
            let opened = LinkKey {
                secret,
                ..stored.clone()
            };
            if let Ok(mut cache) = self.link_keys.lock() {
                // A bound on memory: an instance serving this many accounts opens again.
                if cache.len() >= LINK_KEYS_CACHED {
                    cache.clear();
                }
                cache.insert(stored.secret, opened.clone());
            }
            return Ok(opened);
        }
        let sealed = self.sealed_link_key(account_id, &stored).await?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
            .update_expression("SET link_key = :sealed")
            .condition_expression("link_key = :plain")
            .expression_attribute_values(":sealed", av(&sealed)?)
            .expression_attribute_values(":plain", av(&stored)?)
            .send()
            .await;
        // Lost to a rotation: the key read is still this call's answer.
        conditional(result)?;
        Ok(stored)
    }

    /// Ends every portal session of the account started until `now` (each request checks
    /// the account's time: sessions are found by their own hashes, so none is listed).
    pub async fn end_portal_sessions(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
            .update_expression("SET sessions_ended_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", time(now)?)
            .send()
            .await;
        conditional(result)?
            .map(|_| ())
            .ok_or(StoreError::NoAccount)
    }

    /// Replaces the account's link key: every link made with the old one stops working.
    pub async fn rotate_link_key(&self, account_id: &str) -> Result<LinkKey, StoreError> {
        self.set_link_key(account_id, false).await
    }

    async fn set_link_key(&self, account_id: &str, first: bool) -> Result<LinkKey, StoreError> {
        let key = LinkKey::generate();
        let sealed = self.sealed_link_key(account_id, &key).await?;
        let condition = if first {
            "attribute_exists(pk) AND attribute_not_exists(link_key)"
        } else {
            "attribute_exists(pk)"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
            .update_expression("SET link_key = :k")
            .condition_expression(condition)
            .expression_attribute_values(":k", av(&sealed)?)
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(key),
            None if first => Err(StoreError::Contended("the link key was just made")),
            None => Err(StoreError::NoAccount),
        }
    }

    /// Stores a token under its hash, plus a listing entry under its account.
    pub async fn create_token(&self, info: &TokenInfo, token_hash: &str) -> Result<(), StoreError> {
        let mut auth_item: Item = serde_dynamo::to_item(info).map_err(corrupt)?;
        let mut list_item = auth_item.clone();
        auth_item.extend(token_key(token_hash));
        auth_item.insert("entity".into(), s("token"));
        list_item.extend(key(account_pk(&info.account_id), token_sk(&info.token_id)));
        list_item.insert("entity".into(), s("token_listing"));
        list_item.insert("token_hash".into(), s(token_hash));
        let items = vec![
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(account_pk(&info.account_id), ACCOUNT_SK.into())))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .map_err(corrupt)?,
                )
                .build(),
            TransactWriteItem::builder()
                .put(self.put_new(auth_item)?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put_new(list_item)?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(0) => Err(StoreError::NoAccount),
            Some(_) => Err(StoreError::Corrupt("token id or hash collision".into())),
        }
    }

    /// The principal a token hash belongs to. Strongly consistent, so a revoked token
    /// stops working at once.
    pub async fn find_token(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
        let info: Option<TokenInfo> = self.get(token_pk(token_hash), TOKEN_SK.into()).await?;
        Ok(info.map(|t| Principal {
            account_id: t.account_id,
            token_id: t.token_id,
            scopes: t.scopes,
            token_hash: Some(token_hash.to_string()),
        }))
    }

    pub async fn list_tokens(&self, account_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let query = PrefixQuery {
            pk: account_pk(account_id),
            prefix: TOKEN_PREFIX.into(),
            after: None,
            newest_first: false,
            from: None,
            to: None,
        };
        Ok(self
            .page(query, None, |_: &TokenInfo| true, |t| t.token_id.clone())
            .await?
            .items)
    }

    pub async fn revoke_token(&self, account_id: &str, token_id: &str) -> Result<(), StoreError> {
        let list_key = key_of(account_id, token_sk(token_id));
        let listing = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(list_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let hash = match listing.item.as_ref().and_then(|i| i.get("token_hash")) {
            Some(AttributeValue::S(hash)) => hash.clone(),
            _ => return Err(StoreError::NotFound),
        };
        let delete = |k: Item| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(k))
                .build()
                .map_err(corrupt)
        };
        let items = vec![
            TransactWriteItem::builder()
                .delete(delete(list_key)?)
                .build(),
            TransactWriteItem::builder()
                .delete(delete(token_key(&hash))?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::NotFound),
        }
    }
}
