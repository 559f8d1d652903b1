//! The HTTP send: one client for all deliveries, one request per attempt, the answer read
//! within the timeout, and `Retry-After` taken as given.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    destination::{GuardedResolver, Policy, Refusal},
    outcome::{Outcome, RetryAfter, Sent, RESPONSE_BODY_MAX, USER_AGENT},
    pace,
    signing::OutboundRequest,
};
use crate::webhook::HttpMethod;

/// Installs ring as rustls' process-wide crypto provider, which reqwest (built without
/// one) needs before any client is built. The AWS SDK is given ring too (`crate::aws`).
/// Idempotent.
pub fn use_ring_for_tls() {
    // Err only when a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One HTTP client for all deliveries: no redirects followed, our User-Agent, names
/// resolved only to addresses `policy` permits, and no proxy: a proxy resolves names
/// itself, past the guarded resolver, so `HTTP(S)_PROXY` in the environment would reopen
/// DNS rebinding.
pub fn http_client(policy: &Policy) -> reqwest::Client {
    use_ring_for_tls();
    reqwest::Client::builder()
        .no_proxy()
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

/// Sends the request once, waiting at most `timeout`, and classifies the outcome. The
/// client (from [`http_client`]) refuses names that resolve to forbidden addresses; an IP
/// literal is checked here against the same `policy`.
pub async fn send(
    client: &reqwest::Client,
    request: &OutboundRequest,
    timeout: Duration,
    policy: &Policy,
) -> Sent {
    let refused = |refusal: Refusal| Sent {
        outcome: Outcome::Refused,
        status_code: None,
        message: format!("refused: {refusal}"),
        duration_ms: 0,
        response_body: None,
        retry_after: None,
        window_reset: None,
    };
    match url::Url::parse(&request.url) {
        Ok(url) => {
            if let Err(refusal) = policy.check_url(&url) {
                return refused(refusal);
            }
        }
        Err(e) => return refused(Refusal::Unresolvable(format!("{} ({e})", request.url))),
    }
    let mut builder = client
        .request(method(request.method), &request.url)
        .timeout(timeout);
    for (name, value, _) in &request.headers {
        builder = builder.header(name, value);
    }
    // A method without a body sends none at all (not even `content-length: 0`).
    if request.method.has_body() {
        builder = builder.body(request.body.clone());
    }
    let started = Instant::now();
    match builder.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
            let window_reset = pace::window_reset(
                header("x-ratelimit-remaining"),
                header("x-ratelimit-reset-after"),
            );
            let response_body =
                read_capped(&mut response, timeout.saturating_sub(started.elapsed()))
                    .await
                    .map(|body| request.redact(body));
            let outcome = Outcome::of_status(status);
            let message = match outcome {
                Outcome::Success => format!("delivered: the endpoint answered HTTP {status}"),
                _ => format!("the endpoint answered HTTP {status}"),
            };
            Sent {
                outcome,
                status_code: Some(status),
                message,
                duration_ms: elapsed_ms(started),
                response_body,
                retry_after,
                window_reset,
            }
        }
        // The URL stays out of the message: it may be a credential, and the record has it.
        Err(err) => match refusal_in(&err) {
            Some(refusal) => refused(refusal),
            None => Sent {
                outcome: Outcome::Retry,
                status_code: None,
                message: describe_error(&err.without_url(), timeout),
                duration_ms: elapsed_ms(started),
                response_body: None,
                retry_after: None,
                window_reset: None,
            },
        },
    }
}

/// The HTTP method of a webhook's: every one it may have, named (nothing falls back on
/// POST).
fn method(method: HttpMethod) -> reqwest::Method {
    match method {
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Options => reqwest::Method::OPTIONS,
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

/// `Retry-After` as seconds or an HTTP date (RFC 9110).
fn parse_retry_after(value: &str) -> Option<RetryAfter> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(RetryAfter::Seconds(seconds));
    }
    httpdate::parse_http_date(value)
        .ok()
        .map(|at| RetryAfter::At(at.into()))
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
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::delivery::{
        render::Rendered,
        signing::{build_request, generate_secret},
    };
    use crate::webhook::{Webhook, WebhookSettings};

    #[test]
    fn every_method_is_sent_as_itself() {
        use strum::VariantArray;
        for m in HttpMethod::VARIANTS {
            assert_eq!(method(*m).as_str(), m.as_str());
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(RetryAfter::Seconds(120)));
        let at: DateTime<Utc> = "2026-11-23T09:10:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:10:00 GMT"),
            Some(RetryAfter::At(at))
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    /// The proxy variables reqwest reads, each pointing at a listener that counts the
    /// connections it gets: a client that honoured them would connect there first.
    #[tokio::test]
    async fn proxy_settings_in_the_environment_are_ignored() {
        use tokio::{
            io::{AsyncReadExt, AsyncWriteExt},
            net::TcpListener,
        };
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}/hook", receiver.local_addr().unwrap());
        let answer = |listener: TcpListener| async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        };
        let proxied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = proxied.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = proxy.accept().await.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        tokio::spawn(answer(receiver));
        let names = [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ];
        for name in names {
            std::env::set_var(name, &proxy_url);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        let policy = Policy {
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            https_only: false,
        };
        let ours = http_client(&policy);
        let plain = reqwest::Client::new();
        for name in names {
            std::env::remove_var(name);
        }
        // Without `no_proxy` the same variables route the request through the proxy.
        let through = plain.get(&target).send().await;
        assert_eq!(through.map(|r| r.status().as_u16()).ok(), Some(502));
        let before = proxied.load(std::sync::atomic::Ordering::SeqCst);
        assert!(before >= 1, "the control request did not reach the proxy");
        let w = Webhook::new(
            "a",
            WebhookSettings::parse(&serde_json::json!({"name": "n", "url": target})).unwrap(),
            generate_secret(),
            Utc::now(),
        );
        let request = build_request(&w, "msg", Rendered::standard(&w, b"{}".to_vec()), 1).unwrap();
        let sent = send(&ours, &request, Duration::from_secs(5), &policy).await;
        assert_eq!(sent.status_code, Some(204), "{}", sent.message);
        assert_eq!(proxied.load(std::sync::atomic::Ordering::SeqCst), before);
    }

    #[tokio::test]
    async fn refused_destinations_get_no_request() {
        let settings = WebhookSettings::parse(
            &serde_json::json!({"name": "n", "url": "http://169.254.169.254/latest"}),
        )
        .unwrap();
        let w = Webhook::new("a", settings, generate_secret(), Utc::now());
        let request = build_request(&w, "msg", Rendered::standard(&w, b"{}".to_vec()), 1).unwrap();
        let policy = Policy::default();
        let sent = send(
            &http_client(&policy),
            &request,
            Duration::from_secs(1),
            &policy,
        )
        .await;
        assert_eq!(sent.outcome, Outcome::Refused);
        assert!(sent.message.contains("ALLOWED_CIDRS"), "{}", sent.message);
        // A name resolving to loopback is refused by the client's resolver.
        let mut named = request.clone();
        named.url = "http://localhost:9/hook".into();
        let sent = send(
            &http_client(&policy),
            &named,
            Duration::from_secs(1),
            &policy,
        )
        .await;
        assert_eq!(sent.outcome, Outcome::Refused, "{}", sent.message);
    }
}
