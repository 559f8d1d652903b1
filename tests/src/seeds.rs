//! What users of the five seed systems wrote, working as they wrote it, through the API:
//! OnCall's methods, URLs built per alert and trigger templates, Highlight's ignore,
//! Opsgenie's whole lifecycle, credentials that live in a body, test alerts that leave
//! nothing behind, and escalation delays from an account's default or a label.

use hookline_shared::alert::links::LinkAction;
use serde_json::{json, Value};

use crate::support::{
    alert, attempts, eventually,
    receiver::{verify, Behaviour, Received, Receiver},
    settled, store, stored_items, webhook, Client, TestAccount, DELIVER, SOON,
};

fn json_of(received: &Received) -> Value {
    serde_json::from_slice(&received.body).unwrap_or(Value::Null)
}

/// The webhook's deliveries once there are `n` and none is pending or retrying.
async fn deliveries(c: &Client, webhook: &str, n: usize) -> Vec<Value> {
    eventually(SOON, "the deliveries to finish", || async {
        let list = c.get(&format!("/webhooks/{webhook}/deliveries")).await.body;
        let all = list["deliveries"].as_array()?.clone();
        let done =
            (all.iter()).all(|d| matches!(d["state"].as_str(), Some("succeeded" | "failed")));
        (all.len() == n && done).then_some(all)
    })
    .await
}

