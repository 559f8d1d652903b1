//! Operational events, stored once each so the delivery log and redelivery can rebuild
//! what their deliveries sent (see [`crate::delivery::notice`]).

use chrono::{DateTime, Utc};

use super::*;
use crate::delivery::notice::StoredNotice;

expiring!(StoredNotice);

impl Store {
    /// Writes an operational event (the same id writes the same item again).
    pub async fn put_notice(
        &self,
        account_id: &str,
        notice: &StoredNotice,
    ) -> Result<(), StoreError> {
        let mut item = item_of(account_id, notice_sk(&notice.id), "notice", notice)?;
        item.insert("expires_at".into(), n(notice.expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    pub async fn get_notice(
        &self,
        account_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredNotice>, StoreError> {
        self.get_live(account_pk(account_id), notice_sk(id), now)
            .await
    }
}
