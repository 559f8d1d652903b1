//! Alert storms: a webhook's rate limit, held across concurrent deliver invocations, and
//! the pauses its receiver asks for, which hold the whole webhook.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hookline_shared::alert::{lifecycle::Actor, AlertInput};
use serde_json::{json, Value};

use crate::support::{
    alert, app_at, deliver_batch, drop_queue, eventually, quiet, receive,
    receiver::{Behaviour, Receiver},
    scratch_queue, settings_with, sqs, webhook, Client, TestAccount, DELIVER, SOON,
};

/// The most requests that arrived within any span shorter than `window`.
fn most_within(got: &[crate::support::receiver::Received], window: Duration) -> usize {
    let mut times: Vec<Instant> = got.iter().map(|r| r.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Runs `invocations` deliver invocations at once on the queue at `url`, in-process, each
/// taking up to `batch` messages at a time as Lambda's SQS trigger would hand them, until
/// `done` says so or `within` passes.
async fn deliver_concurrently(
    url: &str,
    invocations: usize,
    batch: i32,
    within: Duration,
    done: impl Fn() -> bool,
) {
    let sqs = sqs().await;
    let deadline = tokio::time::Instant::now() + within;
    let invoke = || async {
        while !done() && tokio::time::Instant::now() < deadline {
            let messages = receive(&sqs, url, batch).await;
            if messages.is_empty() {
                continue;
            }
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
    // Nothing stored by the refused ones: the three made above, the first still unlimited.
    let listed = c.get("/webhooks").await.body;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 3);
    assert_eq!(c.get(&path).await.body["rate_limit"], Value::Null);
}
