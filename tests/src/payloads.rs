//! Formats, templates and content filters end to end: saved through the API, applied at
//! fan-out and delivery by the real functions, previewed and tested by their routes.

use serde_json::{json, Value};

use crate::support::{
    alert, all_final, attempts, eventually,
    receiver::{verify, Behaviour, Receiver},
    settled, webhook, TestAccount, DELIVER, SOON,
};

#[tokio::test]
async fn boxwatch_and_highlight_receivers_get_their_own_payloads_signed() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let boxwatch = Receiver::start(Behaviour::Status(200)).await;
    let highlight = Receiver::start(Behaviour::Status(202)).await;
    let (_, box_secret) = webhook(
        c,
        &boxwatch.url,
        json!({"format": "boxwatch", "metadata": {"account_email": "ops@example.com"}}),
    )
    .await;
    let (_, hl_secret) = webhook(
        c,
        &highlight.url,
        json!({"format": "highlight", "metadata": {"project_id": 42}}),
    )
    .await;
    alert(
        c,
        json!({"type": "ERRORS_ALERT", "message": "TypeError: x is undefined", "count": 12,
               "threshold": 10, "title": "Errors over threshold",
               "source": {"id": 12, "hostname": "web-01.prod", "ip": "10.0.1.5", "group": "Production"}}),
    )
    .await;
    let got = boxwatch.wait_for(1, SOON).await;
    verify(&box_secret, &got[0]).unwrap();
    assert_eq!(got[0].headers["content-type"], "application/json");
    let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(sent["event"], "alert.triggered");
    assert_eq!(
        sent["alert"],
        json!({"type": "ERRORS_ALERT", "message": "TypeError: x is undefined"})
    );
    assert_eq!(sent["server"]["hostname"], "web-01.prod");
    assert_eq!(sent["account"]["email"], "ops@example.com");

    let got = highlight.wait_for(1, SOON).await;
    verify(&hl_secret, &got[0]).unwrap();
    let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(sent["Event"], "ERRORS_ALERT");
    assert_eq!(sent["AlertName"], "Errors over threshold");
    assert_eq!(
        (sent["ProjectID"].as_i64(), sent["Count"].as_i64()),
        (Some(42), Some(12))
    );
    // The action links work: the resolve URL resolves the alert.
    let resolve = sent["ErrorResolvedURL"].as_str().unwrap();
    let page = crate::support::http_client()
        .post(resolve)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn templates_are_checked_at_save_with_line_and_column() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let url = "https://hooks.example.com/in";
    let bad = c
        .post(
            "/webhooks",
            json!({"name": "t", "url": url, "template": "{\n  \"a\": {{ alert.message|shout }}\n}"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.fields(), ["template"]);
    let message = bad.body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("shout") && message.contains("line 2, column 25"),
        "{message}"
    );
    for (body, field) in [
        (json!({"template": "{% if %}"}), "template"),
        (json!({"template": "x".repeat(64 * 1024 + 1)}), "template"),
        (json!({"template": 5}), "template"),
        (
            json!({"template": "{{ 1 }}", "format": "slack"}),
            "template",
        ),
        (json!({"format": "carrier_pigeon"}), "format"),
        (json!({"format": "pagerduty"}), "secrets.routing_key"),
        (json!({"content_type": "not a type"}), "content_type"),
        (json!({"headers": {"X-T": "{{ nope("}}), "headers.X-T"),
        (
            json!({"filter": {"severity": {"$regx": "x"}}}),
            "filter.severity.$regx",
        ),
        (
            json!({"filter": {"message": {"$regex": "(unclosed"}}}),
            "filter.message.$regex",
        ),
        (json!({"filter": "severity == critical"}), "filter"),
    ] {
        let mut full = json!({"name": "t", "url": url});
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let r = c.post("/webhooks", full).await;
        let shown: String = body.to_string().chars().take(200).collect();
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{shown}: {r:?}"
        );
    }
    // A PATCH must fit what it leaves alone: a template on a slack webhook is refused.
    let (id, _) = webhook(c, url, json!({"format": "slack"})).await;
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"template": "{{ 1 }}"})),
        )
        .await;
    assert_eq!(
        (r.status, r.fields()),
        (400, vec!["template".to_string()]),
        "{r:?}"
    );
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"template": "{{ alert.message }}", "format": "standard"})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["template"], "{{ alert.message }}");
    assert_eq!(r.body["format"], "standard");
    // Nothing refused was stored.
    let listed = c.get("/webhooks").await.body;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_render_error_is_recorded_not_sent_not_retried_and_a_fix_redelivers() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, secret) = webhook(
        c,
        &receiver.url,
        json!({"template": "{{ alert.labels.team }} paged: {{ alert.message }}",
               "headers": {"Authorization": "Bearer tok-{{ alert.type }}"}}),
    )
    .await;
    // No `team` label: strict undefined values fail the render.
    alert(c, json!({"type": "cpu_high", "message": "CPU at 92%"})).await;
    let delivery = settled(c, &id, &["failed"]).await;
    let detail = attempts(c, &id, &delivery).await;
    let tries = detail["attempts"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "not retried: {detail}");
    let error = tries[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Template Warning: template: undefined value"),
        "{error}"
    );
    assert!(tries[0]["response"].is_null());
    assert!(receiver.received().is_empty(), "nothing was sent");

    // Fixed, a redelivery renders again and goes out, as text, with the header rendered.
    let fixed = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"template": "{{ alert.labels.team|default('nobody') }} paged: {{ alert.message }}"})),
        )
        .await;
    assert_eq!(fixed.status, 200, "{fixed:?}");
    // The template is shown; the header value is masked.
    assert_eq!(fixed.body["headers"]["Authorization"], "********");
    let d = delivery["delivery_id"].as_str().unwrap();
    let r = c
        .post(
            &format!("/webhooks/{id}/deliveries/{d}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let got = receiver.wait_for(1, SOON).await;
    verify(&secret, &got[0]).unwrap();
    assert_eq!(got[0].body, b"nobody paged: CPU at 92%");
    assert_eq!(got[0].headers["content-type"], "text/plain");
    assert_eq!(got[0].headers["authorization"], "Bearer tok-cpu_high");
    let detail = eventually(SOON, "the redelivery's record", || async {
        let detail = attempts(c, &id, &delivery).await;
        (detail["state"] == "succeeded").then_some(detail)
    })
    .await;
    let shown = serde_json::to_string(&detail).unwrap();
    assert!(!shown.contains("tok-cpu_high"), "{shown}");
    assert_eq!(
        detail["attempts"][1]["request"]["body"],
        "nobody paged: CPU at 92%"
    );
}

#[tokio::test]
async fn fuel_and_output_limits_fail_the_delivery() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (loops, _) = webhook(
        c,
        &receiver.url,
        json!({"template": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}),
    )
    .await;
    let (big, _) = webhook(
        c,
        &receiver.url,
        json!({"template": "{% for i in range(3000) %}{{ alert.message }}{% endfor %}"}),
    )
    .await;
    alert(c, json!({"type": "t", "message": "x".repeat(200)})).await;
    for (id, expected) in [(&loops, "ran out of fuel"), (&big, "larger than 256 KiB")] {
        let delivery = settled(c, id, &["failed"]).await;
        assert!(
            delivery["last_error"].as_str().unwrap().contains(expected),
            "{delivery}"
        );
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn filters_decide_fan_out_and_filter_test_explains() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (critical_ops, _) = webhook(
        c,
        &receiver.url,
        json!({"filter": {"severity": {"$in": ["critical", "error"]},
                          "labels": {"team": "ops"},
                          "$or": [{"count": {"$gte": 5}}, {"message": {"$regex": "(?i)down"}}]}}),
    )
    .await;
    let (not_dev, _) = webhook(
        c,
        &receiver.url,
        json!({"filter": {"$not": {"labels.env": {"$in": ["dev", "staging"]}}}}),
    )
    .await;
    let fired = alert(
        c,
        json!({"type": "cpu_high", "message": "web-01 is DOWN", "severity": "critical",
               "labels": {"team": "ops", "env": "dev"}}),
    )
    .await;
    assert_eq!(fired["deliveries"], 1, "{fired}");
    let second = alert(
        c,
        json!({"type": "cpu_high", "message": "slow", "severity": "warning",
               "labels": {"team": "ops", "env": "prod"}}),
    )
    .await;
    assert_eq!(second["deliveries"], 1, "{second}");
    all_final(c, &critical_ops, 1).await;
    all_final(c, &not_dev, 1).await;
    assert_eq!(receiver.wait_for(2, SOON).await.len(), 2);

    // filter/test: the webhook's own filter, a stored alert, or a filter being written.
    let path = format!("/webhooks/{critical_ops}/filter/test");
    let r = c.post(&path, json!({"alert_id": second["alert_id"]})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["matches"], false);
    assert_eq!(r.body["checks"]["filter"], false);
    assert_eq!(r.body["checks"]["alert_type"], true);
    let r = c
        .post(
            &path,
            json!({"alert": {"type": "cpu_high", "message": "m", "severity": "error", "count": 9,
                             "labels": {"team": "ops"}}}),
        )
        .await;
    assert_eq!(r.body["matches"], true, "{r:?}");
    let r = c
        .post(
            &path,
            json!({"alert_id": second["alert_id"], "filter": {"severity": "warning"}}),
        )
        .await;
    assert_eq!(r.body["matches"], true, "{r:?}");
    assert_eq!(r.body["filter"], json!({"severity": "warning"}));
    for (body, field) in [
        (
            json!({"filter": {"severity": {"$gt": []}}}),
            "filter.severity.$gt",
        ),
        (json!({"alert": {"type": "t"}}), "alert.message"),
        (json!({"alert_id": "nope"}), "alert_id"),
        (json!({"transition": 1}), "transition"),
        (json!({"bogus": 1}), "bogus"),
    ] {
        let r = c.post(&path, body.clone()).await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{body}: {r:?}"
        );
    }
    // Another account's webhook and alert are not found.
    let other = TestAccount::new().await;
    let r = other.writer.post(&path, json!({})).await;
    assert_eq!(r.status, 404);
    let (theirs, _) = webhook(&other.writer, &receiver.url, json!({})).await;
    let r = other
        .writer
        .post(
            &format!("/webhooks/{theirs}/filter/test"),
            json!({"alert_id": second["alert_id"]}),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn preview_is_what_is_then_delivered_byte_for_byte() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (slack, _) = webhook(c, &receiver.url, json!({"format": "slack"})).await;
    let (custom, _) = webhook(
        c,
        &receiver.url,
        json!({"template": "{{ delivery.id }} #{{ delivery.attempt }} {{ event.type }} {{ actions|map(attribute='name')|join(',') }}",
               "content_type": "text/markdown"}),
    )
    .await;
    let (broken, _) = webhook(c, &receiver.url, json!({"template": "{{ alert.nope.x }}"})).await;
    let fired = alert(
        c,
        json!({"type": "cpu_high", "message": "CPU at 92%", "severity": "critical"}),
    )
    .await;
    let alert_id = fired["alert_id"].as_str().unwrap();
    let got = receiver.wait_for(2, SOON).await;
    for id in [&slack, &custom] {
        let delivery = settled(c, id, &["succeeded"]).await;
        let r = c
            .post(
                &format!("/webhooks/{id}/preview"),
                json!({"alert_id": alert_id}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["delivery_id"], delivery["delivery_id"]);
        assert_eq!(r.body["matches"], true);
        let preview = r.body["request"]["body"].as_str().unwrap();
        let sent = got
            .iter()
            .find(|g| g.headers["webhook-id"] == delivery["msg_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(preview.as_bytes(), sent.body.as_slice(), "{id}");
        assert_eq!(
            r.body["request"]["headers"]["content-type"],
            sent.headers["content-type"]
        );
    }
    let text = String::from_utf8(
        got.iter()
            .find(|g| g.headers["content-type"] == "text/markdown")
            .unwrap()
            .body
            .clone(),
    )
    .unwrap();
    assert!(
        text.ends_with("#1 alert.triggered acknowledge,resolve,silence_1h,silence_24h,ignore"),
        "{text}"
    );

    // A template that fails previews as the error a delivery records.
    let r = c
        .post(
            &format!("/webhooks/{broken}/preview"),
            json!({"alert_id": alert_id}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "template_error"), "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap().to_string();
    let delivery = settled(c, &broken, &["failed"]).await;
    assert_eq!(delivery["last_error"], message.as_str());

    // With no alert, the test alert; with a report, that report as `event` would leave it.
    let r = c
        .post(&format!("/webhooks/{slack}/preview"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["event"], "alert.test");
    let r = c
        .post(
            &format!("/webhooks/{slack}/preview"),
            json!({"alert": {"type": "disk_high", "message": "disk full"}, "event": "alert.resolved", "attempt": 3}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body: Value = serde_json::from_str(r.body["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["attachments"][0]["color"], "#2eb67d");
    for (payload, field) in [
        (json!({"attempt": 0}), "attempt"),
        (
            json!({"alert_id": alert_id, "event": "alert.resolved"}),
            "event",
        ),
        (json!({"alert_id": alert_id, "transition": 9}), "transition"),
        (
            json!({"alert_id": alert_id, "alert": {"type": "t", "message": "m"}}),
            "alert",
        ),
    ] {
        let r = c
            .post(&format!("/webhooks/{slack}/preview"), payload.clone())
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{payload}: {r:?}"
        );
    }

    // The test route sends the rendered format.
    let r = c.post(&format!("/webhooks/{slack}/test"), json!({})).await;
    assert_eq!(r.body["success"], true, "{r:?}");
    let tested = receiver.wait_for(3, SOON).await;
    let last: Value = serde_json::from_slice(&tested.last().unwrap().body).unwrap();
    assert!(last["attachments"][0]["blocks"].is_array(), "{last}");
}
