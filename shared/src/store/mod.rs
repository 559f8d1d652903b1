//! The DynamoDB store: one table, every item under a key that names its account.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account | `ACCOUNT#<account>` | `ACCOUNT` |
//! | webhook | `ACCOUNT#<account>` | `WEBHOOK#<webhook id>` |
//! | token, by account (for listing) | `ACCOUNT#<account>` | `TOKEN#<token id>` |
//! | token, by hash (for auth) | `TOKEN#<sha256 of token>` | `TOKEN` |
//!
//! Every read is a GetItem or a Query on one partition; nothing here scans. The account
//! item counts its webhooks, and create and delete change that count in the same
//! transaction as the webhook, so the quota holds under concurrent requests.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::{AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update},
    Client,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod deliveries;

pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use deliveries::{Claim, DeliveryUpdate, Idempotency, StoredAlert, Target, WebhookStatus};

use crate::{
    auth::{Principal, Scope},
    error::ApiError,
    model::{Webhook, WebhookChanges},
};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("item not found")]
    NotFound,
    #[error("the account already exists")]
    AlreadyExists,
    #[error("the account does not exist")]
    NoAccount,
    #[error("the webhook quota of {0} is reached")]
    QuotaExceeded(u32),
    #[error("DynamoDB is throttling requests")]
    Throttled,
    #[error("DynamoDB request failed: {0}")]
    Dynamo(String),
    #[error("a stored item could not be read or written: {0}")]
    Corrupt(String),
    /// Concurrent writers kept winning a conditional write; the caller may try again.
    #[error("{0}")]
    Contended(&'static str),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("webhook"),
            StoreError::QuotaExceeded(limit) => ApiError::QuotaExceeded { limit },
            StoreError::NoAccount => {
                ApiError::Unauthenticated("the token's account no longer exists")
            }
            StoreError::Throttled => ApiError::Unavailable,
            StoreError::Contended(message) => ApiError::Conflict {
                code: "conflict",
                message: message.into(),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or("");
    if matches!(
        code,
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    ) {
        return StoreError::Throttled;
    }
    // Debug, not Display: Display says only "service error", the debug form says why.
    StoreError::Dynamo(format!("{err:?}"))
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn account_pk(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

fn webhook_sk(webhook_id: &str) -> String {
    format!("WEBHOOK#{webhook_id}")
}

const ACCOUNT_SK: &str = "ACCOUNT";
const TOKEN_SK: &str = "TOKEN";

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub webhook_count: u32,
    /// Overrides the service-wide quota for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_quota: Option<u32>,
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

/// A Query on one account's partition.
struct PrefixQuery<'a> {
    account_id: &'a str,
    prefix: String,
    /// The id after which the page starts (the sort key is prefix + id).
    after: Option<String>,
    newest_first: bool,
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
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on the default AWS configuration (which honours `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(Client::new(&config), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // ---- accounts -------------------------------------------------------------------

    pub async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(account).map_err(corrupt)?;
        item.extend(key(account_pk(&account.account_id), ACCOUNT_SK.into()));
        item.insert("entity".into(), s("account"));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(sdk_error(e)),
        }
    }

    pub async fn get_account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        self.get(account_pk(account_id), ACCOUNT_SK.into()).await
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
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NoAccount),
            Err(e) => Err(sdk_error(e)),
        }
    }

    // ---- tokens ---------------------------------------------------------------------

    /// Stores a token under its hash, plus a listing entry under its account.
    pub async fn create_token(&self, info: &TokenInfo, token_hash: &str) -> Result<(), StoreError> {
        let mut auth_item: Item = serde_dynamo::to_item(info).map_err(corrupt)?;
        let mut list_item = auth_item.clone();
        auth_item.extend(key(format!("TOKEN#{token_hash}"), TOKEN_SK.into()));
        auth_item.insert("entity".into(), s("token"));
        list_item.extend(key(
            account_pk(&info.account_id),
            format!("TOKEN#{}", info.token_id),
        ));
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
        let info: Option<TokenInfo> = self
            .get(format!("TOKEN#{token_hash}"), TOKEN_SK.into())
            .await?;
        Ok(info.map(|t| Principal {
            account_id: t.account_id,
            token_id: t.token_id,
            scopes: t.scopes,
        }))
    }

    pub async fn list_tokens(&self, account_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: "TOKEN#".into(),
            after: None,
            newest_first: false,
        };
        Ok(self
            .page(query, None, |_: &TokenInfo| true, |t| t.token_id.clone())
            .await?
            .items)
    }

    pub async fn revoke_token(&self, account_id: &str, token_id: &str) -> Result<(), StoreError> {
        let list_key = key(account_pk(account_id), format!("TOKEN#{token_id}"));
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
                .delete(delete(key(format!("TOKEN#{hash}"), TOKEN_SK.into()))?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::NotFound),
        }
    }

    // ---- webhooks -------------------------------------------------------------------

    /// Creates the webhook if the account is under its quota (`default_quota` unless the
    /// account item sets its own).
    pub async fn create_webhook(
        &self,
        webhook: &Webhook,
        default_quota: u32,
    ) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(webhook).map_err(corrupt)?;
        item.extend(key(
            account_pk(&webhook.account_id),
            webhook_sk(&webhook.id),
        ));
        item.insert("entity".into(), s("webhook"));
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(&webhook.account_id), ACCOUNT_SK.into())))
            .update_expression("SET webhook_count = webhook_count + :one")
            .condition_expression(
                "attribute_exists(pk) AND ((attribute_exists(webhook_quota) AND webhook_count < webhook_quota) \
                 OR (attribute_not_exists(webhook_quota) AND webhook_count < :default_quota))",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":default_quota", n(default_quota))
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().update(count).build(),
            TransactWriteItem::builder()
                .put(self.put_new(item)?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(0) => match self.get_account(&webhook.account_id).await? {
                None => Err(StoreError::NoAccount),
                Some(account) => Err(StoreError::QuotaExceeded(
                    account.webhook_quota.unwrap_or(default_quota),
                )),
            },
            Some(_) => Err(StoreError::Corrupt("webhook id collision".into())),
        }
    }

    pub async fn get_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        self.get(account_pk(account_id), webhook_sk(webhook_id))
            .await
    }

    /// Up to `limit` webhooks that pass `filter`, in creation order, after the webhook
    /// with id `after`.
    pub async fn list_webhooks(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
        filter: impl Fn(&Webhook) -> bool,
    ) -> Result<Page<Webhook>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: "WEBHOOK#".into(),
            after: after.map(str::to_string),
            newest_first: false,
        };
        self.page(query, Some(limit), filter, |w: &Webhook| w.id.clone())
            .await
    }

    /// Every webhook of the account that passes `filter` (fan-out).
    pub async fn all_webhooks(
        &self,
        account_id: &str,
        filter: impl Fn(&Webhook) -> bool,
    ) -> Result<Vec<Webhook>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: "WEBHOOK#".into(),
            after: None,
            newest_first: false,
        };
        Ok(self
            .page(query, None, filter, |w: &Webhook| w.id.clone())
            .await?
            .items)
    }

    /// Items under `ACCOUNT#<account>` whose sort key starts with the query's prefix,
    /// filtered, `limit` at a time (all of them when `None`).
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        query: PrefixQuery<'_>,
        limit: Option<usize>,
        filter: impl Fn(&T) -> bool,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Page<T>, StoreError> {
        let mut found = Vec::new();
        let mut start = query.after.as_ref().map(|after| {
            key(
                account_pk(query.account_id),
                format!("{}{after}", query.prefix),
            )
        });
        // One more than asked for tells whether another page exists.
        let page_size = limit.map(|l| i32::try_from(l + 1).unwrap_or(i32::MAX));
        'pages: loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(account_pk(query.account_id)))
                .expression_attribute_values(":prefix", s(query.prefix.clone()))
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

    /// Applies `changes` in one conditional UpdateItem, so fields the request did not name
    /// (including delivery status written concurrently) are never overwritten.
    pub async fn update_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        changes: &WebhookChanges,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let mut update = UpdateBuilder::default();
        if let Some(v) = &changes.name {
            update.set("name", av(v)?);
        }
        if let Some(v) = &changes.url {
            update.set("url", av(v)?);
        }
        if let Some(v) = changes.enabled {
            update.set("enabled", AttributeValue::Bool(v));
            if v {
                // Re-enabling clears an automatic disable and its failure streak.
                update.remove("disabled_reason");
                update.remove("failing_since");
                update.set("consecutive_failures", n(0));
            }
        }
        if let Some(v) = &changes.alert_types {
            update.set("alert_types", av(v)?);
        }
        if let Some(v) = &changes.events {
            update.set("events", av(v)?);
        }
        if let Some(v) = &changes.http_method {
            update.set("http_method", av(v)?);
        }
        if let Some(v) = &changes.headers {
            update.set("headers", av(v)?);
        }
        match &changes.basic_auth {
            Some(Some(v)) => update.set("basic_auth", av(v)?),
            Some(None) => update.remove("basic_auth"),
            None => {}
        }
        if let Some(v) = &changes.metadata {
            let text = serde_json::to_string(v).map_err(corrupt)?;
            update.set("metadata", s(text));
        }
        update.set("updated_at", s(now.to_rfc3339()));
        update.increment("version");
        self.write_webhook(account_id, webhook_id, update, None)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Applies `update` to an existing webhook, when its version is still
    /// `expected_version` if one is given; `None` when the webhook is missing or changed.
    async fn write_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        update: UpdateBuilder,
        expected_version: Option<u64>,
    ) -> Result<Option<Webhook>, StoreError> {
        let (expression, mut names, mut values) = update.build();
        let mut condition = "attribute_exists(pk)".to_string();
        if let Some(version) = expected_version {
            condition.push_str(" AND #version = :read_version");
            names.insert("#version".into(), "version".into());
            values.insert(":read_version".into(), n(version));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), webhook_sk(webhook_id))))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output
                    .attributes
                    .ok_or_else(|| corrupt("UpdateItem returned no item"))?;
                serde_dynamo::from_item(item).map(Some).map_err(corrupt)
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Replaces the signing secret. The replaced one keeps signing for `grace` (see
    /// [`Webhook::previous_secrets_after_rotation`]). The write is conditional on the
    /// version read, so two rotations at once cannot lose a secret; a lost race retries.
    pub async fn rotate_secret(
        &self,
        account_id: &str,
        webhook_id: &str,
        new_secret: &str,
        grace: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        for _ in 0..5 {
            let current = self
                .get_webhook(account_id, webhook_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut update = UpdateBuilder::default();
            update.set("secret", s(new_secret));
            update.set(
                "previous_secrets",
                av(&current.previous_secrets_after_rotation(now, grace))?,
            );
            update.set("updated_at", s(now.to_rfc3339()));
            update.increment("version");
            // A concurrent change of the webhook (a rotation, an edit) means reading again.
            if let Some(rotated) = self
                .write_webhook(account_id, webhook_id, update, Some(current.version))
                .await?
            {
                return Ok(rotated);
            }
        }
        Err(StoreError::Contended(
            "the webhook kept changing during the rotation; try again",
        ))
    }

    pub async fn delete_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), webhook_sk(webhook_id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account_id), ACCOUNT_SK.into())))
            .update_expression("SET webhook_count = webhook_count - :one")
            .condition_expression("attribute_exists(pk) AND webhook_count > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(0) => Err(StoreError::NotFound),
            Some(_) => Err(StoreError::Corrupt(format!(
                "account {account_id} has a webhook but a zero webhook_count"
            ))),
        }
    }

    // ---- helpers --------------------------------------------------------------------

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
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// An update expression with its attribute names and values.
type Expression = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

