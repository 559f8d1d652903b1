//! Standard Webhooks signing: the secret, the signature, and the signed request as it is
//! sent and as it is recorded (credentials masked), with every credential it carries
//! masked in whatever the endpoint echoes back.

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::{
    outcome::{RecordedRequest, SIGNATURE_HEADER, USER_AGENT},
    render::Rendered,
};
use crate::webhook::{HttpMethod, Webhook, MASK};

pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[derive(Debug, thiserror::Error)]
#[error("the stored signing secret is malformed, or the webhook's credentials are still sealed")]
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

/// Builds the request for one attempt: the rendered body signed for `msg_id` at
/// `timestamp`, with the webhook's method, its rendered headers and basic auth.
pub fn build_request(
    webhook: &Webhook,
    msg_id: &str,
    rendered: Rendered,
    timestamp: i64,
) -> Result<OutboundRequest, BadSecret> {
    // A credential still sealed was not opened (`Store::open_webhook`): never sent.
    let sealed = |v: &str| crate::keys::is_sealed(v);
    let secrets_sealed = webhook.signing_secrets(Utc::now()).any(sealed);
    let headers_sealed = rendered.headers.iter().any(|(_, v)| sealed(v));
    let password_sealed = (webhook.settings.basic_auth.iter()).any(|a| sealed(&a.password));
    let values_sealed = webhook.settings.secrets.values().any(|v| sealed(v));
    if secrets_sealed || headers_sealed || password_sealed || values_sealed {
        return Err(BadSecret);
    }
    let body = rendered.body;
    // During a rotation's grace period every live secret signs, space-separated, so a
    // receiver holding either the old or the new one accepts the message.
    let at = DateTime::from_timestamp(timestamp, 0).unwrap_or_else(Utc::now);
    let secrets: Vec<&str> = webhook.signing_secrets(at).collect();
    let signature = secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, &body))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    let mut headers = Vec::with_capacity(rendered.headers.len() + 6);
    // The signature too: an endpoint that echoes it would put a replayable one in the log.
    let mut sensitive: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    sensitive.extend(signature.split(' ').map(str::to_string));
    sensitive.extend(
        (signature.split(' ')).filter_map(|s| s.split_once(',').map(|(_, mac)| mac.to_string())),
    );
    // The webhook's `secrets`, as a body has them and as a URL template encodes them.
    for value in webhook.settings.secrets.values() {
        sensitive.extend([value.clone(), super::template::url_value(value)]);
    }
    // Custom headers first; with basic auth set, it owns Authorization. The model refuses
    // the names the service sets itself.
    for (name, value) in rendered.headers {
        if webhook.settings.basic_auth.is_some() && name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        sensitive.push(value.clone());
        headers.push((name, value, true));
    }
    if let Some(auth) = &webhook.settings.basic_auth {
        let credentials = STANDARD.encode(format!("{}:{}", auth.username, auth.password));
        let authorization = format!("Basic {credentials}");
        headers.push(("authorization".into(), authorization.clone(), true));
        sensitive.extend([authorization, credentials, auth.password.clone()]);
    }
    if webhook.settings.http_method.has_body() {
        headers.push(("content-type".into(), rendered.content_type, false));
    }
    // The webhook's own User-Agent (a custom header, above) wins; then its format's.
    if !headers
        .iter()
        .any(|(n, _, _)| n.eq_ignore_ascii_case("user-agent"))
    {
        let agent = webhook.settings.format.user_agent().unwrap_or(USER_AGENT);
        headers.push(("user-agent".into(), agent.into(), false));
    }
    headers.push(("webhook-id".into(), msg_id.into(), false));
    headers.push(("webhook-timestamp".into(), timestamp.to_string(), false));
    headers.push((SIGNATURE_HEADER.into(), signature, false));
    sensitive.retain(|value| value.len() >= SENSITIVE_MIN_LEN);
    // Longest first, so a value that contains another is masked whole.
    sensitive.sort_by_key(|value| std::cmp::Reverse(value.len()));
    sensitive.dedup();
    Ok(OutboundRequest {
        url: rendered.url,
        method: webhook.settings.http_method,
        headers,
        body,
        sensitive,
    })
}