/// How many webhooks the account has: a refused write adds none.
async fn webhook_count(c: &Client) -> usize {
    c.get("/webhooks").await.body["webhooks"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn get_delete_and_options_webhooks_send_no_body_signed_over_nothing() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let mut secrets = Vec::new();
    for method in ["GET", "DELETE", "OPTIONS"] {
        let (id, secret) = webhook(
            c,
            &receiver.url,
            json!({"http_method": method, "headers": {"X-Ping": "yes"}}),
        )
        .await;
        secrets.push((method, id, secret));
    }
    // OnCall's ping: the test route, then a real alert.
    let (_, ping, ping_secret) = &secrets[0];
    let tested = c.post(&format!("/webhooks/{ping}/test"), json!({})).await;
    assert_eq!(tested.body["success"], true, "{tested:?}");
    alert(c, json!({"type": "t", "message": "m"})).await;
    let got = receiver.wait_for(4, SOON).await;
    for request in &got {
        let secret = &secrets
            .iter()
            .find(|(m, ..)| *m == request.method)
            .unwrap()
            .2;
        assert!(request.body.is_empty(), "{} sent a body", request.method);
        assert!(!request.headers.contains_key("content-type"), "{request:?}");
        assert_eq!(request.headers["x-ping"], "yes");
        verify(secret, request).unwrap_or_else(|e| panic!("{}: {e}", request.method));
    }
    let gets = got.iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 2, "the test and the alert");
    verify(ping_secret, &got[0]).unwrap();
    let mut methods: Vec<_> = got.iter().map(|r| r.method.clone()).collect();
    methods.sort();
    assert_eq!(methods, ["DELETE", "GET", "GET", "OPTIONS"]);

    // A template, or a format with a body, is refused with them, and nothing is stored.
    let before = webhook_count(c).await;
    let refused = c
        .post(
            "/webhooks",
            json!({"name": "n", "url": receiver.url, "http_method": "GET", "template": "{{ alert.id }}"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.fields()),
        (400, vec!["template".into()]),
        "{refused:?}"
    );
    assert!(
        refused.body.to_string().contains("sends no body"),
        "{refused:?}"
    );
    let refused = c
        .post(
            "/webhooks",
            json!({"name": "n", "url": receiver.url, "http_method": "DELETE", "format": "slack"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.fields()),
        (400, vec!["format".into()])
    );
    let templated = webhook(c, &receiver.url, json!({"template": "{{ alert.id }}"}))
        .await
        .0;
    let refused = c
        .send(
            "PATCH",
            &format!("/webhooks/{templated}"),
            Some(json!({"http_method": "GET"})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.fields()),
        (400, vec!["template".into()])
    );
    assert_eq!(
        c.get(&format!("/webhooks/{templated}")).await.body["http_method"],
        "POST"
    );
    assert_eq!(webhook_count(c).await, before + 1);
}

#[tokio::test]
async fn urls_built_per_alert_keep_their_origin_and_encode_every_value() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let url = format!(
        "{}/incidents/{{{{ alert.data.key }}}}/ack?note={{{{ alert.data.key }}}}&by=hookline",
        receiver.url
    );
    let (id, _) = webhook(c, &receiver.url.clone(), json!({"url": url})).await;
    assert_eq!(c.get(&format!("/webhooks/{id}")).await.body["url"], url);
    // Each value, and the path and query it must arrive as.
    let sent = [
        ("42", "42"),
        ("../admin", "..%2Fadmin"),
        ("a?b=c#d", "a%3Fb%3Dc%23d"),
        ("@evil.example", "%40evil.example"),
        ("%2F", "%252F"),
        ("line\r\nX-Injected: 1", "line%0D%0AX-Injected%3A%201"),
        ("café ü", "caf%C3%A9%20%C3%BC"),
    ];
    for (key, _) in sent {
        alert(
            c,
            json!({"type": "t", "message": "m", "data": {"key": key}}),
        )
        .await;
    }
    let got = receiver.wait_for(sent.len(), SOON).await;
    let mut paths: Vec<String> = got.iter().map(|r| r.path.clone()).collect();
    let mut expected: Vec<String> = sent
        .iter()
        .map(|(_, e)| format!("/hook/incidents/{e}/ack?note={e}&by=hookline"))
        .collect();
    paths.sort();
    expected.sort();
    assert_eq!(paths, expected);
    assert!(got.iter().all(|r| !r.headers.contains_key("x-injected")));

    // What would leave the path, or name another resource, fails as a template error:
    // recorded, never sent.
    for key in ["..", ""] {
        alert(
            c,
            json!({"type": "t", "message": "m", "data": {"key": key}}),
        )
        .await;
    }
    let all = deliveries(c, &id, sent.len() + 2).await;
    let failed: Vec<&Value> = all.iter().filter(|d| d["state"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{all:?}");
    for delivery in failed {
        let error = delivery["last_error"].as_str().unwrap();
        assert!(error.starts_with("Template Warning: url: "), "{error}");
        let detail = attempts(c, &id, delivery).await;
        assert!(detail["attempts"][0]["response"].is_null(), "{detail}");
    }
    assert_eq!(receiver.received().len(), sent.len());

    // The origin is written out, checked at save as any URL.
    for (bad, why) in [
        ("http://{{ alert.data.host }}/x", "path and query only"),
        (
            "http://127.0.0.1{{ alert.data.port }}/x",
            "path and query only",
        ),
        ("http://127.0.0.1:1/{{ alert.id }", "syntax error"),
        ("http://127.0.0.1:1/{{ alert.id|shout }}", "shout"),
        ("http://127.0.0.1:1/a/../{{ alert.id }}", ".."),
        ("http://127.0.0.1:1/{{ alert.id }}#x", "fragment"),
        ("http://169.254.169.254/{{ alert.id }}", "link local"),
    ] {
        let r = c.post("/webhooks", json!({"name": "n", "url": bad})).await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec!["url".into()]),
            "{bad}: {r:?}"
        );
        assert!(r.body.to_string().contains(why), "{bad}: {r:?}");
    }
}

#[tokio::test]
async fn a_condition_fires_the_webhook_only_when_truthy_and_both_it_and_the_filter_must_pass() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let broken = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(
        c,
        &receiver.url,
        json!({"condition": "{{ alert.severity == \"critical\" }}", "filter": {"labels.team": "ops"}}),
    )
    .await;
    let (broken_id, _) = webhook(
        c,
        &broken.url,
        json!({"condition": "alert.labels.nope.deeper"}),
    )
    .await;
    let send = |severity: &str, team: &str| json!({"type": "disk", "message": "m", "severity": severity, "labels": {"team": team}});
    let wanted = alert(c, send("critical", "ops")).await;
    alert(c, send("critical", "web")).await;
    alert(c, send("warning", "ops")).await;
    let got = receiver.wait_for(1, SOON).await;
    let payload = json_of(&got[0]);
    assert_eq!(payload["data"]["alert"]["id"], wanted["alert_id"]);
    // The broken condition makes each delivery, and each fails with its error.
    let failed = deliveries(c, &broken_id, 3).await;
    for delivery in &failed {
        assert_eq!(delivery["state"], "failed");
        let error = delivery["last_error"].as_str().unwrap();
        assert!(
            error.starts_with("Template Warning: condition: undefined value"),
            "{error}"
        );
    }
    assert!(broken.received().is_empty());
    assert_eq!(deliveries(c, &id, 1).await.len(), 1);

    // filter/test reports the condition as its own check, and tries another.
    let filter_test = format!("/webhooks/{id}/filter/test");
    let test = |body: Value| {
        let path = filter_test.clone();
        async move {
            let r = c.post(&path, body).await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body
        }
    };
    let r = test(json!({"alert": send("warning", "ops")})).await;
    assert_eq!(
        (
            &r["matches"],
            &r["checks"]["filter"],
            &r["checks"]["condition"]
        ),
        (&json!(false), &json!(true), &json!(false))
    );
    let r = test(json!({"alert": send("critical", "web")})).await;
    assert_eq!(
        (&r["checks"]["filter"], &r["checks"]["condition"]),
        (&json!(false), &json!(true))
    );
    let r = test(json!({"alert": send("warning", "ops"), "condition": "alert.severity in ['warning', 'critical']"})).await;
    assert_eq!(
        (&r["matches"], &r["condition"]),
        (
            &json!(true),
            &json!("alert.severity in ['warning', 'critical']")
        )
    );
    let r = test(json!({"alert": send("warning", "ops"), "condition": "alert.nope.deeper"})).await;
    assert_eq!(r["checks"]["condition"], false);
    assert!(
        r["condition_error"].as_str().unwrap().contains("undefined"),
        "{r}"
    );
    // The preview says the same.
    let r = c
        .post(
            &format!("/webhooks/{id}/preview"),
            json!({"alert": send("warning", "ops")}),
        )
        .await;
    assert_eq!(
        (&r.body["matches"], &r.body["checks"]["condition"]),
        (&json!(false), &json!(false)),
        "{r:?}"
    );

    // Checked at save like a template, naming the line and column; nothing is stored.
    let before = webhook_count(c).await;
    for (bad, why) in [
        ("alert.severity ==", "syntax error"),
        ("alert.labels.team|shout", "line 1, column 19"),
        ("x %}{% for i in range(9) %}", "syntax error"),
        ("", "must not be empty"),
    ] {
        let r = c
            .post(
                "/webhooks",
                json!({"name": "n", "url": receiver.url, "condition": bad}),
            )
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec!["condition".into()]),
            "{bad}: {r:?}"
        );
        assert!(r.body.to_string().contains(why), "{bad}: {r:?}");
    }
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"condition": 7})),
        )
        .await;
    assert_eq!((r.status, r.fields()), (400, vec!["condition".into()]));
    assert_eq!(webhook_count(c).await, before);
    let saved = c.get(&format!("/webhooks/{id}")).await.body;
    assert_eq!(saved["condition"], "{{ alert.severity == \"critical\" }}");
}

