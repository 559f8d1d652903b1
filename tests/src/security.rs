//! Secret rotation checked by the official Standard Webhooks library, credentials kept out
//! of responses, records and logs, and tenant isolation on every route.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hookline_functions::webhooks;
use lambda_http::{Body, RequestExt};
use serde_json::{json, Value};

use crate::support::{
    alert, app_at, eventually, functions_log,
    receiver::{Behaviour, Received, Receiver},
    reply, settings, settled, stored_items, verify_with_standardwebhooks, webhook, Client, Reply,
    TestAccount, DELIVER, SOON,
};

/// Sends the webhook's test request and returns what the receiver got.
async fn test_delivery(c: &Client, id: &str, receiver: &Receiver) -> Received {
    let before = receiver.received().len();
    let r = c.send("POST", &format!("/webhooks/{id}/test"), None).await;
    assert_eq!((r.status, &r.body["success"]), (200, &json!(true)), "{r:?}");
    let got = receiver.wait_for(before + 1, SOON).await;
    got.last().unwrap().clone()
}

fn signatures(request: &Received) -> usize {
    request.headers["webhook-signature"].split(' ').count()
}

fn expires_in(reply: &Value, index: usize) -> i64 {
    let at: DateTime<Utc> = reply["previous_secrets"][index]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (at - Utc::now()).num_seconds()
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_period_ends() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let created = c
        .create(json!({"name": "rotating", "url": receiver.url}))
        .await;
    let id = created["id"].as_str().unwrap();
    let first = created["secret"].as_str().unwrap().to_string();
    let rotate = format!("/webhooks/{id}/secret/rotate");
    let secret_path = format!("/webhooks/{id}/secret");

    // A grace period beyond 7 days, a bad one, or an unknown field: 400, nothing changed.
    for bad in [
        json!({"grace_period_seconds": 604_801}),
        json!({"grace_period_seconds": -5}),
        json!({"grace_period_seconds": "1h"}),
        json!({"grace": 60}),
    ] {
        let r = c.post(&rotate, bad.clone()).await;
        assert_eq!((r.status, r.code()), (400, "validation_failed"), "{bad}");
    }
    assert_eq!(c.get(&secret_path).await.body["secret"], first.as_str());

    // A 5 s grace period: the old and the new secret both verify, then only the new one.
    let rotated = c.post(&rotate, json!({"grace_period_seconds": 5})).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let second = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert!(second.starts_with("whsec_"));
    let grace_left = expires_in(&rotated.body, 0);
    assert!((0..=5).contains(&grace_left));
    assert_eq!(c.get(&secret_path).await.body["secret"], second.as_str());
    let during = test_delivery(c, id, &receiver).await;
    assert_eq!(signatures(&during), 2);
    assert_eq!(
        verify_with_standardwebhooks(&[(&first, &during), (&second, &during)]),
        ["ok", "ok"]
    );
    // Past the end of the grace period (the signing time has whole seconds): the test
    // route in-process, on a clock standing there.
    let ends: DateTime<Utc> = rotated.body["previous_secrets"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (app, _clock) = app_at(settings(), ends + chrono::Duration::seconds(2)).await;
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("/webhooks/{id}/test"))
        .header("authorization", format!("Bearer {}", c.token))
        .body(Body::Empty)
        .unwrap()
        .with_path_parameters(HashMap::from([("id".to_string(), id.to_string())]));
    let before = receiver.received().len();
    let tested = webhooks::test(&app, request).await;
    assert_eq!(tested.status(), 200, "{:?}", tested.body());
    let after = receiver
        .wait_for(before + 1, SOON)
        .await
        .last()
        .unwrap()
        .clone();
    assert_eq!(signatures(&after), 1);
    let verdicts = verify_with_standardwebhooks(&[(&first, &after), (&second, &after)]);
    assert_eq!(verdicts[0], "No matching signature found");
    assert_eq!(verdicts[1], "ok");

    // No body: the default of 24 h. A queued delivery carries both signatures too.
    let r = reply(c.request("POST", &rotate)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["grace_period_seconds"], 86_400);
    assert!((86_390..=86_400).contains(&expires_in(&r.body, 0)));
    let third = r.body["secret"].as_str().unwrap().to_string();
    {
        let _running = DELIVER.read().await;
        alert(c, json!({"type": "disk_high", "message": "disk at 91%"})).await;
        let queued = receiver.wait_for(3, SOON).await;
        let queued = queued.last().unwrap();
        assert!(String::from_utf8_lossy(&queued.body).contains("alert.triggered"));
        assert_eq!(
            verify_with_standardwebhooks(&[(&second, queued), (&third, queued)]),
            ["ok", "ok"]
        );
    }

    // Eleven more rotations: only the ten newest replaced secrets still sign.
    let mut secrets = vec![third];
    for _ in 0..11 {
        let r = c.post(&rotate, json!({"grace_period_seconds": 3600})).await;
        assert_eq!(r.status, 200, "{r:?}");
        secrets.push(r.body["secret"].as_str().unwrap().to_string());
        assert!(r.body["previous_secrets"].as_array().unwrap().len() <= 10);
    }
    let latest = test_delivery(c, id, &receiver).await;
    assert_eq!(signatures(&latest), 11);
    let newest = secrets.last().unwrap();
    let verdicts = verify_with_standardwebhooks(&[
        (newest, &latest),
        (&secrets[1], &latest),
        (&secrets[0], &latest),
    ]);
    assert_eq!(verdicts, ["ok", "ok", "No matching signature found"]);
}

