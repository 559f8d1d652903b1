//! A webhook's health (last delivery, failure streak): a small item of its own, `HEALTH`
//! in the webhook's partition, which the deliver function rewrites (an update costs write
//! units by the size of the whole item) and which is read only where it is shown.

use aws_sdk_dynamodb::types::ReturnValue;
use futures::future::join_all;

use super::*;
use crate::store::limits::Gate;
use crate::{
    webhook::health::WebhookStatus,
    webhook::{Health, Webhook},
};

impl Store {
    /// The stored health of these webhooks (account, id), those that have one, as
    /// (account, webhook id, health), in one BatchGetItem of their health items.
    async fn healths(
        &self,
        webhooks: &[(&str, &str)],
    ) -> Result<Vec<(String, String, Health)>, StoreError> {
        if webhooks.is_empty() {
            return Ok(Vec::new());
        }
        let keys = webhooks
            .iter()
            .map(|(account_id, id)| health_key(account_id, id))
            .collect();
        let mut found = Vec::new();
        for item in self.batch_get(keys).await? {
            let Some((account, id)) = (item.get("pk"))
                .and_then(|pk| pk.as_s().ok())
                .and_then(|pk| hook_of(pk))
                .map(|(a, w)| (a.to_string(), w.to_string()))
            else {
                continue;
            };
            found.push((account, id, serde_dynamo::from_item(item).map_err(corrupt)?));
        }
        Ok(found)
    }

    /// What stands between these webhooks (account, id) and their next deliveries, read in
    /// one BatchGetItem: each one's stored health (a pause, and when it was last written
    /// clear) and, for those in `limited`, the send times last granted.
    pub async fn gates(
        &self,
        webhooks: &[(&str, &str)],
        limited: &[(&str, &str)],
    ) -> Result<HashMap<(String, String), Gate>, StoreError> {
        let keys = (webhooks.iter())
            .map(|(account_id, id)| health_key(account_id, id))
            .chain(limited.iter().map(|(a, id)| limit_key(a, id)))
            .collect();
        let mut gates: HashMap<(String, String), Gate> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) else {
                continue;
            };
            let (Ok(pk), Ok(sk)) = (pk.as_s(), sk.as_s()) else {
                continue;
            };
            let Some((account, id)) = hook_of(pk) else {
                continue;
            };
            let gate = gates.entry((account.into(), id.into())).or_default();
            if sk == HEALTH_SK {
                let health: Health = serde_dynamo::from_item(item).map_err(corrupt)?;
                gate.paused_until = health.paused_until;
                gate.clear_at = health
                    .last_success
                    .filter(|_| health.consecutive_failures == 0);
            } else {
                gate.granted = serde_dynamo::from_item(item).map_err(corrupt)?;
            }
        }
        Ok(gates)
    }

    /// Stores the pause a receiver asked for (see [`crate::delivery::pace`]) as soon as its
    /// answer arrives, not when its batch is recorded: other invocations' batches read it
    /// before their next requests. A longer pause already stored stays (an answer that was
    /// in flight may ask for less). Whether it began a pause (none was in force at `now`).
    pub async fn pause_webhook(
        &self,
        account_id: &str,
        webhook_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut u = UpdateBuilder::default();
        u.set("entity", s("webhook_health"));
        set_pause(&mut u, until)?;
        let longer = "attribute_not_exists(#pause_ms) OR #pause_ms < :pause_ms";
        let request = self.client.update_item().table_name(&self.table);
        let sent = filled!(
            request,
            health_key(account_id, webhook_id),
            u.build(),
            longer
        )
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
        let Some(output) = conditional(sent)? else {
            return Ok(false);
        };
        let health: Health =
            serde_dynamo::from_item(output.attributes.unwrap_or_default()).map_err(corrupt)?;
        Ok(health.pause_before.is_none_or(|before| before <= now))
    }

    /// The webhooks with their health attached.
    pub(super) async fn with_health(
        &self,
        mut webhooks: Vec<Webhook>,
    ) -> Result<Vec<Webhook>, StoreError> {
        let keys: Vec<(&str, &str)> = (webhooks.iter())
            .map(|w| (w.account_id.as_str(), w.id.as_str()))
            .collect();
        let healths = self.healths(&keys).await?;
        for (account, id, health) in healths {
            if let Some(w) = (webhooks.iter_mut()).find(|w| w.id == id && w.account_id == account) {
                w.health = health;
            }
        }
        Ok(webhooks)
    }

    /// Writes the health a batch of attempts left, one small UpdateItem per webhook, and
    /// returns each webhook's health as it now stands. (Should the webhook have been
    /// deleted meanwhile, its health item is written alone, and nothing reads it.)
    pub(super) async fn update_health(
        &self,
        statuses: &[((&str, &str), WebhookStatus)],
    ) -> Result<Vec<Health>, StoreError> {
        let updates = statuses
            .iter()
            .map(|((account_id, webhook_id), status)| async move {
                let key = health_key(account_id, webhook_id);
                let send = |expression: Expression, condition: Option<&str>| {
                    let request = self.client.update_item().table_name(&self.table);
                    filled!(request, key.clone(), expression)
                        .set_condition_expression(condition.map(str::to_string))
                        .return_values(ReturnValue::AllNew)
                        .send()
                };
                // A success ends only a pause that was over when it was made: one stored
                // since (by a 429 another batch got) holds, and is then written around.
                let ending = status
                    .last_success
                    .filter(|_| status.paused_until.is_none());
                let ended = match ending {
                    Some(success) => {
                        let (expression, names, mut values) = status_expression(status, false)?;
                        values.insert(":success".into(), millis(success));
                        let condition = "attribute_not_exists(pause_ms) OR pause_ms <= :success";
                        conditional(send((expression, names, values), Some(condition)).await)?
                    }
                    None => None,
                };
                let output = match ended {
                    Some(output) => output,
                    // No pause to end, or one stored since: the write leaves it.
                    None => send(status_expression(status, ending.is_some())?, None)
                        .await
                        .map_err(sdk_error)?,
                };
                let item = output.attributes.unwrap_or_default();
                serde_dynamo::from_item(item).map_err(corrupt)
            });
        join_all(updates).await.into_iter().collect()
    }
}