#[tokio::test]
async fn an_ignored_alert_tells_no_one_until_it_is_unignored_or_resolved() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({})).await;
    let report = |status: &str| {
        json!({"type": "errors", "message": "TypeError", "dedup_key": "err/1", "status": status,
               "escalate_after_seconds": 2})
    };
    let fired = alert(c, report("firing")).await;
    let id = fired["alert_id"].as_str().unwrap().to_string();
    // By action link: the triggered alert's `ignore`.
    let got = receiver.wait_for(1, SOON).await;
    let ignore = json_of(&got[0])["data"]["alert"]["links"][LinkAction::Ignore.as_str()]
        .as_str()
        .expect("a triggered alert carries an ignore link")
        .to_string();
    let used = crate::support::http_client()
        .post(&ignore)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 200);
    let got = receiver.wait_for(2, SOON).await;
    let ignored = json_of(&got[1]);
    assert_eq!(ignored["type"], "alert.ignored");
    assert_eq!(ignored["data"]["alert"]["state"], "ignored");
    assert_eq!(ignored["data"]["transition"]["by"]["kind"], "link");
    let links = &ignored["data"]["alert"]["links"];
    assert!(
        links.get("unignore").is_some() && links.get("acknowledge").is_none(),
        "{links}"
    );

    // Reports update it quietly, a firing one does not reopen it, and it does not escalate.
    for status in ["firing", "resolved", "firing"] {
        let r = alert(c, report(status)).await;
        assert_eq!(
            (&r["outcome"], &r["deliveries"]),
            (&json!("updated"), &json!(0)),
            "{r}"
        );
    }
    let view = c.get(&format!("/alerts/{id}")).await.body;
    assert_eq!(
        (&view["alert"]["state"], &view["alert"]["reports"]),
        (&json!("ignored"), &json!(4))
    );
    assert!(view["alert"]["escalate_at"].is_null(), "{view}");
    for refused in ["acknowledge", "silence", "unresolve"] {
        let body = (refused == "silence").then(|| json!({"duration_seconds": 60}));
        let r = c
            .send("POST", &format!("/alerts/{id}/{refused}"), body)
            .await;
        assert_eq!(r.status, 409, "{refused}: {r:?}");
        assert!(r.body.to_string().contains("unignore it first"), "{r:?}");
    }
    // By API: unignore, and it is triggered again; then ignore and resolve.
    let r = c
        .send("POST", &format!("/alerts/{id}/unignore"), None)
        .await;
    assert_eq!(
        (r.status, &r.body["alert"]["state"]),
        (200, &json!("triggered")),
        "{r:?}"
    );
    let r = c.send("POST", &format!("/alerts/{id}/ignore"), None).await;
    assert_eq!(r.body["alert"]["state"], "ignored", "{r:?}");
    let r = c.send("POST", &format!("/alerts/{id}/ignore"), None).await;
    assert_eq!(
        (r.status, &r.body["changed"]),
        (200, &json!(false)),
        "{r:?}"
    );
    let r = c.send("POST", &format!("/alerts/{id}/resolve"), None).await;
    assert_eq!(r.body["alert"]["state"], "resolved", "{r:?}");
    let got = receiver.wait_for(5, SOON).await;
    let types: Vec<Value> = got.iter().map(|r| json_of(r)["type"].clone()).collect();
    assert_eq!(
        types,
        [
            "alert.triggered",
            "alert.ignored",
            "alert.unignored",
            "alert.ignored",
            "alert.resolved"
        ]
    );
    // A reader cannot.
    let r = account
        .reader
        .send("POST", &format!("/alerts/{id}/ignore"), None)
        .await;
    assert_eq!(r.status, 403);
    // Nothing escalated: its delay ran out long ago.
    assert!(!types.contains(&json!("alert.escalated")));
}