#[tokio::test]
async fn credentials_never_appear_in_responses_records_or_logs() {
    let _running = DELIVER.read().await;
    let account = TestAccount::new().await;
    let c = &account.writer;
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let header_value = format!("hdr-{mark}");
    let bearer = format!("Bearer authz-{mark}");
    let password = format!("pw-{mark}");
    let user_pass = STANDARD.encode(format!("ops:{password}"));
    // Both endpoints echo every header they get back in their answer, as httpbin does.
    let echo_ok = Receiver::start(Behaviour::Echo(200)).await;
    let echo_fail = Receiver::start(Behaviour::Echo(400)).await;

    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |label: &str, r: Reply| {
        assert!(r.status < 500, "{label}: {r:?}");
        answers.push((label.to_string(), r.body.clone()));
        r.body
    };
    let created = keep(
        "create with headers",
        c.post(
            "/webhooks",
            json!({"name": "headers", "url": echo_ok.url,
                   "headers": {"X-Api-Key": header_value, "Authorization": bearer}}),
        )
        .await,
    );
    let with_headers = created["id"].as_str().unwrap().to_string();
    let created = keep(
        "create with basic auth",
        c.post(
            "/webhooks",
            json!({"name": "basic", "url": echo_fail.url,
                   "basic_auth": {"username": "ops", "password": password}}),
        )
        .await,
    );
    let with_auth = created["id"].as_str().unwrap().to_string();
    let mut signing = Vec::new();
    for id in [&with_headers, &with_auth] {
        let path = format!("/webhooks/{id}");
        keep("get", c.get(&path).await);
        keep(
            "patch",
            c.send("PATCH", &path, Some(json!({"name": "renamed"})))
                .await,
        );
        keep("test", c.send("POST", &format!("{path}/test"), None).await);
        signing.push(keep("secret", c.get(&format!("{path}/secret")).await)["secret"].clone());
        signing.push(
            keep(
                "rotate",
                c.post(&format!("{path}/secret/rotate"), json!({})).await,
            )["secret"]
                .clone(),
        );
    }
    keep(
        "put",
        c.send(
            "PUT",
            &format!("/webhooks/{with_auth}"),
            Some(json!({"name": "basic", "url": echo_fail.url,
                        "basic_auth": {"username": "ops", "password": password}})),
        )
        .await,
    );
    keep("list", c.get("/webhooks").await);
    let fired = keep(
        "alert",
        c.post("/alerts", json!({"type": "t", "message": "m"}))
            .await,
    );
    keep(
        "get alert",
        c.get(&format!("/alerts/{}", fired["alert_id"].as_str().unwrap()))
            .await,
    );
    for id in [&with_headers, &with_auth] {
        let delivery = settled(c, id, &["succeeded", "failed"]).await;
        let d = delivery["delivery_id"].as_str().unwrap();
        keep(
            "redeliver",
            c.send(
                "POST",
                &format!("/webhooks/{id}/deliveries/{d}/redeliver"),
                None,
            )
            .await,
        );
        let path = format!("/webhooks/{id}/deliveries/{d}");
        eventually(SOON, "the redelivery to be recorded", || async {
            (c.get(&path).await.body["attempt_count"] == 2).then_some(())
        })
        .await;
        // Every delivery in full: the alert's (two attempts) and the test route's.
        let list = keep(
            "deliveries",
            c.get(&format!("/webhooks/{id}/deliveries")).await,
        );
        for listed in list["deliveries"].as_array().unwrap() {
            let d = listed["delivery_id"].as_str().unwrap();
            keep(
                "delivery",
                c.get(&format!("/webhooks/{id}/deliveries/{d}")).await,
            );
        }
    }
    // The endpoints did get the credentials, and echoed them back.
    let sent: String = [&echo_ok, &echo_fail]
        .iter()
        .flat_map(|r| r.received())
        .map(|r| format!("{:?}", r.headers))
        .collect();
    for needle in [&header_value, &bearer, &user_pass] {
        assert!(sent.contains(needle.as_str()), "{needle} was not sent");
    }

    let authz = format!("authz-{mark}");
    let credentials = [
        header_value.as_str(),
        bearer.as_str(),
        &authz,
        &password,
        &user_pass,
        &account.writer.token,
        &account.reader.token,
    ];
    let signing: Vec<&str> = signing.iter().map(|s| s.as_str().unwrap()).collect();
    let everything: Vec<&str> = credentials.iter().chain(&signing).copied().collect();
    // Responses: no credential anywhere; a signing secret only where it is the answer.
    for (label, body) in &answers {
        let text = body.to_string();
        for needle in credentials {
            assert!(!text.contains(needle), "{label} shows a credential: {text}");
        }
        if !matches!(
            label.as_str(),
            "create with headers" | "create with basic auth" | "secret" | "rotate"
        ) {
            for secret in &signing {
                assert!(!text.contains(secret), "{label} shows a signing secret");
            }
        }
    }
    // Records: only the webhook items themselves hold the credentials.
    let items = stored_items(&account.id).await;
    // The attempts' requests are among them (a first attempt is kept in its delivery).
    assert!(items
        .iter()
        .any(|(sk, item)| sk.starts_with("DLV#") && item.contains_key("first_attempt")));
    for (sk, item) in items.iter().filter(|(sk, _)| !sk.starts_with("WEBHOOK#")) {
        let item = format!("{item:?}");
        for needle in &everything {
            assert!(!item.contains(needle), "{sk} holds a credential: {item}");
        }
    }
    // Logs: every function's output, as scripts/test.sh collects it, once it covers this
    // test's requests to both webhooks.
    let log = eventually(SOON, "the log to cover this test's requests", || async {
        let log = functions_log();
        (log.contains(&with_headers) && log.contains(&with_auth)).then_some(log)
    })
    .await;
    for needle in &everything {
        assert!(
            !log.contains(needle),
            "the functions' log holds a credential"
        );
    }
}

