//! Alerts in, deliveries out: the real functions, the SQS emulator and the local trigger.
//! The test stack runs with RETRY_SCHEDULE=1s,1s (three attempts) and a 12 s lease.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    alert, alerts_queue_url, all_final, attempts, delivery_queue_url, eventually, functions_log,
    kill_function, metric_lines,
    receiver::{verify, Behaviour, Receiver},
    reply, settled, settled_within, sqs, webhook, Client, TestAccount, DELIVER, SOON,
};

#[tokio::test]
async fn an_alert_reaches_every_matching_webhook_signed() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(204)).await;
    let (all, all_secret) = webhook(c, &receiver.url, json!({})).await;
    let (cpu, cpu_secret) = webhook(c, &receiver.url, json!({"alert_types": ["cpu_high"]})).await;
    let (_disk, _) = webhook(c, &receiver.url, json!({"alert_types": ["disk_high"]})).await;
    let (resolved_only, resolved_secret) =
        webhook(c, &receiver.url, json!({"events": ["alert.resolved"]})).await;
    let (_off, _) = webhook(c, &receiver.url, json!({"enabled": false})).await;

    let fired = alert(
        c,
        json!({"type": "cpu_high", "message": "CPU at 92%", "severity": "critical",
                                "labels": {"host": "web-01"}, "data": {"ErrorTitle": "boom"}}),
    )
    .await;
    assert_eq!(fired["deliveries"], 2);
    // Fan-out measured its size.
    let fan_out = metric_lines(fired["alert_id"].as_str().unwrap());
    assert_eq!(fan_out.len(), 1);
    assert_eq!(
        (
            fan_out[0]["Function"].as_str(),
            fan_out[0]["FanOut"].as_f64()
        ),
        (Some("ingest"), Some(2.0))
    );
    let got = receiver.wait_for(2, SOON).await;
    assert_eq!(got.len(), 2);
    let resolved = alert(
        c,
        json!({"type": "cpu_high", "message": "back to normal", "status": "resolved"}),
    )
    .await;
    assert_eq!(resolved["deliveries"], 3);
    let got = receiver.wait_for(5, SOON).await;
    // Every delivery is final, so nothing more will be sent.
    for (id, n) in [(&all, 2), (&cpu, 2), (&resolved_only, 1)] {
        all_final(c, id, n).await;
    }
    assert_eq!(receiver.received().len(), 5, "no extra deliveries");

    let secrets = [
        (&all, &all_secret),
        (&cpu, &cpu_secret),
        (&resolved_only, &resolved_secret),
    ];
    for r in &got {
        let payload: Value = serde_json::from_slice(&r.body).unwrap();
        let to = payload["data"]["webhook"]["id"].as_str().unwrap();
        let (_, secret) = secrets
            .iter()
            .find(|(id, _)| id.as_str() == to)
            .expect("a matching webhook");
        verify(secret, r).unwrap_or_else(|e| panic!("signature: {e}"));
        assert_eq!(r.method, "POST");
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(r.headers["user-agent"].starts_with("Hookline/"));
        assert_eq!(payload["data"]["account"]["id"], account.id);
        let alert = &payload["data"]["alert"];
        match payload["type"].as_str().unwrap() {
            "alert.triggered" => {
                assert_ne!(to, resolved_only);
                assert_eq!(alert["id"], fired["alert_id"]);
                assert_eq!(
                    (alert["type"].as_str(), alert["severity"].as_str()),
                    (Some("cpu_high"), Some("critical"))
                );
                assert_eq!(alert["data"]["ErrorTitle"], "boom");
                assert_eq!(alert["labels"]["host"], "web-01");
            }
            "alert.resolved" => assert_eq!(alert["status"], "resolved"),
            other => panic!("unexpected event {other}"),
        }
    }

    // The alert view sums up where each delivery stands.
    let view = c
        .get(&format!("/alerts/{}", fired["alert_id"].as_str().unwrap()))
        .await;
    assert_eq!(view.status, 200, "{view:?}");
    assert_eq!(view.body["alert"]["message"], "CPU at 92%");
    let summary = eventually(SOON, "both deliveries to succeed", || async {
        let v = c
            .get(&format!("/alerts/{}", fired["alert_id"].as_str().unwrap()))
            .await
            .body;
        let ds = v["deliveries"].as_array()?.clone();
        ds.iter().all(|d| d["state"] == "succeeded").then_some(ds)
    })
    .await;
    let mut targets: Vec<&str> = summary
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    targets.sort();
    let mut expected = [all.as_str(), cpu.as_str()];
    expected.sort();
    assert_eq!(targets, expected);
}

