//! Attempts: the first, kept in its delivery's item, and the later ones, each an item of
//! its own in the webhook's partition; the delivery log's list of them, and the
//! portal's charts.

use chrono::{DateTime, Utc};

use super::*;
use crate::delivery::{
    outcome::{DeliveryState, RecordedRequest, RecordedResponse, Trigger},
    record::{uuid_floor, AttemptRecord, Delivery},
};

impl Store {
    /// When, how long and how each attempt to a webhook made since `since` went, up to
    /// `limit` of them (the portal's charts): first attempts from the delivery items,
    /// later ones from their own. Both are keyed by their delivery, so the deliveries made
    /// in the day before `since` are read too, for their retries.
    pub async fn attempt_samples(
        &self,
        account_id: &str,
        webhook_id: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, StoreError> {
        let floor = uuid_floor(since - chrono::Duration::days(1));
        let hook = hook_pk(account_id, webhook_id);
        let firsts = self.samples(
            &hook,
            DELIVERY_PREFIX,
            &floor,
            "first_attempt.#ts, first_attempt.duration_ms, first_attempt.#state, first_attempt.#trigger",
            |item| {
                let first: FirstSample = serde_dynamo::from_item(item).map_err(corrupt)?;
                Ok(first.first_attempt)
            },
            since,
            limit,
        );
        let later = self.samples(
            &hook,
            ATTEMPT_PREFIX,
            &floor,
            "#ts, duration_ms, #state, #trigger",
            |item| serde_dynamo::from_item(item).map(Some).map_err(corrupt),
            since,
            limit,
        );
        let (firsts, later) = tokio::join!(firsts, later);
        let mut found = firsts?;
        found.extend(later?);
        found.sort_by_key(|s| std::cmp::Reverse(s.timestamp));
        found.truncate(limit);
        Ok(found)
    }

    /// Up to `limit` samples made since `since`, newest first, from the items of keys
    /// `prefix` + `floor` on, each read with `projection` and taken by `sample`.
    #[allow(clippy::too_many_arguments)]
    async fn samples(
        &self,
        pk: &str,
        prefix: &str,
        floor: &str,
        projection: &str,
        sample: impl Fn(Item) -> Result<Option<AttemptSample>, StoreError>,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lower", s(format!("{prefix}{floor}")))
                .expression_attribute_values(":upper", s(format!("{prefix}~")))
                .projection_expression(projection)
                .expression_attribute_names("#ts", "timestamp")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#trigger", "trigger")
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items.unwrap_or_default() {
                // A test is no delivery of an alert: the charts leave it out.
                if let Some(sample) = sample(item)?
                    .filter(|s| s.timestamp >= since && s.trigger != Some(Trigger::Test))
                {
                    found.push(sample);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() || found.len() >= limit {
                break;
            }
        }
        Ok(found)
    }

    /// Every attempt of a delivery, the first (kept in the delivery's item) first.
    pub async fn list_attempts(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let item: Option<DeliveryItem> = self
            .get(hook_pk(account_id, webhook_id), delivery_sk(delivery_id))
            .await?;
        let mut attempts: Vec<AttemptRecord> = item
            .and_then(|i| Some(i.first_attempt?.of(&i.delivery)))
            .into_iter()
            .collect();
        let query = PrefixQuery {
            pk: hook_pk(account_id, webhook_id),
            prefix: attempt_prefix(delivery_id),
            after: None,
            newest_first: false,
            from: None,
            to: None,
        };
        let later = self
            .page(
                query,
                None,
                |_: &AttemptRecord| true,
                |a| a.attempt.to_string(),
            )
            .await?
            .items;
        attempts.extend(later);
        Ok(attempts)
    }
}

/// A delivery's item as the charts read it: its first attempt, if made.
#[derive(serde::Deserialize)]
struct FirstSample {
    #[serde(default)]
    first_attempt: Option<AttemptSample>,
}

/// An attempt as the charts see it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct AttemptSample {
    pub timestamp: DateTime<Utc>,
    pub duration_ms: u64,
    /// The delivery's state the attempt left: succeeded, retrying or failed.
    pub state: DeliveryState,
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// A delivery's first attempt, as kept in the delivery's item: what the delivery already
/// says (its ids, event, expiry) is not written twice, so that a delivery that succeeds
/// at once stays one item under 1 KB.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct FirstAttempt {
    trigger: Trigger,
    timestamp: DateTime<Utc>,
    request: RecordedRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<RecordedResponse>,
    duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<DateTime<Utc>>,
    state: DeliveryState,
}

impl From<&AttemptRecord> for FirstAttempt {
    fn from(a: &AttemptRecord) -> Self {
        Self {
            trigger: a.trigger,
            timestamp: a.timestamp,
            request: a.request.clone(),
            response: a.response.clone(),
            duration_ms: a.duration_ms,
            error: a.error.clone(),
            next_attempt_at: a.next_attempt_at,
            state: a.state,
        }
    }
}

impl FirstAttempt {
    fn of(self, d: &Delivery) -> AttemptRecord {
        AttemptRecord {
            delivery_id: d.delivery_id.clone(),
            webhook_id: d.webhook_id.clone(),
            attempt: 1,
            alert_id: d.alert_id.clone(),
            event: d.event,
            trigger: self.trigger,
            timestamp: self.timestamp,
            request: self.request,
            response: self.response,
            duration_ms: self.duration_ms,
            error: self.error,
            next_attempt_at: self.next_attempt_at,
            state: self.state,
            expires_at: d.expires_at,
        }
    }
}

/// A delivery's item as read for its attempts.
#[derive(serde::Deserialize)]
struct DeliveryItem {
    #[serde(flatten)]
    delivery: Delivery,
    #[serde(default)]
    first_attempt: Option<FirstAttempt>,
}

pub(super) fn attempt_item(account_id: &str, a: &AttemptRecord) -> Result<Item, StoreError> {
    let sk = format!("{}{:04}", attempt_prefix(&a.delivery_id), a.attempt);
    item_at((hook_pk(account_id, &a.webhook_id), sk), "attempt", a)
}
