//! The delivery engine: payload, Standard Webhooks signing, the HTTP send and how its
//! outcome is classified.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use crate::{
    model::{EventType, HttpMethod, Webhook, MASK},
    records::{RecordedRequest, RecordedResponse},
    ssrf::{GuardedResolver, Policy, Refusal},
};

pub const SECRET_PREFIX: &str = "whsec_";
pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));
/// How much of an endpoint's answer is kept.
pub const RESPONSE_BODY_MAX: usize = 16 * 1024;

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[derive(Debug, thiserror::Error)]
#[error("the stored signing secret is malformed")]
pub struct BadSecret;

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, per Standard Webhooks.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The Standard Webhooks payload: `{"type", "timestamp", "data": {alert, webhook, account}}`.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub event: EventType,
    pub timestamp: String,
    pub data: PayloadData<'a>,
}

#[derive(Debug, Serialize)]
pub struct PayloadData<'a> {
    pub alert: Value,
    pub webhook: WebhookRef<'a>,
    pub account: AccountRef<'a>,
}

#[derive(Debug, Serialize)]
pub struct WebhookRef<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct AccountRef<'a> {
    pub id: &'a str,
}

impl<'a> Payload<'a> {
    pub fn new(event: EventType, alert: Value, webhook: &'a Webhook, now: DateTime<Utc>) -> Self {
        Self {
            event,
            timestamp: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            data: PayloadData {
                alert,
                webhook: WebhookRef {
                    id: &webhook.id,
                    name: &webhook.name,
                },
                account: AccountRef {
                    id: &webhook.account_id,
                },
            },
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs and a serde_json::Value cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
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
    /// The destination is not allowed (see [`crate::ssrf`]): fail, no request made.
    Refused,
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

/// The result of one HTTP attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Outcome,
    pub status_code: Option<u16>,
    pub message: String,
    pub duration_ms: u64,
    /// The start of the endpoint's answer, at most [`RESPONSE_BODY_MAX`] bytes.
    pub response_body: Option<String>,
    /// The endpoint's `Retry-After`, in seconds or as an HTTP date.
    pub retry_after: Option<Duration>,
}

impl Attempt {
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

/// One HTTP client for all deliveries: no redirects followed, our User-Agent, and names
/// resolved only to addresses `policy` permits.
pub fn http_client(policy: &Policy) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(policy.clone()),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        // Only fails when the TLS backend cannot initialise: nothing works then.
        .expect("the HTTP client could not be built")
}

/// A signed request, ready to send and to record.
#[derive(Clone, Debug)]
pub struct OutboundRequest {
    pub url: String,
    pub method: HttpMethod,
    /// Name, value, and whether the value is a secret the record must mask.
    pub headers: Vec<(String, String, bool)>,
    pub body: Vec<u8>,
    /// Credentials this request carries (custom header values, the basic-auth password
    /// and its encoding, the signing secrets), masked wherever an endpoint echoes them.
    pub sensitive: Vec<String>,
}

/// Shorter values are not masked in an endpoint's answer: masking every `1` or `ok` would
/// garble it and hide nothing.
const SENSITIVE_MIN_LEN: usize = 4;

/// Builds the request for one attempt: the body signed for `msg_id` at `timestamp`, with
/// the webhook's method, headers and basic auth.
pub fn build_request(
    webhook: &Webhook,
    msg_id: &str,
    body: Vec<u8>,
    timestamp: i64,
) -> Result<OutboundRequest, BadSecret> {
    // During a rotation's grace period every live secret signs, space-separated, so a
    // receiver holding either the old or the new one accepts the message.
    let at = DateTime::from_timestamp(timestamp, 0).unwrap_or_else(Utc::now);
    let secrets: Vec<&str> = webhook.signing_secrets(at).collect();
    let signature = secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, &body))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    let mut headers = Vec::with_capacity(webhook.headers.len() + 6);
    let mut sensitive: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    // Custom headers first; with basic auth set, it owns Authorization. The model refuses
    // the names the service sets itself.
    for (name, value) in &webhook.headers {
        if webhook.basic_auth.is_some() && name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        headers.push((name.clone(), value.clone(), true));
        sensitive.push(value.clone());
    }
    if let Some(auth) = &webhook.basic_auth {
        let credentials = STANDARD.encode(format!("{}:{}", auth.username, auth.password));
        let authorization = format!("Basic {credentials}");
        headers.push(("authorization".into(), authorization.clone(), true));
        sensitive.extend([authorization, credentials, auth.password.clone()]);
    }
    headers.push(("content-type".into(), "application/json".into(), false));
    headers.push(("user-agent".into(), USER_AGENT.into(), false));
    headers.push(("webhook-id".into(), msg_id.into(), false));
    headers.push(("webhook-timestamp".into(), timestamp.to_string(), false));
    headers.push(("webhook-signature".into(), signature, false));
    sensitive.retain(|value| value.len() >= SENSITIVE_MIN_LEN);
    // Longest first, so a value that contains another is masked whole.
    sensitive.sort_by_key(|value| std::cmp::Reverse(value.len()));
    sensitive.dedup();
    Ok(OutboundRequest {
        url: webhook.url.clone(),
        method: webhook.http_method,
        headers,
        body,
        sensitive,
    })
}