/// Opsgenie takes each event at its own path of the Alert API: method, path and body,
/// as its documentation gives them.
#[tokio::test]
async fn the_opsgenie_format_follows_the_alert_through_its_whole_lifecycle() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(202)).await;
    webhook(
        c,
        &format!("{}/v2/alerts", receiver.url),
        json!({"format": "opsgenie", "headers": {"Authorization": "GenieKey 0e4a-key"}}),
    )
    .await;
    let fired = alert(
        c,
        json!({"type": "disk_full", "message": "Disk 95% on db-1", "severity": "critical",
               "dedup_key": "db-1/disk /var", "labels": {"instance": "db-1"}, "escalate_after_seconds": 1}),
    )
    .await;
    let id = fired["alert_id"].as_str().unwrap().to_string();
    receiver.wait_for(2, SOON).await; // created, then escalated by its timer
    let act = |action: &'static str, body: Option<Value>| {
        let id = id.clone();
        async move {
            let r = c
                .send("POST", &format!("/alerts/{id}/{action}"), body)
                .await;
            assert_eq!(r.status, 200, "{action}: {r:?}");
        }
    };
    let mut done = 2;
    // Each with the deliveries it makes: unignoring triggers the alert again, which arms
    // its 1 s escalation again, and that fires before the resolve.
    for (action, body, makes) in [
        ("acknowledge", None, 1),
        ("unacknowledge", None, 1),
        ("silence", Some(json!({"duration_seconds": 3600})), 1),
        ("unsilence", None, 1),
        ("ignore", None, 1),
        ("unignore", None, 2),
        ("resolve", None, 1),
    ] {
        act(action, body).await;
        done += makes;
        // One at a time, so that each arrives in the order it was made.
        receiver.wait_for(done, SOON).await;
    }
    let got = receiver.received();
    let alias = "db-1%2Fdisk%20%2Fvar";
    let on = |action: &str| format!("/hook/v2/alerts/{alias}/{action}?identifierType=alias");
    let expected = [
        ("alert.triggered", "/hook/v2/alerts".to_string()),
        ("alert.escalated", on("notes")),
        ("alert.acknowledged", on("acknowledge")),
        ("alert.unacknowledged", on("unacknowledge")),
        ("alert.silenced", on("snooze")),
        ("alert.unsilenced", on("notes")),
        ("alert.ignored", on("close")),
        ("alert.unignored", "/hook/v2/alerts".to_string()),
        ("alert.escalated", on("notes")),
        ("alert.resolved", on("close")),
    ];
    assert_eq!(got.len(), expected.len());
    for (request, (event, path)) in got.iter().zip(expected) {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", path.as_str()),
            "{event}"
        );
        assert_eq!(request.headers["authorization"], "GenieKey 0e4a-key");
        let body = json_of(request);
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        match event {
            "alert.triggered" | "alert.unignored" => {
                assert_eq!(body["alias"], "db-1/disk /var");
                assert_eq!(body["priority"], "P1");
                assert!(body["message"].as_str().unwrap().chars().count() <= 130);
                assert_eq!(body["entity"], "db-1");
                assert_eq!(body["details"]["hookline_alert_id"], json!(id));
            }
            "alert.silenced" => {
                assert_eq!(keys, ["endTime", "note", "source", "user"], "{event}");
                let end = body["endTime"].as_str().unwrap();
                assert!(chrono::DateTime::parse_from_rfc3339(end).is_ok(), "{end}");
            }
            _ => {
                assert_eq!(keys, ["note", "source", "user"], "{event}: {body}");
                assert!(
                    body["note"].as_str().unwrap().contains("Hookline"),
                    "{body}"
                );
                assert!(body["user"].as_str().unwrap().len() <= 100);
            }
        }
    }
}

