//! Deliveries and their attempts: the claim before each attempt, the records after it,
//! and the delivery log.
//!
//! An attempt is claimed before its HTTP request by a conditional UpdateItem that writes
//! a lease on the delivery item (creating it at the first attempt); a batch of attempts is
//! recorded together afterwards.

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{
    alerts::test_alert_item,
    attempts::{attempt_item, FirstAttempt},
    *,
};
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
#[allow(clippy::large_enum_variant)] // one per claim, short-lived
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
            hook_pk(account_id, webhook_id),
            delivery_sk(delivery_id),
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
            .map(|t| {
                key(
                    hook_pk(account_id, &t.webhook_id),
                    delivery_sk(&t.delivery_id),
                )
            })
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
            pk: hook_pk(account_id, webhook_id),
            prefix: DELIVERY_PREFIX.into(),
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
        let key = delivery_key(claim.account_id, delivery);
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
        // Refused, it answers with the delivery as it stood: no read after.
        let sent = update
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match refused_with_item(sent)? {
            Ok(_) => Ok(Claim::Claimed),
            Err(current) => Ok(Claim::Refused(
                current
                    .map(|item| serde_dynamo::from_item(item).map_err(corrupt))
                    .transpose()?,
            )),
        }
    }

    /// Records claimed attempts of a batch, and the webhooks' health (see
    /// [`Store::update_health`]), all at once. Returns each webhook's health as it now
    /// stands, in `statuses`' order.
    ///
    /// A first attempt is written into its delivery's item (put whole: one write for a
    /// delivery that succeeds at once); a later one has an item of its own, and its
    /// delivery's fields are updated, keeping the first. Puts go in BatchWriteItem calls.
    ///
    /// No condition is needed: the claims made these attempts ours, and a lease outlives
    /// any invocation of the deliver function (see `DeliverySettings::lease`), so nobody
    /// else can write these deliveries meanwhile.
    pub async fn record_attempts(
        &self,
        finished: &[(&str, &AttemptRecord, &Delivery)],
        statuses: &[((&str, &str), WebhookStatus)],
    ) -> Result<Vec<Health>, StoreError> {
        let mut items = Vec::with_capacity(finished.len());
        // A batch holds at most 10 messages: its updates all go at once.
        let mut updates = Vec::new();
        for (account_id, record, delivery) in finished {
            if record.attempt <= 1 {
                items.push(delivery_item(account_id, delivery, Some(record))?);
            } else {
                items.push(attempt_item(account_id, record)?);
                updates.push(self.update_delivery(account_id, delivery, None));
            }
        }
        let updated = futures::future::try_join_all(updates);
        let (written, updated, health) =
            tokio::join!(self.put_items(items), updated, self.update_health(statuses));
        written?;
        updated?;
        health
    }

    /// Writes every field of `delivery` into its item (removing those it has not) and
    /// ends its lease, keeping the first attempt. With `condition`, only if it holds
    /// (`Ok(false)` when not).
    async fn update_delivery(
        &self,
        account_id: &str,
        delivery: &Delivery,
        condition: Option<(&str, Item)>,
    ) -> Result<(), StoreError> {
        self.update_delivery_if(account_id, delivery, condition)
            .await
            .map(|_| ())
    }

    async fn update_delivery_if(
        &self,
        account_id: &str,
        delivery: &Delivery,
        condition: Option<(&str, Item)>,
    ) -> Result<bool, StoreError> {
        let mut item = delivery_item(account_id, delivery, None)?;
        let key = delivery_key(account_id, delivery);
        item.retain(|k, _| !key.contains_key(k));
        let mut update = UpdateBuilder::default();
        for gone in Delivery::OPTIONAL
            .iter()
            .filter(|f| !item.contains_key(**f))
        {
            update.remove(gone);
        }
        update.remove("lease_until");
        update.set_or_remove(item);
        let (expression, names, mut values) = update.build();
        let mut call = filled!(
            self.client.update_item().table_name(&self.table),
            key,
            (expression, names, HashMap::new())
        );
        if let Some((text, extra)) = condition {
            values.extend(extra);
            call = call.condition_expression(text);
        }
        let result = call
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
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
        let values = Item::from([
            (":pending".to_string(), s(DeliveryState::Pending.as_str())),
            (":retrying".to_string(), s(DeliveryState::Retrying.as_str())),
            (":now".to_string(), millis(now)),
        ]);
        // An update, not a put: a retrying delivery keeps its first attempt. A delivery
        // already moved on is left as it is.
        self.update_delivery_if(
            account_id,
            &item,
            Some((
                "attribute_not_exists(pk) OR (#state IN (:pending, :retrying) AND (attribute_not_exists(lease_until) OR lease_until < :now))",
                values,
            )),
        )
        .await
        .map(|_| ())
    }

    /// Records a test delivery (no queue, no lease): its alert, and its delivery with the
    /// attempt.
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
                .put(put(delivery_item(account_id, delivery, Some(attempt))?)?)
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

/// A delivery's item without an attempt (one never attempted on its own: digested).
pub(super) fn delivery_record(account_id: &str, d: &Delivery) -> Result<Item, StoreError> {
    delivery_item(account_id, d, None)
}

/// A delivery's item, and its first attempt (see [`FirstAttempt`]).
fn delivery_item(
    account_id: &str,
    d: &Delivery,
    first: Option<&AttemptRecord>,
) -> Result<Item, StoreError> {
    let at = (
        hook_pk(account_id, &d.webhook_id),
        delivery_sk(&d.delivery_id),
    );
    let mut item = item_at(at, "delivery", d)?;
    if let Some(first) = first {
        item.insert("first_attempt".into(), av(&FirstAttempt::from(first))?);
    }
    Ok(item)
}

fn delivery_key(account_id: &str, d: &Delivery) -> Item {
    key(
        hook_pk(account_id, &d.webhook_id),
        delivery_sk(&d.delivery_id),
    )
}
