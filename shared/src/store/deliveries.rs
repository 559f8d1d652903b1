//! Deliveries and their attempts: the claim before each attempt, the records after it,
//! and the delivery log.
//!
//! An attempt is claimed before its HTTP request by a conditional UpdateItem that writes
//! a lease on the delivery item (creating it at the first attempt); a batch of attempts is
//! recorded together afterwards.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{alerts::test_alert_item, *};
use crate::{
    delivery::{
        outcome::{DeliveryState, Trigger},
        record::{uuid_floor, AttemptRecord, Delivery},
    },
    store::alerts::{StoredAlert, Target},
    webhook::{health::WebhookStatus, Health},
};

expiring!(Delivery);

/// Attempt number `attempt` of `delivery` (of `account_id`), by `trigger`.
pub struct AttemptClaim<'a> {
    pub account_id: &'a str,
    pub delivery: &'a Delivery,
    pub attempt: u32,
    pub trigger: Trigger,
}

/// How a claim went.
#[derive(Debug)]
pub enum Claim {
    Claimed,
    /// The delivery is past this attempt, leased by another worker, or (for a scheduled
    /// attempt) already final. The current delivery item is given.
    Refused(Option<Delivery>),
}

impl Store {
    pub async fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get_live(
            account_pk(account_id),
            delivery_sk(webhook_id, delivery_id),
            now,
        )
        .await
    }

    /// The delivery items of `targets`, in one or a few BatchGetItem calls.
    pub async fn get_deliveries(
        &self,
        account_id: &str,
        targets: &[Target],
    ) -> Result<Vec<Delivery>, StoreError> {
        let keys = targets
            .iter()
            .map(|t| key_of(account_id, delivery_sk(&t.webhook_id, &t.delivery_id)))
            .collect();
        let mut found = Vec::new();
        for item in self.batch_get(keys).await? {
            found.push(serde_dynamo::from_item(item).map_err(corrupt)?);
        }
        Ok(found)
    }

    /// A webhook's deliveries, newest first; with `made`, only those made in that range.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: usize,
        after: Option<&str>,
        state: Option<DeliveryState>,
        made: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        now: DateTime<Utc>,
    ) -> Result<Page<Delivery>, StoreError> {
        let wanted = |d: &Delivery| state.is_none_or(|s| d.state == s);
        self.deliveries_made(
            account_id, webhook_id, made, after, true, limit, now, wanted,
        )
        .await
    }

    /// Up to `limit` live deliveries of a webhook made from `from` to `to` (after the
    /// delivery `after`), oldest first: a page of the recovery's reading.
    pub async fn delivery_page(
        &self,
        account_id: &str,
        webhook_id: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        after: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Page<Delivery>, StoreError> {
        let made = (Some(from), Some(to));
        self.deliveries_made(
            account_id,
            webhook_id,
            made,
            after,
            false,
            limit,
            now,
            |_| true,
        )
        .await
    }

    /// A page of a webhook's live deliveries that pass `filter`, made within `made` (a
    /// key range: delivery ids are UUIDv7).
    #[allow(clippy::too_many_arguments)]
    async fn deliveries_made(
        &self,
        account_id: &str,
        webhook_id: &str,
        made: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        after: Option<&str>,
        newest_first: bool,
        limit: usize,
        now: DateTime<Utc>,
        filter: impl Fn(&Delivery) -> bool,
    ) -> Result<Page<Delivery>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: delivery_prefix(webhook_id),
            after: after.map(str::to_string),
            newest_first,
            from: made.0.map(uuid_floor),
            to: made
                .1
                .map(|t| uuid_floor(t + chrono::Duration::milliseconds(1))),
        };
        let live = |d: &Delivery| d.live_at(now) && filter(d);
        self.page(query, Some(limit), live, |d: &Delivery| {
            d.delivery_id.clone()
        })
        .await
    }

    /// When, how long and how each attempt to a webhook made since `since` went, up to
    /// `limit` of them (the portal's charts). Attempts are keyed by their delivery, so the
    /// deliveries made in the day before `since` are read too, for their retries.
    pub async fn attempt_samples(
        &self,
        account_id: &str,
        webhook_id: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AttemptSample>, StoreError> {
        let prefix = webhook_attempts_prefix(webhook_id);
        let lower = format!("{prefix}{}", uuid_floor(since - chrono::Duration::days(1)));
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
                .expression_attribute_values(":pk", s(account_pk(account_id)))
                .expression_attribute_values(":lower", s(lower.clone()))
                .expression_attribute_values(":upper", s(format!("{prefix}~")))
                .projection_expression("#ts, duration_ms, #state, #trigger")
                .expression_attribute_names("#ts", "timestamp")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#trigger", "trigger")
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items.unwrap_or_default() {
                let sample: AttemptSample = serde_dynamo::from_item(item).map_err(corrupt)?;
                // A test is no delivery of an alert: the charts leave it out.
                if sample.timestamp >= since && sample.trigger != Some(Trigger::Test) {
                    found.push(sample);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() || found.len() >= limit {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    pub async fn list_attempts(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let query = PrefixQuery {
            account_id,
            prefix: attempt_prefix(webhook_id, delivery_id),
            after: None,
            newest_first: false,
            from: None,
            to: None,
        };
        Ok(self
            .page(
                query,
                None,
                |_: &AttemptRecord| true,
                |a| a.attempt.to_string(),
            )
            .await?
            .items)
    }

    /// Claims the attempt for `lease_until`: refused when the delivery is past that
    /// attempt, leased by another worker, or (for a scheduled attempt) final; the
    /// delivery as it stands is then given.
    pub async fn claim_attempt(
        &self,
        claim: &AttemptClaim<'_>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let (delivery, attempt) = (claim.delivery, claim.attempt);
        let key = key_of(
            claim.account_id,
            delivery_sk(&delivery.webhook_id, &delivery.delivery_id),
        );
        let previous = if attempt <= 1 {
            "(attribute_not_exists(attempt_count) OR attempt_count = :zero)"
        } else {
            "attempt_count = :prev"
        };
        // A scheduled attempt only continues a delivery still in progress; a manual one
        // may follow a final state.
        let in_progress = match claim.trigger {
            Trigger::Scheduled => " AND #state IN (:pending, :retrying)",
            Trigger::Manual | Trigger::Test => "",
        };
        let condition = format!(
            "attribute_not_exists(pk) OR ({previous} AND (attribute_not_exists(lease_until) OR lease_until < :now){in_progress})"
        );
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression(
                "SET lease_until = :lease, webhook_id = :w, delivery_id = :d, alert_id = :a, #event = :e, \
                 msg_id = :m, #trigger = if_not_exists(#trigger, :t), #state = if_not_exists(#state, :pending), \
                 created_at = if_not_exists(created_at, :created), expires_at = if_not_exists(expires_at, :exp), \
                 entity = :entity",
            )
            .condition_expression(condition)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#trigger", "trigger")
            .expression_attribute_names("#event", "event")
            .expression_attribute_values(":lease", millis(lease_until))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":w", s(&delivery.webhook_id))
            .expression_attribute_values(":d", s(&delivery.delivery_id))
            .expression_attribute_values(":a", s(&delivery.alert_id))
            .expression_attribute_values(":e", av(&delivery.event)?)
            .expression_attribute_values(":m", s(&delivery.msg_id))
            .expression_attribute_values(":t", av(&delivery.trigger)?)
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":created", time(delivery.created_at)?)
            .expression_attribute_values(":exp", n(delivery.expires_at))
            .expression_attribute_values(":entity", s("delivery"));
        update = match attempt {
            0 | 1 => update.expression_attribute_values(":zero", n(0)),
            _ => update.expression_attribute_values(":prev", n(attempt - 1)),
        };
        if claim.trigger == Trigger::Scheduled {
            update = update
                .expression_attribute_values(":retrying", s(DeliveryState::Retrying.as_str()));
        }
        if conditional(update.send().await)?.is_some() {
            return Ok(Claim::Claimed);
        }
        let current = self.get(
            account_pk(claim.account_id),
            delivery_sk(&delivery.webhook_id, &delivery.delivery_id),
        );
        Ok(Claim::Refused(current.await?))
    }

    /// Records claimed attempts of a batch: the attempt items and the deliveries' new state
    /// in BatchWriteItem calls, and the webhooks' health (see [`Store::update_health`]),
    /// all at once. Returns each webhook's health as it now stands, in `statuses`' order.
    ///
    /// No condition is needed: the claims made these attempts ours, and a lease outlives
    /// any invocation of the deliver function (see `DeliverySettings::lease`), so nobody
    /// else can write these deliveries meanwhile.
    pub async fn record_attempts(
        &self,
        finished: &[(&str, &AttemptRecord, &Delivery)],
        statuses: &[((&str, &str), WebhookStatus)],
    ) -> Result<Vec<Health>, StoreError> {
        let mut items = Vec::with_capacity(finished.len() * 2);
        for (account_id, record, delivery) in finished {
            items.push(attempt_item(account_id, record)?);
            items.push(delivery_item(account_id, delivery)?);
        }
        let (written, health) = tokio::join!(self.put_items(items), self.update_health(statuses));
        written?;
        health
    }

    /// Marks a delivery still in progress as failed without an attempt (its webhook was
    /// disabled meanwhile), so it does not stay pending for ever.
    pub async fn abandon_delivery(
        &self,
        account_id: &str,
        delivery: &Delivery,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = delivery.clone();
        item.state = DeliveryState::Failed;
        item.last_error = Some(reason.to_string());
        item.updated_at = Some(now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(account_id, &item)?))
            .condition_expression("attribute_not_exists(pk) OR (#state IN (:pending, :retrying) AND (attribute_not_exists(lease_until) OR lease_until < :now))")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":retrying", s(DeliveryState::Retrying.as_str()))
            .expression_attribute_values(":now", millis(now))
            .send()
            .await;
        // A delivery already moved on is left as it is.
        conditional(result).map(|_| ())
    }

    /// Records a test delivery (no queue, no lease): its alert, delivery and attempt.
    pub async fn record_test(
        &self,
        account_id: &str,
        alert: &StoredAlert,
        delivery: &Delivery,
        attempt: &AttemptRecord,
    ) -> Result<(), StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(corrupt)
        };
        let items = vec![
            TransactWriteItem::builder()
                .put(put(test_alert_item(account_id, alert)?)?)
                .build(),
            TransactWriteItem::builder()
                .put(put(delivery_item(account_id, delivery)?)?)
                .build(),
            TransactWriteItem::builder()
                .put(put(attempt_item(account_id, attempt)?)?)
                .build(),
        ];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt(
                "unconditional test record refused".into(),
            )),
        }
    }
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

fn delivery_item(account_id: &str, d: &Delivery) -> Result<Item, StoreError> {
    let sk = delivery_sk(&d.webhook_id, &d.delivery_id);
    item_of(account_id, sk, "delivery", d)
}

fn attempt_item(account_id: &str, a: &AttemptRecord) -> Result<Item, StoreError> {
    let sk = format!(
        "{}{:04}",
        attempt_prefix(&a.webhook_id, &a.delivery_id),
        a.attempt
    );
    item_of(account_id, sk, "attempt", a)
}
