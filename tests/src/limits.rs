//! Bad input of every kind gets a clear 4xx and stores nothing: sizes, nesting, encoding,
//! numbers, blank strings, control characters, duplicate keys and malformed alerts, on the
//! management routes and on all three ingest paths.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use hookline_functions::{alerts, triggers, webhooks};
use lambda_http::{Body, Request};
use serde_json::{json, Value};

use crate::support::{app, reply, stored_items, Client, Reply, TestAccount};

/// A raw request: the body exactly as given, sent as JSON.
async fn raw(c: &Client, method: &str, path: &str, body: impl Into<reqwest::Body>) -> Reply {
    reply(
        c.request(method, path)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn assert_refused(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{what}: {r:?}");
    assert!(
        !r.body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{what}: no message"
    );
}

#[tokio::test]
async fn bad_input_on_every_route_is_a_4xx_and_stores_nothing() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let created = c
        .create(json!({"name": "kept", "url": "https://example.com/hook", "metadata": {"a": 1}}))
        .await;
    let id = created["id"].as_str().unwrap();
    let hook = format!("/webhooks/{id}");
    let rotate = format!("{hook}/secret/rotate");
    let before = stored_items(&account.id).await;
    let alert = |extra: Value| {
        let mut a = json!({"type": "disk_high", "message": "disk at 95%"});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    let am = |alert: Value| json!({"version": "4", "status": "firing", "alerts": [alert]});

    // Bodies over each route's limit: 413.
    for (method, path, limit) in [
        ("POST", "/webhooks".to_string(), 192 * 1024),
        ("PATCH", hook.clone(), 192 * 1024),
        ("PUT", hook.clone(), 192 * 1024),
        ("POST", rotate.clone(), 64 * 1024),
        ("POST", format!("{hook}/preview"), 64 * 1024),
        ("POST", format!("{hook}/filter/test"), 64 * 1024),
        ("POST", "/alerts".to_string(), 128 * 1024),
        ("POST", "/alerts/alertmanager".to_string(), 1024 * 1024),
    ] {
        let body = format!(r#"{{"name": "{}"}}"#, "x".repeat(limit));
        let r = raw(c, method, &path, body).await;
        assert_refused(&r, 413, "payload_too_large", &format!("{method} {path}"));
    }

    // Fields over their limits, blank strings, control characters and inexact numbers:
    // 400 naming the field.
    let long = |n: usize| "x".repeat(n);
    let webhook_cases = [
        (json!({"name": long(201)}), "name"),
        (
            json!({"url": format!("https://example.com/{}", long(1000))}),
            "url",
        ),
        (json!({"headers": {"X-Big": long(4097)}}), "headers.X-Big"),
        (json!({"metadata": {"blob": long(5000)}}), "metadata"),
        (
            json!({"alert_types": (0..101).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "alert_types",
        ),
        (json!({"name": "   "}), "name"),
        (json!({"name": "\t\n"}), "name"),
        (json!({"url": " "}), "url"),
        (json!({"alert_types": [" "]}), "alert_types[0]"),
        (
            json!({"basic_auth": {"username": "", "password": "p"}}),
            "basic_auth.username",
        ),
        (
            json!({"headers": {"X-Evil": "a\r\nX-Injected: 1"}}),
            "headers.X-Evil",
        ),
        (json!({"headers": {"X-Nul": "a\u{0}b"}}), "headers.X-Nul"),
        (json!({"name": "bell\u{7}"}), "name"),
        (
            json!({"metadata": {"n": 123_456_789_012_345_678_901_234_567_890.0}}),
            "metadata",
        ),
        (
            json!({"metadata": {"deep": [[{"n": 9_007_199_254_740_993u64}]]}}),
            "metadata",
        ),
        (json!({"enabled": 1}), "enabled"),
    ];
    for (body, field) in webhook_cases {
        let r = c.send("PATCH", &hook, Some(body.clone())).await;
        assert_refused(&r, 400, "validation_failed", &format!("PATCH {body}"));
        assert!(
            r.fields().iter().any(|f| f.starts_with(field)),
            "{body}: {r:?}"
        );
    }
    for (body, field) in [
        (
            json!({"grace_period_seconds": 1e20}),
            "grace_period_seconds",
        ),
        (
            json!({"grace_period_seconds": 604_801}),
            "grace_period_seconds",
        ),
        (json!({"grace_period_seconds": -1}), "grace_period_seconds"),
    ] {
        let r = c.post(&rotate, body.clone()).await;
        assert_refused(&r, 400, "validation_failed", &format!("rotate {body}"));
        assert_eq!(r.fields(), [field]);
    }
    for query in [
        "limit=0",
        "limit=1e3",
        "limit=99999999999999999999",
        "limit=",
        "cursor=%00",
        "enabled=TRUE",
    ] {
        let r = c.get(&format!("/webhooks?{query}")).await;
        assert_refused(&r, 400, "validation_failed", query);
    }

    // Malformed alerts: every shape refused with the fields at fault.
    let alert_cases = [
        (json!([]), "body"),
        (json!("disk"), "body"),
        (json!(null), "body"),
        (json!({}), "type"),
        (json!({"type": 1, "message": []}), "type"),
        (alert(json!({"type": "  "})), "type"),
        (alert(json!({"message": ""})), "message"),
        (alert(json!({"message": long(10_001)})), "message"),
        (alert(json!({"severity": "fatal"})), "severity"),
        (alert(json!({"status": "open"})), "status"),
        (alert(json!({"started_at": "yesterday"})), "started_at"),
        (alert(json!({"labels": {"host": 1}})), "labels.host"),
        (
            alert(json!({"labels": {"host": long(1025)}})),
            "labels.host",
        ),
        (alert(json!({"source": "x"})), "source"),
        (alert(json!({"data": [1]})), "data"),
        (alert(json!({"data": {"blob": long(70_000)}})), "data"),
        (alert(json!({"url": "ftp://example.com"})), "url"),
        (alert(json!({"count": -1})), "count"),
        (alert(json!({"count": 1.5})), "count"),
        (alert(json!({"threshold": "high"})), "threshold"),
        (alert(json!({"threshold": 1e300})), "threshold"),
        (alert(json!({"dedup_key": " "})), "dedup_key"),
        (alert(json!({"title": "a\u{1b}[31m"})), "title"),
        (alert(json!({"extra": true})), "extra"),
    ];
    for (body, field) in alert_cases {
        let r = c.post("/alerts", body.clone()).await;
        assert_refused(&r, 400, "validation_failed", &format!("alert {body}"));
        assert!(
            r.fields().iter().any(|f| f.starts_with(field)),
            "{body}: {r:?}"
        );
    }
    let alertmanager_cases = [
        json!({}),
        json!([]),
        json!({"version": "3", "alerts": [{"status": "firing", "labels": {"alertname": "A"}}]}),
        json!({"version": "4", "alerts": []}),
        json!({"version": "4", "alerts": "A"}),
        am(json!("A")),
        am(json!({"status": "firing"})),
        am(json!({"status": "pending", "labels": {"alertname": "A"}})),
        am(json!({"status": "firing", "labels": {"alertname": 7}})),
        am(json!({"status": "firing", "labels": {"alertname": " "}})),
        am(json!({"status": "firing", "labels": {"alertname": "A"}, "annotations": []})),
        am(
            json!({"status": "firing", "labels": {"alertname": "A"}, "generatorURL": "javascript:alert(1)"}),
        ),
    ];
    for body in alertmanager_cases {
        let r = c.post("/alerts/alertmanager", body.clone()).await;
        assert_refused(
            &r,
            400,
            "validation_failed",
            &format!("alertmanager {body}"),
        );
    }

    // Malformed JSON of every kind: deep nesting, bad or huge numbers, bad escapes,
    // duplicate keys (also nested), trailing data.
    let malformed = [
        format!(
            r#"{{"name": "n", "metadata": {{"deep": {}}}}}"#,
            nested(200)
        ),
        format!(
            r#"{{"type": "t", "message": "m", "data": {{"deep": {}}}}}"#,
            nested(200)
        ),
        r#"{"metadata": {"n": 1e400}}"#.to_string(),
        r#"{"metadata": {"n": NaN}}"#.to_string(),
        r#"{"metadata": {"n": 0x10}}"#.to_string(),
        r#"{"metadata": {"n": 01}}"#.to_string(),
        r#"{"name": "\ud800"}"#.to_string(),
        r#"{"name": "a", "name": "b"}"#.to_string(),
        r#"{"headers": {"X-A": "1", "X-A": "2"}}"#.to_string(),
        r#"{"name": "a"} {"name": "b"}"#.to_string(),
        "{\"name\": \"raw\u{1}control\"}".to_string(),
    ];
    for body in &malformed {
        for (method, path) in [
            ("PATCH", hook.as_str()),
            ("POST", "/alerts"),
            ("POST", "/alerts/alertmanager"),
            ("POST", rotate.as_str()),
        ] {
            let r = raw(c, method, path, body.clone()).await;
            assert_refused(
                &r,
                400,
                "malformed_json",
                &format!("{method} {path} {body:.80}"),
            );
        }
    }
    let r = raw(
        c,
        "POST",
        "/alerts/alertmanager",
        r#"{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A", "alertname": "B"}}]}"#,
    )
    .await;
    assert_refused(&r, 400, "malformed_json", "a duplicate key inside an alert");

    // Header values: a control character, blanks, too long. (Bytes beyond ASCII go
    // in-process, below: cargo lambda watch answers them itself with a 500.)
    for key in [&b"a\tb"[..], b"   ", &[b'k'; 257][..]] {
        let r = reply(
            c.request("POST", "/alerts")
                .header(
                    "idempotency-key",
                    reqwest::header::HeaderValue::from_bytes(key).unwrap(),
                )
                .json(&alert(json!({}))),
        )
        .await;
        assert_refused(
            &r,
            400,
            "validation_failed",
            &format!("Idempotency-Key {key:?}"),
        );
        assert_eq!(r.fields(), ["Idempotency-Key"]);
    }
    // Nothing of it was stored: the account's partition is exactly as before.
    assert_eq!(stored_items(&account.id).await, before);
    assert_eq!(c.get(&hook).await.body["metadata"], json!({"a": 1}));
}

/// API Gateway hands a body that is not UTF-8 to the function base64-encoded, which
/// lambda_http turns into `Body::Binary`, and passes header bytes beyond ASCII through.
/// (cargo lambda watch answers both itself with a 500 before any function runs, so these
/// go to the handlers directly.)
#[tokio::test]
async fn bytes_that_are_not_utf8_or_ascii_are_refused() {
    let account = TestAccount::new().await;
    let app = app().await;
    let before = stored_items(&account.id).await;
    let request = |path: &str, body: &[u8]| -> Request {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", format!("Bearer {}", account.writer.token))
            .header("content-type", "application/json")
            .body(Body::Binary(body.to_vec()))
            .unwrap()
    };
    let bodies: [&[u8]; 3] = [
        b"{\"name\": \"caf\xe9\", \"url\": \"https://example.com/\"}",
        b"\xff\xfe{\x00}\x00",
        b"{\"type\": \"t\", \"message\": \"\xc3\x28\"}",
    ];
    for body in bodies {
        for (path, response) in [
            (
                "/webhooks",
                webhooks::create(&app, request("/webhooks", body)).await,
            ),
            (
                "/alerts",
                alerts::create(&app, request("/alerts", body)).await,
            ),
            (
                "/alerts/alertmanager",
                alerts::alertmanager(&app, request("/alerts/alertmanager", body)).await,
            ),
        ] {
            let text = match response.body() {
                Body::Text(t) => t.clone(),
                other => panic!("{path}: a JSON answer, not {other:?}"),
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (response.status().as_u16(), answer["error"]["code"].as_str()),
                (400, Some("malformed_json")),
                "{path} {body:?}: {text}"
            );
        }
    }
    let with_header = |name: &str, value: &[u8]| {
        let mut req = request("/alerts", br#"{"type": "t", "message": "m"}"#);
        req.headers_mut().insert(
            lambda_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            lambda_http::http::HeaderValue::from_bytes(value).unwrap(),
        );
        req
    };
    let keyed = alerts::create(&app, with_header("idempotency-key", b"caf\xe9")).await;
    assert_eq!(keyed.status().as_u16(), 400, "{:?}", keyed.body());
    let token = alerts::create(&app, with_header("authorization", b"Bearer hkl_\xff")).await;
    assert_eq!(token.status().as_u16(), 401, "{:?}", token.body());
    assert_eq!(stored_items(&account.id).await, before);
}

/// The third ingest path: a malformed message on the alerts queue is reported as failed
/// (so SQS moves it to the dead-letter queue after its retries), and stores nothing.
#[tokio::test]
async fn malformed_queue_messages_fail_and_store_nothing() {
    let account = TestAccount::new().await;
    let app = app().await;
    let before = stored_items(&account.id).await;
    let good_alert = json!({"type": "t", "message": "m"});
    let bodies = [
        "not json".to_string(),
        "[]".to_string(),
        json!({"alert": good_alert}).to_string(),
        json!({"account_id": "", "alert": good_alert}).to_string(),
        json!({"account_id": "acct_does_not_exist", "alert": good_alert}).to_string(),
        json!({"account_id": account.id, "alert": {"type": "t"}}).to_string(),
        json!({"account_id": account.id, "alert": {"type": " ", "message": "m"}}).to_string(),
        json!({"account_id": account.id, "alert": good_alert, "extra": 1}).to_string(),
        json!({"account_id": account.id, "alert": good_alert, "idempotency_key": ""}).to_string(),
        json!({"account_id": account.id, "alert": {"type": "t", "message": "m", "threshold": 1e300}}).to_string(),
        format!(r#"{{"account_id": "{}", "account_id": "x", "alert": {good_alert}}}"#, account.id),
        format!(r#"{{"account_id": "{}", "alert": {{"type": "t", "message": "m", "data": {{"d": {}}}}}}}"#, account.id, nested(200)),
    ];
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("bad-{i}"));
        message.body = Some(body.clone());
        event.records.push(message);
    }
    let reply = triggers::ingest_queue(&app, event).await.unwrap();
    let mut failed: Vec<String> = reply
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort_by_key(|id| id[4..].parse::<usize>().unwrap());
    let expected: Vec<String> = (0..bodies.len()).map(|i| format!("bad-{i}")).collect();
    assert_eq!(failed, expected);
    assert_eq!(stored_items(&account.id).await, before);
}
