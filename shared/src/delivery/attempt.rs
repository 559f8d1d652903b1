//! One attempt: sign, send, decide, and build its records. The deliver worker and the
//! test route both make attempts through [`Attempter`], so a test delivery is made,
//! judged and recorded exactly as a real one.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::{
    destination::Policy,
    outcome::{DeliveryState, Outcome, RecordedRequest, Sent, Trigger},
    record::{AttemptRecord, Delivery},
    render::{self, DeliveryRef, RenderError},
    retry,
    sandbox::{Sandbox, SandboxError},
    send,
    signing::{self, BadSecret},
};
use crate::{
    clock::{Clock, Random},
    metrics::{Metrics, Unit},
    settings::{DeliverySettings, Settings},
    webhook::{LastDelivery, Webhook},
};

/// How much of an answer `last_delivery.response` keeps.
const LAST_RESPONSE_MAX: usize = 1024;

/// Marks a transition sent before the previous one to the same webhook had finished.
pub const OUT_OF_ORDER_HEADER: &str = "hookline-out-of-order";

/// What an attempt needs besides the delivery: built once per function instance.
#[derive(Clone)]
pub struct Attempter {
    /// Shared across invocations, so connections to endpoints are reused. Built on the
    /// first attempt, so that only the functions that send (deliver, the test route) pay
    /// for reading the system's TLS roots, and they pay it after their cold start.
    http: Arc<OnceLock<reqwest::Client>>,
    pub settings: DeliverySettings,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Where users' templates render.
    pub sandbox: Sandbox,
}

/// Why an attempt could not be made at all: its message is to come back.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    BadSecret(#[from] BadSecret),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// An attempt made, and everything it leaves to record.
#[derive(Clone, Debug)]
pub struct Attempted {
    pub sent: Sent,
    pub record: AttemptRecord,
    /// The delivery as the attempt leaves it.
    pub delivery: Delivery,
    pub next_delay: Option<Duration>,
    /// The delivery failed with its retries spent.
    pub exhausted: bool,
    /// For the webhook's health.
    pub last_delivery: LastDelivery,
    pub finished: DateTime<Utc>,
}