impl OutboundRequest {
    /// The request as a delivery record keeps it: secret values and the signature
    /// masked, and no body (see [`RecordedRequest::body`]).
    pub fn recorded(&self) -> RecordedRequest {
        let mut recorded = RecordedRequest {
            url: self.redact(self.url.clone()),
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
            body: String::new(),
        };
        recorded.mask_signature();
        recorded
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

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::STANDARD, Engine};

    use super::*;
    use crate::webhook::WebhookSettings;

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
    fn recorded_requests_mask_secrets() {
        let mut settings = WebhookSettings::parse(
            &serde_json::json!({"name": "n", "url": "https://e.com", "headers": {"X-Key": "k3y"},
                                "basic_auth": {"username": "u", "password": "pw"}}),
        )
        .unwrap();
        settings
            .headers
            .insert("Authorization".into(), "ignored-with-basic-auth".into());
        let w = Webhook::new("a", settings, generate_secret(), Utc::now());
        let request =
            build_request(&w, "msg_1", Rendered::standard(&w, b"{}".to_vec()), 1).unwrap();
        let recorded = serde_json::to_string(&request.recorded()).unwrap();
        assert!(!recorded.contains("k3y") && !recorded.contains("ignored-with-basic-auth"));
        assert!(!recorded.contains(&STANDARD.encode("u:pw")));
        assert_eq!(request.recorded().headers["webhook-id"], "msg_1");
        // The signature is shown masked: nothing in a record verifies.
        let signature = &request
            .headers
            .iter()
            .find(|h| h.0 == SIGNATURE_HEADER)
            .unwrap()
            .1;
        assert_eq!(request.recorded().headers[SIGNATURE_HEADER], "v1,********");
        assert!(!recorded.contains(signature.trim_start_matches("v1,")));
        let echoed = request.redact(format!("you signed {signature}"));
        assert!(
            !echoed.contains(signature.trim_start_matches("v1,")),
            "{echoed}"
        );
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

    /// BoxWatch's receivers see its sender's User-Agent; a webhook's own header wins.
    #[test]
    fn the_user_agent_is_the_webhooks_the_formats_or_hooklines() {
        let agent = |body: serde_json::Value| {
            let w = Webhook::new(
                "a",
                WebhookSettings::parse(&body).unwrap(),
                generate_secret(),
                Utc::now(),
            );
            let request =
                build_request(&w, "msg_1", Rendered::standard(&w, b"{}".to_vec()), 1).unwrap();
            let found: Vec<_> = (request.headers.iter())
                .filter(|h| h.0.eq_ignore_ascii_case("user-agent"))
                .map(|h| h.1.clone())
                .collect();
            assert_eq!(found.len(), 1, "{found:?}");
            found[0].clone()
        };
        let url = "https://e.com";
        assert_eq!(
            agent(serde_json::json!({"name": "n", "url": url})),
            USER_AGENT
        );
        assert_eq!(
            agent(serde_json::json!({"name": "n", "url": url, "format": "boxwatch"})),
            "BoxWatch-Webhook/1.0"
        );
        assert_eq!(
            agent(
                serde_json::json!({"name": "n", "url": url, "format": "boxwatch",
                                     "headers": {"User-Agent": "mine/2"}})
            ),
            "mine/2"
        );
    }

    #[test]
    fn every_live_secret_signs_during_a_rotation() {
        let settings =
            WebhookSettings::parse(&serde_json::json!({"name": "n", "url": "https://e.com"}))
                .unwrap();
        let now = Utc::now();
        let mut w = Webhook::new("a", settings, generate_secret(), now);
        let old = w.secret.clone();
        w.previous_secrets = w.previous_secrets_after_rotation(now, chrono::Duration::hours(1));
        w.secret = generate_secret();
        let body = b"{}".to_vec();
        let signature_at = |t: DateTime<Utc>| {
            let request = build_request(
                &w,
                "msg_1",
                Rendered::standard(&w, body.clone()),
                t.timestamp(),
            )
            .unwrap();
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
}
