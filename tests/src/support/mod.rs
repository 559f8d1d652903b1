//! What the tests share, and the only module they import helpers from: the stack's
//! addresses, accounts and tokens, an API client, in-process Apps, waiting with a
//! deadline, and (in [`receiver`]) webhook endpoints.

use std::{collections::HashMap, io::Write, process::Stdio, sync::Arc, time::Duration};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hookline_shared::{
    auth::{generate_token, hash_token, Scope},
    clock::{Clock, ManualClock, SystemClock, ThreadRandom},
    delivery::{queue::Queue, sandbox::Sandbox},
    keys::Keyring,
    store::{Account, TokenInfo},
    Settings, Store,
};
use serde_json::{json, Value};

pub mod receiver;

/// How long a delivery may take to settle on the test stack.
pub const SOON: Duration = Duration::from_secs(20);

/// The crash test kills every deliver process, so it runs alone: the tests that need the
/// deliver function hold this lock for reading, the crash test for writing.
pub static DELIVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

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

pub fn settings() -> Settings {
    Settings::from_env().expect("the test environment sets valid settings")
}

pub fn delivery_queue_url() -> String {
    env("HOOKLINE_DELIVERYQUEUE_URL")
}

pub fn alerts_queue_url() -> String {
    env("HOOKLINE_ALERTSQUEUE_URL")
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&hookline_shared::aws::config().await)
}

/// An SQS client that waits a minute for an answer: the emulator spends time linear in a
/// queue's length on every call, so a queue of thousands answers in seconds on a slow
/// machine, which is the emulator's pace and not what a test checks.
pub async fn patient_sqs() -> aws_sdk_sqs::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(180))
        .build();
    let config = hookline_shared::aws::loader()
        .timeout_config(timeouts)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

/// An App like the deployed functions', on the test stack (for in-process calls).
pub async fn app() -> hookline_functions::App {
    app_with(settings(), Arc::new(SystemClock)).await
}

/// AWS config whose calls are signed with `function`'s access key, as that function's
/// process signs them on the test stack (`scripts/functions.py`).
async fn aws_as(function: &str) -> aws_config::SdkConfig {
    // DynamoDB Local takes only letters and digits in an access key.
    let key = function.replace('-', "");
    let credentials = aws_sdk_dynamodb::config::Credentials::new(key, "local", None, None, "tests");
    hookline_shared::aws::loader()
        .credentials_provider(credentials)
        .load()
        .await
}

/// A store on `aws`, sealing credentials with the stack's KMS key as the functions do.
fn keyed_store(aws: &aws_config::SdkConfig) -> Store {
    Store::new(aws_sdk_dynamodb::Client::new(aws), env("TABLE_NAME")).with_keys(Keyring::kms(
        aws_sdk_kms::Client::new(aws),
        env("DATA_KEY_ID"),
    ))
}

/// A store whose calls are signed as `function`'s (see [`app_as`]).
pub async fn store_as(function: &str) -> Store {
    keyed_store(&aws_as(function).await)
}

/// An App whose AWS calls are signed as `function`'s, as that function's process signs
/// them on the test stack (`scripts/functions.py`): the permission check counts them as
/// that function's.
pub async fn app_as(function: &str) -> hookline_functions::App {
    let aws = aws_as(function).await;
    let settings = settings();
    let store = keyed_store(&aws);
    let queue = Queue::new(
        aws_sdk_sqs::Client::new(&aws),
        settings.delivery_queue_url.clone(),
    );
    hookline_functions::App::new(
        store,
        queue,
        settings,
        Arc::new(SystemClock),
        Arc::new(ThreadRandom),
        sandbox(),
    )
}

/// An App with these settings, whose clock stands at `at` until moved.
pub async fn app_at(
    settings: Settings,
    at: DateTime<Utc>,
) -> (hookline_functions::App, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at));
    (app_with(settings, clock.clone()).await, clock)
}

async fn app_with(settings: Settings, clock: Arc<dyn Clock>) -> hookline_functions::App {
    let queue = Queue::new(sqs().await, settings.delivery_queue_url.clone());
    app_on(settings, clock, queue).await
}

/// An App like [`app_at`]'s whose deliveries go to `queue`, on a clock that stands still.
pub async fn app_on(
    settings: Settings,
    clock: Arc<dyn Clock>,
    queue: Queue,
) -> hookline_functions::App {
    hookline_functions::App::new(
        store().await,
        queue,
        settings,
        clock,
        Arc::new(ThreadRandom),
        sandbox(),
    )
}

/// The template sandbox of the functions built beside the tests.
pub fn sandbox() -> Sandbox {
    Sandbox::beside("deliver").expect("the test binary knows its path")
}

/// The test stack's settings, with `overrides` on top (for engines run in-process).
pub fn settings_with(overrides: &[(&str, &str)]) -> Settings {
    let overrides: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|k| overrides.get(k).cloned().or_else(|| std::env::var(k).ok()))
        .expect("valid settings")
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
                link_key: None,
                sessions_ended_at: None,
                escalate_after_seconds: None,
                webhooks_version: 0,
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

