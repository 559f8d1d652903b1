//! Portal sessions, one-time portal links and the portal's cookie key (see
//! [`crate::session`]). Each is found by the hash of its secret, never by the secret.

use chrono::{DateTime, Utc};

use super::*;
use crate::session::{random_secret, PortalLink, Session};

expiring!(PortalLink, Session);

fn with_ttl<T: Serialize>(
    key: Item,
    entity: &str,
    value: &T,
    expires_at: i64,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(corrupt)?;
    item.extend(key);
    item.insert("entity".into(), s(entity));
    item.insert("expires_at".into(), n(expires_at));
    Ok(item)
}

impl Store {
    /// Writes an item whose key is a fresh random secret's hash: a collision is refused,
    /// never overwritten.
    async fn put_absent(&self, item: Item) -> Result<(), StoreError> {
        match self.insert(item).await? {
            true => Ok(()),
            false => Err(StoreError::Corrupt("a random key collided".into())),
        }
    }

    pub async fn put_session(&self, hash: &str, session: &Session) -> Result<(), StoreError> {
        let item = with_ttl(session_key(hash), "session", session, session.expires_at)?;
        self.put_absent(item).await
    }

    /// The live session of that hash.
    pub async fn get_session(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        self.get_live(session_pk(hash), SESSION_SK.into(), now)
            .await
    }

    pub async fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(hash)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    pub async fn put_portal_link(&self, hash: &str, link: &PortalLink) -> Result<(), StoreError> {
        let item = with_ttl(link_key_of(hash), "portal_link", link, link.expires_at)?;
        self.put_absent(item).await
    }

    /// Takes the link: deletes it on condition that it exists, so only its first use gets
    /// it. An expired link (not yet swept by the TTL) is taken and refused.
    pub async fn take_portal_link(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PortalLink>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(link_key_of(hash)))
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        let Some(output) = conditional(result)? else {
            return Ok(None);
        };
        let link: Option<PortalLink> = output
            .attributes
            .map(|item| serde_dynamo::from_item(item).map_err(corrupt))
            .transpose()?;
        Ok(link.filter(|l| l.live_at(now)))
    }

    /// The key that signs session cookies: made (sealed) by the first sign-in, then read.
    /// One stored plain before keys were sealed is sealed in place when read.
    pub async fn portal_key(&self) -> Result<Vec<u8>, StoreError> {
        #[derive(Serialize, serde::Deserialize)]
        struct PortalKey {
            secret: String,
        }
        let decode = |secret: &str| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret)
                .map_err(corrupt)
        };
        let owner = sealing::PORTAL_KEY_OWNER;
        if let Some(k) = self
            .get::<PortalKey>(PORTAL_KEY_PK.into(), PORTAL_KEY_SK.into())
            .await?
        {
            let secret = self.open(owner, &k.secret).await?;
            if !crate::keys::is_sealed(&k.secret) {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(portal_key_key()))
                    .update_expression("SET secret = :sealed")
                    .condition_expression("secret = :plain")
                    .expression_attribute_values(":sealed", s(self.seal(owner, &secret).await?))
                    .expression_attribute_values(":plain", s(k.secret))
                    .send()
                    .await;
                conditional(result)?;
            }
            return decode(&secret);
        }
        let secret = random_secret();
        let made = PortalKey {
            secret: self.seal(owner, &secret).await?,
        };
        let mut item: Item = serde_dynamo::to_item(&made).map_err(corrupt)?;
        item.extend(portal_key_key());
        match self.insert(item).await? {
            true => decode(&secret),
            // Another instance made it first: use that one.
            false => match self
                .get::<PortalKey>(PORTAL_KEY_PK.into(), PORTAL_KEY_SK.into())
                .await?
            {
                Some(k) => decode(&self.open(owner, &k.secret).await?),
                None => Err(StoreError::Contended("the portal key was just made")),
            },
        }
    }
}
