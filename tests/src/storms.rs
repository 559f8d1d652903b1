//! Alert storms: a webhook's rate limit, held across concurrent deliver invocations, and
//! the pauses its receiver asks for, which hold the whole webhook.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hookline_shared::alert::{
    lifecycle::{Action, Actor},
    AlertInput,
};
use serde_json::{json, Value};

use crate::support::{
    alert, app_at, deliver_batch, drop_queue, eventually, quiet, receive,
    receiver::{Behaviour, Receiver},
    scratch_queue, settings_with, sqs, webhook, Client, TestAccount, DELIVER, SOON,
};

/// The most requests that arrived within any span shorter than `window`.
fn most_within(got: &[crate::support::receiver::Received], window: Duration) -> usize {
    crate::measure::most_within(got.iter().map(|r| r.at).collect(), window)
}

/// Runs `invocations` deliver invocations at once on the queue at `url`, in-process, each
/// taking up to `batch` messages at a time as Lambda's SQS trigger would hand them, until
/// `done` says so or `within` passes. Returns the body of every message they took.
async fn deliver_concurrently(
    url: &str,
    invocations: usize,
    batch: i32,
    within: Duration,
    done: impl Fn() -> bool,
) -> Vec<String> {
    let sqs = sqs().await;
    let deadline = tokio::time::Instant::now() + within;
    let taken = std::sync::Mutex::new(Vec::new());
    let invoke = || async {
        while !done() && tokio::time::Instant::now() < deadline {
            let messages = receive(&sqs, url, batch).await;
            if messages.is_empty() {
                continue;
            }
            let bodies = messages.iter().filter_map(|m| m.body().map(String::from));
            taken.lock().unwrap().extend(bodies);
            let answer = deliver_batch(url, &messages).await;
            let kept: Vec<&str> = (answer.batch_item_failures.iter())
                .map(|f| f.item_identifier.as_str())
                .collect();
            for m in &messages {
                if !kept.contains(&m.message_id().unwrap_or_default()) {
                    let receipt = m.receipt_handle().unwrap();
                    let delete = sqs.delete_message().queue_url(url).receipt_handle(receipt);
                    delete.send().await.unwrap();
                }
            }
        }
    };
    futures::future::join_all((0..invocations).map(|_| invoke())).await;
    taken.into_inner().unwrap()
}

#[tokio::test]
async fn the_rate_limit_holds_under_concurrent_deliver_invocations() {
    let account = TestAccount::new().await;
    let receiver = Receiver::start(Behaviour::Status(204)).await;
    // 2 at once, 30 a minute: at most 2 in any 4 s.
    let limit = json!({"per_minute": 30, "burst": 2});
    let (id, _) = webhook(&account.writer, &receiver.url, json!({"rate_limit": limit})).await;
    let shown = account.reader.get(&format!("/webhooks/{id}")).await.body;
    assert_eq!(shown["rate_limit"], limit);
    assert_eq!(shown["rate_limit_in_force"], limit);
    let (_, url) = scratch_queue().await;
    let (app, _) = app_at(settings_with(&[("DELIVERY_QUEUE_URL", &url)]), Utc::now()).await;
    let ingest = app.ingest(None);
    for i in 0..6 {
        let input = AlertInput::parse(&json!({"type": "storm", "message": format!("#{i}")}));
        (ingest.accept(&account.id, input.unwrap(), None, Actor::Queue))
            .await
            .unwrap();
    }
    // Six invocations at once, two messages each: every one asks the shared limit.
    let started = Instant::now();
    let all_came = || receiver.received().len() >= 6;
    deliver_concurrently(&url, 6, 2, Duration::from_secs(60), all_came).await;
    drop_queue(url).await;
    let got = receiver.received();
    assert_eq!(got.len(), 6, "every alert delivered, once");
    let ids: std::collections::HashSet<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(ids.len(), 6);
    // Two, then two a window later, then two more: never more than the burst in a second,
    // nor in the limit's window (less what the emulator's delays may add to a late one).
    assert!(most_within(&got, Duration::from_secs(1)) <= 2, "{got:?}");
    assert!(most_within(&got, Duration::from_millis(3000)) <= 2);
    let first = got.iter().map(|r| r.at).min().unwrap();
    let last = got.iter().map(|r| r.at).max().unwrap();
    assert!(
        last - first >= Duration::from_millis(7900),
        "{:?} from the first to the last (started {:?} before)",
        last - first,
        first - started
    );
}