/// The tests' HTTP client to the API (ring installed, as reqwest needs one provider).
pub fn http_client() -> reqwest::Client {
    hookline_shared::delivery::send::use_ring_for_tls();
    // No request of the tests takes a minute; a test waits no longer.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
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
            http: http_client(),
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

/// Creates a webhook to `url` (plus `extra` fields); returns its id and secret.
pub async fn webhook(c: &Client, url: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": "receiver", "url": url});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let w = c.create(body).await;
    (
        w["id"].as_str().unwrap().to_string(),
        w["secret"].as_str().unwrap().to_string(),
    )
}

/// Sends an alert and returns the 202 answer.
pub async fn alert(c: &Client, body: Value) -> Value {
    let r = c.post("/alerts", body).await;
    assert_eq!(r.status, 202, "{r:?}");
    r.body
}

/// The webhook's newest delivery, once it reaches one of `states`.
pub async fn settled(c: &Client, webhook: &str, states: &[&str]) -> Value {
    settled_within(SOON, c, webhook, states).await
}

/// As [`settled`], waiting at most `within`.
pub async fn settled_within(within: Duration, c: &Client, webhook: &str, states: &[&str]) -> Value {
    eventually(within, "a delivery to settle", || async {
        let list = c.get(&format!("/webhooks/{webhook}/deliveries")).await.body;
        let first = list["deliveries"].get(0)?.clone();
        states.contains(&first["state"].as_str()?).then_some(first)
    })
    .await
}

/// Every delivery of the webhook, once there are `n` and each is succeeded or failed:
/// nothing more will be sent for them.
pub async fn all_final(c: &Client, webhook: &str, n: usize) -> Vec<Value> {
    eventually(SOON, "every delivery to be final", || async {
        let list = c.get(&format!("/webhooks/{webhook}/deliveries")).await.body;
        let all = list["deliveries"].as_array()?.clone();
        let done = all
            .iter()
            .all(|d| matches!(d["state"].as_str(), Some("succeeded" | "failed")));
        (all.len() == n && done).then_some(all)
    })
    .await
}

/// Every delivery of the webhook, all pages, once each is succeeded or failed: nothing
/// more will be sent for them. Fan-out writes a delivery's record before the request
/// that caused it is answered, so once this returns, the webhook is sent nothing more
/// for what has been done so far (timers aside): what tests once slept to show.
pub async fn quiet(within: Duration, c: &Client, webhook: &str) -> Vec<Value> {
    every_delivery(
        within,
        c,
        webhook,
        "every delivery of the webhook to be final",
        |d| matches!(d["state"].as_str(), Some("succeeded" | "failed")),
    )
    .await
}

/// Every delivery of the webhook, all pages, once `each` holds for every one of them;
/// fails after `within`, naming `what` it waited for.
pub async fn every_delivery(
    within: Duration,
    c: &Client,
    webhook: &str,
    what: &str,
    each: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    eventually(within, what, || async {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(at) => format!("/webhooks/{webhook}/deliveries?limit=100&cursor={at}"),
                None => format!("/webhooks/{webhook}/deliveries?limit=100"),
            };
            let page = c.get(&path).await.body;
            all.extend(page["deliveries"].as_array()?.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        all.iter().all(&each).then_some(all)
    })
    .await
}

/// A delivery with all its attempts.
pub async fn attempts(c: &Client, webhook: &str, delivery: &Value) -> Value {
    let id = delivery["delivery_id"].as_str().unwrap();
    let r = c.get(&format!("/webhooks/{webhook}/deliveries/{id}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

/// Runs `hookline-admin` (built beside the test binary) with `args`, as its own principal.
pub fn admin_output(args: &[&str]) -> std::process::Output {
    let binary = (std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap())
    .join("hookline-admin");
    std::process::Command::new(binary)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "hooklineadmin")
        .output()
        .unwrap()
}

/// What `hookline-admin` prints (JSON); panics unless it succeeds.
pub fn admin(args: &[&str]) -> Value {
    let output = admin_output(args);
    assert!(
        output.status.success(),
        "hookline-admin {args:?}: {output:?}"
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The raw items stored under an account (its partitions), by sort key.
pub async fn stored_items(account: &str) -> Vec<(String, HashMap<String, AttributeValue>)> {
    let mut items = partition_items(&format!("ACCOUNT#{account}")).await;
    // The alerts' shards, and each webhook's own partition (see shared/src/store/keys.rs).
    for shard in 0..16 {
        items.extend(partition_items(&format!("ALERTS#{account}#{shard:02}")).await);
    }
    let webhooks: Vec<String> = (items.iter())
        .filter_map(|(sk, _)| sk.strip_prefix("WEBHOOK#").map(str::to_string))
        .collect();
    for webhook in webhooks {
        items.extend(partition_items(&format!("HOOK#{account}#{webhook}")).await);
    }
    items
}

/// Every item of one partition, as (sort key, item).
pub async fn partition_items(pk: &str) -> Vec<(String, HashMap<String, AttributeValue>)> {
    let client = aws_sdk_dynamodb::Client::new(&hookline_shared::aws::config().await);
    let table = env("TABLE_NAME");
    let mut items = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            items.push((item["sk"].as_s().unwrap().clone(), item.clone()));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

/// Everything the functions have logged so far (`scripts/test.sh` collects it).
pub fn functions_log() -> String {
    let path = std::env::var("HOOKLINE_FUNCTIONS_LOG")
        .expect("HOOKLINE_FUNCTIONS_LOG names the functions' log (scripts/test.sh sets it)");
    std::fs::read_to_string(path).unwrap()
}

/// Waits until the deliver function has run `timer` (`escalation` or `silence`) of
/// `alert`, as its log says, and returns whether it changed the alert.
pub async fn timer_ran(within: Duration, alert: &str, timer: &str) -> bool {
    eventually(
        within,
        &format!("the {timer} timer of {alert} to run"),
        || async {
            functions_log().lines().find_map(|line| {
                let entry: Value = serde_json::from_str(line).ok()?;
                let fields = &entry["fields"];
                (fields["message"] == "alert timer ran"
                    && fields["alert"] == alert
                    && fields["timer"] == timer)
                    .then(|| fields["fired"] == true)
            })
        },
    )
    .await
}

/// The Embedded Metric Format lines the functions have written whose properties mention
/// `id`, each checked to be well formed: every metric it declares is present, under the
/// one low-cardinality dimension, `Function`.
pub fn metric_lines(id: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for line in functions_log()
        .lines()
        .filter(|l| l.contains("\"_aws\"") && l.contains(id))
    {
        let line: Value = serde_json::from_str(line).expect("an EMF line is JSON");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Hookline", "{line}");
        assert_eq!(directive["Dimensions"], json!([["Function"]]), "{line}");
        assert!(line["Function"].is_string(), "{line}");
        assert!(line["_aws"]["Timestamp"].is_i64(), "{line}");
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                line[name].is_number() || line[name].is_array(),
                "{name} in {line}"
            );
        }
        found.push(line);
    }
    found
}

/// The pids of the instances of `function` that the stack's supervisor
/// (`scripts/functions.py`) runs now.
pub fn function_pids(function: &str) -> Vec<u32> {
    let dir = env("HOOKLINE_FUNCTION_PIDS");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(&format!("{function}.")) && name.ends_with(".pid") {
            if let Ok(pid) = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .trim()
                .parse()
            {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Kills every process of `function` (SIGKILL), by the pids the stack's supervisor
/// started them with, and notes them in `killed` beside the pid files: `scripts/test.sh`
/// fails on any other restart. Returns the pids.
pub fn kill_function(function: &str) -> Vec<u32> {
    let pids = function_pids(function);
    assert!(!pids.is_empty(), "no {function} process was running");
    let noted: String = pids.iter().map(|p| format!("{p}\n")).collect();
    let killed = std::path::Path::new(&env("HOOKLINE_FUNCTION_PIDS")).join("killed");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&killed)
        .unwrap();
    std::io::Write::write_all(&mut file, noted.as_bytes()).unwrap();
    let status = std::process::Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the {function} processes {pids:?} could not be killed"
    );
    pids
}

/// Runs `tests/standardwebhooks_verify.py` (PyPI's `standardwebhooks`) on each (secret,
/// request); returns "ok" or the library's reason for refusing, in order.
pub fn verify_with_standardwebhooks(cases: &[(&str, &receiver::Received)]) -> Vec<String> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, request)| {
            json!({"secret": secret, "headers": request.headers, "body_base64": STANDARD.encode(&request.body)})
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/standardwebhooks_verify.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh puts the tools' venv first on PATH)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(input).to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the standardwebhooks verifier failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A queue of the test's own, which no trigger reads: its messages wait to be handed to
/// a worker by the test.
pub async fn scratch_queue() -> (Queue, String) {
    let sqs = sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("scratch-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (Queue::new(sqs, url.clone()), url)
}

/// Up to `max` messages from the queue at `url`, waiting at most a second for them.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    got.messages.unwrap_or_default()
}

pub async fn drop_queue(url: String) {
    sqs()
        .await
        .delete_queue()
        .queue_url(url)
        .send()
        .await
        .unwrap();
}

/// The deliver function's answer to `received` (from the queue `queue_url`, where it puts
/// what follows), in-process, as Lambda's SQS trigger would hand them to it.
pub async fn deliver_batch(
    queue_url: &str,
    received: &[aws_sdk_sqs::types::Message],
) -> aws_lambda_events::sqs::SqsBatchResponse {
    let app = app_at(
        settings_with(&[("DELIVERY_QUEUE_URL", queue_url)]),
        Utc::now(),
    )
    .await
    .0;
    hookline_functions::triggers::deliver(&app, sqs_event(received))
        .await
        .unwrap()
}

/// The event Lambda's SQS trigger makes of `received`, each on its first receive.
fn sqs_event(received: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::sqs::SqsEvent {
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    for m in received {
        let mut record = aws_lambda_events::sqs::SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        event.records.push(record);
    }
    event
}