#[tokio::test]
async fn every_route_is_isolated_between_accounts() {
    let _running = DELIVER.read().await;
    let a = TestAccount::new().await;
    let b = TestAccount::new().await;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let (id, _) = webhook(&a.writer, &receiver.url, json!({})).await;
    let fired = alert(&a.writer, json!({"type": "t", "message": "m"})).await;
    let delivery = settled(&a.writer, &id, &["succeeded"]).await;
    let d = delivery["delivery_id"].as_str().unwrap();
    let alert_id = fired["alert_id"].as_str().unwrap();
    let (b_id, _) = webhook(&b.writer, &receiver.url, json!({})).await;

    let snapshot = || async {
        let mut seen = Vec::new();
        for path in [
            "/webhooks".to_string(),
            format!("/webhooks/{id}"),
            format!("/webhooks/{id}/secret"),
            format!("/webhooks/{id}/deliveries"),
            format!("/webhooks/{id}/deliveries/{d}"),
            format!("/alerts/{alert_id}"),
        ] {
            let r = a.writer.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {r:?}");
            seen.push(r.body);
        }
        seen
    };
    let before = snapshot().await;

    let ghost = uuid::Uuid::now_v7().to_string();
    let routes = |w: &str, dl: &str, al: &str| {
        vec![
            ("GET", format!("/webhooks/{w}"), None),
            (
                "PATCH",
                format!("/webhooks/{w}"),
                Some(json!({"name": "stolen"})),
            ),
            (
                "PUT",
                format!("/webhooks/{w}"),
                Some(json!({"name": "stolen", "url": "https://example.com/"})),
            ),
            ("DELETE", format!("/webhooks/{w}"), None),
            ("POST", format!("/webhooks/{w}/test"), None),
            ("GET", format!("/webhooks/{w}/secret"), None),
            (
                "POST",
                format!("/webhooks/{w}/secret/rotate"),
                Some(json!({})),
            ),
            ("GET", format!("/webhooks/{w}/deliveries"), None),
            ("GET", format!("/webhooks/{w}/deliveries/{dl}"), None),
            (
                "POST",
                format!("/webhooks/{w}/deliveries/{dl}/redeliver"),
                None,
            ),
            ("GET", format!("/alerts/{al}"), None),
        ]
    };
    let theirs = routes(&id, d, alert_id);
    let nobody = routes(&ghost, &ghost, &ghost);
    for ((method, path, body), (_, ghost_path, _)) in theirs.into_iter().zip(nobody) {
        let r = b.writer.send(method, &path, body.clone()).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{method} {path}");
        // Another account's resource and a missing one are indistinguishable.
        let missing = b.writer.send(method, &ghost_path, body).await;
        assert_eq!(r.body, missing.body, "{method} {path}");
    }
    // B's list shows only B's webhook; B's alerts never reach A's webhooks.
    let listed = b.writer.get("/webhooks").await.body;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(listed["webhooks"][0]["id"], b_id.as_str());
    let b_delivery = alert(&b.writer, json!({"type": "t", "message": "m"})).await;
    assert_eq!(b_delivery["deliveries"], 1);
    settled(&b.writer, &b_id, &["succeeded"]).await;

    // A's webhook, secret, deliveries and alert are as they were; A's endpoint got only A's
    // one delivery (and B's own endpoint, the same receiver, B's one).
    assert_eq!(snapshot().await, before);
    let a_got = receiver
        .received()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(&id))
        .count();
    assert_eq!(a_got, 1);
}