/// Sends alert `#n` into `account` through `app`, and takes its message off `url`.
async fn alert_and_receive(
    app: &hookline_functions::App,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    account: &str,
    n: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let input = AlertInput::parse(&json!({"type": "storm", "message": format!("#{n}")}));
    (app.ingest(None)
        .accept(account, input.unwrap(), None, Actor::Queue))
    .await
    .unwrap();
    eventually(SOON, "the alert's message", || async {
        Some(receive(sqs, url, 10).await).filter(|m| !m.is_empty())
    })
    .await
}

/// The webhook's `paused_until` as its view shows it.
async fn paused_until(c: &Client, id: &str) -> Option<DateTime<Utc>> {
    let shown = c.get(&format!("/webhooks/{id}")).await.body;
    shown["paused_until"].as_str().map(|t| t.parse().unwrap())
}

#[tokio::test]
async fn a_429_pauses_the_whole_webhook_until_its_retry_after_then_resumes() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let limited = Receiver::start(Behaviour::Script(vec![(429, Some("3")), (204, None)])).await;
    let ops = Receiver::start(Behaviour::Status(204)).await;
    let (subject, _) = webhook(c, &limited.url, json!({"alert_types": ["storm"]})).await;
    let (_, _) = webhook(
        c,
        &ops.url,
        json!({"alert_types": ["nothing"], "events": ["webhook.paused", "webhook.resumed"]}),
    )
    .await;
    alert(c, json!({"type": "storm", "message": "first"})).await;
    let refused_at = limited.wait_for(1, SOON).await[0].at;
    // The pause shows while it lasts.
    let until = eventually(SOON, "the pause to show", || paused_until(c, &subject)).await;
    assert!(until > Utc::now(), "{until}");
    // Two more alerts during the pause: nothing goes to the webhook until it ends.
    alert(c, json!({"type": "storm", "message": "second"})).await;
    alert(c, json!({"type": "storm", "message": "third"})).await;
    let got = limited.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        4,
        "the first again, and the other two, once each"
    );
    for r in &got[1..] {
        let after = r.at - refused_at;
        assert!(
            after >= Duration::from_millis(2900),
            "{after:?} after the 429"
        );
    }
    // Told once it began, and once it ended, to the webhook that asked to hear of them.
    let told = ops.wait_for(2, SOON).await;
    let events: Vec<Value> = (told.iter())
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["webhook.paused", "webhook.resumed"]);
    for event in &events {
        assert_eq!(event["data"]["webhook"]["id"], subject);
        let told_until: DateTime<Utc> = event["data"]["paused_until"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(told_until, until);
    }
    // Over: the view shows none, and every delivery succeeded.
    eventually(SOON, "the pause to end", || async {
        paused_until(c, &subject).await.is_none().then_some(())
    })
    .await;
    let deliveries = quiet(SOON, c, &subject).await;
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d["state"] == "succeeded"));
    assert_eq!(ops.received().len(), 2);
}

/// Two batches to one webhook, in-process, while the first's request is still out.
struct InFlight {
    account: TestAccount,
    receiver: Receiver,
    webhook: String,
    app: hookline_functions::App,
    sqs: aws_sdk_sqs::Client,
    url: String,
    /// The pause the webhook's view showed once the second batch was done.
    shown: DateTime<Utc>,
}