#[tokio::test]
async fn secrets_are_sent_where_templates_put_them_and_masked_everywhere_else() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Echo(200)).await;
    let key = "sk_live_5f2c9e81d0a7";
    let created = c
        .create(json!({
            "name": "n",
            "url": format!("{}/in?token={{{{ webhook.secrets.api_key }}}}", receiver.url),
            "template": "{\"key\": {{ webhook.secrets.api_key|tojson }}, \"id\": {{ alert.id|tojson }}}",
            "headers": {"X-Api-Key": "{{ webhook.secrets.api_key }}"},
            "secrets": {"api_key": key, "other": "value-two"},
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["secrets"],
        json!({"api_key": "********", "other": "********"})
    );
    for reader in [c, &account.reader] {
        let shown = reader.get(&format!("/webhooks/{id}")).await.body;
        assert_eq!(shown["secrets"]["api_key"], "********");
        assert!(!shown.to_string().contains(key));
    }
    alert(c, json!({"type": "t", "message": "m"})).await;
    let got = receiver.wait_for(1, SOON).await;
    assert_eq!(json_of(&got[0])["key"], key);
    assert_eq!(got[0].headers["x-api-key"], key);
    assert_eq!(got[0].path, format!("/hook/in?token={key}"));
    // The delivery log, the preview and the raw table never show it.
    let delivery = settled(c, &id, &["succeeded"]).await;
    let detail = attempts(c, &id, &delivery).await;
    let preview = c.post(&format!("/webhooks/{id}/preview"), json!({})).await;
    assert_eq!(preview.status, 200, "{preview:?}");
    for shown in [&detail, &preview.body] {
        let text = shown.to_string();
        assert!(!text.contains(key), "{text}");
        assert!(text.contains("********"), "{text}");
    }
    let raw = format!("{:?}", stored_items(&account.id).await);
    assert!(
        !raw.contains(key) && !raw.contains("value-two"),
        "a secret is stored in the clear"
    );

    // PATCH replaces them; PagerDuty reads its key from there.
    let pd = Receiver::start(Behaviour::Status(202)).await;
    let (pd_id, _) = webhook(
        c,
        &pd.url,
        json!({"format": "pagerduty", "secrets": {"routing_key": "R0123456789abcdef0123456789abcdef"}}),
    )
    .await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    let sent = json_of(&pd.wait_for(1, SOON).await[0]);
    assert_eq!(sent["routing_key"], "R0123456789abcdef0123456789abcdef");
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{pd_id}"),
            Some(json!({"secrets": null})),
        )
        .await;
    assert_eq!(
        (r.status, r.fields()),
        (400, vec!["secrets.routing_key".into()]),
        "{r:?}"
    );

    // Bad input names the field, and nothing is stored.
    let before = webhook_count(c).await;
    let many: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (secrets, field) in [
        (Value::Object(many), "secrets"),
        (json!({"1bad": "v"}), "secrets.1bad"),
        (json!({"has-dash": "v"}), "secrets.has-dash"),
        (json!({"k": "x".repeat(1025)}), "secrets.k"),
        (json!({"k": ""}), "secrets.k"),
        (json!({"k": 5}), "secrets.k"),
        (json!({"k": "********"}), "secrets.k"),
        (json!(["v"]), "secrets"),
    ] {
        let r = c
            .post(
                "/webhooks",
                json!({"name": "n", "url": receiver.url, "secrets": secrets}),
            )
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{r:?}"
        );
    }
    assert_eq!(webhook_count(c).await, before);
}

