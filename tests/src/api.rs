//! The webhook API over HTTP, through the real functions, on DynamoDB Local.

use base64::{engine::general_purpose::STANDARD, Engine};
use hookline_shared::{auth::Scope, delivery::signing};
use serde_json::{json, Value};

use crate::support::{
    add_token, api_url, http_client,
    receiver::{Behaviour, Receiver},
    reply, store, Client, TestAccount,
};

fn hook(name: &str) -> Value {
    json!({"name": name, "url": "https://example.com/hooks/in"})
}

async fn ids(client: &Client, query: &str) -> Vec<String> {
    let reply = client.get(&format!("/webhooks{query}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect()
}

/// A method or path no route has is answered as API Gateway answers it, at once: the
/// local stack must not leave it waiting (see scripts/functions.py).
#[tokio::test]
async fn a_method_or_path_no_route_has_is_a_404() {
    let account = TestAccount::new().await;
    for (method, path) in [
        ("GET", "/nowhere"),
        ("PUT", "/webhooks"),
        ("POST", "/alerts/x/y/z"),
    ] {
        let r = account.writer.send(method, path, None).await;
        assert_eq!(
            (r.status, &r.body),
            (404, &json!({"message": "Not Found"})),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn create_returns_the_webhook_and_its_secret_once() {
    let account = TestAccount::new().await;
    let reply = account
        .writer
        .post(
            "/webhooks",
            json!({
                "name": "  Slack #ops ",
                "url": " https://hooks.example.com/T0/B0 ",
                "alert_types": ["cpu_high", "server_offline"],
                "events": ["alert.triggered"],
                "http_method": "PUT",
                "headers": {"X-Webhook-Token": "shared-secret"},
                "basic_auth": {"username": "hook", "password": "hunter2"},
                "metadata": {"team": "ops", "nested": {"n": 1.5}}
            }),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let w = &reply.body;
    let id = w["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(w["name"], "Slack #ops");
    assert_eq!(w["url"], "https://hooks.example.com/T0/B0");
    assert_eq!(w["enabled"], true);
    assert_eq!(w["http_method"], "PUT");
    assert_eq!(w["headers"], json!({"X-Webhook-Token": "********"}));
    assert_eq!(
        w["basic_auth"],
        json!({"username": "hook", "password": "********"})
    );
    assert_eq!(w["metadata"], json!({"team": "ops", "nested": {"n": 1.5}}));
    for field in ["created_at", "updated_at"] {
        assert!(w[field].is_string(), "{field}");
    }
    for field in [
        "last_success",
        "last_failure",
        "last_delivery",
        "disabled_reason",
    ] {
        assert!(w[field].is_null(), "{field}");
    }
    let secret = w["secret"].as_str().unwrap();
    assert_eq!(
        STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap()
            .len(),
        32
    );

    // The secret is shown by the secret route, and by no other read.
    let got = account.writer.get(&format!("/webhooks/{id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none());
    let listed = account.writer.get("/webhooks").await;
    let text = listed.body.to_string();
    for hidden in [secret, "shared-secret", "hunter2"] {
        assert!(!text.contains(hidden) && !got.body.to_string().contains(hidden));
    }
    let shown = account.writer.get(&format!("/webhooks/{id}/secret")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body, json!({"secret": secret}));
}

#[tokio::test]
async fn list_pages_with_an_opaque_cursor_and_filters() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let mut created = Vec::new();
    for i in 0..5 {
        let mut body = hook(&format!("w{i}"));
        body["enabled"] = json!(i != 1);
        body["alert_types"] = if i == 2 {
            json!(["disk_high"])
        } else {
            json!([])
        };
        body["events"] = if i == 3 {
            json!(["alert.resolved"])
        } else {
            json!([])
        };
        created.push(c.create(body).await["id"].as_str().unwrap().to_string());
    }

    // Default page: all five, in creation order, no next cursor.
    let first = c.get("/webhooks").await;
    assert_eq!(first.body["next_cursor"], Value::Null);
    assert_eq!(ids(c, "").await, created);

    // Pages of two: 2 + 2 + 1, nothing repeated or lost.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for expected_len in [2, 2, 1] {
        let query = match &cursor {
            Some(cur) => format!("/webhooks?limit=2&cursor={cur}"),
            None => "/webhooks?limit=2".to_string(),
        };
        let page = c.get(&query).await;
        assert_eq!(page.status, 200, "{page:?}");
        let items = page.body["webhooks"].as_array().unwrap();
        assert_eq!(items.len(), expected_len);
        seen.extend(items.iter().map(|w| w["id"].as_str().unwrap().to_string()));
        cursor = page.body["next_cursor"].as_str().map(String::from);
    }
    assert_eq!(cursor, None);
    assert_eq!(seen, created);

    // Filters: a webhook with empty alert_types/events receives every type/event.
    assert_eq!(ids(c, "?enabled=false").await, [created[1].clone()]);
    assert_eq!(ids(c, "?enabled=true").await.len(), 4);
    let cpu = ids(c, "?alert_type=cpu_high").await;
    assert_eq!(cpu.len(), 4);
    assert!(!cpu.contains(&created[2]));
    let triggered = ids(c, "?event=alert.triggered").await;
    assert!(!triggered.contains(&created[3]) && triggered.len() == 4);
    // A filtered list still pages correctly.
    let page = c.get("/webhooks?enabled=true&limit=3").await;
    assert_eq!(page.body["webhooks"].as_array().unwrap().len(), 3);
    let rest = c
        .get(&format!(
            "/webhooks?enabled=true&limit=3&cursor={}",
            page.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest.body["webhooks"].as_array().unwrap().len(), 1);

    // Bad parameters name themselves.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("cursor=garbage", "cursor"),
        ("enabled=maybe", "enabled"),
        ("event=alert.exploded", "event"),
    ] {
        let bad = c.get(&format!("/webhooks?{query}")).await;
        assert_eq!(bad.status, 400, "{query}: {bad:?}");
        assert_eq!(bad.fields(), [field], "{query}");
    }
}

#[tokio::test]
async fn patch_replaces_given_fields_whole_and_put_replaces_everything() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let created = c
        .create(json!({
            "name": "orig", "url": "https://example.com/a",
            "alert_types": ["a", "b"], "headers": {"X-One": "1", "X-Two": "2"},
            "basic_auth": {"username": "u", "password": "p"}, "metadata": {"k": "v"}
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/webhooks/{id}");

    let patched = c
        .send(
            "PATCH",
            &path,
            Some(json!({"headers": {"X-Three": "3"}, "alert_types": ["c"]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.body["headers"], json!({"X-Three": "********"}));
    assert_eq!(patched.body["alert_types"], json!(["c"]));
    assert_eq!(patched.body["name"], "orig");
    assert_eq!(patched.body["basic_auth"]["username"], "u");
    assert_ne!(patched.body["updated_at"], created["updated_at"]);
    assert_eq!(patched.body["created_at"], created["created_at"]);
    assert_eq!(c.get(&path).await.body, patched.body);

    // null clears basic_auth.
    let cleared = c
        .send("PATCH", &path, Some(json!({"basic_auth": null})))
        .await;
    assert_eq!(cleared.body["basic_auth"], Value::Null);

    // Refused PATCHes change nothing.
    let before = c.get(&path).await.body;
    for (body, field) in [
        (json!({}), "body"),
        (json!({"colour": "red"}), "colour"),
        (json!({"enabled": "no"}), "enabled"),
        (json!({"id": "x"}), "id"),
        (json!({"name": "ok", "url": "ftp://x"}), "url"),
    ] {
        let bad = c.send("PATCH", &path, Some(body.clone())).await;
        assert_eq!(bad.status, 400, "{body}");
        assert_eq!(bad.fields(), [field], "{body}");
    }
    assert_eq!(c.get(&path).await.body, before);

    // PUT: a full replacement. Omitted optional fields go back to their defaults.
    let put = c
        .send(
            "PUT",
            &path,
            Some(json!({"name": "new", "url": "http://example.org/b"})),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let w = &put.body;
    assert_eq!(
        (w["name"].as_str(), w["url"].as_str()),
        (Some("new"), Some("http://example.org/b"))
    );
    assert_eq!(w["alert_types"], json!([]));
    assert_eq!(w["headers"], json!({}));
    assert_eq!(w["metadata"], json!({}));
    assert_eq!(w["http_method"], "POST");
    assert_eq!(w["enabled"], true);
    let missing = c.send("PUT", &path, Some(json!({"name": "only"}))).await;
    assert_eq!(
        (missing.status, missing.fields()),
        (400, vec!["url".to_string()])
    );

    // Unknown ids, well formed or not, are 404 for PATCH and PUT alike.
    let ghost = format!("/webhooks/{}", uuid::Uuid::new_v4());
    assert_eq!(
        c.send("PATCH", &ghost, Some(json!({"name": "x"})))
            .await
            .status,
        404
    );
    assert_eq!(c.send("PUT", &ghost, Some(hook("x"))).await.status, 404);
    assert_eq!(
        c.send("PATCH", "/webhooks/not-an-id", Some(json!({"name": "x"})))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn delete_removes_the_webhook() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let id = c.create(hook("doomed")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/webhooks/{id}");
    let deleted = c.send("DELETE", &path, None).await;
    assert_eq!((deleted.status, deleted.body), (204, Value::Null));
    assert_eq!(c.get(&path).await.status, 404);
    assert_eq!(c.send("DELETE", &path, None).await.status, 404);
    assert_eq!(c.get(&format!("{path}/secret")).await.status, 404);
    assert!(ids(c, "").await.is_empty());
}

#[tokio::test]
async fn validation_errors_name_every_field_and_store_nothing() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let cases = [
        (json!({}), vec!["name", "url"]),
        (json!({"name": " ", "url": "https://e.com"}), vec!["name"]),
        (
            json!({"name": "x".repeat(201), "url": "https://e.com"}),
            vec!["name"],
        ),
        (
            json!({"name": "n", "url": format!("https://e.com/{}", "a".repeat(1000))}),
            vec!["url"],
        ),
        (
            json!({"name": "n", "url": "https://user:pw@e.com/"}),
            vec!["url"],
        ),
        (json!({"name": "n", "url": "mailto:a@b.c"}), vec!["url"]),
        (json!({"name": 5, "url": true}), vec!["name", "url"]),
        (
            json!({"name": "n", "url": "https://e.com", "enabled": 1}),
            vec!["enabled"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "events": ["alert.fired"]}),
            vec!["events[0]"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "http_method": "TRACE"}),
            vec!["http_method"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "headers": {"Host": "x"}}),
            vec!["headers.Host"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "headers": {"webhook-id": "x"}}),
            vec!["headers.webhook-id"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "headers": {"X-A": "a\r\nB: c"}}),
            vec!["headers.X-A"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "headers": {"bad name": "v"}}),
            vec!["headers.bad name"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "basic_auth": {"username": "u"}}),
            vec!["basic_auth.password"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "metadata": {"k": "v".repeat(5000)}}),
            vec!["metadata"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "metadata": "text"}),
            vec!["metadata"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "secret": "whsec_mine"}),
            vec!["secret"],
        ),
        (
            json!({"name": "n", "url": "https://e.com", "surprise": 1}),
            vec!["surprise"],
        ),
        (json!(["name", "url"]), vec!["body"]),
    ];
    for (body, fields) in cases {
        let reply = c.post("/webhooks", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.code(), "validation_failed", "{body}");
        let mut got = reply.fields();
        got.sort();
        assert_eq!(got, fields, "{body}");
        assert!(reply.body["error"]["message"].is_string());
    }
    let many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let reply = c
        .post(
            "/webhooks",
            json!({"name": "n", "url": "https://e.com", "headers": many}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.fields()),
        (400, vec!["headers".to_string()])
    );
    assert!(
        ids(c, "").await.is_empty(),
        "a refused create stored something"
    );
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_are_refused() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let raw = |body: &'static str, content_type: &'static str| {
        c.request("POST", "/webhooks")
            .header("content-type", content_type)
            .body(body)
    };
    let bad_json = reply(raw("{\"name\": ", "application/json")).await;
    assert_eq!((bad_json.status, bad_json.code()), (400, "malformed_json"));
    let dup = reply(raw(
        r#"{"name":"a","name":"b","url":"https://e.com"}"#,
        "application/json",
    ))
    .await;
    assert_eq!((dup.status, dup.code()), (400, "malformed_json"));
    let text = reply(raw(r#"{"name":"a","url":"https://e.com"}"#, "text/plain")).await;
    assert_eq!((text.status, text.code()), (415, "unsupported_media_type"));
    let big = format!(
        r#"{{"name":"a","url":"https://e.com","metadata":{{"k":"{}"}}}}"#,
        "x".repeat(200 * 1024)
    );
    let too_big = reply(
        c.request("POST", "/webhooks")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!((too_big.status, too_big.code()), (413, "payload_too_large"));
    assert!(ids(c, "").await.is_empty());
}

#[tokio::test]
async fn tokens_and_scopes_are_enforced() {
    let account = TestAccount::new().await;
    let id = account.writer.create(hook("scoped")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/webhooks/{id}");
    let api = api_url();
    let http = http_client();

    // 401: no token, an unknown token, another scheme.
    for auth in [
        None,
        Some("Bearer hkl_unknown"),
        Some("Basic dXNlcjpwdw=="),
        Some("Bearer "),
    ] {
        let mut request = http.get(format!("{api}{path}"));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let r = reply(request).await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{auth:?}");
    }

    // A read-only token reads, and is refused every write with 403.
    let reader = &account.reader;
    assert_eq!(reader.get(&path).await.status, 200);
    assert_eq!(reader.get("/webhooks").await.status, 200);
    let before = reader.get(&path).await.body;
    for (method, p, body) in [
        ("POST", "/webhooks".to_string(), Some(hook("x"))),
        ("PATCH", path.clone(), Some(json!({"name": "x"}))),
        ("PUT", path.clone(), Some(hook("x"))),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/test"), None),
        ("GET", format!("{path}/secret"), None),
        ("POST", format!("{path}/secret/rotate"), Some(json!({}))),
    ] {
        let r = reader.send(method, &p, body).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "insufficient_scope"),
            "{method} {p}"
        );
    }
    assert_eq!(reader.get(&path).await.body, before);
    assert_eq!(ids(reader, "").await.len(), 1);

    // A revoked token stops working at once.
    let store = store().await;
    let (token, token_id) = add_token(&store, &account.id, Scope::Webhook).await;
    let extra = Client::new(&token);
    assert_eq!(extra.get(&path).await.status, 200);
    store.revoke_token(&account.id, &token_id).await.unwrap();
    assert_eq!(extra.get(&path).await.status, 401);
}

#[tokio::test]
async fn the_quota_is_enforced_per_account() {
    // The service default (30, as in the ApiTree seed).
    let account = TestAccount::new().await;
    let c = &account.writer;
    let mut first = None;
    for i in 0..30 {
        let w = c.create(hook(&format!("w{i}"))).await;
        first.get_or_insert(w["id"].as_str().unwrap().to_string());
    }
    let over = c.post("/webhooks", hook("one too many")).await;
    assert_eq!(
        (over.status, over.code()),
        (409, "quota_exceeded"),
        "{over:?}"
    );
    assert!(over.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("30"));
    assert_eq!(ids(c, "?limit=100").await.len(), 30);
    // Deleting one frees a place.
    let freed = c
        .send("DELETE", &format!("/webhooks/{}", first.unwrap()), None)
        .await;
    assert_eq!(freed.status, 204);
    c.create(hook("fits again")).await;

    // An account-level quota overrides the default, and other accounts are unaffected.
    let small = TestAccount::with_quota(Some(2)).await;
    small.writer.create(hook("1")).await;
    small.writer.create(hook("2")).await;
    assert_eq!(small.writer.post("/webhooks", hook("3")).await.status, 409);
    TestAccount::new()
        .await
        .writer
        .create(hook("elsewhere"))
        .await;
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_quota() {
    let account = TestAccount::with_quota(Some(5)).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let c = account.writer.clone();
            tokio::spawn(async move { c.post("/webhooks", hook(&format!("race{i}"))).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(ids(&account.writer, "").await.len(), 5);
}

#[tokio::test]
async fn test_route_sends_a_signed_alert_test_with_the_webhooks_headers_and_auth() {
    let account = TestAccount::new().await;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let w = account
        .writer
        .create(json!({
            "name": "receiver", "url": receiver.url, "http_method": "PATCH",
            "headers": {"X-Custom": "custom-value", "Authorization-Extra": "x"},
            "basic_auth": {"username": "hook", "password": "pa ss"}
        }))
        .await;
    let id = w["id"].as_str().unwrap();
    let secret = w["secret"].as_str().unwrap();

    let reply = account
        .writer
        .post(&format!("/webhooks/{id}/test"), json!(null))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["status_code"], 200);
    assert!(reply.body["duration_ms"].is_u64());
    assert!(reply.body["message"].is_string());

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("PATCH", "/hook"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers["user-agent"].starts_with("Hookline/"));
    assert_eq!(r.headers["x-custom"], "custom-value");
    assert_eq!(
        r.headers["authorization"],
        format!("Basic {}", STANDARD.encode("hook:pa ss"))
    );
    let msg_id = &r.headers["webhook-id"];
    let timestamp: i64 = r.headers["webhook-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let expected = signing::sign(secret, msg_id, timestamp, &r.body).unwrap();
    assert_eq!(r.headers["webhook-signature"], expected);

    let payload: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(payload["type"], "alert.test");
    assert!(payload["timestamp"].is_string());
    assert_eq!(
        payload["data"]["webhook"],
        json!({"id": id, "name": "receiver"})
    );
    assert_eq!(payload["data"]["account"]["id"], account.id);
    assert!(payload["data"]["alert"]["message"].is_string());
}

#[tokio::test]
async fn test_route_reports_failures_refusals_and_timeouts() {
    let account = TestAccount::new().await;
    let failing = Receiver::start(Behaviour::Status(500)).await;
    let hanging = Receiver::start(Behaviour::Hang).await;
    let refused = Receiver::refusing_url().await;
    let test = |url: String| {
        let c = account.writer.clone();
        async move {
            let w = c.create(json!({"name": "t", "url": url})).await;
            c.post(
                &format!("/webhooks/{}/test", w["id"].as_str().unwrap()),
                json!(null),
            )
            .await
        }
    };
    // Run the three at once: the hanging one takes the full 10 s.
    let (failed, timed_out, refused) = tokio::join!(
        test(failing.url.clone()),
        test(hanging.url.clone()),
        test(refused)
    );

    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["success"], false);
    assert_eq!(failed.body["status_code"], 500);
    assert_eq!(
        failing.received().len(),
        1,
        "a test is sent once, not retried"
    );

    assert_eq!(timed_out.status, 200, "{timed_out:?}");
    assert_eq!(timed_out.body["success"], false);
    assert_eq!(timed_out.body["status_code"], Value::Null);
    assert_eq!(timed_out.body["message"], "timed out after 10s");
    let waited = timed_out.body["duration_ms"].as_u64().unwrap();
    assert!((9_500..12_000).contains(&waited), "waited {waited} ms");

    assert_eq!(refused.status, 200);
    assert_eq!(refused.body["success"], false);
    assert_eq!(refused.body["status_code"], Value::Null);
    assert_eq!(refused.body["message"], "connection refused");
}

#[tokio::test]
async fn private_destinations_are_refused_when_saved() {
    // The test stack allows 127.0.0.0/8 only (ALLOWED_CIDRS), for its receivers.
    let account = TestAccount::new().await;
    let c = &account.writer;
    for url in [
        "http://10.0.0.1/hook",
        "http://167772161/hook", // 10.0.0.1 in decimal
        "http://0xa.1/hook",     // 10.0.0.1 in hex, shortened
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://192.168.1.10/hook",
    ] {
        let r = c
            .post("/webhooks", json!({"name": "inward", "url": url}))
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec!["url".to_string()]),
            "{url}: {r:?}"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ALLOWED_CIDRS"),
            "{url}: {r:?}"
        );
    }
    assert!(ids(c, "").await.is_empty());
    let id = c.create(hook("outward")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"url": "http://172.16.0.5/"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.get(&format!("/webhooks/{id}")).await.body["url"],
        "https://example.com/hooks/in"
    );
}