/// The first batch's request is answered `first` (after its delay); the second batch's,
/// sent while the first is out, is answered at once 429 for 8 s. Returns once both
/// batches are done.
async fn a_429_while_another_is_out(first: (Duration, u16, Option<&'static str>)) -> InFlight {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Turns(vec![
        first,
        (Duration::ZERO, 429, Some("8")),
        (Duration::ZERO, 204, None),
    ]))
    .await;
    let (webhook, _) = webhook(c, &receiver.url, json!({})).await;
    let (_, url) = scratch_queue().await;
    let (app, _) = app_at(settings_with(&[("DELIVERY_QUEUE_URL", &url)]), Utc::now()).await;
    let sqs = sqs().await;
    let first = alert_and_receive(&app, &sqs, &url, &account.id, 1).await;
    let (_, shown) = tokio::join!(deliver_batch(&url, &first), async {
        receiver.wait_for(1, SOON).await;
        let second = alert_and_receive(&app, &sqs, &url, &account.id, 2).await;
        deliver_batch(&url, &second).await;
        eventually(SOON, "the pause to show", || paused_until(c, &webhook)).await
    });
    InFlight {
        account,
        receiver,
        webhook,
        app,
        sqs,
        url,
        shown,
    }
}

#[tokio::test]
async fn a_success_in_flight_when_a_429_came_leaves_the_pause_in_force() {
    let f = a_429_while_another_is_out((Duration::from_secs(4), 204, None)).await;
    assert_eq!(f.receiver.received().len(), 2);
    // The first batch's success, recorded after the pause was stored, did not end it.
    let c = &f.account.writer;
    assert_eq!(paused_until(c, &f.webhook).await, Some(f.shown));
    let third = alert_and_receive(&f.app, &f.sqs, &f.url, &f.account.id, 3).await;
    deliver_batch(&f.url, &third).await;
    let sent = f.receiver.received().len();
    assert_eq!(sent, 2, "nothing goes during the pause");
    drop_queue(f.url).await;
}

#[tokio::test]
async fn a_shorter_pause_asked_by_an_answer_in_flight_leaves_the_longer_one() {
    let f = a_429_while_another_is_out((Duration::from_secs(3), 429, Some("1"))).await;
    assert!(
        f.shown > Utc::now() + chrono::Duration::seconds(3),
        "{}",
        f.shown
    );
    // The first answer's 1 s pause came last, and did not cut the 8 s one short.
    let c = &f.account.writer;
    assert_eq!(paused_until(c, &f.webhook).await, Some(f.shown));
    drop_queue(f.url).await;
}

#[tokio::test]
async fn a_spent_rate_limit_window_pauses_the_webhook_until_it_opens() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    // Every answer is a success that says the window is spent for 3 s.
    let receiver = Receiver::start(Behaviour::WindowSpentEvery(1, "3")).await;
    let (id, _) = webhook(c, &receiver.url, json!({})).await;
    alert(c, json!({"type": "storm", "message": "one"})).await;
    let first = receiver.wait_for(1, SOON).await[0].at;
    eventually(SOON, "the pause to show", || paused_until(c, &id)).await;
    alert(c, json!({"type": "storm", "message": "two"})).await;
    let second = receiver.wait_for(2, SOON).await[1].at;
    assert!(second - first >= Duration::from_millis(2900));
    let deliveries = quiet(SOON, c, &id).await;
    assert!(deliveries.iter().all(|d| d["state"] == "succeeded"));
}

