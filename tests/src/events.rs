//! Every file in `events/` goes through its function, so the samples cannot rot.

use std::path::{Path, PathBuf};

use chrono::Utc;
use hookline_functions::{
    alerts, deliveries, links, payloads, portal, sessions, triggers, webhooks, App,
};
use hookline_shared::{
    alert::{links::LinkKey, Alert, AlertInput},
    auth::{hash_token, Scope},
    delivery::{outcome::Trigger, record::Delivery, signing},
    event::EventType,
    store::{Account, Move, StoreError, StoredAlert, TokenInfo},
    webhook::{Webhook, WebhookSettings},
};
use lambda_http::Body;
use serde_json::{json, Value};

use crate::support::{
    app_as,
    receiver::{Behaviour, Receiver},
    store,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stems(dir: &str, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == ext).then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("events/{name}.json"))).unwrap()
}

/// Runs a sample through its function; returns an HTTP-like status and the JSON answer.
async fn invoke(app: &App, function: &str, text: &str) -> (u16, Value) {
    let http = |handler_result: lambda_http::Response<Body>| {
        let status = handler_result.status().as_u16();
        let body = match handler_result.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, body)
    };
    let request = || {
        lambda_http::request::from_str(text)
            .unwrap_or_else(|e| panic!("events/{function}.json is not an API Gateway event: {e}"))
    };
    match function {
        "create-webhook" => http(webhooks::create(app, request()).await),
        "list-webhooks" => http(webhooks::list(app, request()).await),
        "get-webhook" => http(webhooks::get(app, request()).await),
        "update-webhook" => http(webhooks::update(app, request()).await),
        "delete-webhook" => http(webhooks::delete(app, request()).await),
        "test-webhook" => http(webhooks::test(app, request()).await),
        "get-webhook-secret" => http(webhooks::secret(app, request()).await),
        "rotate-webhook-secret" => http(webhooks::rotate_secret(app, request()).await),
        "ingest-alert" => http(alerts::create(app, request()).await),
        "ingest-alertmanager" => http(alerts::alertmanager(app, request()).await),
        "get-alert" => http(alerts::get(app, request()).await),
        "list-alerts" => http(alerts::list(app, request()).await),
        "act-on-alert" => http(alerts::act(app, request()).await),
        "alert-link" => http(links::handle(app, request()).await),
        "list-deliveries" => http(deliveries::list(app, request()).await),
        "get-delivery" => http(deliveries::get(app, request()).await),
        "redeliver" => http(deliveries::redeliver(app, request()).await),
        "recover-webhook" => {
            // A fixed `since` would age out of the delivery log's retention: an hour ago.
            let since = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
            let text = text.replace("2026-11-23T08:00:00Z", &since);
            let request = lambda_http::request::from_str(&text).unwrap();
            http(deliveries::recover(app, request).await)
        }
        "create-portal-link" => http(sessions::create_link(app, request()).await),
        "end-portal-sessions" => http(sessions::end_sessions(app, request()).await),
        "portal" => {
            let page = portal::handle(app, request()).await;
            let html = match page.body() {
                Body::Text(t) => t.clone(),
                _ => String::new(),
            };
            assert!(html.contains("Sign in"), "events/portal.json: {html}");
            (page.status().as_u16(), Value::Null)
        }
        "preview-webhook" => http(payloads::preview(app, request()).await),
        "test-webhook-filter" => http(payloads::test_filter(app, request()).await),
        "deliver" | "ingest-queue" => {
            let event = serde_json::from_str(text).expect("an SQS event");
            let reply = if function == "deliver" {
                triggers::deliver(app, event).await
            } else {
                triggers::ingest_queue(app, event).await
            };
            (200, serde_json::to_value(reply.unwrap()).unwrap())
        }
        "ingest-cloudwatch" => {
            let event = serde_json::from_str(text).expect("an EventBridge event");
            (200, triggers::ingest_cloudwatch(app, event).await.unwrap())
        }
        other => panic!("events/{other}.json matches no function"),
    }
}

#[test]
fn every_function_has_a_sample_event() {
    assert_eq!(stems("functions/src/bin", "rs"), stems("events", "json"));
}

/// Makes the fixed token, account, webhook, alert and delivery of the samples real.
struct Fixtures {
    account: String,
    webhook_id: String,
    alert: StoredAlert,
    delivery: Delivery,
}

