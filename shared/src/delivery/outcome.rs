//! The words the delivery modules share about one attempt: the request as recorded, the
//! answer as classed, and where the delivery stands. `record`, `retry`, `send` and
//! `signing` all use them, and none of them uses those modules.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::render::RenderError;

/// Our `User-Agent` on every request.
pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));
/// How much of an endpoint's answer is kept.
pub const RESPONSE_BODY_MAX: usize = 16 * 1024;

named_enum! {
    #[strum(serialize_all = "lowercase")]
    pub enum DeliveryState {
        /// Queued; no attempt has finished.
        Pending,
        /// An attempt failed and another is scheduled.
        Retrying,
        Succeeded,
        /// Failed for good: a non-retryable answer, a refusal, or retries exhausted.
        Failed,
        /// Sent in a digest (its `digest_id`), not on its own: the webhook's rate limit
        /// had more queued than it sends within its `digest_after_seconds`.
        Digested,
    }
}

named_enum! {
    /// What caused an attempt.
    #[strum(serialize_all = "lowercase")]
    pub enum Trigger {
        /// Fan-out and the retry schedule.
        Scheduled,
        /// `POST .../redeliver`.
        Manual,
        /// `POST /webhooks/{id}/test`.
        Test,
    }
}

/// How an attempt ended, and what follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 408, 429, 5xx, timeouts and connection errors: worth another try.
    Retry,
    /// 3xx and other 4xx: retrying will not help.
    Fail,
    /// 410 Gone: fail, and disable the webhook.
    Gone,
    /// The destination is not allowed (see [`super::destination`]): fail, no request made.
    Refused,
    /// The webhook's template failed (see [`super::render`]): fail, no request made. The
    /// same template would fail again, so it is not retried; a redelivery renders anew.
    Unrendered,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            408 | 429 | 500..=599 => Self::Retry,
            410 => Self::Gone,
            _ => Self::Fail,
        }
    }
}

/// An endpoint's `Retry-After`: seconds, or an HTTP date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// How long it asks to wait from `now`; a date in the past asks for nothing.
    pub fn wait(self, now: DateTime<Utc>) -> Duration {
        match self {
            Self::Seconds(s) => Duration::from_secs(s),
            Self::At(at) => (at - now).to_std().unwrap_or(Duration::ZERO),
        }
    }
}

/// What one HTTP attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub outcome: Outcome,
    pub status_code: Option<u16>,
    pub message: String,
    pub duration_ms: u64,
    /// The start of the endpoint's answer, at most [`RESPONSE_BODY_MAX`] bytes.
    pub response_body: Option<String>,
    /// The endpoint's `Retry-After`, in seconds or as an HTTP date.
    pub retry_after: Option<RetryAfter>,
    /// How long until the receiver's rate-limit window opens, when its answer said the
    /// window is spent (see [`super::pace::window_reset`]).
    pub window_reset: Option<Duration>,
}

impl Sent {
    /// No request: the webhook's template failed.
    pub fn unrendered(error: &RenderError) -> Self {
        Self {
            outcome: Outcome::Unrendered,
            status_code: None,
            message: error.to_string(),
            duration_ms: 0,
            response_body: None,
            retry_after: None,
            window_reset: None,
        }
    }

    pub fn success(&self) -> bool {
        self.outcome == Outcome::Success
    }

    /// The answer as a delivery record keeps it; `None` when none came.
    pub fn recorded_response(&self) -> Option<RecordedResponse> {
        self.status_code.map(|status| RecordedResponse {
            status,
            body: self.response_body.clone().unwrap_or_default(),
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub url: String,
    pub method: String,
    /// Values of custom headers and of Authorization are masked.
    pub headers: BTreeMap<String, String>,
    /// Not stored: every attempt of a delivery sends the same body, which the delivery
    /// log rebuilds from the alert (a write unit saved on every attempt).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// The header that carries the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

impl RecordedRequest {
    /// Masks the signature: no answer carries one that verifies (see [`crate::mask`]).
    /// Records are written masked; this also covers any written before they were.
    pub fn mask_signature(&mut self) {
        if let Some(value) = self.headers.get_mut(SIGNATURE_HEADER) {
            *value = crate::mask::signature(value);
        }
    }

    /// The request as a caller with `access` sees it: the signature always masked, the
    /// URL masked for readers.
    pub fn shown(mut self, access: crate::auth::Access) -> Self {
        self.mask_signature();
        self.url = crate::mask::url_for(access, &self.url);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    /// At most 16 KiB.
    pub body: String,
}
