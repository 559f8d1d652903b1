//! Webhooks: create, read, list, update, rotate and delete them, and the disabling the
//! deliver function decides. Their health is in [`super::health`].

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::*;
use crate::{
    backoff::Backoff,
    webhook::{Health, Webhook, WebhookChanges},
};

/// Moves an account's webhook version on (`:zero` and `:one` given).
pub(super) const BUMP: &str = "webhooks_version = if_not_exists(webhooks_version, :zero) + :one";

impl Store {
    /// Creates the webhook if the account is under its quota (`default_quota` unless the
    /// account item sets its own).
    pub async fn create_webhook(
        &self,
        webhook: &Webhook,
        default_quota: u32,
    ) -> Result<(), StoreError> {
        let item = item_of(
            &webhook.account_id,
            webhook_sk(&webhook.id),
            "webhook",
            &self.sealed_webhook(webhook).await?,
        )?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(&webhook.account_id, ACCOUNT_SK.into())))
            .update_expression(format!("SET webhook_count = webhook_count + :one, {BUMP}"))
            .condition_expression(
                "attribute_exists(pk) AND ((attribute_exists(webhook_quota) AND webhook_count < webhook_quota) \
                 OR (attribute_not_exists(webhook_quota) AND webhook_count < :default_quota))",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
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

    /// A webhook with its health, as the API shows it: one BatchGetItem.
    pub async fn get_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        let keys = vec![
            key_of(account_id, webhook_sk(webhook_id)),
            health_key(account_id, webhook_id),
        ];
        let mut webhook: Option<Webhook> = None;
        let mut health = Health::default();
        for item in self.batch_get(keys).await? {
            match item.get("sk") {
                Some(AttributeValue::S(sk)) if sk == HEALTH_SK => {
                    health = serde_dynamo::from_item(item).map_err(corrupt)?
                }
                _ => webhook = Some(serde_dynamo::from_item(item).map_err(corrupt)?),
            }
        }
        Ok(webhook.map(|w| Webhook { health, ..w }))
    }

    /// A webhook's configuration, without its health: what a delivery or a route that
    /// shows no health needs.
    pub async fn get_webhook_config(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        self.get(account_pk(account_id), webhook_sk(webhook_id))
            .await
    }

    /// The configurations of these webhooks (account, id) that exist, in one BatchGetItem.
    pub async fn get_webhook_configs(
        &self,
        webhooks: &[(&str, &str)],
    ) -> Result<Vec<Webhook>, StoreError> {
        let keys = webhooks
            .iter()
            .map(|(account_id, id)| key_of(account_id, webhook_sk(id)))
            .collect();
        let items = self.batch_get(keys).await?;
        items
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(corrupt))
            .collect()
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
            pk: account_pk(account_id),
            prefix: WEBHOOK_PREFIX.into(),
            after: after.map(str::to_string),
            newest_first: false,
            from: None,
            to: None,
        };
        let page = self
            .page(query, Some(limit), filter, |w: &Webhook| w.id.clone())
            .await?;
        Ok(Page {
            items: self.with_health(page.items).await?,
            next_after: page.next_after,
        })
    }

    /// Every webhook of the account that passes `filter`, without health (fan-out).
    pub async fn all_webhooks(
        &self,
        account_id: &str,
        filter: impl Fn(&Webhook) -> bool,
    ) -> Result<Vec<Webhook>, StoreError> {
        let query = PrefixQuery {
            pk: account_pk(account_id),
            prefix: WEBHOOK_PREFIX.into(),
            after: None,
            newest_first: false,
            from: None,
            to: None,
        };
        Ok(self
            .page(query, None, filter, |w: &Webhook| w.id.clone())
            .await?
            .items)
    }

    /// Applies `changes` to the webhook as `current` was read, in one UpdateItem on
    /// condition that it is still at that version (else `Contended`), so fields the request
    /// did not name (including health written concurrently) are never overwritten, and a
    /// change checked against `current` is written only over it. Credentials are sealed,
    /// the new ones and any `current` still held plain. Turning a webhook back on also
    /// ends its failure streak, in the same transaction. Returns the webhook as it now is,
    /// with its health.
    pub async fn update_webhook(
        &self,
        current: &Webhook,
        changes: &WebhookChanges,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let (account_id, webhook_id) = (current.account_id.as_str(), current.id.as_str());
        let mut update = UpdateBuilder::default();
        let mut changed = current.clone();
        changed.settings = changes.applied_to(&current.settings);
        let sealed = self.sealed_webhook(&changed).await?;
        let mut written: Item = serde_dynamo::to_item(changes).map_err(corrupt)?;
        for (attribute, value) in sealed_attributes(current, &sealed, changes)? {
            written.insert(attribute.into(), value);
        }
        update.set_or_remove(written);
        update.set("updated_at", time(now)?);
        update.add("version", 1);
        let lost = || {
            StoreError::Contended("the webhook changed while this update was applied; try again")
        };
        let expected_version = Some(current.version);
        if changes.reenables() {
            update.remove("disabled_reason");
            let (expression, condition) = existing_at(update, expected_version);
            let webhook = Update::builder().table_name(&self.table);
            let webhook = filled!(
                webhook,
                key_of(account_id, webhook_sk(webhook_id)),
                expression,
                condition
            )
            .build()
            .map_err(corrupt)?;
            let mut streak = UpdateBuilder::default();
            streak.set("consecutive_failures", n(0));
            streak.remove("failing_since");
            let health = Update::builder().table_name(&self.table);
            let health = filled!(health, health_key(account_id, webhook_id), streak.build())
                .build()
                .map_err(corrupt)?;
            let items = vec![
                TransactWriteItem::builder().update(webhook).build(),
                TransactWriteItem::builder().update(health).build(),
                self.bumped(account_id)?,
            ];
            if self.transact(items).await?.is_some() {
                return Err(lost());
            }
        } else if self
            .write_webhook(account_id, webhook_id, update, expected_version)
            .await?
            .is_none()
        {
            return Err(lost());
        }
        self.get_webhook(account_id, webhook_id)
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
        let (expression, condition) = existing_at(update, expected_version);
        let webhook = Update::builder().table_name(&self.table);
        let webhook = filled!(
            webhook,
            key_of(account_id, webhook_sk(webhook_id)),
            expression,
            condition
        )
        .build()
        .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().update(webhook).build(),
            self.bumped(account_id)?,
        ];
        if self.transact(items).await?.is_some() {
            return Ok(None);
        }
        self.get_webhook_config(account_id, webhook_id).await
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
        let mut tries = Backoff::RACE.start();
        while tries.next().await {
            let current = self
                .get_webhook_config(account_id, webhook_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut rotated = current.clone();
            rotated.previous_secrets = current.previous_secrets_after_rotation(now, grace);
            rotated.secret = new_secret.to_string();
            // The replaced secrets as stored, sealed if one was still plain.
            let rotated = self.sealed_webhook(&rotated).await?;
            let mut update = UpdateBuilder::default();
            update.set("secret", s(rotated.secret));
            update.set("previous_secrets", av(&rotated.previous_secrets)?);
            update.set("updated_at", time(now)?);
            update.add("version", 1);
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
            .set_key(Some(key_of(account_id, webhook_sk(webhook_id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
            .update_expression(format!("SET webhook_count = webhook_count - :one, {BUMP}"))
            .condition_expression("attribute_exists(pk) AND webhook_count > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(corrupt)?;
        let health = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(health_key(account_id, webhook_id)))
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
            TransactWriteItem::builder().delete(health).build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(0) => Err(StoreError::NotFound),
            Some(_) => Err(StoreError::Corrupt(format!(
                "account {account_id} has a webhook but a zero webhook_count"
            ))),
        }
    }

    /// Disables an enabled webhook with `reason`; with `failing_since`, only while its
    /// failure streak, as stored, still began then (a success since then ended it).
    pub async fn disable_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        reason: &str,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut off = UpdateBuilder::default();
        off.set("enabled", AttributeValue::Bool(false));
        off.set("disabled_reason", s(reason));
        off.add("version", 1);
        let (expression, names, mut values) = off.build();
        values.insert(":on".into(), AttributeValue::Bool(true));
        let off = (expression, names, values);
        let key = key_of(account_id, webhook_sk(webhook_id));
        let webhook = Update::builder().table_name(&self.table);
        let webhook = filled!(webhook, key, off, "enabled = :on")
            .build()
            .map_err(corrupt)?;
        let Some(since) = failing_since else {
            let items = vec![
                TransactWriteItem::builder().update(webhook).build(),
                self.bumped(account_id)?,
            ];
            return Ok(self.transact(items).await?.is_none());
        };
        let streak = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(health_key(account_id, webhook_id)))
            .condition_expression("failing_since = :since")
            .expression_attribute_values(":since", time(since)?)
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(streak).build(),
            TransactWriteItem::builder().update(webhook).build(),
            self.bumped(account_id)?,
        ];
        Ok(self.transact(items).await?.is_none())
    }

    /// The account's webhook version moved on, in the transaction of a webhook's write:
    /// every instance's cached list of its webhooks is read again at its next use (see
    /// [`Store::account_webhooks`]).
    fn bumped(&self, account_id: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
            .update_expression(format!("SET {BUMP}"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(corrupt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// The credential attributes to write besides `changes`: the sealed form of each the
/// change sets, and of each it leaves that `current` still holds plain (written before
/// credentials were sealed: sealed on this next write).
fn sealed_attributes(
    current: &Webhook,
    sealed: &Webhook,
    changes: &WebhookChanges,
) -> Result<Vec<(&'static str, AttributeValue)>, StoreError> {
    use crate::keys::is_sealed;
    let mut attributes = Vec::new();
    let was = &current.settings;
    let plain_headers = was.headers.values().any(|v| !is_sealed(v));
    if changes.headers.is_some() || plain_headers {
        attributes.push(("headers", av(&sealed.settings.headers)?));
    }
    let plain_password = (was.basic_auth.iter()).any(|a| !is_sealed(&a.password));
    if changes.basic_auth.is_some() || plain_password {
        attributes.push(("basic_auth", av(&sealed.settings.basic_auth)?));
    }
    if !is_sealed(&current.secret) {
        attributes.push(("secret", s(sealed.secret.clone())));
    }
    if current
        .previous_secrets
        .iter()
        .any(|p| !is_sealed(&p.secret))
    {
        attributes.push(("previous_secrets", av(&sealed.previous_secrets)?));
    }
    Ok(attributes)
}

/// `update` with its condition: the webhook exists and, when `expected_version` is given,
/// is still at that version.
fn existing_at(update: UpdateBuilder, expected_version: Option<u64>) -> (Expression, String) {
    let (expression, mut names, mut values) = update.build();
    let mut condition = "attribute_exists(pk)".to_string();
    if let Some(version) = expected_version {
        condition.push_str(" AND #version = :read_version");
        names.insert("#version".into(), "version".into());
        values.insert(":read_version".into(), n(version));
    }
    ((expression, names, values), condition)
}
