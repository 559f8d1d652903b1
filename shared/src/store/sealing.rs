//! The data key, as KMS wrapped it (see [`crate::keys`]), and sealing and opening the
//! credentials of the items that hold them.

use super::*;
use crate::{
    alert::links::LinkKey,
    keys::{is_sealed, KeyError, WrappedKey},
    webhook::Webhook,
};

/// What a webhook's sealed values belong to.
fn webhook_owner(webhook: &Webhook) -> String {
    format!("webhook/{}/{}", webhook.account_id, webhook.id)
}

/// What an account's link key belongs to.
pub(super) fn link_key_owner(account_id: &str) -> String {
    format!("account/{account_id}/link-key")
}

pub(super) const PORTAL_KEY_OWNER: &str = "portal/cookie-key";

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(e) => e,
            other => StoreError::Sealing(other.to_string()),
        }
    }
}

impl Store {
    pub async fn get_data_key(&self) -> Result<Option<WrappedKey>, StoreError> {
        self.get(DATA_KEY_PK.into(), DATA_KEY_SK.into()).await
    }

    /// Stores the wrapped data key unless one exists; false when one did.
    pub async fn put_data_key(&self, wrapped: &WrappedKey) -> Result<bool, StoreError> {
        let mut item: Item = serde_dynamo::to_item(wrapped).map_err(corrupt)?;
        item.extend(data_key_key());
        self.insert(item).await
    }

    /// `plain` sealed for `owner` under the data key.
    pub(super) async fn seal(&self, owner: &str, plain: &str) -> Result<String, StoreError> {
        Ok(self.keys.data_key(self).await?.seal(owner, plain))
    }

    /// `value` opened for `owner`: no data key is needed for a value written plain.
    pub(super) async fn open(&self, owner: &str, value: &str) -> Result<String, StoreError> {
        if !is_sealed(value) {
            return Ok(value.to_string());
        }
        Ok(self.keys.data_key(self).await?.open(owner, value)?)
    }

    /// The webhook with every credential sealed that is not yet: the signing secrets,
    /// header values, `secrets` and the basic-auth password.
    pub(super) async fn sealed_webhook(&self, webhook: &Webhook) -> Result<Webhook, StoreError> {
        let owner = webhook_owner(webhook);
        let mut sealed = webhook.clone();
        for value in credentials(&mut sealed) {
            if !is_sealed(value) {
                *value = self.seal(&owner, value).await?;
            }
        }
        Ok(sealed)
    }

    /// Opens the webhook's credentials in place: what a delivery, the test route, the
    /// preview and the secret route need; every other read leaves them sealed.
    pub async fn open_webhook(&self, webhook: &mut Webhook) -> Result<(), StoreError> {
        let owner = webhook_owner(webhook);
        for value in credentials(webhook) {
            if is_sealed(value) {
                *value = self.open(&owner, value).await?;
            }
        }
        Ok(())
    }

    /// A link key with its secret sealed.
    pub(super) async fn sealed_link_key(
        &self,
        account_id: &str,
        key: &LinkKey,
    ) -> Result<LinkKey, StoreError> {
        Ok(LinkKey {
            id: key.id.clone(),
            secret: self.seal(&link_key_owner(account_id), &key.secret).await?,
        })
    }
}

/// Every credential a webhook item holds.
fn credentials(webhook: &mut Webhook) -> impl Iterator<Item = &mut String> {
    let settings = &mut webhook.settings;
    std::iter::once(&mut webhook.secret)
        .chain(webhook.previous_secrets.iter_mut().map(|p| &mut p.secret))
        .chain(settings.headers.values_mut())
        .chain(settings.secrets.values_mut())
        .chain(settings.basic_auth.iter_mut().map(|a| &mut a.password))
}
