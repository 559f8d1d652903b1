//! What this instance keeps of accounts' webhooks, checked against the account's webhook
//! version, which every write of one of its webhooks moves on (see
//! [`Store::bumped`]): fan-out reads one item an alert instead of every webhook, and
//! deliver one item an account in a batch instead of one a webhook. A change takes
//! effect at the next read of the account, as an uncached read would.

use std::sync::{Arc, Mutex};

use super::*;
use crate::{store::Account, webhook::Webhook};

/// Accounts' webhooks as this instance last read them, each with the account's webhook
/// version then.
pub(super) type WebhookLists = Arc<Mutex<HashMap<String, (u64, Arc<Vec<Webhook>>)>>>;

/// Webhooks by (account, id) as this instance last read them, each with its account's
/// webhook version then.
pub(super) type WebhookConfigs = Arc<Mutex<HashMap<(String, String), (u64, Webhook)>>>;

/// The most accounts whose webhook lists, and the most webhooks whose configurations, an
/// instance keeps: past either, it starts again.
const LISTS_CACHED: usize = 1_000;
const CONFIGS_CACHED: usize = 10_000;

impl Store {
    /// Every webhook of `account` (as just read), from this instance's cache while the
    /// account's webhook version is still the one the cached list was read at: fan-out
    /// reads one item an alert, not the account's every webhook.
    pub async fn account_webhooks(
        &self,
        account: &Account,
    ) -> Result<Arc<Vec<Webhook>>, StoreError> {
        let id = &account.account_id;
        let cached = (self.webhook_lists.lock().ok())
            .and_then(|lists| lists.get(id).cloned())
            .filter(|(version, _)| *version == account.webhooks_version);
        if let Some((_, webhooks)) = cached {
            return Ok(webhooks);
        }
        // Read after the account: at least as new as the version it names.
        let webhooks = Arc::new(self.all_webhooks(id, |_| true).await?);
        if let Ok(mut lists) = self.webhook_lists.lock() {
            // A bound on memory: an instance serving this many accounts reads again.
            if lists.len() >= LISTS_CACHED {
                lists.clear();
            }
            lists.insert(id.clone(), (account.webhooks_version, webhooks.clone()));
        }
        Ok(webhooks)
    }

    /// The configurations of these webhooks (account, id) that exist: one BatchGetItem of
    /// their accounts' items, and one of the webhooks this instance has not read at their
    /// account's current version.
    pub async fn current_webhooks(
        &self,
        webhooks: &[(&str, &str)],
    ) -> Result<Vec<Webhook>, StoreError> {
        let accounts: std::collections::BTreeSet<&str> = webhooks.iter().map(|(a, _)| *a).collect();
        let keys = (accounts.into_iter())
            .map(|a| key_of(a, ACCOUNT_SK.into()))
            .collect();
        let mut versions = HashMap::new();
        for item in self.batch_get(keys).await? {
            let account: Account = serde_dynamo::from_item(item).map_err(corrupt)?;
            versions.insert(account.account_id, account.webhooks_version);
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        {
            let cache = self
                .webhook_configs
                .lock()
                .map_err(|_| corrupt("a poisoned cache"))?;
            for &(account, id) in webhooks {
                let Some(version) = versions.get(account) else {
                    continue;
                };
                match cache.get(&(account.to_string(), id.to_string())) {
                    Some((at, webhook)) if at == version => found.push(webhook.clone()),
                    _ => missing.push((account, id)),
                }
            }
        }
        // Read after their accounts: at least as new as the versions they are kept at.
        let read = self.get_webhook_configs(&missing).await?;
        if let Ok(mut cache) = self.webhook_configs.lock() {
            if cache.len() + read.len() > CONFIGS_CACHED {
                cache.clear();
            }
            for webhook in &read {
                let version = versions
                    .get(&webhook.account_id)
                    .copied()
                    .unwrap_or_default();
                let key = (webhook.account_id.clone(), webhook.id.clone());
                cache.insert(key, (version, webhook.clone()));
            }
        }
        found.extend(read);
        Ok(found)
    }
}
