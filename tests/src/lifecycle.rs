//! Alerts with identity and a lifecycle: keys, transitions by API, by link, by timer and by
//! Alertmanager and CloudWatch, their events and their order at the receivers.

use chrono::Utc;
use futures::future::join_all;
use hookline_functions::triggers;
use hookline_shared::alert::links::{self, Claim, LinkAction};
use serde_json::{json, Value};

use crate::support::{
    alert, app_as, eventually, http_client, quiet,
    receiver::{Behaviour, Receiver},
    reply, store, stored_items, timer_ran, webhook, Client, TestAccount, DELIVER, SOON,
};

/// The payloads a receiver got, in arrival order.
fn payloads(receiver: &Receiver) -> Vec<Value> {
    receiver
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn events(payloads: &[Value]) -> Vec<(String, u64)> {
    payloads
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap().to_string(),
                p["data"]["transition"]["transition"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

async fn act(c: &Client, id: &str, action: &str, body: Option<Value>) -> crate::support::Reply {
    c.send("POST", &format!("/alerts/{id}/{action}"), body)
        .await
}

/// Waits until the receiver has `n` requests and every delivery of the account's webhooks
/// that point at it is final: then no more come, and `n` attempts must be recorded too.
async fn exactly(c: &Client, receiver: &Receiver, n: usize) -> Vec<Value> {
    receiver.wait_for(n, SOON).await;
    let list = c.get("/webhooks?limit=100").await.body;
    let mut attempts = 0;
    for w in list["webhooks"].as_array().unwrap() {
        if w["url"] == receiver.url.as_str() {
            let deliveries = quiet(SOON, c, w["id"].as_str().unwrap()).await;
            attempts += (deliveries.iter())
                .map(|d| d["attempt_count"].as_u64().unwrap())
                .sum::<u64>();
        }
    }
    let got = payloads(receiver);
    assert_eq!(got.len(), n, "{:?}", events(&got));
    assert_eq!(attempts, n as u64, "attempts recorded to {}", receiver.url);
    got
}

#[tokio::test]
async fn every_transition_by_api_reaches_exactly_the_receivers_that_asked() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let all = Receiver::start(Behaviour::Status(200)).await;
    let some = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &all.url, json!({})).await;
    webhook(
        c,
        &some.url,
        json!({"events": ["alert.acknowledged", "alert.resolved"]}),
    )
    .await;
    let fired = alert(
        c,
        json!({"type": "cpu_high", "message": "CPU at 92%", "dedup_key": "web-1/cpu"}),
    )
    .await;
    assert_eq!(
        (&fired["outcome"], &fired["event"], &fired["transition"]),
        (&json!("created"), &json!("alert.triggered"), &json!(1))
    );
    let id = fired["alert_id"].as_str().unwrap();
    let steps = [
        ("acknowledge", None, "acknowledged"),
        ("unacknowledge", None, "triggered"),
        (
            "silence",
            Some(json!({"duration_seconds": 3600})),
            "silenced",
        ),
        ("unsilence", None, "triggered"),
        ("resolve", None, "resolved"),
        ("unresolve", None, "triggered"),
    ];
    for (action, body, state) in steps {
        let r = act(c, id, action, body).await;
        assert_eq!(r.status, 200, "{action}: {r:?}");
        assert_eq!(
            (&r.body["changed"], &r.body["alert"]["state"]),
            (&json!(true), &json!(state))
        );
    }
    // Not applicable: a 409 that says why. Already done: 200, nothing changed.
    let r = act(c, id, "unsilence", None).await;
    assert_eq!(
        (r.status, r.body["changed"].clone()),
        (200, json!(false)),
        "{r:?}"
    );
    act(c, id, "acknowledge", None).await;
    for (action, body) in [("unsilence", None), ("unresolve", None)] {
        let r = act(c, id, action, body).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "invalid_transition"),
            "{action}: {r:?}"
        );
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acknowledged"));
    }
    act(c, id, "resolve", None).await;
    let r = act(c, id, "acknowledge", None).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["error"]["message"],
        "cannot acknowledge an alert that is resolved; unresolve it first"
    );
    let r = act(c, id, "resolve", None).await;
    assert_eq!((r.status, &r.body["changed"]), (200, &json!(false)));
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("nothing changed"));
    // A read-only token reads but does not act.
    assert_eq!(
        act(&account.reader, id, "unresolve", None).await.status,
        403
    );
    let view = account.reader.get(&format!("/alerts/{id}")).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.body["alert"]["state"], "resolved");
    assert_eq!(view.body["alert"]["transition"], 9);
    assert_eq!(view.body["alert"]["timeline"].as_array().unwrap().len(), 9);

    let got = exactly(c, &all, 9).await;
    let expected: Vec<(String, u64)> = [
        "alert.triggered",
        "alert.acknowledged",
        "alert.unacknowledged",
        "alert.silenced",
        "alert.unsilenced",
        "alert.resolved",
        "alert.unresolved",
        "alert.acknowledged",
        "alert.resolved",
    ]
    .iter()
    .zip(1..)
    .map(|(e, n)| (e.to_string(), n))
    .collect();
    assert_eq!(events(&got), expected, "every event, in order");
    let ack = &got[1]["data"];
    assert_eq!(ack["previous_state"], "triggered");
    assert_eq!(ack["transition"]["by"]["kind"], "token");
    assert!(ack["transition"]["by"]["token_id"].is_string());
    assert_eq!(ack["alert"]["state"], "acknowledged");
    assert_eq!(ack["alert"]["timeline"].as_array().unwrap().len(), 2);
    assert_eq!(got[0]["data"]["previous_state"], Value::Null);
    let silenced = &got[3]["data"]["alert"];
    assert!(silenced["silenced_until"].is_string());
    assert!(silenced["links"]["unsilence"].is_string(), "{silenced}");
    assert_eq!(
        events(&exactly(c, &some, 4).await),
        [
            ("alert.acknowledged".to_string(), 2),
            ("alert.resolved".to_string(), 6),
            ("alert.acknowledged".to_string(), 8),
            ("alert.resolved".to_string(), 9)
        ]
    );
    // The list: newest first, by state.
    let listed = c.get("/alerts?state=resolved").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["alerts"][0]["id"], id);
    assert!(c.get("/alerts?state=triggered").await.body["alerts"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_key_is_one_alert_concurrent_reports_included() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({})).await;
    let report = |n: usize| {
        json!({"type": "disk_full", "message": format!("disk at 9{n}%"), "dedup_key": "db-1/disk",
               "data": {"n": n}})
    };
    let answers = join_all((0..10).map(|n| c.post("/alerts", report(n)))).await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 202, "{r:?}");
            r.body["alert_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one alert");
    let outcomes: Vec<_> = answers.iter().map(|r| r.body["outcome"].clone()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "created").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "updated").count(),
        9,
        "{outcomes:?}"
    );
    let id = ids.into_iter().next().unwrap();
    let view = c.get(&format!("/alerts/{id}")).await.body;
    assert_eq!(
        (&view["alert"]["reports"], &view["alert"]["transition"]),
        (&json!(10), &json!(1))
    );
    assert_eq!(exactly(c, &receiver, 1).await[0]["type"], "alert.triggered");

    // Resolved by its key, once; fired again, reopened; an unknown key's resolve is ignored.
    let resolved = json!({"type": "disk_full", "message": "ok", "status": "resolved", "dedup_key": "db-1/disk"});
    let answers = join_all((0..4).map(|_| c.post("/alerts", resolved.clone()))).await;
    let mut outcomes: Vec<_> = answers
        .iter()
        .map(|r| r.body["outcome"].to_string())
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "\"transitioned\"",
            "\"updated\"",
            "\"updated\"",
            "\"updated\""
        ]
    );
    let again = alert(c, report(5)).await;
    assert_eq!(
        (
            &again["alert_id"],
            &again["outcome"],
            &again["event"],
            &again["transition"]
        ),
        (
            &json!(id),
            &json!("transitioned"),
            &json!("alert.unresolved"),
            &json!(3)
        )
    );
    let unknown = alert(
        c,
        json!({"type": "x", "message": "ok", "status": "resolved", "dedup_key": "never-seen"}),
    )
    .await;
    assert_eq!(
        (&unknown["outcome"], &unknown["alert_id"]),
        (&json!("ignored"), &Value::Null)
    );
    let got = exactly(c, &receiver, 3).await;
    assert_eq!(
        events(&got),
        [
            ("alert.triggered".to_string(), 1),
            ("alert.resolved".to_string(), 2),
            ("alert.unresolved".to_string(), 3)
        ]
    );
    assert_eq!(got[2]["data"]["alert"]["reports"], 15);
    // An Idempotency-Key repeat changes nothing and answers as the first did.
    let keyed = |key: &str| {
        c.request("POST", "/alerts")
            .header("idempotency-key", key.to_string())
            .json(&report(7))
    };
    let first = reply(keyed("req-1")).await;
    let second = reply(keyed("req-1")).await;
    assert_eq!(first.body, second.body);
    let view = c.get(&format!("/alerts/{id}")).await.body;
    assert_eq!(view["alert"]["reports"], 16);
}