#[tokio::test]
async fn concurrent_rotations_lose_no_secret() {
    let account = TestAccount::new().await;
    let c = &account.writer;
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let created = c
        .create(json!({"name": "raced", "url": receiver.url}))
        .await;
    let id = created["id"].as_str().unwrap();
    let rotate = format!("/webhooks/{id}/secret/rotate");
    let replies = futures::future::join_all((0..6).map(|_| c.post(&rotate, json!({})))).await;
    let mut issued = vec![created["secret"].as_str().unwrap().to_string()];
    for r in &replies {
        // A rotation that keeps losing the race says so; none may fail otherwise.
        assert!(
            r.status == 200 || (r.status, r.code()) == (409, "conflict"),
            "{r:?}"
        );
        if r.status == 200 {
            issued.push(r.body["secret"].as_str().unwrap().to_string());
        }
    }
    assert!(issued.len() > 1);
    // Every secret ever issued still signs: the current one and each replaced one.
    let latest = test_delivery(c, id, &receiver).await;
    assert_eq!(signatures(&latest), issued.len());
    let cases: Vec<(&str, &Received)> = issued.iter().map(|s| (s.as_str(), &latest)).collect();
    assert!(verify_with_standardwebhooks(&cases)
        .iter()
        .all(|v| v == "ok"));
}