#[tokio::test]
async fn rate_limits_default_by_format_and_bad_ones_are_refused() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let slack = c
        .create(json!({"name": "s", "url": "https://hooks.slack.com/services/T/B/x", "format": "slack"}))
        .await;
    assert_eq!(slack["rate_limit"], "format");
    assert_eq!(
        slack["rate_limit_in_force"],
        json!({"per_minute": 60, "burst": 3})
    );
    assert_eq!(slack["paused_until"], Value::Null);
    let id = slack["id"].as_str().unwrap();
    let path = format!("/webhooks/{id}");
    let off = c
        .send("PATCH", &path, Some(json!({"rate_limit": null})))
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    assert_eq!(off.body["rate_limit"], Value::Null);
    assert_eq!(off.body["rate_limit_in_force"], Value::Null);
    // Read back as stored: none, not the format's default.
    let read = c.get(&path).await.body;
    assert_eq!(read["rate_limit"], Value::Null);
    let pd = c
        .create(json!({"name": "p", "url": "https://events.pagerduty.com/v2/enqueue", "format": "pagerduty", "secrets": {"routing_key": "R0UTINGKEY"}}))
        .await;
    assert_eq!(
        pd["rate_limit_in_force"],
        json!({"per_minute": 120, "burst": 10})
    );
    let standard = c
        .create(json!({"name": "x", "url": "https://e.example.com/"}))
        .await;
    assert_eq!(standard["rate_limit_in_force"], Value::Null);

    for (bad, field) in [
        (
            json!({"per_minute": 0, "burst": 1}),
            "rate_limit.per_minute",
        ),
        (json!({"per_minute": 60, "burst": 101}), "rate_limit.burst"),
        (json!({"per_minute": 60}), "rate_limit.burst"),
        (
            json!({"per_minute": "60", "burst": 1}),
            "rate_limit.per_minute",
        ),
        (
            json!({"per_minute": 60, "burst": 1, "per_hour": 5}),
            "rate_limit.per_hour",
        ),
        (json!("fast"), "rate_limit"),
        (json!(60), "rate_limit"),
    ] {
        let body = json!({"name": "bad", "url": "https://e.example.com/", "rate_limit": bad});
        let r = c.post("/webhooks", body).await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(r.fields().contains(&field.to_string()), "{bad}: {r:?}");
        let r = c
            .send("PATCH", &path, Some(json!({"rate_limit": bad})))
            .await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
    }
    for (field, bad, named) in [
        ("digest_after_seconds", json!(0), "digest_after_seconds"),
        ("digest_after_seconds", json!(3601), "digest_after_seconds"),
        ("digest_after_seconds", json!("30"), "digest_after_seconds"),
        (
            "never_digest",
            json!(["critical", "loud"]),
            "never_digest[1]",
        ),
        ("never_digest", json!("critical"), "never_digest"),
    ] {
        let body = json!({"name": "bad", "url": "https://e.example.com/", field: bad});
        let r = c.post("/webhooks", body).await;
        assert_eq!(r.status, 400, "{field} {bad}: {r:?}");
        assert!(r.fields().contains(&named.to_string()), "{r:?}");
    }
    // Defaults, and what is accepted.
    assert_eq!(slack["digest_after_seconds"], 30);
    assert_eq!(slack["never_digest"], json!(["critical"]));
    let r = c
        .send(
            "PATCH",
            &path,
            Some(json!({"digest_after_seconds": null, "never_digest": ["critical", "error", "critical"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["digest_after_seconds"], Value::Null);
    assert_eq!(r.body["never_digest"], json!(["critical", "error"]));
    // Nothing stored by the refused ones: the three made above, the first still unlimited.
    let listed = c.get("/webhooks").await.body;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 3);
    assert_eq!(c.get(&path).await.body["rate_limit"], Value::Null);
}

/// What a digest looks like in each built-in format that shows one: the count is there.
fn shows_digest(format: &str, body: &Value, count: usize) -> bool {
    let text = body.to_string();
    let counted = text.contains(&format!("Digest: {count} alerts"));
    match format {
        "slack" => counted && body["blocks"].is_array(),
        "teams" => counted && body["attachments"][0]["content"]["type"] == "AdaptiveCard",
        "discord" => counted && body["embeds"][0]["description"].is_string(),
        "google_chat" => counted && body["cardsV2"][0]["card"]["sections"].is_array(),
        "pagerduty" => {
            body["event_action"] == "trigger"
                && body["payload"]["custom_details"]["count"] == count
                && body["routing_key"] == "R0UTINGKEY"
        }
        _ => body["type"] == "alert.digest" && body["data"]["digest"]["count"] == count,
    }
}

#[tokio::test]
async fn a_long_queue_is_digested_in_every_format_with_every_alert_accounted_for() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    // 1 bulk send every 2 s (burst 2, one kept for the priority lane); a queue longer
    // than 2 s is digested.
    let pacing = json!({"rate_limit": {"per_minute": 60, "burst": 2}, "digest_after_seconds": 2});
    let mut hooks = Vec::new();
    for format in [
        "standard",
        "slack",
        "teams",
        "discord",
        "google_chat",
        "pagerduty",
    ] {
        let receiver = Receiver::start(Behaviour::Status(204)).await;
        let mut extra = pacing.clone();
        extra["format"] = json!(format);
        if format == "pagerduty" {
            extra["secrets"] = json!({"routing_key": "R0UTINGKEY"});
        }
        let (id, _) = webhook(c, &receiver.url, extra).await;
        hooks.push((format, id, receiver));
    }
    let (_, url) = scratch_queue().await;
    let (app, _) = app_at(settings_with(&[("DELIVERY_QUEUE_URL", &url)]), Utc::now()).await;
    let ingest = app.ingest(None);
    let mut warnings = Vec::new();
    for i in 0..8 {
        let input = json!({"type": "storm", "message": format!("#{i}"), "severity": "warning"});
        let accepted = (ingest.accept(
            &account.id,
            AlertInput::parse(&input).unwrap(),
            None,
            Actor::Queue,
        ))
        .await
        .unwrap();
        warnings.push(accepted.alert_id.unwrap());
    }
    // The critical one comes last, and overtakes the queue.
    let input = json!({"type": "storm", "message": "the big one", "severity": "critical"});
    let critical = (ingest.accept(
        &account.id,
        AlertInput::parse(&input).unwrap(),
        None,
        Actor::Queue,
    ))
    .await
    .unwrap()
    .alert_id
    .unwrap();
    // Half of them resolved at once: each resolve follows its trigger, on its own or in
    // a digest.
    for alert in &warnings[..4] {
        (ingest.act(&account.id, alert, Action::Resolve, Actor::Queue))
            .await
            .unwrap();
    }
    let all_settled = || {
        hooks.iter().all(|(_, _, r)| {
            r.received().iter().any(|got| {
                let body: Value = serde_json::from_slice(&got.body).unwrap_or_default();
                body.to_string().contains("igest")
            })
        })
    };
    let mut taken = deliver_concurrently(&url, 6, 10, Duration::from_secs(90), all_settled).await;
    // Follow-ups (resolves waiting their turn, a later digest) are given time to finish.
    taken.extend(deliver_concurrently(&url, 6, 10, Duration::from_secs(8), || false).await);
    drop_queue(url).await;
    // SQS delivers at least once: a copy of a digested delivery's message, back after
    // the digest went, ends at once and sends nothing.
    let (_, id, receiver) = &hooks[0];
    let digested = quiet_or_digested(c, id).await;
    let copy = (taken.iter()).find(|body| {
        let msg: Value = serde_json::from_str(body).unwrap_or_default();
        digested
            .iter()
            .any(|d| d["state"] == "digested" && d["delivery_id"] == msg["delivery_id"])
    });
    let copy = copy.expect("a digested delivery's message").clone();
    let before = receiver.received().len();
    let (_, again) = scratch_queue().await;
    let sqs = sqs().await;
    (sqs.send_message().queue_url(&again).message_body(copy))
        .send()
        .await
        .unwrap();
    let copies = receive(&sqs, &again, 1).await;
    assert_eq!(copies.len(), 1);
    let answer = deliver_batch(&again, &copies).await;
    drop_queue(again).await;
    assert!(answer.batch_item_failures.is_empty(), "the copy ends");
    assert_eq!(receiver.received().len(), before, "and sends nothing");

    for (format, id, receiver) in &hooks {
        let got = receiver.received();
        let bodies: Vec<Value> = (got.iter())
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let deliveries = quiet_or_digested(c, id).await;
        let by_id = |d: &str| deliveries.iter().find(|x| x["delivery_id"] == d).cloned();
        let digests: Vec<&Value> = (deliveries.iter())
            .filter(|d| d["event"] == "alert.digest")
            .collect();
        assert!(!digests.is_empty(), "{format}: no digest");
        // Every transition is delivered on its own or digested, once; nothing else.
        let mut carried = Vec::new();
        for d in &digests {
            assert_eq!(d["state"], "succeeded", "{format}: {d}");
            let detail = c
                .get(&format!(
                    "/webhooks/{id}/deliveries/{}",
                    d["delivery_id"].as_str().unwrap()
                ))
                .await
                .body;
            for m in detail["carried"].as_array().unwrap() {
                let own = by_id(m["delivery_id"].as_str().unwrap()).unwrap();
                assert_eq!(own["state"], "digested", "{format}");
                assert_eq!(own["digest_id"], d["delivery_id"]);
                carried.push(m["delivery_id"].as_str().unwrap().to_string());
            }
        }
        let transitions: Vec<&Value> = (deliveries.iter())
            .filter(|d| d["event"] != "alert.digest")
            .collect();
        assert_eq!(transitions.len(), 13, "{format}: 9 triggers and 4 resolves");
        for t in &transitions {
            let one = t["delivery_id"].as_str().unwrap();
            let digested = carried.iter().filter(|c| c.as_str() == one).count();
            match t["state"].as_str().unwrap() {
                "succeeded" => assert_eq!(digested, 0, "{format}: {t}"),
                "digested" => assert_eq!(digested, 1, "{format}: {t}"),
                other => panic!("{format}: {other} {t}"),
            }
        }
        let individually = transitions
            .iter()
            .filter(|t| t["state"] == "succeeded")
            .count();
        assert_eq!(
            got.len(),
            individually + digests.len(),
            "{format}: one request each"
        );
        // The critical one went on its own, before the second bulk send (the first may
        // have gone with it at once).
        let critical_at = (transitions.iter())
            .find(|t| t["alert_id"] == critical.as_str() && t["event"] == "alert.triggered")
            .map(|t| t["state"].clone());
        assert_eq!(critical_at, Some(json!("succeeded")), "{format}");
        if *format == "standard" {
            let critical_sent = (bodies.iter())
                .position(|b| b["data"]["alert"]["id"] == critical.as_str())
                .unwrap();
            let bulk_sent: Vec<usize> = (0..bodies.len())
                .filter(|i| bodies[*i]["data"]["alert"]["severity"] == "warning")
                .collect();
            assert!(
                bulk_sent.len() < 2 || critical_sent < bulk_sent[1],
                "{bodies:?}"
            );
            // Order within each alert: a resolve sent on its own came after its trigger.
            for alert in &warnings[..4] {
                let sent: Vec<&str> = (bodies.iter())
                    .filter(|b| b["data"]["alert"]["id"] == alert.as_str())
                    .map(|b| b["type"].as_str().unwrap())
                    .collect();
                if sent.contains(&"alert.resolved") {
                    assert_eq!(sent, ["alert.triggered", "alert.resolved"]);
                }
            }
        }
        // The digest, rendered for its receiver.
        let digest_bodies: Vec<&Value> = (bodies.iter())
            .filter(|b| b.to_string().contains("igest"))
            .collect();
        assert_eq!(digest_bodies.len(), digests.len(), "{format}");
        let first_count = digest_count(c, id, digests[0]).await;
        assert!(
            digest_bodies
                .iter()
                .any(|b| shows_digest(format, b, first_count)),
            "{format}: {digest_bodies:?}"
        );
    }
}

/// How many transitions a digest delivery carried.
async fn digest_count(c: &Client, webhook: &str, digest: &Value) -> usize {
    let id = digest["delivery_id"].as_str().unwrap();
    let detail = c
        .get(&format!("/webhooks/{webhook}/deliveries/{id}"))
        .await
        .body;
    detail["carried"].as_array().unwrap().len()
}

/// Every delivery of the webhook, once each is final: succeeded, failed or digested.
async fn quiet_or_digested(c: &Client, webhook: &str) -> Vec<Value> {
    crate::support::every_delivery(SOON, c, webhook, "every delivery to be final", |d| {
        matches!(
            d["state"].as_str(),
            Some("succeeded" | "failed" | "digested")
        )
    })
    .await
}