#[tokio::test]
async fn alertmanager_re_sends_notify_only_what_is_new_and_resolve_by_fingerprint() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({})).await;
    let am = |alerts: Value| json!({"version": "4", "status": "firing", "receiver": "hookline", "groupKey": "{}:{alertname=\"Down\"}", "alerts": alerts});
    let down = |fp: &str, instance: &str, status: &str| {
        json!({"status": status, "labels": {"alertname": "Down", "instance": instance},
               "annotations": {"summary": format!("{instance} is down")}, "fingerprint": fp})
    };
    let first = c
        .post(
            "/alerts/alertmanager",
            am(json!([down("f1", "web-1", "firing")])),
        )
        .await;
    assert_eq!(first.body["deliveries"], 1, "{first:?}");
    let resend = c
        .post(
            "/alerts/alertmanager",
            am(json!([
                down("f1", "web-1", "firing"),
                down("f2", "web-2", "firing")
            ])),
        )
        .await;
    assert_eq!(resend.status, 202);
    assert_eq!(resend.body["alerts"][0]["outcome"], "updated");
    assert_eq!(resend.body["alerts"][1]["outcome"], "created");
    assert_eq!(resend.body["deliveries"], 1, "only the new alert notifies");
    let resolved = c
        .post(
            "/alerts/alertmanager",
            am(json!([down("f1", "web-1", "resolved")])),
        )
        .await;
    let f1 = &first.body["alerts"][0]["alert_id"];
    assert_eq!(&resolved.body["alerts"][0]["alert_id"], f1);
    assert_eq!(resolved.body["alerts"][0]["event"], "alert.resolved");
    let got = exactly(c, &receiver, 3).await;
    let by_alert: Vec<_> = got
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap(),
                p["data"]["alert"]["dedup_key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_alert,
        [
            ("alert.triggered", "f1"),
            ("alert.triggered", "f2"),
            ("alert.resolved", "f1")
        ]
    );
    assert_eq!(got[2]["data"]["transition"]["by"]["kind"], "alertmanager");
}