impl Fixtures {
    async fn create(url: &str) -> Self {
        let store = store().await;
        let get: Value = serde_json::from_str(&sample("get-webhook")).unwrap();
        let token = get["headers"]["authorization"]
            .as_str()
            .unwrap()
            .trim_start_matches("Bearer ")
            .to_string();
        let webhook_id = get["pathParameters"]["id"].as_str().unwrap().to_string();
        let deliver: Value = serde_json::from_str(&sample("deliver")).unwrap();
        let message: Value =
            serde_json::from_str(deliver["Records"][0]["body"].as_str().unwrap()).unwrap();
        let account = message["account_id"].as_str().unwrap().to_string();
        let account_record = Account {
            account_id: account.clone(),
            name: "samples".into(),
            created_at: Utc::now(),
            webhook_count: 0,
            webhook_quota: Some(1000),
            // events/alert-link.json's token is signed with this key (bytes 0 to 31).
            link_key: Some(LinkKey {
                id: "sample".into(),
                secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into(),
            }),
            sessions_ended_at: None,
            escalate_after_seconds: None,
            webhooks_version: 0,
        };
        match store.create_account(&account_record).await {
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(e) => panic!("{e}"),
        }
        if store
            .find_token(&hash_token(&token))
            .await
            .unwrap()
            .is_none()
        {
            let info = TokenInfo {
                token_id: uuid::Uuid::new_v4().to_string(),
                account_id: account.clone(),
                scopes: vec![Scope::Webhook],
                label: "events/ samples".into(),
                created_at: Utc::now(),
            };
            store
                .create_token(&info, &hash_token(&token))
                .await
                .unwrap();
        }
        let now = Utc::now();
        let alert_id = message["alert_id"].as_str().unwrap().to_string();
        let delivery_id = message["delivery_id"].as_str().unwrap().to_string();
        let input =
            AlertInput::parse(&json!({"type": "cpu_high", "message": "CPU at 92%"})).unwrap();
        let mut alert = Alert::new(alert_id.clone(), input, now);
        alert.transition = 1;
        let moves = vec![Move {
            transition: 1,
            event: EventType::AlertTriggered,
            at: now,
            webhook_ids: vec![webhook_id.clone()],
            paged: None,
            report_id: None,
        }];
        let alert = StoredAlert::new(alert, moves, now.timestamp() + 3600);
        let delivery = Delivery::pending(
            delivery_id,
            webhook_id.clone(),
            alert_id,
            EventType::AlertTriggered,
            Trigger::Scheduled,
            now,
            now.timestamp() + 3600,
        );
        let fixtures = Self {
            account,
            webhook_id,
            alert,
            delivery,
        };
        fixtures.ensure_webhook(url).await;
        // Already there when an earlier test made the fixtures: as good.
        store
            .save_alert(
                &fixtures.account,
                &mut fixtures.alert.clone(),
                None,
                None,
                now,
            )
            .await
            .unwrap();
        fixtures
    }

    /// The delete sample removes the webhook and the update sample disables it: restore it.
    async fn ensure_webhook(&self, url: &str) {
        let store = store().await;
        match store
            .get_webhook(&self.account, &self.webhook_id)
            .await
            .unwrap()
        {
            Some(w) if w.settings.enabled => {}
            Some(_) => {
                store
                    .delete_webhook(&self.account, &self.webhook_id)
                    .await
                    .unwrap();
                Box::pin(self.ensure_webhook(url)).await;
            }
            None => {
                let settings =
                    WebhookSettings::parse(&json!({"name": "sample", "url": url})).unwrap();
                let mut webhook = Webhook::new(
                    &self.account,
                    settings,
                    signing::generate_secret(),
                    Utc::now(),
                );
                webhook.id = self.webhook_id.clone();
                store.create_webhook(&webhook, 1000).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let fixtures = Fixtures::create(&receiver.url).await;
    for function in stems("events", "json") {
        fixtures.ensure_webhook(&receiver.url).await;
        let mut app = app_as(&function).await;
        app.settings.cloudwatch_account = Some(fixtures.account.clone());
        let (status, body) = invoke(&app, &function, &sample(&function)).await;
        let expected = match function.as_str() {
            "create-webhook" | "create-portal-link" => 201,
            "delete-webhook" => 204,
            "ingest-alert" | "ingest-alertmanager" | "redeliver" | "recover-webhook" => 202,
            _ => 200,
        };
        assert_eq!(status, expected, "events/{function}.json: {body}");
        match function.as_str() {
            "deliver" | "ingest-queue" => {
                assert_eq!(
                    body["batchItemFailures"],
                    json!([]),
                    "events/{function}.json: {body}"
                )
            }
            "ingest-cloudwatch" => {
                assert!(body["alert_id"].is_string(), "{body}");
                // EventBridge delivers at least once: the same event raises nothing new.
                let (_, again) = invoke(&app, &function, &sample(&function)).await;
                assert_eq!(again, body);
            }
            "ingest-alert" | "ingest-alertmanager" => {
                assert!(body["deliveries"].as_u64().unwrap() >= 1, "{body}")
            }
            "test-webhook" => assert_eq!(body["success"], true, "{body}"),
            "preview-webhook" => {
                let sent: Value =
                    serde_json::from_str(body["request"]["body"].as_str().unwrap()).unwrap();
                assert_eq!(sent["data"]["alert"]["severity"], "critical", "{body}");
                assert_eq!(body["matches"], true, "{body}");
            }
            "test-webhook-filter" => assert_eq!(body["matches"], true, "{body}"),
            "get-alert" => assert_eq!(body["alert"]["id"], fixtures.alert.alert.id),
            "list-alerts" => assert!(body["alerts"].is_array(), "{body}"),
            "act-on-alert" => assert_eq!(body["alert"]["state"], "acknowledged", "{body}"),
            "rotate-webhook-secret" => {
                assert_eq!(body["grace_period_seconds"], 3600, "{body}");
                assert!(!body["previous_secrets"].as_array().unwrap().is_empty());
            }
            _ => {}
        }
    }

    // The deliver sample reached the receiver, signed for the sample delivery.
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(5))
        .await;
    assert!(got
        .iter()
        .any(|r| r.headers["webhook-id"] == fixtures.delivery.msg_id));
}
