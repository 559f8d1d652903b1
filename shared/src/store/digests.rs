//! A webhook's digests, in its own partition: `DIGEST#<id>` (when it is to be sent, who
//! queues it, when it closed) and one `DIGEST#<id>#<delivery>` item per member, written in
//! one transaction with the member's delivery record (`digested`), so a member is in the
//! digest exactly when its delivery says so.

use super::*;
use crate::delivery::{digest::Member, record::Delivery};

/// How a member's joining went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joined {
    /// In the digest.
    In,
    /// In the digest, and the one that sends its message, due at that time: the message
    /// has still to be queued.
    Carrier(DateTime<Utc>),
    /// Already in a digest (a repeated message).
    Already,
    /// Its delivery was already begun on its own (a message back after a crash): it goes
    /// on on its own.
    Begun,
    /// The digest closed first: it is to be planned again.
    Closed,
}

/// Members joined in one transaction: two items each, of DynamoDB's 100.
const JOINS_PER_TRANSACTION: usize = 50;

fn head_sk(id: &str) -> String {
    format!("DIGEST#{id}")
}

fn member_prefix(id: &str) -> String {
    format!("DIGEST#{id}#")
}

impl Store {
    /// Puts `members` (each with its delivery) into digest `id` of the webhook, to be sent
    /// at `at`. The first to join sends it (see [`Joined::Carrier`]).
    ///
    /// Concurrent joiners share no item in a transaction (DynamoDB cancels transactions
    /// that meet on an item): the digest's head is one conditional UpdateItem (refused
    /// once the digest has closed; it names the first joiner as the one who queues the
    /// digest), then the members go in with their delivery records, one transaction for
    /// the batch's members (theirs alone). Joins are planned at least
    /// [`crate::delivery::pace::JOIN_MARGIN`] before the
    /// digest's time, so they are written before it closes.
    pub async fn join_digest(
        &self,
        account_id: &str,
        webhook_id: &str,
        id: &str,
        at: DateTime<Utc>,
        members: &[(Member, Delivery)],
    ) -> Result<Vec<Joined>, StoreError> {
        let pk = hook_pk(account_id, webhook_id);
        let Some((first, first_delivery)) = members.first() else {
            return Ok(Vec::new());
        };
        let mut u = UpdateBuilder::default();
        u.set("entity", s("digest"));
        u.set_if_absent("send_at", time(at)?);
        u.set_if_absent("carrier", s(&first.delivery_id));
        u.set_if_absent("expires_at", n(first_delivery.expires_at));
        let request = self.client.update_item().table_name(&self.table);
        let result = filled!(
            request,
            key(pk.clone(), head_sk(id)),
            u.build(),
            "attribute_not_exists(closed_at)"
        )
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await;
        let Some(output) = conditional(result)? else {
            return Ok(vec![Joined::Closed; members.len()]);
        };
        let head: DigestHead =
            serde_dynamo::from_item(output.attributes.unwrap_or_default()).map_err(corrupt)?;
        // Each member's two items: its member item and its delivery record.
        let pairs = (members.iter())
            .map(|(member, delivery)| {
                let sk = format!("{}{}", member_prefix(id), member.delivery_id);
                let mut item = item_at((pk.clone(), sk), "digest_member", member)?;
                item.insert("expires_at".into(), n(delivery.expires_at));
                let record = super::deliveries::delivery_record(account_id, delivery)?;
                Ok([
                    TransactWriteItem::builder()
                        .put(self.put_new(item)?)
                        .build(),
                    TransactWriteItem::builder()
                        .put(self.put_new(record)?)
                        .build(),
                ])
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The batch's members in one transaction as a rule. If it is refused (one of them
        // is in already, or another writer met it), each goes on its own to say which.
        let mut results = Vec::with_capacity(members.len());
        for (chunk, pairs) in members
            .chunks(JOINS_PER_TRANSACTION)
            .zip(pairs.chunks(JOINS_PER_TRANSACTION))
        {
            // Two writes of one item would make the transaction invalid, not refused.
            let distinct = (chunk.iter())
                .map(|(m, _)| m.delivery_id.as_str())
                .collect::<std::collections::HashSet<_>>();
            let together = match pairs.len() {
                n if n == 1 || distinct.len() < n => None,
                _ => match self
                    .transact(pairs.iter().flatten().cloned().collect())
                    .await
                {
                    Ok(None) => Some(vec![Joined::In; pairs.len()]),
                    Ok(Some(_)) | Err(StoreError::Throttled) => None,
                    Err(e) => return Err(e),
                },
            };
            match together {
                Some(joined) => results.extend(joined),
                None => {
                    let alone = chunk
                        .iter()
                        .zip(pairs)
                        .map(|((_, delivery), pair)| self.join_alone(&pk, delivery, pair.to_vec()));
                    for joined in futures::future::join_all(alone).await {
                        results.push(joined?);
                    }
                }
            }
        }
        // The one named in the head queues the digest's message (again, if its message
        // came back before that was done: sending it twice is harmless, see
        // `close_digest`).
        for (i, (member, _)) in members.iter().enumerate() {
            let joined = matches!(results[i], Joined::In | Joined::Already);
            if joined && head.carrier.as_deref() == Some(member.delivery_id.as_str()) {
                results[i] = Joined::Carrier(head.send_at);
            }
        }
        Ok(results)
    }

    /// One member's transaction of its two items; refused, it says whether the member is
    /// in already (a repeated message) or its delivery began on its own.
    async fn join_alone(
        &self,
        pk: &str,
        delivery: &Delivery,
        pair: Vec<TransactWriteItem>,
    ) -> Result<Joined, StoreError> {
        if self.transact(pair).await?.is_none() {
            return Ok(Joined::In);
        }
        let stored: Option<Delivery> = self
            .get(pk.to_string(), delivery_sk(&delivery.delivery_id))
            .await?;
        Ok(match stored.map(|d| d.state) {
            Some(crate::delivery::outcome::DeliveryState::Digested) => Joined::Already,
            _ => Joined::Begun,
        })
    }

    /// Closes digest `id` (no member joins after), and returns when it closed and its
    /// members, oldest first. Closing again changes nothing: a retried or repeated send
    /// of the digest shows the same.
    pub async fn close_digest(
        &self,
        account_id: &str,
        webhook_id: &str,
        id: &str,
        now: DateTime<Utc>,
        url: Option<String>,
    ) -> Result<ClosedDigest, StoreError> {
        let pk = hook_pk(account_id, webhook_id);
        let mut u = UpdateBuilder::default();
        u.set_if_absent("closed_at", time(now)?);
        if let Some(url) = url {
            u.set_if_absent("url", s(url));
        }
        let request = self.client.update_item().table_name(&self.table);
        let output = filled!(request, key(pk, head_sk(id)), u.build())
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        let head: DigestHead =
            serde_dynamo::from_item(output.attributes.unwrap_or_default()).map_err(corrupt)?;
        let members = self.digest_members(account_id, webhook_id, id).await?;
        Ok(ClosedDigest {
            closed_at: head.closed_at.unwrap_or(now),
            url: head.url,
            members,
        })
    }

    /// Digest `id` as it was sent, once closed; `None` before (or once expired).
    pub async fn closed_digest(
        &self,
        account_id: &str,
        webhook_id: &str,
        id: &str,
    ) -> Result<Option<ClosedDigest>, StoreError> {
        let head: Option<DigestHead> = self
            .get(hook_pk(account_id, webhook_id), head_sk(id))
            .await?;
        let Some((closed_at, url)) = head.and_then(|h| Some((h.closed_at?, h.url))) else {
            return Ok(None);
        };
        let members = self.digest_members(account_id, webhook_id, id).await?;
        Ok(Some(ClosedDigest {
            closed_at,
            url,
            members,
        }))
    }

    /// Every member of digest `id`, oldest first.
    pub async fn digest_members(
        &self,
        account_id: &str,
        webhook_id: &str,
        id: &str,
    ) -> Result<Vec<Member>, StoreError> {
        let query = PrefixQuery {
            pk: hook_pk(account_id, webhook_id),
            prefix: member_prefix(id),
            after: None,
            newest_first: false,
            from: None,
            to: None,
        };
        Ok(self
            .page(query, None, |_| true, |m: &Member| m.delivery_id.clone())
            .await?
            .items)
    }
}

/// A digest as it was sent: when it closed, the portal's page of it, its members.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedDigest {
    pub closed_at: DateTime<Utc>,
    pub url: Option<String>,
    pub members: Vec<Member>,
}

#[derive(serde::Deserialize)]
struct DigestHead {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    carrier: Option<String>,
    send_at: DateTime<Utc>,
    #[serde(default)]
    closed_at: Option<DateTime<Utc>>,
}
