//! Operating webhooks: bulk recovery and operational events, end to end through the real
//! functions and queue.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use hookline_shared::{
    delivery::{outcome::Trigger, record::Delivery, recovery::RecoveryState},
    event::EventType,
};
use serde_json::{json, Value};

use crate::support::{
    alert, all_final, eventually, every_delivery, quiet,
    receiver::{verify, Behaviour, Receiver},
    store, webhook, TestAccount, DELIVER, SOON,
};

/// The `webhook-id` of each request a receiver got: one per delivery.
fn delivery_ids(got: &[crate::support::receiver::Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect()
}

fn msg_id(delivery: &Value) -> String {
    hookline_shared::delivery::record::msg_id(delivery["delivery_id"].as_str().unwrap())
}

#[tokio::test]
async fn recovery_reattempts_exactly_the_failures_of_its_window_once() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let failing = Receiver::start(Behaviour::Status(500)).await;
    let good = Receiver::start(Behaviour::Status(200)).await;
    let (id, secret) = webhook(c, &failing.url, json!({})).await;
    for n in 0..3 {
        alert(c, json!({"type": "before", "message": format!("old {n}")})).await;
    }
    // The window starts just after the last of these was final.
    let before = all_final(c, &id, 3).await;
    let since = (before.iter())
        .map(|d| chrono::DateTime::parse_from_rfc3339(d["updated_at"].as_str().unwrap()).unwrap())
        .max()
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::milliseconds(1);
    for n in 0..2 {
        alert(
            c,
            json!({"type": "during", "message": format!("failed {n}")}),
        )
        .await;
    }
    let all = all_final(c, &id, 5).await;
    let in_window: Vec<Value> = all
        .iter()
        .filter(|d| d["state"] == "failed")
        .filter(|d| {
            chrono::DateTime::parse_from_rfc3339(d["updated_at"].as_str().unwrap()).unwrap()
                >= since
        })
        .cloned()
        .collect();
    assert_eq!(in_window.len(), 2, "{all:#?}");
    // The endpoint is fixed; a success inside the window is not re-attempted.
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{id}"),
            Some(json!({"url": good.url})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    alert(c, json!({"type": "during", "message": "fine"})).await;
    good.wait_for(1, SOON).await;

    // Bad windows and other accounts' webhooks are refused; nothing starts.
    let path = format!("/webhooks/{id}/recover");
    for (body, field) in [
        (json!({}), "since"),
        (json!({"since": "yesterday"}), "since"),
        (
            json!({"since": Utc::now().to_rfc3339(), "until": since.to_rfc3339()}),
            "since",
        ),
        (json!({"since": "2000-01-01T00:00:00Z"}), "since"),
        (
            json!({"since": since.to_rfc3339(), "until": "2999-01-01T00:00:00Z"}),
            "until",
        ),
        (json!({"since": since.to_rfc3339(), "extra": 1}), "extra"),
    ] {
        let r = c.post(&path, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert!(r.fields().contains(&field.to_string()), "{body}: {r:?}");
    }
    let other = TestAccount::new().await;
    let r = other
        .writer
        .post(&path, json!({"since": since.to_rfc3339()}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = account
        .reader
        .post(&path, json!({"since": since.to_rfc3339()}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    // Two calls at once for the same window: one starts it, the other reports it.
    let until = Utc::now();
    let body = json!({"since": since.to_rfc3339(), "until": until.to_rfc3339()});
    let (a, b) = tokio::join!(c.post(&path, body.clone()), c.post(&path, body.clone()));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 202], "{a:?} {b:?}");
    assert_eq!(a.body["id"], b.body["id"]);
    let started = if a.status == 202 { &a } else { &b };
    assert_eq!(started.body["queued"], 2, "{started:?}");
    assert_eq!(started.body["state"], "finished");
    good.wait_for(3, SOON).await;
    // Asked again later, the same window changes nothing.
    let again = c.post(&path, body.clone()).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["queued"], 2);
    // Every delivery final, the two recovered among them: nothing more will be sent.
    let recovered_ids: HashSet<String> = in_window.iter().map(msg_id).collect();
    // The recovered were failed, so final, before their manual attempt too: wait for its
    // record, written just after the receiver has the request.
    let all = every_delivery(SOON, c, &id, "the manual attempts to be recorded", |d| {
        matches!(d["state"].as_str(), Some("succeeded" | "failed"))
            && (!recovered_ids.contains(&msg_id(d)) || d["attempt_count"] == 4)
    })
    .await;
    let now_succeeded = (all.iter())
        .filter(|d| d["state"] == "succeeded" && recovered_ids.contains(&msg_id(d)))
        .count();
    assert_eq!(now_succeeded, 2, "{all:#?}");
    let got = good.received();
    assert_eq!(got.len(), 3, "one success and two recovered, none twice");
    let recovered: HashSet<String> = delivery_ids(&got[1..]).into_iter().collect();
    let expected: HashSet<String> = in_window.iter().map(msg_id).collect();
    assert_eq!(recovered, expected);
    for r in &got {
        verify(&secret, r).unwrap();
    }
    // Their records show the manual attempt.
    let after = all_final(c, &id, 6).await;
    for d in &in_window {
        let now = after
            .iter()
            .find(|x| x["delivery_id"] == d["delivery_id"])
            .unwrap();
        assert_eq!(now["state"], "succeeded");
        assert_eq!(now["attempt_count"], 4);
    }
}

#[tokio::test]
async fn recovery_pages_through_hundreds_of_failures_via_the_queue() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let good = Receiver::start(Behaviour::Status(204)).await;
    let (id, _) = webhook(c, &good.url, json!({"alert_types": ["none_yet"]})).await;
    let sent = alert(c, json!({"type": "bulk", "message": "outage"})).await;
    let alert_id = sent["alert_id"].as_str().unwrap().to_string();
    // 450 failed deliveries of that alert's first transition, written as the worker
    // leaves them (an emulated outage), so the test need not wait out 450 retry schedules.
    let store = store().await;
    let since = Utc::now();
    let n = 450;
    for _ in 0..n {
        let mut d = Delivery::pending(
            uuid::Uuid::now_v7().to_string(),
            id.clone(),
            alert_id.clone(),
            EventType::AlertTriggered,
            Trigger::Scheduled,
            Utc::now(),
            Utc::now().timestamp() + 3600,
        );
        d.transition = Some(1);
        d.attempt_count = 3;
        store
            .abandon_delivery(&account.id, &d, "HTTP 503", Utc::now())
            .await
            .unwrap();
    }
    let r = c
        .post(
            &format!("/webhooks/{id}/recover"),
            json!({"since": since.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["state"], "running", "more than a page: {r:?}");
    let recovery = r.body["id"].as_str().unwrap().to_string();
    let done = eventually(
        Duration::from_secs(90),
        "the recovery to finish",
        || async {
            let r = store
                .get_recovery(&account.id, &id, &recovery, Utc::now())
                .await
                .unwrap()?;
            (r.state == RecoveryState::Finished).then_some(r)
        },
    )
    .await;
    assert_eq!(done.queued, n as u64);
    let got = good.wait_for(n, Duration::from_secs(120)).await;
    // Each was failed already: final before its manual attempt too. Its record of the
    // fourth attempt is written just after the receiver has the request.
    let all = every_delivery(SOON, c, &id, "every manual attempt to be recorded", |d| {
        d["attempt_count"] == 4
    })
    .await;
    assert_eq!(all.len(), n);
    assert!(all.iter().all(|d| d["state"] == "succeeded"));
    let ids: HashSet<String> = delivery_ids(&good.received()).into_iter().collect();
    assert_eq!(good.received().len(), n, "none twice");
    assert_eq!(ids.len(), n);
    assert!(got
        .iter()
        .all(|r| r.headers["webhook-id"].starts_with("msg_")));
}

#[tokio::test]
async fn operational_events_fire_once_each_and_never_to_their_own_webhook() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let failing = Receiver::start(Behaviour::Status(500)).await;
    let ops = Receiver::start(Behaviour::Status(200)).await;
    let everything = Receiver::start(Behaviour::Status(200)).await;
    let (subject, _) = webhook(
        c,
        &failing.url,
        json!({"alert_types": ["watched"], "events": ["alert.triggered", "delivery.exhausted", "webhook.disabled", "webhook.recovered"]}),
    )
    .await;
    let (ops_id, ops_secret) = webhook(
        c,
        &ops.url,
        json!({"alert_types": ["nothing"], "events": ["delivery.exhausted", "webhook.disabled", "webhook.recovered"]}),
    )
    .await;
    // Empty `events`: every alert event, but no operational one.
    let (everything_id, _) = webhook(c, &everything.url, json!({"alert_types": ["nothing"]})).await;

    // Retries run out: delivery.exhausted.
    alert(c, json!({"type": "watched", "message": "down"})).await;
    let got = ops.wait_for(1, SOON).await;
    verify(&ops_secret, &got[0]).unwrap();
    let exhausted: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(exhausted["type"], "delivery.exhausted");
    assert_eq!(exhausted["data"]["webhook"]["id"], subject);
    assert_eq!(exhausted["data"]["delivery"]["attempts"], 3);
    assert_eq!(exhausted["data"]["account"]["id"], account.id);

    // The first success after that streak: webhook.recovered.
    let healed = Receiver::start(Behaviour::Status(200)).await;
    let r = c
        .send(
            "PATCH",
            &format!("/webhooks/{subject}"),
            Some(json!({"url": healed.url})),
        )
        .await;
    assert_eq!(r.status, 200);
    alert(c, json!({"type": "watched", "message": "up"})).await;
    healed.wait_for(1, SOON).await;
    let got = ops.wait_for(2, SOON).await;
    let recovered: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(recovered["type"], "webhook.recovered");
    assert_eq!(recovered["data"]["failures"], 3);

    // 410 Gone disables it: webhook.disabled with the reason.
    let gone = Receiver::start(Behaviour::Status(410)).await;
    c.send(
        "PATCH",
        &format!("/webhooks/{subject}"),
        Some(json!({"url": gone.url})),
    )
    .await;
    alert(c, json!({"type": "watched", "message": "gone"})).await;
    let got = ops.wait_for(3, SOON).await;
    let disabled: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(disabled["type"], "webhook.disabled");
    assert!(disabled["data"]["reason"].as_str().unwrap().contains("410"));

    // Once each; never to the webhook they are about; none to the catch-all webhook. Once
    // the subject's deliveries are final, no more notices are made; once the notices'
    // deliveries are final, nothing more is sent.
    quiet(SOON, c, &subject).await;
    assert_eq!(quiet(SOON, c, &ops_id).await.len(), 3);
    assert!(quiet(SOON, c, &everything_id).await.is_empty());
    let types: Vec<String> = ops
        .received()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        [
            "delivery.exhausted",
            "webhook.recovered",
            "webhook.disabled"
        ]
    );
    for r in failing
        .received()
        .iter()
        .chain(healed.received().iter())
        .chain(gone.received().iter())
    {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            body["type"].as_str().unwrap().starts_with("alert."),
            "{body}"
        );
    }
    assert!(everything.received().is_empty());

    // Recorded like any delivery: in the log with its body, and redeliverable.
    let list = c.get(&format!("/webhooks/{ops_id}/deliveries")).await.body;
    let first = list["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first["event"], "delivery.exhausted");
    let d = c
        .get(&format!(
            "/webhooks/{ops_id}/deliveries/{}",
            first["delivery_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d.status, 200);
    let body: Value =
        serde_json::from_str(d.body["attempts"][0]["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, exhausted);
    let r = c
        .post(
            &format!(
                "/webhooks/{ops_id}/deliveries/{}/redeliver",
                first["delivery_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let again = ops.wait_for(4, SOON).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&again[3].body).unwrap(),
        exhausted
    );
    assert_eq!(again[3].headers["webhook-id"], got[0].headers["webhook-id"]);
}