impl OutboundRequest {
    /// The request as a delivery record keeps it: secret values masked.
    pub fn recorded(&self) -> RecordedRequest {
        RecordedRequest {
            url: self.url.clone(),
            method: self.method.as_str().into(),
            headers: self
                .headers
                .iter()
                .map(|(name, value, secret)| {
                    (
                        name.clone(),
                        if *secret {
                            MASK.to_string()
                        } else {
                            value.clone()
                        },
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
        }
    }

    /// `text` with every credential of this request masked.
    pub fn redact(&self, text: String) -> String {
        self.sensitive.iter().fold(text, |text, value| {
            if text.contains(value.as_str()) {
                text.replace(value.as_str(), MASK)
            } else {
                text
            }
        })
    }
}

/// Sends the request once, waiting at most `timeout`, and classifies the outcome. The
/// client (from [`http_client`]) refuses names that resolve to forbidden addresses; an IP
/// literal is checked here against the same `policy`.
pub async fn send(
    client: &reqwest::Client,
    request: &OutboundRequest,
    timeout: Duration,
    policy: &Policy,
) -> Attempt {
    let refused = |refusal: Refusal| Attempt {
        outcome: Outcome::Refused,
        status_code: None,
        message: format!("refused: {refusal}"),
        duration_ms: 0,
        response_body: None,
        retry_after: None,
    };
    match url::Url::parse(&request.url) {
        Ok(url) => {
            if let Err(refusal) = policy.check_url(&url) {
                return refused(refusal);
            }
        }
        Err(e) => return refused(Refusal::Unresolvable(format!("{} ({e})", request.url))),
    }
    let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::POST);
    let mut builder = client.request(method, &request.url).timeout(timeout);
    for (name, value, _) in &request.headers {
        builder = builder.header(name, value);
    }
    let started = Instant::now();
    match builder.body(request.body.clone()).send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let response_body =
                read_capped(&mut response, timeout.saturating_sub(started.elapsed()))
                    .await
                    .map(|body| request.redact(body));
            let outcome = Outcome::of_status(status);
            let message = match outcome {
                Outcome::Success => format!("delivered: the endpoint answered HTTP {status}"),
                _ => format!("the endpoint answered HTTP {status}"),
            };
            Attempt {
                outcome,
                status_code: Some(status),
                message,
                duration_ms: elapsed_ms(started),
                response_body,
                retry_after,
            }
        }
        Err(err) => match refusal_in(&err) {
            Some(refusal) => refused(refusal),
            None => Attempt {
                outcome: Outcome::Retry,
                status_code: None,
                message: describe_error(&err, timeout),
                duration_ms: elapsed_ms(started),
                response_body: None,
                retry_after: None,
            },
        },
    }
}

