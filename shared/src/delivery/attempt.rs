//! One attempt: sign, send, decide, and build its records. The deliver worker and the
//! test route both make attempts through [`Attempter`], so a test delivery is made,
//! judged and recorded exactly as a real one.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use super::{
    destination::Policy,
    record::{AttemptRecord, Delivery, Trigger},
    retry::{self},
    send::{self, Sent},
    signing::{self, BadSecret},
};
use crate::{
    clock::{Clock, Random},
    settings::{DeliverySettings, Settings},
    webhook::{LastDelivery, Webhook},
};

/// How much of an answer `last_delivery.response` keeps.
const LAST_RESPONSE_MAX: usize = 1024;

/// What an attempt needs besides the delivery: built once per function instance.
#[derive(Clone)]
pub struct Attempter {
    /// Shared across invocations, so connections to endpoints are reused.
    pub http: reqwest::Client,
    pub settings: DeliverySettings,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

/// An attempt made, and everything it leaves to record.
#[derive(Clone, Debug)]
pub struct Attempted {
    pub sent: Sent,
    pub record: AttemptRecord,
    /// The delivery as the attempt leaves it.
    pub delivery: Delivery,
    pub next_delay: Option<Duration>,
    /// For the webhook's health.
    pub last_delivery: LastDelivery,
    pub finished: DateTime<Utc>,
}

impl Attempter {
    pub fn new(settings: &Settings, clock: Arc<dyn Clock>, random: Arc<dyn Random>) -> Self {
        Self {
            http: send::http_client(&settings.destinations),
            settings: settings.delivery.clone(),
            policy: settings.destinations.clone(),
            clock,
            random,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Makes attempt number `number` of `delivery` to `webhook`, sending `body`.
    pub async fn attempt(
        &self,
        webhook: &Webhook,
        delivery: &Delivery,
        number: u32,
        trigger: Trigger,
        body: Vec<u8>,
    ) -> Result<Attempted, BadSecret> {
        let started = self.clock.now();
        let request = signing::build_request(webhook, &delivery.msg_id, body, started.timestamp())?;
        let sent = send::send(&self.http, &request, self.settings.timeout, &self.policy).await;
        let finished = self.clock.now();
        let decision = retry::decide(
            &sent,
            number,
            trigger,
            &self.settings.retry,
            self.random.unit(),
            finished,
        );
        let record = AttemptRecord::new(
            delivery,
            number,
            trigger,
            started,
            request.recorded(),
            &sent,
            &decision,
            self.settings.expires_at(finished),
        );
        tracing::info!(
            account = %webhook.account_id,
            webhook = %webhook.id,
            delivery = %delivery.delivery_id,
            attempt = number,
            status = ?sent.status_code,
            state = record.state.as_str(),
            duration_ms = sent.duration_ms,
            "attempt made"
        );
        Ok(Attempted {
            last_delivery: LastDelivery {
                success: sent.success(),
                status_code: sent.status_code,
                response: sent
                    .response_body
                    .as_deref()
                    .map(|b| truncate(b, LAST_RESPONSE_MAX)),
                timestamp: finished,
            },
            delivery: delivery.after(&record, finished),
            next_delay: decision.next_delay,
            record,
            sent,
            finished,
        })
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