#[tokio::test]
async fn a_cloudwatch_alarm_ok_alarm_is_triggered_resolved_reopened() {
    let account = TestAccount::new().await;
    let mut app = app_as("ingest-cloudwatch").await;
    app.settings.cloudwatch_account = Some(account.id.clone());
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/ingest-cloudwatch.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    let mut answers = Vec::new();
    for (n, state) in ["ALARM", "OK", "ALARM"].into_iter().enumerate() {
        event["id"] = json!(format!("{}-{n}", uuid::Uuid::new_v4()));
        event["detail"]["state"]["value"] = json!(state);
        answers.push(
            triggers::ingest_cloudwatch(&app, event.clone())
                .await
                .unwrap(),
        );
    }
    let seen: Vec<_> = answers
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap(), a["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("created", "alert.triggered"),
            ("transitioned", "alert.resolved"),
            ("transitioned", "alert.unresolved")
        ]
    );
    assert!(answers
        .iter()
        .all(|a| a["alert_id"] == answers[0]["alert_id"]));
    let id = answers[0]["alert_id"].as_str().unwrap();
    let view = account.reader.get(&format!("/alerts/{id}")).await.body;
    assert_eq!(view["alert"]["dedup_key"], event["resources"][0]);
    assert_eq!(view["alert"]["timeline"][1]["by"]["kind"], "cloudwatch");
}