#[tokio::test]
async fn the_largest_alerts_fan_out_to_many_webhooks() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let mut secrets = std::collections::HashMap::new();
    for _ in 0..12 {
        let (id, secret) = webhook(c, &receiver.url, json!({})).await;
        secrets.insert(id, secret);
    }
    // Just under the 128 KiB limit, and full of quotes, which JSON escapes: each delivery
    // message is near SQS's whole batch limit, so ten to a batch would be refused.
    let q = |n: usize| "\"".repeat(n);
    let labels: serde_json::Map<String, Value> =
        (0..20).map(|i| (format!("l{i}"), json!(q(1024)))).collect();
    let body = json!({"type": "t", "message": q(10_000), "title": q(500),
                      "labels": labels, "data": {"q": q(32_000)}});
    let size = body.to_string().len();
    assert!((120_000..=128 * 1024).contains(&size), "{size}");
    let accepted = alert(c, body).await;
    assert_eq!(accepted["deliveries"], 12);
    let got = receiver.wait_for(12, SOON).await;
    assert_eq!(got.len(), 12);
    for r in &got {
        let payload: Value = serde_json::from_slice(&r.body).unwrap();
        let to = payload["data"]["webhook"]["id"].as_str().unwrap();
        verify(&secrets[to], r).unwrap_or_else(|e| panic!("signature: {e}"));
        assert_eq!(
            payload["data"]["alert"]["data"]["q"]
                .as_str()
                .unwrap()
                .len(),
            32_000
        );
    }
}

#[tokio::test]
async fn ingest_is_idempotent() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    let body = json!({"type": "disk_high", "message": "disk at 95%"});
    let first = reply_with_key(c, &body, "key-1").await;
    let again = reply_with_key(c, &body, "key-1").await;
    assert_eq!(first, again);
    let other = reply_with_key(
        c,
        &json!({"type": "disk_high", "message": "different"}),
        "key-1",
    )
    .await;
    assert_eq!(other["error"]["code"], "idempotency_key_reused", "{other}");
    // dedup_key names the alert, not the request: a repeat updates it and sends nothing.
    let with_field = json!({"type": "disk_high", "message": "x", "dedup_key": "d-1"});
    let (created, updated) = (
        alert(c, with_field.clone()).await,
        alert(c, with_field).await,
    );
    assert_eq!(created["alert_id"], updated["alert_id"]);
    assert_eq!(
        (&updated["outcome"], &updated["deliveries"]),
        (&json!("updated"), &json!(0))
    );
    receiver.wait_for(2, SOON).await;
    // Fan-out records a delivery before it answers: a repeat would have made a third.
    all_final(c, &id, 2).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "a repeated alert fanned out twice"
    );
}

async fn reply_with_key(c: &Client, body: &Value, key: &str) -> Value {
    let r = reply(
        c.request("POST", "/alerts")
            .header("idempotency-key", key)
            .json(body),
    )
    .await;
    r.body
}

