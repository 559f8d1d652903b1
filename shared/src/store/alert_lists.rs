//! Listing an account's alerts: one Query a shard of the table, or, by state, of the
//! `by_state` index, merged newest first.

use chrono::{DateTime, Utc};

use super::*;
use crate::{alert::lifecycle::AlertState, store::StoredAlert};

/// What `GET /alerts` may narrow a listing to.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub state: Option<AlertState>,
    pub alert_type: Option<String>,
    /// Alerts first reported at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl Store {
    /// The account's alerts, newest first (ids are UUIDv7, so the sort key orders them by
    /// their first report): one Query a shard, of the table, or with a state of its
    /// `by_state` index, merged.
    pub async fn list_alerts(
        &self,
        account_id: &str,
        query: &AlertQuery,
        limit: usize,
        after: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Page<StoredAlert>, StoreError> {
        let from = query.since.map(crate::delivery::record::uuid_floor);
        // The index is eventually consistent: an alert found there is checked again.
        let wanted = |a: &StoredAlert| {
            a.live_at(now)
                && query.state.is_none_or(|s| a.alert.state == s)
                && (query.alert_type.as_ref()).is_none_or(|t| &a.alert.input.alert_type == t)
        };
        let id = |a: &StoredAlert| a.alert.id.clone();
        let (from, wanted) = (&from, &wanted);
        let shards = (0..ALERT_SHARDS).map(|shard| async move {
            match query.state {
                None => {
                    let query = PrefixQuery {
                        pk: alerts_pk(account_id, shard),
                        prefix: ALERT_PREFIX.into(),
                        after: after.map(str::to_string),
                        newest_first: true,
                        from: from.clone(),
                        to: None,
                    };
                    self.page(query, Some(limit), wanted, id).await
                }
                Some(state) => {
                    let pk = state_pk(account_id, state.as_str(), shard);
                    (self.state_page(account_id, pk, from.as_deref(), after, limit, wanted)).await
                }
            }
        });
        let mut more = false;
        let mut found = Vec::new();
        for page in futures::future::join_all(shards).await {
            let page = page?;
            more |= page.next_after.is_some();
            found.extend(page.items);
        }
        found.sort_by(|a, b| b.alert.id.cmp(&a.alert.id));
        more |= found.len() > limit;
        found.truncate(limit);
        let next_after = more.then(|| found.last().map(id)).flatten();
        Ok(Page {
            items: found,
            next_after,
        })
    }

    /// Up to `limit` alerts that pass `wanted` from one shard of the state index (`pk`),
    /// newest first, after the alert `after` and made at or after `from`.
    async fn state_page(
        &self,
        account_id: &str,
        pk: String,
        from: Option<&str>,
        after: Option<&str>,
        limit: usize,
        wanted: impl Fn(&StoredAlert) -> bool,
    ) -> Result<Page<StoredAlert>, StoreError> {
        let mut start = after.map(|after| {
            let mut start = super::key(alert_pk(account_id, after), alert_sk(after));
            start.insert(STATE_PK.into(), s(pk.clone()));
            start.insert(STATE_SK.into(), s(after));
            start
        });
        let mut found = Vec::new();
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(STATE_INDEX)
                .expression_attribute_names("#pk", STATE_PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start)
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                .scan_index_forward(false);
            request = match from {
                Some(from) => request
                    .key_condition_expression("#pk = :pk AND #sk >= :from")
                    .expression_attribute_names("#sk", STATE_SK)
                    .expression_attribute_values(":from", s(from)),
                None => request.key_condition_expression("#pk = :pk"),
            };
            let page = request.send().await.map_err(sdk_error)?;
            let keys: Vec<Item> = (page.items.unwrap_or_default().into_iter())
                .filter_map(|i| {
                    Some(super::key(
                        i.get("pk")?.as_s().ok()?.clone(),
                        i.get("sk")?.as_s().ok()?.clone(),
                    ))
                })
                .collect();
            for item in self.batch_get(keys).await? {
                let alert: StoredAlert = serde_dynamo::from_item(item).map_err(corrupt)?;
                if wanted(&alert) {
                    found.push(alert);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() || found.len() > limit {
                break;
            }
        }
        found.sort_by(|a, b| b.alert.id.cmp(&a.alert.id));
        let more = found.len() > limit;
        found.truncate(limit);
        let next_after = more
            .then(|| found.last().map(|a| a.alert.id.clone()))
            .flatten();
        Ok(Page {
            items: found,
            next_after,
        })
    }
}
