//! A webhook's rate-limit log, `LIMIT` in its own partition: the send times granted that
//! still count, by lane, and the digest it is collecting. Shared by every deliver
//! instance, and written with one conditional write on its count of writes (see
//! [`crate::delivery::pace`]).

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::*;
use crate::delivery::{
    pace::{self, Lane, Log, OpenDigest, Pacing, Plan},
    record::seeded_uuid,
};

/// What stands between a webhook and its next deliveries (see [`Store::gates`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gate {
    /// A pause the receiver asked for.
    pub paused_until: Option<DateTime<Utc>>,
    /// When its stored health was last written clear (see
    /// [`crate::webhook::health::WebhookStatus::worth_writing`]).
    pub clear_at: Option<DateTime<Utc>>,
    /// Its rate-limit log, when it has a limit.
    pub granted: Granted,
}

/// The `LIMIT` item: send times as Unix milliseconds (small, since every grant rewrites
/// it), how many writes made it (0: never written), and the open digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Granted {
    #[serde(default)]
    pub priority: Vec<i64>,
    #[serde(default)]
    pub bulk: Vec<i64>,
    #[serde(default)]
    pub writes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_at: Option<i64>,
}

fn times(ms: &[i64]) -> Vec<DateTime<Utc>> {
    ms.iter()
        .filter_map(|t| DateTime::from_timestamp_millis(*t))
        .collect()
}

fn millis(times: &[DateTime<Utc>]) -> Vec<i64> {
    times.iter().map(DateTime::timestamp_millis).collect()
}

impl Granted {
    pub fn log(&self) -> Log {
        Log {
            priority: times(&self.priority),
            bulk: times(&self.bulk),
        }
    }

    pub fn open_digest(&self) -> Option<OpenDigest> {
        Some(OpenDigest {
            id: self.digest_id.clone()?,
            at: DateTime::from_timestamp_millis(self.digest_at?)?,
        })
    }
}

/// Conflicting writes tolerated before planning gives up (and its messages come back):
/// every concurrent invocation with a message for the webhook may write between two of
/// ours.
const PLAN_TRIES: usize = 25;

impl Store {
    /// Plans deliveries of one webhook paced so (see [`pace::plan`]), starting from
    /// the log as last read (`known`): written only if no one else wrote since, else read
    /// again and planned afresh. Returns each delivery's plan, in the order of `lanes`.
    pub async fn plan_sends(
        &self,
        account_id: &str,
        webhook_id: &str,
        pacing: Pacing,
        lanes: &[Lane],
        now: DateTime<Utc>,
        mut known: Granted,
    ) -> Result<Vec<Plan>, StoreError> {
        for _ in 0..PLAN_TRIES {
            let seed = format!("digest/{account_id}/{webhook_id}/{}", known.writes);
            let new_digest = seeded_uuid(now, &seed);
            let (plans, log, open) = pace::plan(
                known.log(),
                known.open_digest(),
                lanes,
                pacing,
                now,
                &new_digest,
            );
            let next = Granted {
                priority: millis(&log.priority),
                bulk: millis(&log.bulk),
                writes: known.writes + 1,
                digest_id: open.as_ref().map(|d| d.id.clone()),
                digest_at: open.as_ref().map(|d| d.at.timestamp_millis()),
            };
            let mut item: Item = serde_dynamo::to_item(&next).map_err(corrupt)?;
            item.extend(limit_key(account_id, webhook_id));
            item.insert("entity".into(), s("webhook_limit"));
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            put = match known.writes {
                0 => put.condition_expression("attribute_not_exists(pk)"),
                seen => put
                    .condition_expression("#writes = :seen")
                    .expression_attribute_names("#writes", "writes")
                    .expression_attribute_values(":seen", n(seen)),
            };
            // A refused write answers with the log as it now stands: no read to try again.
            let sent = put
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let Err(current) = refused_with_item(sent)? else {
                return Ok(plans);
            };
            known = match current {
                Some(item) => serde_dynamo::from_item(item).map_err(corrupt)?,
                None => self
                    .get(hook_pk(account_id, webhook_id), "LIMIT".into())
                    .await?
                    .unwrap_or_default(),
            };
        }
        Err(StoreError::Contended(
            "the webhook's rate-limit log changed under every try",
        ))
    }
}

/// What a limited webhook has waiting (for the portal).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Backlog {
    /// Sends granted ahead of now, and the last of them.
    pub granted: usize,
    pub until: Option<DateTime<Utc>>,
    /// The digest it is collecting: when it goes, and how many it holds so far.
    pub digest: Option<(DateTime<Utc>, usize)>,
}

impl Store {
    /// The webhook's backlog at `now`: what its log has granted ahead, and its open digest.
    pub async fn backlog(
        &self,
        account_id: &str,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Backlog, StoreError> {
        let known: Granted = self
            .get(hook_pk(account_id, webhook_id), "LIMIT".into())
            .await?
            .unwrap_or_default();
        let log = known.log();
        let ahead: Vec<DateTime<Utc>> = (log.priority.iter().chain(&log.bulk))
            .copied()
            .filter(|t| *t > now)
            .collect();
        let digest = match known.open_digest().filter(|d| d.at > now) {
            Some(open) => {
                let held = self
                    .digest_members(account_id, webhook_id, &open.id)
                    .await?;
                Some((open.at, held.len()))
            }
            None => None,
        };
        Ok(Backlog {
            granted: ahead.len(),
            until: ahead.into_iter().max(),
            digest,
        })
    }
}