#[tokio::test]
async fn outcomes_are_classified() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    // (behaviour, final state, attempts made)
    let cases = [
        (Behaviour::Status(201), "succeeded", 1),
        (Behaviour::Status(302), "failed", 1),
        (Behaviour::Status(404), "failed", 1),
        (Behaviour::Status(400), "failed", 1),
        (Behaviour::Status(408), "failed", 3),
        (Behaviour::Status(503), "failed", 3),
        (
            Behaviour::Script(vec![(429, Some("2")), (200, None)]),
            "succeeded",
            2,
        ),
    ];
    let mut running = Vec::new();
    for (behaviour, state, tries) in cases {
        let receiver = Receiver::start(behaviour.clone()).await;
        let (id, _) = webhook(c, &receiver.url, json!({})).await;
        running.push((receiver, id, state, tries, behaviour));
    }
    let refused = Receiver::refusing_url().await;
    let (refused_id, _) = webhook(c, &refused, json!({})).await;
    alert(c, json!({"type": "t", "message": "m"})).await;

    for (receiver, id, state, tries, behaviour) in &running {
        let delivery = settled(c, id, &["succeeded", "failed"]).await;
        assert_eq!(delivery["state"], *state, "{behaviour:?}: {delivery}");
        assert_eq!(delivery["attempt_count"], *tries, "{behaviour:?}");
        assert_eq!(
            receiver.received().len(),
            *tries as usize,
            "{behaviour:?}: redirects are not followed, 4xx not retried"
        );
        let detail = attempts(c, id, &delivery).await;
        if *tries == 3 {
            assert!(
                delivery["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("retries exhausted"),
                "{delivery}"
            );
        }
        if matches!(behaviour, Behaviour::Script(_)) {
            // Retry-After: 2 pushed the second attempt back past the 1 s schedule.
            let a = detail["attempts"].as_array().unwrap();
            let t0 =
                chrono::DateTime::parse_from_rfc3339(a[0]["timestamp"].as_str().unwrap()).unwrap();
            let t1 =
                chrono::DateTime::parse_from_rfc3339(a[1]["timestamp"].as_str().unwrap()).unwrap();
            assert!((t1 - t0).num_milliseconds() >= 1900, "{detail}");
        }
    }
    let delivery = settled(c, &refused_id, &["failed"]).await;
    assert_eq!(delivery["attempt_count"], 3);
    assert!(delivery["last_status_code"].is_null());
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{delivery}"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Hang).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    let delivery = settled(c, &id, &["retrying"]).await;
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("timed out after 10s"),
        "{delivery}"
    );
    assert!(delivery["next_attempt_at"].is_string());
    receiver.wait_for(2, Duration::from_secs(20)).await;
    assert!(
        receiver.received().len() >= 2,
        "the timed-out attempt was retried"
    );
    c.send("DELETE", &format!("/webhooks/{id}"), None).await;
}

#[tokio::test]
async fn retries_until_success_then_the_webhook_is_healthy() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Script(vec![
        (500, None),
        (502, None),
        (200, None),
    ]))
    .await;
    let (id, secret) = webhook(
        c,
        &receiver.url,
        json!({"headers": {"X-Api-Key": "k-secret-1"}}),
    )
    .await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    let delivery = settled(c, &id, &["succeeded"]).await;
    assert_eq!(delivery["attempt_count"], 3);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    // The same webhook-id on every retry, each attempt signed afresh.
    assert!(got
        .iter()
        .all(|r| r.headers["webhook-id"] == got[0].headers["webhook-id"]));
    assert!(got.iter().all(|r| verify(&secret, r).is_ok()));
    assert!(got.iter().all(|r| r.body == got[0].body));

    let detail = attempts(c, &id, &delivery).await;
    let list = detail["attempts"].as_array().unwrap();
    let states: Vec<&str> = list.iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["retrying", "retrying", "succeeded"]);
    let codes: Vec<u64> = list
        .iter()
        .map(|a| a["response"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 502, 200]);
    let first = &list[0];
    assert_eq!(first["trigger"], "scheduled");
    assert_eq!(first["request"]["method"], "POST");
    assert_eq!(first["request"]["headers"]["X-Api-Key"], "********");
    assert_eq!(first["response"]["body"], "received");
    assert!(first["next_attempt_at"].is_string() && first["duration_ms"].is_u64());
    assert!(
        !detail.to_string().contains("k-secret-1"),
        "a header value leaked into the record"
    );

    // The deliver function measured each attempt: two retried, one delivered.
    let id_of = delivery["delivery_id"].as_str().unwrap();
    let lines = eventually(SOON, "three metric lines for the delivery", || async {
        let lines = metric_lines(id_of);
        (lines.len() == 3).then_some(lines)
    })
    .await;
    for line in &lines {
        assert_eq!(line["Function"], "deliver");
        let ids = line["delivery_ids"].as_array().unwrap().len() as f64;
        let counted: f64 = ["Delivered", "Retried", "Failed"]
            .iter()
            .map(|m| line[*m].as_f64().unwrap())
            .sum();
        assert_eq!(
            counted, ids,
            "each delivery of the batch counted once: {line}"
        );
    }
    let total = |m: &str| lines.iter().map(|l| l[m].as_f64().unwrap()).sum::<f64>();
    assert!(total("Delivered") >= 1.0 && total("Retried") >= 2.0);
    // Its latency is among those of its lines (a batch may hold others' too).
    let latencies: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.get("DeliveryLatency"))
        .flat_map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
            one => one.as_f64().into_iter().collect::<Vec<_>>(),
        })
        .collect();
    let slowest = latencies.iter().cloned().fold(0.0, f64::max);
    assert!(
        slowest >= 1_000.0,
        "two retries a second apart: {latencies:?}"
    );

    let w = c.get(&format!("/webhooks/{id}")).await.body;
    assert!(w["last_success"].is_string() && w["last_failure"].is_string());
    assert_eq!(w["last_delivery"]["success"], true);
    assert_eq!(w["last_delivery"]["status_code"], 200);
    assert_eq!(w["last_delivery"]["response"], "received");
}

