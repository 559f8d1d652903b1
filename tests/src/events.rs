//! Every file in `events/` goes through its function, so the samples cannot rot.

use std::path::{Path, PathBuf};

use chrono::Utc;
use hookline_functions::{webhooks, App};
use hookline_shared::{
    auth::{hash_token, Scope},
    delivery,
    model::{Webhook, WebhookSettings},
    store::{Account, TokenInfo},
};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use crate::{
    harness::{config, store},
    receiver::{Behaviour, Receiver},
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

async fn invoke(app: &App, function: &str, req: Request) -> Response<Body> {
    match function {
        "create-webhook" => webhooks::create(app, req).await,
        "list-webhooks" => webhooks::list(app, req).await,
        "get-webhook" => webhooks::get(app, req).await,
        "update-webhook" => webhooks::update(app, req).await,
        "delete-webhook" => webhooks::delete(app, req).await,
        "test-webhook" => webhooks::test(app, req).await,
        "get-webhook-secret" => webhooks::secret(app, req).await,
        other => panic!("events/{other}.json matches no function"),
    }
}

fn expected_status(function: &str) -> u16 {
    match function {
        "create-webhook" => 201,
        "delete-webhook" => 204,
        _ => 200,
    }
}

#[test]
fn every_function_has_a_sample_event() {
    assert_eq!(stems("functions/src/bin", "rs"), stems("events", "json"));
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_answer() {
    let store = store().await;
    let app = App::new(store.clone(), config());
    let receiver = Receiver::start(Behaviour::Status(200)).await;

    // The samples carry a fixed token and webhook id: make them real in a fresh account.
    let account = format!("acct_{}", uuid::Uuid::new_v4().simple());
    store
        .create_account(&Account {
            account_id: account.clone(),
            name: "samples".into(),
            created_at: Utc::now(),
            webhook_count: 0,
            webhook_quota: None,
        })
        .await
        .unwrap();
    let first: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/get-webhook.json")).unwrap(),
    )
    .unwrap();
    let token = first["headers"]["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    let webhook_id = first["pathParameters"]["id"].as_str().unwrap().to_string();
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

    for function in stems("events", "json") {
        // A fresh sample webhook before each event: the delete sample removes it.
        if store
            .get_webhook(&account, &webhook_id)
            .await
            .unwrap()
            .is_none()
        {
            let settings =
                WebhookSettings::parse(&json!({"name": "sample", "url": receiver.url})).unwrap();
            let mut webhook =
                Webhook::new(&account, settings, delivery::generate_secret(), Utc::now());
            webhook.id = webhook_id.clone();
            store.create_webhook(&webhook, 30).await.unwrap();
        }
        let text = std::fs::read_to_string(root().join(format!("events/{function}.json"))).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("events/{function}.json is not an API Gateway event: {e}"));
        let response = invoke(&app, &function, request).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(
            response.status().as_u16(),
            expected_status(&function),
            "events/{function}.json: {body}"
        );
        if function == "test-webhook" {
            let reply: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(reply["success"], true, "{reply}");
        }
    }
    store.revoke_token(&account, &info.token_id).await.unwrap();
}
