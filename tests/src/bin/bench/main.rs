//! `scripts/bench.sh` runs this against DynamoDB Local, the SQS emulator and receivers on
//! loopback, and prints, from one run:
//! - throughput ([`throughput`]): the real deliver handler at 1, 4, 16 and 64 batches of
//!   10 in flight, beside the DynamoDB Local rate of the same writes without HTTP, the
//!   transport and storage limits, requests per delivery, and a fan-out to 1,000 webhooks;
//! - payloads ([`throughput::payloads`]): deliver throughput with the standard payload, a
//!   typical template and the Slack format in turn, each render's CPU time, and fan-out to
//!   1,000 webhooks with and without a content filter each;
//! - cost ([`cost`]): DynamoDB capacity units per delivery (ingest and deliver apart, for a
//!   first-attempt success and for a failure through its retries), SQS requests, Lambda
//!   time, log bytes, and the bill for a million deliveries;
//! - heat ([`heat`]): a storm into one account, its units by partition key, and the
//!   ceilings DynamoDB's per-key limits set on an account;
//! - storm ([`storm`]): an alert storm through rate limits, a receiver's pauses and
//!   digests, beside a quiet account.

use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use futures::{stream, StreamExt};
use hookline_functions::App;
use hookline_shared::{
    clock::{SystemClock, ThreadRandom},
    delivery::{queue::Queue, sandbox::Sandbox, signing::generate_secret},
    keys::Keyring,
    metrics,
    store::Account,
    webhook::{Webhook, WebhookSettings},
    Settings, Store,
};
use serde_json::json;

mod cost;
mod heat;
mod load;
mod meter;
mod receiver;
mod storm;
mod throughput;

/// What every section uses.
pub struct Bench {
    pub settings: Settings,
    pub store: Store,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub meter: meter::Meter,
    /// SQS requests by operation, the handlers' and the bench's own.
    pub sqs_requests: load::Requests,
    /// Bytes the functions would log: tracing's JSON lines and the metric lines.
    pub log_bytes: ByteCount,
}

/// A writer that only counts.
#[derive(Clone, Default)]
pub struct ByteCount(Arc<AtomicU64>);

impl ByteCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Bench {
    /// An App like the deployed functions', on `queue_url` and these settings.
    pub fn app(&self, settings: Settings, queue_url: &str) -> App {
        let queue = Queue::new(self.sqs.clone(), queue_url.to_string());
        App::new(
            self.store.clone(),
            queue,
            settings,
            Arc::new(SystemClock),
            Arc::new(ThreadRandom),
            Sandbox::beside("deliver").expect("the benchmark knows its path"),
        )
    }

    /// The stack's settings with some overridden.
    pub fn settings_with(&self, overrides: &[(&str, &str)]) -> Settings {
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| {
            overrides
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(k).ok())
        })
        .expect("valid settings")
    }

    /// A new account holding `n` webhooks to `url`.
    pub async fn account(&self, n: usize, url: &str) -> (String, Vec<Webhook>) {
        self.account_with(n, url, &json!({})).await
    }

    /// An account of `n` webhooks to `url`, each with the settings in `extra` too.
    pub async fn account_with(
        &self,
        n: usize,
        url: &str,
        extra: &serde_json::Value,
    ) -> (String, Vec<Webhook>) {
        let id = format!("bench_{}", uuid::Uuid::new_v4().simple());
        self.store
            .create_account(&Account {
                account_id: id.clone(),
                name: "bench".into(),
                created_at: Utc::now(),
                webhook_count: 0,
                webhook_quota: Some(u32::try_from(n).unwrap()),
                link_key: None,
                sessions_ended_at: None,
                escalate_after_seconds: None,
                webhooks_version: 0,
            })
            .await
            .unwrap();
        let webhooks = stream::iter(0..n)
            .map(|i| {
                let id = &id;
                async move {
                    let mut body = json!({"name": format!("w{i}"), "url": url});
                    for (k, v) in extra.as_object().into_iter().flatten() {
                        body[k] = v.clone();
                    }
                    let settings = WebhookSettings::parse(&body).unwrap();
                    let w = Webhook::new(id, settings, generate_secret(), Utc::now());
                    self.store.create_webhook(&w, n as u32).await.unwrap();
                    w
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        (id, webhooks)
    }

    pub async fn scratch_queue(&self) -> String {
        self.sqs
            .create_queue()
            .queue_name(format!("bench-{}", uuid::Uuid::new_v4().simple()))
            // As template.yaml's delivery queue: longer than any batch takes.
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "180",
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap()
    }

    /// Takes every message now visible on `queue_url` off it (as the event source does).
    pub async fn drain(&self, queue_url: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            let mut delete = self.sqs.delete_message_batch().queue_url(queue_url);
            for (i, m) in messages.iter().enumerate() {
                delete = delete.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap(),
                );
                bodies.push(m.body().unwrap().to_string());
            }
            delete.send().await.unwrap();
        }
    }
}

/// An SQS event of these message bodies, as the event source mapping hands it over.
pub fn event_of(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .map(|body| {
            let mut record = SqsMessage::default();
            record.message_id = Some(uuid::Uuid::new_v4().to_string());
            record.body = Some(body.clone());
            record
        })
        .collect();
    event
}

#[tokio::main]
async fn main() {
    // The functions log at info, in JSON: counted here, not printed, as are metric lines.
    // Warnings and errors are printed as well, to stderr: a figure they explain is no
    // mystery.
    use tracing_subscriber::{filter::LevelFilter, fmt, prelude::*};
    let log_bytes = ByteCount::default();
    let writer = log_bytes.clone();
    let counted = fmt::layer()
        .json()
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .with_writer(move || writer.clone())
        .with_filter(LevelFilter::INFO);
    let printed = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(counted)
        .with(printed)
        .init();
    metrics::send_to(Box::new(log_bytes.clone()));

    let aws = hookline_shared::aws::config().await;
    let settings = Settings::from_env().expect("scripts/bench.sh sets the stack's settings");
    let meter = meter::Meter::default();
    let sqs_requests = load::Requests::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws)
            .interceptor(meter.clone())
            .build(),
    );
    let mut store = Store::new(dynamo.clone(), settings.table_name.clone());
    if let Some(key) = &settings.data_key_id {
        store = store.with_keys(Keyring::kms(aws_sdk_kms::Client::new(&aws), key));
    }
    let bench = Bench {
        store,
        settings,
        dynamo,
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&aws)
                .interceptor(sqs_requests.clone())
                .build(),
        ),
        meter,
        sqs_requests,
        log_bytes,
    };
    // `bench throughput`, `bench payloads`, `bench cost`, `bench heat`, or all (no
    // arguments).
    let sections: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    if wanted("throughput") {
        throughput::run(&bench).await;
    }
    if wanted("payloads") {
        throughput::payloads(&bench).await;
    }
    if wanted("cost") {
        cost::run(&bench).await;
    }
    if wanted("heat") {
        heat::run(&bench).await;
    }
    if wanted("storm") {
        storm::run(&bench).await;
    }
}