/// Builds `SET #a = :a, ... REMOVE #b` with placeholders for every name, since many
/// attribute names (`name`, `url`) are DynamoDB reserved words.
#[derive(Default)]
struct UpdateBuilder {
    sets: Vec<String>,
    removes: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl UpdateBuilder {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}");
        self.sets.push(format!("{name} = {placeholder}"));
        self.values.insert(placeholder, value);
    }

    /// `attribute = if_not_exists(attribute, value)`: set only when absent.
    fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}");
        self.sets
            .push(format!("{name} = if_not_exists({name}, {placeholder})"));
        self.values.insert(placeholder, value);
    }

    /// `attribute = if_not_exists(attribute, 0) + by`.
    fn add(&mut self, attribute: &str, by: u32) {
        let name = self.name(attribute);
        let placeholder = format!(":{attribute}_add");
        self.sets.push(format!(
            "{name} = if_not_exists({name}, :zero) + {placeholder}"
        ));
        self.values.insert(":zero".into(), n(0));
        self.values.insert(placeholder, n(by));
    }

    /// `attribute = if_not_exists(attribute, 0) + 1`.
    fn increment(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.sets
            .push(format!("{name} = if_not_exists({name}, :zero) + :one"));
        self.values.insert(":zero".into(), n(0));
        self.values.insert(":one".into(), n(1));
    }

    fn remove(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.removes.push(name);
    }

    fn build(
        self,
    ) -> (
        String,
        HashMap<String, String>,
        HashMap<String, AttributeValue>,
    ) {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        (expression, self.names, self.values)
    }
}

fn av<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(corrupt)
}