#[tokio::test]
async fn escalation_fires_once_and_not_after_an_acknowledge() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({"events": ["alert.escalated"]})).await;
    // The one acknowledged first, with time to spare for a loaded machine; the other is
    // left alone.
    let taken = alert(
        c,
        json!({"type": "t", "message": "someone came", "escalate_after_seconds": 4}),
    )
    .await;
    let taken_id = taken["alert_id"].as_str().unwrap();
    assert_eq!(act(c, taken_id, "acknowledge", None).await.status, 200);
    let late = alert(
        c,
        json!({"type": "t", "message": "nobody came", "escalate_after_seconds": 2}),
    )
    .await;
    // The escalation timer waits on the queue, then the deliver function runs it.
    let got = receiver.wait_for(1, SOON).await;
    // The acknowledged alert's timer runs too, and changes nothing.
    assert!(!timer_ran(SOON, taken_id, "escalation").await);
    assert_eq!(
        exactly(c, &receiver, 1).await.len(),
        1,
        "once, and only for the alert left alone"
    );
    let payload: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(payload["type"], "alert.escalated");
    assert_eq!(payload["data"]["alert"]["id"], late["alert_id"]);
    assert_eq!(
        payload["data"]["transition"]["by"],
        json!({"kind": "timer", "timer": "escalation"})
    );
    assert_eq!(payload["data"]["alert"]["escalated"], true);
    let view = c.get(&format!("/alerts/{taken_id}")).await.body;
    assert_eq!(
        (&view["alert"]["state"], &view["alert"]["escalated"]),
        (&json!("acknowledged"), &json!(false))
    );
}

#[tokio::test]
async fn a_silence_runs_out_into_unsilenced() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(
        c,
        &receiver.url,
        json!({"events": ["alert.silenced", "alert.unsilenced"]}),
    )
    .await;
    let id = alert(c, json!({"type": "t", "message": "m"})).await["alert_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = act(c, &id, "silence", Some(json!({"duration_seconds": 2}))).await;
    assert_eq!(r.body["alert"]["state"], "silenced", "{r:?}");
    let got = exactly(c, &receiver, 2).await;
    assert_eq!(
        events(&got),
        [
            ("alert.silenced".to_string(), 2),
            ("alert.unsilenced".to_string(), 3)
        ]
    );
    assert_eq!(got[1]["data"]["transition"]["by"]["timer"], "silence");
    assert_eq!(got[1]["data"]["alert"]["state"], "triggered");
    assert!(got[1]["data"]["alert"].get("silenced_until").is_none());
}

