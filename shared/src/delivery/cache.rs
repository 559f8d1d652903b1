//! The deliver function's copies of webhooks, kept across invocations. A copy is used
//! only while the claim's version check agrees it is current.

use std::{collections::HashMap, sync::Mutex};

use super::queue::DeliveryMessage;
use crate::{
    store::{Store, StoreError},
    webhook::Webhook,
};

/// Cached webhooks per function instance.
const CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub struct WebhookCache(Mutex<HashMap<(String, String), Webhook>>);

impl WebhookCache {
    /// The webhook a message is for: a cached copy at least as new as the message's,
    /// unless `reload`, else the stored one.
    pub async fn get(
        &self,
        store: &Store,
        msg: &DeliveryMessage,
        reload: bool,
    ) -> Result<Option<Webhook>, StoreError> {
        let key = key(msg);
        if !reload {
            let cached = self
                .map()
                .get(&key)
                .filter(|w| w.version >= msg.webhook_version)
                .cloned();
            if cached.is_some() {
                return Ok(cached);
            }
        }
        let webhook = store.get_webhook(&msg.account_id, &msg.webhook_id).await?;
        let mut map = self.map();
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        match &webhook {
            Some(w) => map.insert(key, w.clone()),
            None => map.remove(&key),
        };
        Ok(webhook)
    }

    pub fn forget(&self, msg: &DeliveryMessage) {
        self.map().remove(&key(msg));
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Webhook>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(msg: &DeliveryMessage) -> (String, String) {
    (msg.account_id.clone(), msg.webhook_id.clone())
}