#[tokio::test]
async fn gone_disables_the_webhook() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(410)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    let delivery = settled(c, &id, &["failed"]).await;
    assert_eq!(delivery["attempt_count"], 1);
    let w = eventually(SOON, "the webhook to be disabled", || async {
        let w = c.get(&format!("/webhooks/{id}")).await.body;
        (w["enabled"] == false).then_some(w)
    })
    .await;
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("410"),
        "{w}"
    );
    assert_eq!(
        alert(c, json!({"type": "t", "message": "again"})).await["deliveries"],
        0
    );
    // Enabling it again clears the reason.
    let on = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on.body["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn disabling_a_webhook_ends_its_pending_retries() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    // Retry-After keeps the retry 5 s off, time enough to disable the webhook.
    let receiver = Receiver::start(Behaviour::Script(vec![(503, Some("5"))])).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    settled(c, &id, &["retrying"]).await;
    let off = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    let delivery = settled(c, &id, &["failed"]).await;
    assert_eq!(
        delivery["last_error"], "the webhook is disabled",
        "{delivery}"
    );
    assert_eq!(delivery["attempt_count"], 1);
    assert_eq!(
        receiver.received().len(),
        1,
        "no request after it was disabled"
    );
}

#[tokio::test]
async fn a_retry_not_yet_due_is_held_not_sent() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    // A retry due in 20 minutes, past SQS's 15-minute delays, as the deliver function
    // queues one: it holds the message out of sight instead of sending it on.
    let delivery_id = uuid::Uuid::now_v7().to_string();
    let due = chrono::Utc::now() + chrono::Duration::minutes(20);
    let message = json!({
        "account_id": account.id, "webhook_id": id, "delivery_id": delivery_id,
        "alert_id": uuid::Uuid::now_v7().to_string(), "event": "alert.triggered",
        "attempt": 2, "trigger": "scheduled", "payload": {"type": "alert.triggered"},
        "not_before": due,
    });
    sqs()
        .await
        .send_message()
        .queue_url(delivery_queue_url())
        .message_body(message.to_string())
        .send()
        .await
        .unwrap();
    eventually(SOON, "the deliver function to hold the message", || async {
        functions_log()
            .lines()
            .any(|l| {
                l.contains("message handled") && l.contains(&delivery_id) && l.contains("Postponed")
            })
            .then_some(())
    })
    .await;
    let list = c.get(&format!("/webhooks/{id}/deliveries")).await.body;
    assert_eq!(list["deliveries"], json!([]), "no attempt was made");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_duplicated_message_posts_once() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Slow(Duration::from_millis(300), 200)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    // Hold the webhook's first delivery back: take it off the queue as SQS would hand a
    // copy to a second consumer, by sending the very same message body twice more.
    let fired = alert(c, json!({"type": "t", "message": "dup"})).await;
    let delivery = settled(c, &id, &["succeeded"]).await;
    let message = json!({
        "account_id": account.id, "webhook_id": id,
        "delivery_id": delivery["delivery_id"], "alert_id": fired["alert_id"], "event": "alert.triggered",
        "attempt": 1, "trigger": "scheduled", "payload": "{\"type\":\"alert.triggered\"}"
    })
    .to_string();
    let sqs = sqs().await;
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(delivery_queue_url())
            .message_body(&message)
            .send()
            .await
            .unwrap();
    }
    // A second delivery, whose first attempt arrives twice at once.
    let fresh_id = uuid::Uuid::now_v7().to_string();
    let fresh = json!({
        "account_id": account.id, "webhook_id": id,
        "delivery_id": fresh_id, "alert_id": fired["alert_id"], "event": "alert.triggered",
        "attempt": 1, "trigger": "scheduled", "payload": "{\"type\":\"alert.triggered\"}"
    })
    .to_string();
    let batch = sqs.send_message_batch().queue_url(delivery_queue_url());
    let entry = |n: &str| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(n)
            .message_body(&fresh)
            .build()
            .unwrap()
    };
    batch
        .entries(entry("a"))
        .entries(entry("b"))
        .send()
        .await
        .unwrap();
    // Wait until the deliver function has handled all four messages: the two copies of
    // the first delivery as duplicates, and the second delivery's pair as one attempt
    // and one duplicate.
    let first = delivery["delivery_id"].as_str().unwrap().to_string();
    let handled = |delivery: &str, outcome: &str| {
        functions_log()
            .lines()
            .filter(|l| {
                l.contains("message handled") && l.contains(delivery) && l.contains(outcome)
            })
            .count()
    };
    eventually(
        Duration::from_secs(60),
        "the deliver function to handle the copies",
        || async {
            let done = handled(&first, "Duplicate") >= 2
                && handled(&fresh_id, "Attempted") == 1
                && handled(&fresh_id, "Duplicate") == 1;
            done.then_some(())
        },
    )
    .await;
    let got = receiver.received();
    assert_eq!(
        got.len(),
        2,
        "each attempt was POSTed once: {:?}",
        got.iter()
            .map(|r| &r.headers["webhook-id"])
            .collect::<Vec<_>>()
    );
    assert_ne!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    let list = c.get(&format!("/webhooks/{id}/deliveries")).await.body;
    for d in list["deliveries"].as_array().unwrap() {
        assert_eq!(d["attempt_count"], 1, "{d}");
        assert_eq!(
            attempts(c, &id, d).await["attempts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_killed_deliver_process_loses_nothing() {
    let _running = DELIVER.write().await;
    let account = TestAccount::with_quota(Some(50)).await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Slow(Duration::from_millis(1500), 200)).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(webhook(c, &receiver.url, json!({})).await.0);
    }
    alert(c, json!({"type": "t", "message": "crash"})).await;
    // Kill every deliver process while the batch waits on the slow endpoint: by the pids
    // the stack's supervisor started them with (it then replaces them, as Lambda would).
    receiver.wait_for(1, SOON).await;
    kill_function("deliver");
    // What was in flight when they died: POSTed, with no answer yet (the receiver takes
    // 1.5 s to answer).
    let in_flight: Vec<String> = (receiver.received().iter())
        .map(|r| r.headers["webhook-id"].clone())
        .collect();

    // The batch comes back once the trigger's visibility timeout (15 s) has passed.
    for id in &ids {
        let delivery = settled_within(Duration::from_secs(45), c, id, &["succeeded"]).await;
        let detail = attempts(c, id, &delivery).await;
        let made = detail["attempts"].as_array().unwrap();
        assert_eq!(made.len(), 1, "exactly one recorded success: {detail}");
        assert_eq!(made[0]["state"], "succeeded");
    }
    let sent: Vec<String> = (receiver.received().iter())
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    // The killed process's deliveries were made again once its batch came back.
    for id in &in_flight {
        let times = sent.iter().filter(|s| *s == id).count();
        assert!(
            times >= 2,
            "{id} was in flight when deliver was killed, and sent {times} time(s) in all"
        );
    }
    let mut seen = sent;
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10, "every delivery arrived");
}