#[tokio::test]
async fn order_is_kept_while_the_first_event_is_retried() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    // The first two requests fail; the retry schedule is 1 s, 1 s.
    let receiver = Receiver::start(Behaviour::Script(vec![
        (503, None),
        (503, None),
        (200, None),
    ]))
    .await;
    let (hook, _) = webhook(c, &receiver.url, json!({})).await;
    let id = alert(c, json!({"type": "t", "message": "m"})).await["alert_id"]
        .as_str()
        .unwrap()
        .to_string();
    act(c, &id, "acknowledge", None).await;
    act(c, &id, "resolve", None).await;
    let got = exactly(c, &receiver, 5).await;
    assert_eq!(
        events(&got).into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        [1, 1, 1, 2, 3],
        "the later transitions waited for the first to succeed"
    );
    assert!(receiver
        .received()
        .iter()
        .all(|r| !r.headers.contains_key("hookline-out-of-order")));
    let view = c.get(&format!("/alerts/{id}")).await.body;
    let deliveries = view["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries
        .iter()
        .all(|d| d["webhook_id"] == hook.as_str() && d["out_of_order"] == false));
}

/// The links of the first delivered payload.
async fn delivered_links(receiver: &Receiver) -> Value {
    let got = receiver.wait_for(1, SOON).await;
    let payload: Value = serde_json::from_slice(&got[0].body).unwrap();
    payload["data"]["alert"]["links"].clone()
}

async fn page(method: &str, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let http = http_client();
    let request = if method == "POST" {
        http.post(url)
    } else {
        http.get(url)
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn action_links_act_on_post_only_and_refuse_anything_not_signed_for_them() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    webhook(c, &receiver.url, json!({"events": ["alert.triggered"]})).await;
    let id = alert(c, json!({"type": "t", "title": "<script>alert(1)</script>", "message": "\"><img src=x onerror=alert(1)>"}))
        .await["alert_id"].as_str().unwrap().to_string();
    let links = delivered_links(&receiver).await;
    let mut names: Vec<_> = links.as_object().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "acknowledge",
            "expires_at",
            "ignore",
            "resolve",
            "silence_1h",
            "silence_24h"
        ]
    );
    let ack = links["acknowledge"].as_str().unwrap();
    assert!(ack.starts_with(&crate::support::api_url()), "{ack}");
    let state =
        || async { c.get(&format!("/alerts/{id}")).await.body["alert"]["transition"].clone() };

    // GET shows a page, escaped, with one button, and changes nothing.
    let (status, html, headers) = page("GET", ack).await;
    assert_eq!(status, 200, "{html}");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(html.contains("<form method=\"post\">") && html.contains("Acknowledge"));
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert_eq!(state().await, 1);
    // POST acts; again, it is the same one transition.
    let (status, html, _) = page("POST", ack).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("acknowledged"));
    assert_eq!(state().await, 2);
    let (status, html, _) = page("POST", ack).await;
    assert_eq!(
        (status, html.contains("Nothing to do")),
        (200, true),
        "{html}"
    );
    assert_eq!(state().await, 2);

    // Altered or forged: every part of the claim is covered by the mac.
    let token = ack.rsplit('/').next().unwrap();
    let (claim, mac) = token.split_once('.').unwrap();
    let base = ack.trim_end_matches(token);
    let resolve_token = links["resolve"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let swapped = format!("{}.{mac}", resolve_token.split_once('.').unwrap().0);
    let mut refused = vec![
        format!("{base}{claim}.{}", &mac[1..]),
        format!("{base}{swapped}"),
        format!("{base}garbage"),
    ];
    // Expired, and signed by another account for this alert.
    let store = store().await;
    let key = store.link_key_if_any(&account.id).await.unwrap().unwrap();
    let claim_for = |account_id: &str, expires_at: i64, key_id: &str| Claim {
        account_id: account_id.into(),
        alert_id: id.clone(),
        action: LinkAction::Resolve,
        expires_at,
        key_id: key_id.into(),
    };
    refused.push(format!(
        "{base}{}",
        links::sign(
            &key,
            &claim_for(&account.id, Utc::now().timestamp() - 1, &key.id)
        )
    ));
    let other = TestAccount::new().await;
    let other_key = store.link_key(&other.id).await.unwrap().unwrap();
    let far = Utc::now().timestamp() + 3600;
    refused.push(format!(
        "{base}{}",
        links::sign(&other_key, &claim_for(&other.id, far, &other_key.id))
    ));
    refused.push(format!(
        "{base}{}",
        links::sign(&other_key, &claim_for(&account.id, far, &key.id))
    ));
    let before = stored_items(&account.id).await;
    for url in &refused {
        for method in ["GET", "POST"] {
            let (status, html, _) = page(method, url).await;
            assert_eq!(status, 403, "{method} {url}: {html}");
            assert!(html.contains("Link not valid"));
        }
    }
    assert_eq!(
        stored_items(&account.id).await,
        before,
        "refused links change nothing"
    );
    // A fresh, valid link works; after the key is rotated, no link made before does.
    let resolve = format!(
        "{base}{}",
        links::sign(&key, &claim_for(&account.id, far, &key.id))
    );
    store.rotate_link_key(&account.id).await.unwrap();
    assert_eq!(page("POST", &resolve).await.0, 403);
    assert_eq!(state().await, 2);
}