#[tokio::test]
async fn a_test_delivery_leaves_no_alert_behind() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    let tested = c.post(&format!("/webhooks/{id}/test"), json!({})).await;
    assert_eq!(tested.body["success"], true, "{tested:?}");
    let delivery_id = tested.body["delivery_id"].as_str().unwrap();
    let alert_id = json_of(&receiver.received()[0])["data"]["alert"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // No list, count or action finds it.
    let listed = c.get("/alerts").await.body;
    assert_eq!(listed["alerts"], json!([]), "{listed}");
    assert_eq!(c.get(&format!("/alerts/{alert_id}")).await.status, 404);
    let r = c
        .send("POST", &format!("/alerts/{alert_id}/acknowledge"), None)
        .await;
    assert_eq!(r.status, 404);
    // Its delivery stays in the log, marked as a test, with the body it sent.
    let detail = c
        .get(&format!("/webhooks/{id}/deliveries/{delivery_id}"))
        .await;
    assert_eq!(detail.status, 200, "{detail:?}");
    assert_eq!(detail.body["trigger"], "test");
    let body: Value = serde_json::from_str(
        detail.body["attempts"][0]["request"]["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&body["type"], &body["data"]["alert"]["id"]),
        (&json!("alert.test"), &json!(alert_id))
    );
    let redelivered = c
        .post(
            &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(redelivered.status, 202, "{redelivered:?}");
}

#[tokio::test]
async fn escalation_delays_come_from_the_alert_its_labels_or_the_account() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({"events": ["alert.escalated"]})).await;
    store()
        .await
        .set_escalate_after(&account.id, Some(1))
        .await
        .unwrap();
    // The account's default: 1 s.
    let plain = alert(c, json!({"type": "t", "message": "nobody came"})).await;
    // Alertmanager's annotation wins: an hour.
    let am = c
        .post(
            "/alerts/alertmanager",
            json!({"version": "4", "alerts": [{"status": "firing", "fingerprint": "f9",
                "labels": {"alertname": "Slow", "hookline_escalate_after": "30m"},
                "annotations": {"hookline_escalate_after": "1h"}}]}),
        )
        .await;
    assert_eq!(am.status, 202, "{am:?}");
    let am_id = am.body["alerts"][0]["alert_id"].as_str().unwrap();
    let got = receiver.wait_for(1, SOON).await;
    assert_eq!(json_of(&got[0])["data"]["alert"]["id"], plain["alert_id"]);
    let view = c.get(&format!("/alerts/{am_id}")).await.body;
    assert_eq!(view["alert"]["escalate_after_seconds"], 3600, "{view}");
    let received =
        chrono::DateTime::parse_from_rfc3339(view["alert"]["received_at"].as_str().unwrap())
            .unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(view["alert"]["escalate_at"].as_str().unwrap())
        .unwrap();
    assert_eq!((due - received).num_seconds(), 3600);
    let bad = c
        .post(
            "/alerts/alertmanager",
            json!({"version": "4", "alerts": [{"status": "firing",
                "labels": {"alertname": "Slow", "hookline_escalate_after": "soon"}}]}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.fields()),
        (400, vec!["alerts[0]".into()]),
        "{bad:?}"
    );
    // Without a default, an alert that gives none does not escalate.
    store()
        .await
        .set_escalate_after(&account.id, None)
        .await
        .unwrap();
    let none = alert(c, json!({"type": "t", "message": "m"})).await;
    let view = c
        .get(&format!("/alerts/{}", none["alert_id"].as_str().unwrap()))
        .await
        .body;
    assert!(view["alert"]["escalate_at"].is_null(), "{view}");
}
