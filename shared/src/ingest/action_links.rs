//! The action links a transition carries, minted with the account's link key (see
//! [`crate::alert::links`]).

use super::*;

impl Ingest<'_> {
    /// The action links for the alert's state, signed with the account's key.
    pub(super) async fn links(
        &self,
        account_id: &str,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<Option<Links>, ApiError> {
        let Some(base) = self.links_base else {
            return Ok(None);
        };
        let actions = LinkAction::applicable(&alert.standing(), now);
        if actions.is_empty() {
            return Ok(None);
        }
        let key = self
            .store
            .link_key(account_id)
            .await?
            .ok_or(ApiError::NotFound("account"))?;
        let expires_at = now + LINK_LIFETIME;
        let urls = actions
            .into_iter()
            .map(|action| {
                let claim = Claim {
                    account_id: account_id.to_string(),
                    alert_id: alert.id.clone(),
                    action,
                    expires_at: expires_at.timestamp(),
                    key_id: key.id.clone(),
                };
                let url = format!(
                    "{}/links/{}",
                    base.trim_end_matches('/'),
                    links::sign(&key, &claim)
                );
                (action.as_str().to_string(), url)
            })
            .collect();
        Ok(Some(Links { expires_at, urls }))
    }
}
