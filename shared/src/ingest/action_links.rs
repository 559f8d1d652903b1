//! The action links a transition carries, minted with the account's link key (see
//! [`crate::alert::links`]).

use super::*;

impl Ingest<'_> {
    /// The key and source of a transition's action links: the account's key (made with
    /// its first link) and the API's base URL. None without a base URL.
    pub(super) async fn link_source(
        &self,
        account: &Account,
    ) -> Result<Option<(LinkKey, LinkSource)>, ApiError> {
        let Some(base) = self.links_base else {
            return Ok(None);
        };
        let key = self
            .store
            .link_key_of(account)
            .await?
            .ok_or(ApiError::NotFound("account"))?;
        let source = LinkSource {
            base: base.to_string(),
            key_id: key.id.clone(),
        };
        Ok(Some((key, source)))
    }
}