impl Attempter {
    pub fn new(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        sandbox: Sandbox,
    ) -> Self {
        Self {
            http: Arc::default(),
            settings: settings.delivery.clone(),
            policy: settings.destinations.clone(),
            clock,
            random,
            sandbox,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Makes attempt number `number` of `delivery` to `webhook`: renders `payload` (the
    /// Standard Webhooks payload) as the webhook wants it, signs and sends it. A render
    /// error, or the error of a condition fan-out could not judge (`condition_error`),
    /// sends nothing and is recorded as the attempt's failure.
    pub async fn attempt(
        &self,
        webhook: &Webhook,
        delivery: &Delivery,
        number: u32,
        trigger: Trigger,
        payload: &str,
        condition_error: Option<&RenderError>,
    ) -> Result<Attempted, AttemptError> {
        let started = self.clock.now();
        let made = DeliveryRef {
            id: &delivery.delivery_id,
            attempt: number,
        };
        let rendered = match condition_error {
            Some(error) => Err(error.clone()),
            None => render::render(webhook, payload, made, &self.sandbox).await?,
        };
        let (recorded, sent) = match rendered {
            Ok(rendered) => {
                let mut request = signing::build_request(
                    webhook,
                    &delivery.msg_id,
                    rendered,
                    started.timestamp(),
                )?;
                if delivery.out_of_order {
                    // The body is the transition's as signed; the header tells what Hookline knows.
                    request
                        .headers
                        .push((OUT_OF_ORDER_HEADER.into(), "true".into(), false));
                }
                let http = self.http.get_or_init(|| send::http_client(&self.policy));
                let sent = send::send(http, &request, self.settings.timeout, &self.policy).await;
                (request.recorded(), sent)
            }
            Err(error) => (
                RecordedRequest {
                    url: webhook.settings.url.clone(),
                    method: webhook.settings.http_method.as_str().into(),
                    headers: Default::default(),
                    body: String::new(),
                },
                Sent::unrendered(&error),
            ),
        };
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
            recorded,
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
            exhausted: decision.exhausted,
            record,
            sent,
            finished,
        })
    }
}

impl Attempted {
    /// Adds what this attempt counts for to a batch's metrics (see [`crate::metrics`]).
    pub fn measure(&self, metrics: &mut Metrics) {
        let count = |yes: bool| usize::from(yes);
        let state = self.record.state;
        metrics.count("Delivered", count(self.sent.success()));
        metrics.count("Retried", count(state == DeliveryState::Retrying));
        metrics.count("Failed", count(state == DeliveryState::Failed));
        metrics.count("Exhausted", count(self.exhausted));
        metrics.count(
            "RefusedDestinations",
            count(self.sent.outcome == Outcome::Refused),
        );
        metrics.count(
            "TemplateErrors",
            count(self.sent.outcome == Outcome::Unrendered),
        );
        if !matches!(self.sent.outcome, Outcome::Refused | Outcome::Unrendered) {
            metrics.add(
                "AttemptDuration",
                Unit::Milliseconds,
                self.sent.duration_ms as f64,
            );
        }
        if self.sent.success() {
            let waited = (self.finished - self.delivery.created_at).num_milliseconds();
            metrics.add("DeliveryLatency", Unit::Milliseconds, waited.max(0) as f64);
        }
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

    use crate::{
        delivery::{
            outcome::{RecordedRequest, RetryAfter},
            retry::{decide, Schedule},
        },
        event::EventType,
    };

    /// What an attempt answered `sent` leaves, as attempt `number` by `trigger`.
    fn attempted(sent: Sent, number: u32, schedule: &[u64]) -> Attempted {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let finished = t0 + chrono::Duration::milliseconds(2500);
        let schedule = Schedule {
            delays: schedule.iter().map(|s| Duration::from_secs(*s)).collect(),
            jitter: 0.2,
        };
        let decision = decide(&sent, number, Trigger::Scheduled, &schedule, 0.5, finished);
        let delivery = Delivery::pending(
            "d".into(),
            "w".into(),
            "a".into(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            t0,
            0,
        );
        let request = RecordedRequest {
            url: "https://e.com".into(),
            method: "POST".into(),
            headers: Default::default(),
            body: String::new(),
        };
        let record = AttemptRecord::new(
            &delivery,
            number,
            Trigger::Scheduled,
            t0,
            request,
            &sent,
            &decision,
            0,
        );
        Attempted {
            last_delivery: LastDelivery {
                success: sent.success(),
                status_code: sent.status_code,
                response: None,
                timestamp: finished,
            },
            delivery: delivery.after(&record, finished),
            next_delay: decision.next_delay,
            exhausted: decision.exhausted,
            record,
            sent,
            finished,
        }
    }

    fn answered(status: u16) -> Sent {
        Sent {
            outcome: Outcome::of_status(status),
            status_code: Some(status),
            message: format!("HTTP {status}"),
            duration_ms: 40,
            response_body: None,
            retry_after: None::<RetryAfter>,
            window_reset: None,
        }
    }

    #[test]
    fn every_outcome_counts_for_its_metric() {
        let refused = Sent {
            outcome: Outcome::Refused,
            status_code: None,
            message: "refused".into(),
            duration_ms: 0,
            response_body: None,
            retry_after: None,
            window_reset: None,
        };
        let mut metrics = Metrics::new("deliver");
        for a in [
            attempted(answered(200), 1, &[5]),
            attempted(answered(503), 1, &[5]),
            attempted(answered(503), 2, &[5]),
            attempted(answered(404), 1, &[5]),
            attempted(refused, 1, &[5]),
        ] {
            a.measure(&mut metrics);
        }
        let line: serde_json::Value =
            serde_json::from_str(&metrics.line(chrono::Utc::now())).unwrap();
        assert_eq!(line["Delivered"], 1.0);
        assert_eq!(line["Retried"], 1.0);
        // 503 with retries spent, the 404 and the refusal.
        assert_eq!(line["Failed"], 3.0);
        assert_eq!(line["Exhausted"], 1.0);
        assert_eq!(line["RefusedDestinations"], 1.0);
        // No request, no duration: four attempts made a request.
        assert_eq!(
            line["AttemptDuration"],
            serde_json::json!([40.0, 40.0, 40.0, 40.0])
        );
        assert_eq!(line["DeliveryLatency"], 2500.0);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
