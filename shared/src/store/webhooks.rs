//! Webhooks: create, read, list, update, rotate and delete them, and write the health
//! the deliver function records and the disabling it decides.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::*;
use crate::{
    delivery::retry::WebhookStatus,
    webhook::{Webhook, WebhookChanges},
};

fn webhook_sk(webhook_id: &str) -> String {
    format!("WEBHOOK#{webhook_id}")
}

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
            webhook,
        )?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(&webhook.account_id, ACCOUNT_SK.into())))
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
        update.set_or_remove(serde_dynamo::to_item(changes).map_err(corrupt)?);
        if changes.reenables() {
            // Its failure streak and the reason it was disabled go with it.
            update.remove("disabled_reason");
            update.remove("failing_since");
            update.set("consecutive_failures", n(0));
        }
        update.set("updated_at", time(now)?);
        update.add("version", 1);
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
            .set_key(Some(key_of(account_id, webhook_sk(webhook_id))))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let Some(output) = conditional(result)? else {
            return Ok(None);
        };
        let item = output
            .attributes
            .ok_or_else(|| corrupt("UpdateItem returned no item"))?;
        serde_dynamo::from_item(item).map(Some).map_err(corrupt)
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

    /// Writes the health a batch of attempts left: every webhook in one transaction, or
    /// one by one if one of them was deleted meanwhile (its health no longer matters).
    pub(super) async fn update_statuses(
        &self,
        statuses: &[((&str, &str), WebhookStatus)],
    ) -> Result<(), StoreError> {
        if statuses.len() > 1 {
            let items = statuses
                .iter()
                .map(|((account_id, webhook_id), status)| {
                    let key = key_of(account_id, webhook_sk(webhook_id));
                    let builder = Update::builder().table_name(&self.table);
                    let update = filled!(
                        builder,
                        key,
                        status_expression(status)?,
                        "attribute_exists(pk)"
                    )
                    .build()
                    .map_err(corrupt)?;
                    Ok(TransactWriteItem::builder().update(update).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            if self.transact(items).await?.is_none() {
                return Ok(());
            }
        }
        let one_by_one = statuses
            .iter()
            .map(|((account_id, webhook_id), status)| async move {
                let key = key_of(account_id, webhook_sk(webhook_id));
                let builder = self.client.update_item().table_name(&self.table);
                let result = filled!(
                    builder,
                    key,
                    status_expression(status)?,
                    "attribute_exists(pk)"
                )
                .send()
                .await;
                // Deleted meanwhile: its health no longer matters.
                conditional(result).map(|_| ())
            });
        join_all(one_by_one).await.into_iter().collect()
    }

    /// Disables an enabled webhook with `reason`; with `failing_since`, only while its
    /// stored failure streak still began then (a success since then ended it).
    pub async fn disable_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        reason: &str,
        failing_since: Option<DateTime<Utc>>,
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
        if let Some(since) = failing_since {
            condition.push_str(" AND failing_since = :since");
            request = request.expression_attribute_values(":since", time(since)?);
        }
        let result = request.condition_expression(condition).send().await;
        Ok(conditional(result)?.is_some())
    }

    /// A transaction item checking that `webhook`, the copy about to be used, is still
    /// the stored version and enabled.
    pub(super) fn webhook_check(&self, webhook: &Webhook) -> Result<TransactWriteItem, StoreError> {
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
}

/// The update expression for a webhook's health.
fn status_expression(status: &WebhookStatus) -> Result<Expression, StoreError> {
    let mut u = UpdateBuilder::default();
    u.set("last_delivery", av(&status.last_delivery)?);
    if let Some(t) = status.last_success {
        u.set("last_success", time(t)?);
    }
    if let Some(t) = status.last_failure {
        u.set("last_failure", time(t)?);
    }
    match status.failing_since {
        None => {
            u.set("consecutive_failures", n(0));
            u.remove("failing_since");
        }
        // A success in the batch ended the stored streak: this one starts afresh.
        Some(since) if status.reset => {
            u.set("consecutive_failures", n(status.failures));
            u.set("failing_since", time(since)?);
        }
        Some(since) => {
            u.add("consecutive_failures", status.failures);
            u.set_if_absent("failing_since", time(since)?);
        }
    }
    Ok(u.build())
}
