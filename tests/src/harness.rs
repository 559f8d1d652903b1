//! Accounts, tokens and an HTTP client for the tests.

use chrono::Utc;
use hookline_shared::{
    auth::{generate_token, hash_token, Scope},
    store::{Account, TokenInfo},
    Config, Store,
};
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests through scripts/test.sh, which starts the stack")
    })
}

pub fn api_url() -> String {
    env("HOOKLINE_API_URL")
}

pub async fn store() -> Store {
    Store::from_env(env("TABLE_NAME")).await
}

pub fn config() -> Config {
    Config::from_env().expect("the test environment sets TABLE_NAME")
}

pub fn delivery_queue_url() -> String {
    env("HOOKLINE_DELIVERYQUEUE_URL")
}

pub fn alerts_queue_url() -> String {
    env("HOOKLINE_ALERTSQUEUE_URL")
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws_config::load_from_env().await)
}

/// An App like the deployed functions', on the test stack (for in-process calls).
pub async fn app() -> hookline_functions::App {
    let queue = hookline_shared::queue::Queue::new(sqs().await, delivery_queue_url());
    let delivery =
        hookline_shared::worker::DeliveryConfig::from_env().expect("valid delivery settings");
    hookline_functions::App::new(store().await, queue, config(), delivery)
}

/// Polls `check` until it gives a value, for at most `within`.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A fresh account with one read-write and one read-only token.
pub struct TestAccount {
    pub id: String,
    pub writer: Client,
    pub reader: Client,
}

impl TestAccount {
    pub async fn new() -> Self {
        Self::with_quota(None).await
    }

    pub async fn with_quota(quota: Option<u32>) -> Self {
        let store = store().await;
        let id = format!("acct_{}", uuid::Uuid::new_v4().simple());
        store
            .create_account(&Account {
                account_id: id.clone(),
                name: "test".into(),
                created_at: Utc::now(),
                webhook_count: 0,
                webhook_quota: quota,
            })
            .await
            .unwrap();
        let writer = Client::new(&add_token(&store, &id, Scope::Webhook).await.0);
        let reader = Client::new(&add_token(&store, &id, Scope::WebhookReadonly).await.0);
        Self { id, writer, reader }
    }
}

/// Registers a token for `account`; returns it and its id.
pub async fn add_token(store: &Store, account: &str, scope: Scope) -> (String, String) {
    let token = generate_token();
    let info = TokenInfo {
        token_id: uuid::Uuid::new_v4().to_string(),
        account_id: account.to_string(),
        scopes: vec![scope],
        label: "test".into(),
        created_at: Utc::now(),
    };
    store
        .create_token(&info, &hash_token(&token))
        .await
        .unwrap();
    (token, info.token_id)
}

/// An API response: status, and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The fields an error envelope names.
    pub fn fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub token: String,
}

impl Client {
    pub fn new(token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: api_url(),
            token: token.to_string(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let request = self.request(method, path);
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        reply(request).await
    }

    /// A request with this client's token and nothing else, for raw bodies and headers.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    /// Creates a webhook and returns its JSON.
    pub async fn create(&self, body: Value) -> Value {
        let reply = self.post("/webhooks", body).await;
        assert_eq!(reply.status, 201, "{reply:?}");
        reply.body
    }
}

pub async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the API answered");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"))
    };
    Reply { status, body }
}