/// The destination refusal behind a failed request, if that is why it failed.
fn refusal_in(err: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = e.source();
    }
    None
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Reads at most [`RESPONSE_BODY_MAX`] bytes of the answer, within what is left of the
/// timeout; a slow or endless body is cut, not waited for.
async fn read_capped(response: &mut reqwest::Response, left: Duration) -> Option<String> {
    let mut bytes = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() >= RESPONSE_BODY_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(left, read).await;
    bytes.truncate(RESPONSE_BODY_MAX);
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A short, user-facing account of why no answer came.
fn describe_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {}s", timeout.as_secs());
    }
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::ConnectionReset => {
                    "connection reset by the endpoint".to_string()
                }
                std::io::ErrorKind::TimedOut => format!("timed out after {}s", timeout.as_secs()),
                _ => format!("connection failed: {io}"),
            };
        }
        source = e.source();
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        text = format!("{text}: {e}");
        source = e.source();
    }
    if err.is_connect() {
        format!("connection failed: {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let secret = generate_secret();
        let raw = STANDARD
            .decode(secret.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The vector from the Standard Webhooks reference libraries.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(sign("whsec_!!!", "m", 1, b"").is_err());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap();
        assert!(parsed > Duration::from_secs(80) && parsed <= Duration::from_secs(90));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn recorded_requests_mask_secrets() {
        let mut settings = crate::model::WebhookSettings::parse(
            &serde_json::json!({"name": "n", "url": "https://e.com", "headers": {"X-Key": "k3y"},
                                "basic_auth": {"username": "u", "password": "pw"}}),
        )
        .unwrap();
        settings
            .headers
            .insert("Authorization".into(), "ignored-with-basic-auth".into());
        let w = Webhook::new("a", settings, generate_secret(), Utc::now());
        let request = build_request(&w, "msg_1", b"{}".to_vec(), 1).unwrap();
        let recorded = serde_json::to_string(&request.recorded()).unwrap();
        assert!(!recorded.contains("k3y") && !recorded.contains("ignored-with-basic-auth"));
        assert!(!recorded.contains(&STANDARD.encode("u:pw")));
        assert_eq!(request.recorded().headers["webhook-id"], "msg_1");
        let auth: Vec<_> = request
            .headers
            .iter()
            .filter(|h| h.0.eq_ignore_ascii_case("authorization"))
            .collect();
        assert_eq!(auth.len(), 1);
        // An endpoint echoing what it was sent keeps none of it in the record.
        let echo = format!(
            "got k3y-and pw via {} signed {}",
            request
                .headers
                .iter()
                .find(|h| h.0 == "authorization")
                .unwrap()
                .1,
            w.secret
        );
        let redacted = request.redact(echo);
        assert!(!redacted.contains(&STANDARD.encode("u:pw")) && !redacted.contains(&w.secret));
        assert!(
            redacted.contains("k3y-and pw"),
            "short values stay: {redacted}"
        );
    }

    #[test]
    fn every_live_secret_signs_during_a_rotation() {
        let settings = crate::model::WebhookSettings::parse(
            &serde_json::json!({"name": "n", "url": "https://e.com"}),
        )
        .unwrap();
        let now = Utc::now();
        let mut w = Webhook::new("a", settings, generate_secret(), now);
        let old = w.secret.clone();
        w.previous_secrets = w.previous_secrets_after_rotation(now, chrono::Duration::hours(1));
        w.secret = generate_secret();
        let body = b"{}".to_vec();
        let signature_at = |t: DateTime<Utc>| {
            let request = build_request(&w, "msg_1", body.clone(), t.timestamp()).unwrap();
            request
                .headers
                .iter()
                .find(|h| h.0 == "webhook-signature")
                .unwrap()
                .1
                .clone()
        };
        let during = signature_at(now);
        let expected = |secret: &str| sign(secret, "msg_1", now.timestamp(), &body).unwrap();
        assert_eq!(
            during,
            format!("{} {}", expected(&w.secret), expected(&old))
        );
        let after = now + chrono::Duration::hours(2);
        assert_eq!(
            signature_at(after),
            sign(&w.secret, "msg_1", after.timestamp(), &body).unwrap()
        );
    }

    #[test]
    fn outcome_classes() {
        assert_eq!(Outcome::of_status(204), Outcome::Success);
        assert_eq!(Outcome::of_status(301), Outcome::Fail);
        assert_eq!(Outcome::of_status(404), Outcome::Fail);
        assert_eq!(Outcome::of_status(408), Outcome::Retry);
        assert_eq!(Outcome::of_status(429), Outcome::Retry);
        assert_eq!(Outcome::of_status(503), Outcome::Retry);
        assert_eq!(Outcome::of_status(410), Outcome::Gone);
    }

    #[tokio::test]
    async fn refused_destinations_get_no_request() {
        let settings = crate::model::WebhookSettings::parse(
            &serde_json::json!({"name": "n", "url": "http://169.254.169.254/latest"}),
        )
        .unwrap();
        let w = Webhook::new("a", settings, generate_secret(), Utc::now());
        let request = build_request(&w, "msg", b"{}".to_vec(), 1).unwrap();
        let policy = Policy::default();
        let attempt = send(
            &http_client(&policy),
            &request,
            Duration::from_secs(1),
            &policy,
        )
        .await;
        assert_eq!(attempt.outcome, Outcome::Refused);
        assert!(
            attempt.message.contains("ALLOWED_CIDRS"),
            "{}",
            attempt.message
        );
        // A name resolving to loopback is refused by the client's resolver.
        let mut named = request.clone();
        named.url = "http://localhost:9/hook".into();
        let attempt = send(
            &http_client(&policy),
            &named,
            Duration::from_secs(1),
            &policy,
        )
        .await;
        assert_eq!(attempt.outcome, Outcome::Refused, "{}", attempt.message);
    }
}