#[tokio::test]
async fn the_alert_routes_are_scoped_and_refuse_bad_input() {
    let a = TestAccount::new().await;
    let b = TestAccount::new().await;
    let id = alert(
        &a.writer,
        json!({"type": "t", "message": "m", "dedup_key": "k"}),
    )
    .await["alert_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another account's alert is not found, by any route, and not listed.
    let missing = b
        .writer
        .get(&format!("/alerts/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(
        b.writer.get(&format!("/alerts/{id}")).await.body,
        missing.body
    );
    for action in [
        "acknowledge",
        "unacknowledge",
        "resolve",
        "unresolve",
        "unsilence",
    ] {
        let r = act(&b.writer, &id, action, None).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{action}");
    }
    let r = act(
        &b.writer,
        &id,
        "silence",
        Some(json!({"duration_seconds": 60})),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(b.writer.get("/alerts").await.body["alerts"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(a.reader.get("/alerts").await.body["alerts"][0]["id"], id);
    // Bad input: a clear 400, and nothing stored changes.
    let before = stored_items(&a.id).await;
    let c = &a.writer;
    for (path, field) in [
        ("/alerts?state=open", "state"),
        ("/alerts?since=yesterday", "since"),
        ("/alerts?limit=0", "limit"),
        ("/alerts?cursor=nope", "cursor"),
    ] {
        let r = c.get(path).await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{path}"
        );
    }
    let huge = (Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    for (body, field) in [
        (json!({"duration_seconds": -5}), "duration_seconds"),
        (json!({"duration_seconds": 0}), "duration_seconds"),
        (json!({"until": huge}), "until"),
        (json!({"until": "2001-01-01T00:00:00Z"}), "until"),
        (json!({}), "until"),
        (json!({"duration_seconds": 60, "why": "x"}), "why"),
    ] {
        let r = act(c, &id, "silence", Some(body.clone())).await;
        assert_eq!(
            (r.status, r.fields()),
            (400, vec![field.to_string()]),
            "{body}"
        );
    }
    let r = act(c, &id, "acknowledge", Some(json!({"until": "x"}))).await;
    assert_eq!(r.status, 400);
    let r = alert_reply(
        c,
        json!({"type": "t", "message": "m", "escalate_after_seconds": -1}),
    )
    .await;
    assert_eq!(
        (r.status, r.fields()),
        (400, vec!["escalate_after_seconds".to_string()])
    );
    assert_eq!(stored_items(&a.id).await, before);
    eventually(SOON, "the alert is still triggered", || async {
        (c.get(&format!("/alerts/{id}")).await.body["alert"]["state"] == "triggered").then_some(())
    })
    .await;
}

async fn alert_reply(c: &Client, body: Value) -> crate::support::Reply {
    c.post("/alerts", body).await
}
