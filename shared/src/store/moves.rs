//! The webhooks each of an alert's kept transitions went to: in the alert's item when at
//! most [`INLINE_IDS`], else in pages of [`PAGE_IDS`] beside it (see [`Move::paged`]), so
//! that an alert to 10,000 webhooks stays a small item.

use std::{
    collections::{HashMap, HashSet},
    ops::Range,
};

use serde::{Deserialize, Serialize};

use super::*;
use crate::store::alerts::{Move, StoredAlert, Target, INLINE_IDS, PAGE_IDS};

/// Some of the webhooks a transition went to.
#[derive(Serialize, Deserialize)]
struct FanOutPage {
    webhook_ids: Vec<String>,
    expires_at: i64,
}

/// Where a page of an alert's deliveries starts: a transition, and the index in its
/// fan-out of the last delivery already listed.
pub type TargetCursor = (u32, usize);

impl Store {
    /// Writes the pages of each of `stored`'s transitions that went to more than
    /// [`INLINE_IDS`] webhooks and has none yet, and marks it paged.
    pub(super) async fn page_out(
        &self,
        account_id: &str,
        stored: &mut StoredAlert,
    ) -> Result<(), StoreError> {
        let (alert_id, expires_at) = (stored.alert.id.clone(), stored.expires_at);
        let pk = alert_pk(account_id, &alert_id);
        let mut items = Vec::new();
        for m in (stored.moves.iter_mut())
            .filter(|m| m.paged.is_none() && m.webhook_ids.len() > INLINE_IDS)
        {
            for (i, chunk) in m.webhook_ids.chunks(PAGE_IDS).enumerate() {
                let page = FanOutPage {
                    webhook_ids: chunk.to_vec(),
                    expires_at,
                };
                let sk = fan_out_sk(&alert_id, m.transition, i);
                items.push(item_at((pk.clone(), sk), "fan_out", &page)?);
            }
            m.paged = Some(m.webhook_ids.len());
        }
        self.put_items(items).await
    }

    /// The webhooks transition `m` of `alert_id` went to, those at `range` of its
    /// fan-out, each with its index (a page past its TTL is left out).
    pub async fn move_ids(
        &self,
        account_id: &str,
        alert_id: &str,
        m: &Move,
        range: Range<usize>,
    ) -> Result<Vec<(usize, String)>, StoreError> {
        let end = range.end.min(m.count());
        if range.start >= end {
            return Ok(Vec::new());
        }
        if m.paged.is_none() || !m.webhook_ids.is_empty() {
            let ids = m.webhook_ids[range.start..end.min(m.webhook_ids.len())].iter();
            return Ok(ids
                .cloned()
                .enumerate()
                .map(|(i, id)| (range.start + i, id))
                .collect());
        }
        let pk = alert_pk(account_id, alert_id);
        let pages = range.start / PAGE_IDS..=(end - 1) / PAGE_IDS;
        let keys = (pages.clone())
            .map(|p| key(pk.clone(), fan_out_sk(alert_id, m.transition, p)))
            .collect();
        let mut by_page = HashMap::new();
        for item in self.batch_get(keys).await? {
            let sk = item.get("sk").and_then(|s| s.as_s().ok()).cloned();
            let page: FanOutPage = serde_dynamo::from_item(item).map_err(corrupt)?;
            by_page.insert(sk.unwrap_or_default(), page.webhook_ids);
        }
        let mut found = Vec::new();
        for p in pages {
            let Some(ids) = by_page.remove(&fan_out_sk(alert_id, m.transition, p)) else {
                continue;
            };
            let first = p * PAGE_IDS;
            found.extend(
                (ids.into_iter().enumerate())
                    .map(|(i, id)| (first + i, id))
                    .filter(|(i, _)| range.contains(i) && *i < end),
            );
        }
        Ok(found)
    }

    /// A page of the deliveries of the alert's kept transitions, oldest transition first,
    /// each in fan-out order: up to `limit` after `after`, and where the next page
    /// starts, if another has any.
    pub async fn alert_targets(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        after: Option<TargetCursor>,
        limit: usize,
    ) -> Result<(Vec<Target>, Option<TargetCursor>), StoreError> {
        let alert_id = &stored.alert.id;
        let mut found = Vec::new();
        let mut last = None;
        for m in &stored.moves {
            let start = match after {
                Some((t, _)) if t > m.transition => continue,
                Some((t, i)) if t == m.transition => i + 1,
                _ => 0,
            };
            if start >= m.count() {
                continue;
            }
            if found.len() == limit {
                return Ok((found, last));
            }
            let range = start..start + (limit - found.len());
            for (i, webhook_id) in self.move_ids(account_id, alert_id, m, range).await? {
                found.push(Target {
                    delivery_id: m.delivery_id(alert_id, &webhook_id),
                    webhook_id,
                    transition: m.transition,
                    event: m.event,
                });
                last = Some((m.transition, i));
            }
            if last.is_some_and(|(t, i)| t == m.transition && i + 1 < m.count())
                && found.len() == limit
            {
                return Ok((found, last));
            }
        }
        Ok((found, None))
    }

    /// For each webhook transition `m` goes to, the delivery of the alert's latest
    /// earlier kept transition that went to it: the one its delivery waits for.
    pub async fn previous_deliveries(
        &self,
        account_id: &str,
        stored: &StoredAlert,
        m: &Move,
    ) -> Result<HashMap<String, String>, StoreError> {
        let alert_id = &stored.alert.id;
        let wanted: HashSet<&str> = m.webhook_ids.iter().map(String::as_str).collect();
        let mut previous = HashMap::new();
        for earlier in (stored.moves.iter().rev()).filter(|e| e.transition < m.transition) {
            if previous.len() == wanted.len() {
                break;
            }
            let all = 0..earlier.count();
            for (_, id) in self.move_ids(account_id, alert_id, earlier, all).await? {
                if wanted.contains(id.as_str()) && !previous.contains_key(&id) {
                    let delivery = earlier.delivery_id(alert_id, &id);
                    previous.insert(id, delivery);
                }
            }
        }
        Ok(previous)
    }
}
