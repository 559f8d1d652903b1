//! Bulk recoveries (see [`crate::delivery::recovery`]): one item per webhook and window,
//! created on condition that none is running, and moved on page by page on condition
//! that its cursor is where the page began.

use chrono::{DateTime, Utc};

use super::*;
use crate::delivery::recovery::{Recovery, RecoveryState};

expiring!(Recovery);

fn recovery_item(account_id: &str, r: &Recovery) -> Result<Item, StoreError> {
    let mut item = item_of(account_id, recovery_sk(&r.webhook_id, &r.id), "recovery", r)?;
    item.insert("expires_at".into(), n(r.expires_at));
    Ok(item)
}

impl Store {
    /// Starts `recovery` unless the same one (webhook and window) exists: `Ok(None)` when
    /// started, else that one as it stands, running or finished. So the same window is
    /// recovered once, however often or concurrently it is asked for.
    pub async fn start_recovery(
        &self,
        account_id: &str,
        recovery: &Recovery,
    ) -> Result<Option<Recovery>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(recovery_item(account_id, recovery)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional(result)?.is_some() {
            return Ok(None);
        }
        self.get_recovery(
            account_id,
            &recovery.webhook_id,
            &recovery.id,
            recovery.created_at,
        )
        .await?
        .map(Some)
        .ok_or(StoreError::Contended(
            "the recovery changed while it was read; try again",
        ))
    }

    pub async fn get_recovery(
        &self,
        account_id: &str,
        webhook_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Recovery>, StoreError> {
        self.get_live(account_pk(account_id), recovery_sk(webhook_id, id), now)
            .await
    }

    /// Writes the recovery after a page that began at `cursor`; false if another worker
    /// moved it first (that worker carries it on).
    pub async fn advance_recovery(
        &self,
        account_id: &str,
        cursor: Option<&str>,
        next: &Recovery,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(recovery_item(account_id, next)?))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_values(":running", s(RecoveryState::Running.as_str()));
        let request = match cursor {
            Some(c) => request
                .condition_expression("#state = :running AND #cursor = :cursor")
                .expression_attribute_values(":cursor", s(c)),
            None => {
                request.condition_expression("#state = :running AND attribute_not_exists(#cursor)")
            }
        };
        Ok(conditional(request.send().await)?.is_some())
    }
}
