//! Webhooks made in bulk (`hookline-admin import-webhooks`): a transaction of up to
//! [`IMPORT_CHUNK`] webhooks with the account's count, so the quota holds as it does for
//! one, at a hundredth of the requests.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::{webhooks::BUMP, *};
use crate::webhook::Webhook;

/// Webhooks a transaction (DynamoDB takes 100 writes; one is the account's count).
const IMPORT_CHUNK: usize = 99;

impl Store {
    /// Creates `webhooks`, all of `account_id`, if they fit its quota (`default_quota`
    /// unless the account sets its own) as read first. Each transaction also requires the
    /// count it was computed from: a webhook created or deleted meanwhile stops the import
    /// with [`StoreError::Contended`], the webhooks of earlier transactions kept (the
    /// count says how many).
    pub async fn import_webhooks(
        &self,
        account_id: &str,
        webhooks: &[Webhook],
        default_quota: u32,
    ) -> Result<(), StoreError> {
        if webhooks.iter().any(|w| w.account_id != account_id) {
            return Err(StoreError::Corrupt("a webhook of another account".into()));
        }
        let account = (self.get_account(account_id).await?).ok_or(StoreError::NoAccount)?;
        let quota = account.webhook_quota.unwrap_or(default_quota);
        if account.webhook_count as usize + webhooks.len() > quota as usize {
            return Err(StoreError::QuotaExceeded(quota));
        }
        let mut count = account.webhook_count;
        for chunk in webhooks.chunks(IMPORT_CHUNK) {
            let added = u32::try_from(chunk.len()).map_err(corrupt)?;
            let same_quota = match account.webhook_quota {
                Some(_) => "webhook_quota = :quota",
                None => "attribute_not_exists(webhook_quota)",
            };
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_of(account_id, ACCOUNT_SK.into())))
                .update_expression(format!(
                    "SET webhook_count = webhook_count + :added, {BUMP}"
                ))
                .condition_expression(format!("webhook_count = :count AND {same_quota}"))
                .expression_attribute_values(":added", n(added))
                .expression_attribute_values(":count", n(count))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
            if let Some(q) = account.webhook_quota {
                update = update.expression_attribute_values(":quota", n(q));
            }
            let mut items = vec![TransactWriteItem::builder()
                .update(update.build().map_err(corrupt)?)
                .build()];
            for webhook in chunk {
                let sealed = self.sealed_webhook(webhook).await?;
                let item = item_of(account_id, webhook_sk(&webhook.id), "webhook", &sealed)?;
                items.push(
                    TransactWriteItem::builder()
                        .put(self.put_new(item)?)
                        .build(),
                );
            }
            match self.transact(items).await? {
                None => count += added,
                Some(0) => {
                    return Err(StoreError::Contended(
                        "the account's webhooks changed during the import",
                    ))
                }
                Some(_) => return Err(StoreError::Corrupt("webhook id collision".into())),
            }
        }
        Ok(())
    }
}
