//! A webhook's rate-limit log, `LIMIT` in its own partition: the send times last granted,
//! shared by every deliver instance, and taken with one conditional write on its count
//! (see [`crate::delivery::pace`]).

use super::*;
use crate::delivery::pace::{self, RateLimit};

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

/// The send times last granted, oldest first, and how many writes made them (0: never
/// written), which the next write is conditioned on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Granted {
    #[serde(default)]
    pub recent: Vec<DateTime<Utc>>,
    #[serde(default)]
    pub writes: u64,
}

/// Conflicting writes tolerated before the grant gives up (and its messages come back).
const GRANT_TRIES: usize = 8;

impl Store {
    /// Grants `wanted` send times to the webhook under `limit`, starting from the log as
    /// last read (`known`): written only if no one else wrote since, else read again and
    /// granted afresh.
    pub async fn grant_sends(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: RateLimit,
        wanted: usize,
        now: DateTime<Utc>,
        mut known: Granted,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        for _ in 0..GRANT_TRIES {
            let (granted, recent) = pace::grant(&known.recent, wanted, now, limit);
            let mut u = UpdateBuilder::default();
            u.set("entity", s("webhook_limit"));
            u.set("recent", av(&recent)?);
            u.set("writes", n(known.writes + 1));
            let (expression, mut names, mut values) = u.build();
            let condition = match known.writes {
                0 => "attribute_not_exists(pk)".to_string(),
                seen => {
                    names.insert("#seen".into(), "writes".into());
                    values.insert(":seen".into(), n(seen));
                    "#seen = :seen".to_string()
                }
            };
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(limit_key(account_id, webhook_id)))
                .update_expression(expression)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .condition_expression(condition)
                .send()
                .await;
            if conditional(result)?.is_some() {
                return Ok(granted);
            }
            known = self
                .get(hook_pk(account_id, webhook_id), "LIMIT".into())
                .await?
                .unwrap_or_default();
        }
        Err(StoreError::Contended(
            "the webhook's rate-limit log changed under every try",
        ))
    }
}