/// The update of a webhook's health item; with `keep_pause`, a success leaves a stored
/// pause as it is.
fn status_expression(status: &WebhookStatus, keep_pause: bool) -> Result<Expression, StoreError> {
    let mut u = UpdateBuilder::default();
    u.set("entity", s("webhook_health"));
    u.set("last_delivery", av(&status.last_delivery)?);
    if let Some(t) = status.last_success {
        u.set("last_success", time(t)?);
    }
    if let Some(t) = status.last_failure {
        u.set("last_failure", time(t)?);
    }
    // What a success in this batch ended: the streak as stored before it, for
    // `webhook.recovered`. Written every time, so it always speaks of this write.
    if status.last_success.is_some() {
        u.copy_or("ended_streak", "failing_since", AttributeValue::Null(true));
        u.copy_or("ended_failures", "consecutive_failures", n(0));
    } else {
        u.set("ended_streak", AttributeValue::Null(true));
        u.set("ended_failures", n(0));
    }
    match status.paused_until {
        // Stored already, and perhaps made longer since by another batch.
        Some(_) if status.pause_written => u.set("ended_pause", AttributeValue::Null(true)),
        Some(until) => set_pause(&mut u, until)?,
        None if status.last_success.is_some() && !keep_pause => {
            u.copy_or("ended_pause", "paused_until", AttributeValue::Null(true));
            u.remove("paused_until");
            u.remove("pause_ms");
        }
        None => u.set("ended_pause", AttributeValue::Null(true)),
    }
    match status.failing_since {
        None => {
            u.set("consecutive_failures", n(0));
            u.remove("failing_since");
        }
        // A success in the batch ended the stored streak: this one starts afresh.
        Some(since) if status.reset => {
            u.set("consecutive_failures", n(status.failures));
            u.set("failing_since", time(since)?);
        }
        Some(since) => {
            u.add("consecutive_failures", status.failures);
            u.set_if_absent("failing_since", time(since)?);
        }
    }
    Ok(u.build())
}

/// Stores a pause until `until`: as shown (`paused_until`) and as a success's condition
/// compares it (`pause_ms`).
fn set_pause(u: &mut UpdateBuilder, until: DateTime<Utc>) -> Result<(), StoreError> {
    // What was stored before, to tell a new pause from one made longer.
    u.copy_or("pause_before", "paused_until", AttributeValue::Null(true));
    u.set("paused_until", time(until)?);
    u.set("pause_ms", millis(until));
    u.set("ended_pause", AttributeValue::Null(true));
    Ok(())
}