#[tokio::test]
async fn redelivery_sends_a_manual_attempt_with_the_same_webhook_id() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Script(vec![(404, None), (200, None)])).await;
    let (id, secret) = webhook(c, &receiver.url, json!({})).await;
    alert(c, json!({"type": "t", "message": "m"})).await;
    let delivery = settled(c, &id, &["failed"]).await;
    let delivery_id = delivery["delivery_id"].as_str().unwrap();
    let r = c
        .post(
            &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
            json!(null),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["attempt"], 2);
    let after = settled(c, &id, &["succeeded"]).await;
    assert_eq!(after["attempt_count"], 2);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert!(verify(&secret, &got[1]).is_ok());
    let detail = attempts(c, &id, &after).await;
    let triggers: Vec<&str> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["scheduled", "manual"]);
    let ghost = uuid::Uuid::new_v4();
    assert_eq!(
        c.post(
            &format!("/webhooks/{id}/deliveries/{ghost}/redeliver"),
            json!(null)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        account
            .reader
            .post(
                &format!("/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
                json!(null)
            )
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_delivery_log_pages_filters_and_includes_tests() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    for i in 0..3 {
        alert(c, json!({"type": "t", "message": format!("m{i}")})).await;
    }
    let test = c.post(&format!("/webhooks/{id}/test"), json!(null)).await;
    assert_eq!(test.body["success"], true);
    receiver.wait_for(4, SOON).await;
    let all = eventually(SOON, "four settled deliveries", || async {
        let l = c
            .get(&format!("/webhooks/{id}/deliveries?state=succeeded"))
            .await
            .body;
        (l["deliveries"].as_array()?.len() == 4).then_some(l)
    })
    .await;
    let list = all["deliveries"].as_array().unwrap();
    // Newest first: the test came last.
    assert_eq!(list[0]["trigger"], "test");
    assert_eq!(list[0]["delivery_id"], test.body["delivery_id"]);
    assert_eq!(list[0]["event"], "alert.test");
    let created: Vec<&str> = list
        .iter()
        .map(|d| d["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted);
    let page = c
        .get(&format!("/webhooks/{id}/deliveries?limit=3"))
        .await
        .body;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 3);
    let rest = c
        .get(&format!(
            "/webhooks/{id}/deliveries?limit=3&cursor={}",
            page["next_cursor"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(rest["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_eq!(
        c.get(&format!("/webhooks/{id}/deliveries?state=failed"))
            .await
            .body["deliveries"],
        json!([])
    );
    let bad = c
        .get(&format!("/webhooks/{id}/deliveries?state=lost"))
        .await;
    assert_eq!((bad.status, bad.fields()), (400, vec!["state".to_string()]));
    assert_eq!(
        account
            .reader
            .get(&format!("/webhooks/{id}/deliveries"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn alerts_arrive_from_alertmanager_and_the_alerts_queue() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(
        c,
        &receiver.url,
        json!({"alert_types": ["InstanceDown", "disk_high"]}),
    )
    .await;

    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/ingest-alertmanager.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let body: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let keyed = || {
        reply(
            c.request("POST", "/alerts/alertmanager")
                .header("idempotency-key", "am-group-1")
                .json(&body),
        )
    };
    let r = keyed().await;
    assert_eq!(r.status, 202, "{r:?}");
    // The sample's second alert is resolved, for a fingerprint never seen: nothing to resolve.
    assert_eq!(r.body["deliveries"], 1);
    assert_eq!(r.body["alerts"][1]["outcome"], "ignored");
    // Alertmanager retries a notification it thinks failed: with the same key, nothing new.
    let again = keyed().await;
    assert_eq!((again.status, &again.body), (202, &r.body));
    let bad = c
        .post(
            "/alerts/alertmanager",
            json!({"version": "4", "alerts": [{"status": "firing"}]}),
        )
        .await;
    assert_eq!(bad.status, 400);

    // Sent twice with one key, as a producer retrying would: one alert, one delivery.
    let queued = json!({"account_id": account.id, "idempotency_key": format!("q-{}", account.id),
                        "alert": {"type": "disk_high", "message": "disk at 95%"}});
    for _ in 0..2 {
        sqs()
            .await
            .send_message()
            .queue_url(alerts_queue_url())
            .message_body(queued.to_string())
            .send()
            .await
            .unwrap();
    }

    let got = receiver.wait_for(2, SOON).await;
    let accepted_twice = || {
        let log = functions_log();
        let alerts: Vec<String> = log
            .lines()
            .filter(|l| l.contains("queued alert accepted") && l.contains(&account.id))
            .filter_map(|l| {
                Some(
                    serde_json::from_str::<Value>(l).ok()?["fields"]["alert"]
                        .as_str()?
                        .to_string(),
                )
            })
            .collect();
        (alerts.len() == 2 && alerts[0] == alerts[1]).then_some(())
    };
    eventually(
        SOON,
        "both queued copies to be accepted as one alert",
        || async { accepted_twice() },
    )
    .await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        receiver.received().len(),
        2,
        "the repeat delivered nothing new"
    );
    let mut kinds: Vec<String> = got
        .iter()
        .map(|r| {
            let p: Value = serde_json::from_slice(&r.body).unwrap();
            format!(
                "{} {}",
                p["type"].as_str().unwrap(),
                p["data"]["alert"]["type"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["alert.triggered InstanceDown", "alert.triggered disk_high"]
    );
    let firing = got
        .iter()
        .find(|r| String::from_utf8_lossy(&r.body).contains("localhost:8081"))
        .unwrap();
    let p: Value = serde_json::from_slice(&firing.body).unwrap();
    assert_eq!(p["data"]["alert"]["severity"], "critical");
    assert_eq!(p["data"]["alert"]["title"], "Instance localhost:8081 down");
    let _ = id;
}
