//! `scripts/bench.sh` runs this against DynamoDB Local, the SQS emulator and a receiver on
//! loopback, and prints, from one run:
//! - the deliver function's throughput: its real handler on SQS events of 10 messages,
//!   several batches at once, every attempt claimed and recorded in DynamoDB Local;
//! - the transport limit: raw reqwest POSTs to the same receiver at the same concurrency;
//! - the storage limit: raw PutItem calls to the same DynamoDB Local at that concurrency;
//! - DynamoDB and SQS requests per successful delivery;
//! - SQS and DynamoDB calls for one alert fanned out to 1,000 webhooks.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::{
    config::{
        interceptors::BeforeTransmitInterceptorContextRef, ConfigBag, Intercept, RuntimeComponents,
    },
    error::BoxError,
    types::AttributeValue,
};
use chrono::Utc;
use futures::{stream, StreamExt};
use hookline_functions::{triggers, App};
use hookline_shared::{
    alert::AlertInput,
    clock::{SystemClock, ThreadRandom},
    delivery::{
        queue::{DeliveryMessage, Queue},
        record::{Delivery, Trigger},
        send,
        signing::{build_request, generate_secret},
    },
    event::EventType,
    store::Account,
    webhook::{Webhook, WebhookSettings},
    Settings, Store,
};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Deliveries per measured run.
const DELIVERIES: usize = 3000;
/// Batches of 10 in flight at once (Lambda instances of the deliver function).
const BATCHES_IN_FLIGHT: usize = 4;
const CONCURRENCY: usize = BATCHES_IN_FLIGHT * 10;
const WEBHOOKS: usize = 20;
const FAN_OUT: usize = 1000;

/// Counts the DynamoDB requests sent (retries included).
#[derive(Clone, Debug, Default)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Counter {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// An HTTP/1.1 endpoint with keep-alive that answers 200 to everything.
async fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::with_capacity(8192);
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: the head, then content-length bytes of body.
                    let head_end = loop {
                        if let Some(p) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..head_end + length);
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn per_second(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let aws = aws_config::load_from_env().await;
    let config = Settings::from_env().expect("scripts/bench.sh sets the stack's settings");
    let counter = Counter::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws)
            .interceptor(counter.clone())
            .build(),
    );
    let store = Store::new(dynamo.clone(), config.table_name.clone());
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = Queue::new(sqs.clone(), config.delivery_queue_url.clone());
    let app = App::new(
        store.clone(),
        queue.clone(),
        config.clone(),
        Arc::new(SystemClock),
        Arc::new(ThreadRandom),
    );
    let url = receiver().await;

    let account = format!("bench_{}", uuid::Uuid::new_v4().simple());
    store
        .create_account(&Account {
            account_id: account.clone(),
            name: "bench".into(),
            created_at: Utc::now(),
            webhook_count: 0,
            webhook_quota: Some(10_000),
        })
        .await
        .unwrap();
    let mut webhooks = Vec::new();
    for i in 0..WEBHOOKS {
        let settings =
            WebhookSettings::parse(&json!({"name": format!("bench {i}"), "url": url})).unwrap();
        let webhook = Webhook::new(&account, settings, generate_secret(), Utc::now());
        store.create_webhook(&webhook, 10_000).await.unwrap();
        webhooks.push(webhook);
    }
    let payload = json!({"type": "alert.triggered", "timestamp": Utc::now(), "data": {
        "alert": {"id": "bench", "type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)", "severity": "critical"},
        "webhook": {"id": "w", "name": "bench"}, "account": {"id": account}}})
    .to_string();
    let event_of = |batch: &[DeliveryMessage]| {
        let mut event = SqsEvent::default();
        event.records = batch
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = Some(uuid::Uuid::new_v4().to_string());
                record.body = Some(serde_json::to_string(m).unwrap());
                record
            })
            .collect();
        event
    };
    let messages = |n: usize| -> Vec<DeliveryMessage> {
        (0..n)
            .map(|i| {
                let w = &webhooks[i % WEBHOOKS];
                DeliveryMessage {
                    account_id: account.clone(),
                    webhook_id: w.id.clone(),
                    webhook_version: w.version,
                    delivery_id: uuid::Uuid::now_v7().to_string(),
                    alert_id: uuid::Uuid::now_v7().to_string(),
                    event: EventType::AlertTriggered,
                    attempt: 1,
                    trigger: Trigger::Scheduled,
                    payload: serde_json::value::RawValue::from_string(payload.clone()).unwrap(),
                    not_before: None,
                }
            })
            .collect()
    };
    // As in production, fan-out has written each delivery's pending record beforehand (its
    // cost is in the fan-out figures below); the deliver function claims and records it.
    let pending = |all: &[DeliveryMessage]| {
        let store = &store;
        let account = &account;
        let deliveries: Vec<Delivery> = all
            .iter()
            .map(|m| {
                Delivery::pending(
                    m.delivery_id.clone(),
                    m.webhook_id.clone(),
                    m.alert_id.clone(),
                    m.event,
                    m.trigger,
                    Utc::now(),
                    Utc::now().timestamp() + 3600,
                )
            })
            .collect();
        async move {
            store
                .put_pending_deliveries(account, &deliveries)
                .await
                .unwrap()
        }
    };
    let deliver = |all: Vec<DeliveryMessage>| {
        let app = &app;
        let events: Vec<SqsEvent> = all.chunks(10).map(event_of).collect();
        async move {
            let started = Instant::now();
            let failures: usize = stream::iter(events)
                .map(|e| async move {
                    triggers::deliver(app, e)
                        .await
                        .unwrap()
                        .batch_item_failures
                        .len()
                })
                .buffer_unordered(BATCHES_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .sum();
            (started.elapsed(), failures)
        }
    };

    // Warm up caches, connections and the JIT of DynamoDB Local.
    let warm_up = messages(400);
    pending(&warm_up).await;
    deliver(warm_up).await;

    let measured = messages(DELIVERIES);
    pending(&measured).await;
    let (dynamo_before, sqs_before) = (counter.get(), queue.calls());
    let (took, failures) = deliver(measured).await;
    assert_eq!(
        failures, 0,
        "every delivery should succeed against the local receiver"
    );
    let dynamo_per = (counter.get() - dynamo_before) as f64 / DELIVERIES as f64;
    let sqs_per = (queue.calls() - sqs_before) as f64 / DELIVERIES as f64;
    let deliver_rate = per_second(DELIVERIES, took);

    // The transport limit: the same POSTs, signed the same way, straight from reqwest.
    let http = send::http_client(&config.destinations);
    let started = Instant::now();
    stream::iter(0..DELIVERIES)
        .map(|i| {
            let request = build_request(
                &webhooks[i % WEBHOOKS],
                "msg_bench",
                payload.clone().into_bytes(),
                Utc::now().timestamp(),
            )
            .unwrap();
            let http = &http;
            let policy = &config.destinations;
            async move { send::send(http, &request, Duration::from_secs(10), policy).await }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|a| async move { assert!(a.success()) })
        .await;
    let post_rate = per_second(DELIVERIES, started.elapsed());

    // The storage limit: PutItem of a record-sized item, at the same concurrency.
    let record = "x".repeat(1500);
    let started = Instant::now();
    stream::iter(0..DELIVERIES)
        .map(|i| {
            let dynamo = &dynamo;
            let table = &config.table_name;
            let record = &record;
            async move {
                dynamo
                    .put_item()
                    .table_name(table)
                    .item("pk", AttributeValue::S(format!("BENCH#{i}")))
                    .item("sk", AttributeValue::S("RAW".into()))
                    .item("record", AttributeValue::S(record.clone()))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let put_rate = per_second(DELIVERIES, started.elapsed());

    // For reference: items per second through a transaction (10 conditional updates, like
    // a batch's claims) and through BatchWriteItem (25 puts), at the same concurrency.
    let started = Instant::now();
    stream::iter(0..DELIVERIES / 10)
        .map(|i| {
            let dynamo = &dynamo;
            let table = &config.table_name;
            async move {
                let items = (0..10).map(|j| {
                    let update = aws_sdk_dynamodb::types::Update::builder()
                        .table_name(table)
                        .key("pk", AttributeValue::S(format!("BENCH#{i}#{j}")))
                        .key("sk", AttributeValue::S("TX".into()))
                        .update_expression("SET lease_until = :l")
                        .condition_expression(
                            "attribute_not_exists(lease_until) OR lease_until < :l",
                        )
                        .expression_attribute_values(":l", AttributeValue::N("1".into()))
                        .build()
                        .unwrap();
                    aws_sdk_dynamodb::types::TransactWriteItem::builder()
                        .update(update)
                        .build()
                });
                dynamo
                    .transact_write_items()
                    .set_transact_items(Some(items.collect()))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let tx_item_rate = per_second(DELIVERIES, started.elapsed());
    let started = Instant::now();
    stream::iter(0..DELIVERIES / 25)
        .map(|i| {
            let dynamo = &dynamo;
            let table = &config.table_name;
            let record = &record;
            async move {
                let puts = (0..25).map(|j| {
                    let put = aws_sdk_dynamodb::types::PutRequest::builder()
                        .item("pk", AttributeValue::S(format!("BENCH#{i}#{j}")))
                        .item("sk", AttributeValue::S("BATCH".into()))
                        .item("record", AttributeValue::S(record.clone()))
                        .build()
                        .unwrap();
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(put)
                        .build()
                });
                dynamo
                    .batch_write_item()
                    .request_items(table, puts.collect())
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let batch_item_rate = per_second(DELIVERIES, started.elapsed());

    // One alert to 1,000 webhooks, on a scratch queue so nothing delivers them.
    let fan_account = format!("fanout_{}", uuid::Uuid::new_v4().simple());
    store
        .create_account(&Account {
            account_id: fan_account.clone(),
            name: "fan-out".into(),
            created_at: Utc::now(),
            webhook_count: 0,
            webhook_quota: Some(FAN_OUT as u32),
        })
        .await
        .unwrap();
    stream::iter(0..FAN_OUT)
        .map(|i| {
            let store = &store;
            let fan_account = &fan_account;
            let url = &url;
            async move {
                let settings =
                    WebhookSettings::parse(&json!({"name": format!("f{i}"), "url": url})).unwrap();
                let w = Webhook::new(fan_account, settings, generate_secret(), Utc::now());
                store.create_webhook(&w, FAN_OUT as u32).await.unwrap();
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let scratch = sqs
        .create_queue()
        .queue_name(format!("bench-fanout-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let fan_queue = Queue::new(sqs.clone(), scratch.clone());
    let dynamo_before = counter.get();
    let started = Instant::now();
    let accepted = hookline_shared::ingest::Ingest {
        store: &store,
        queue: &fan_queue,
        settings: &config.delivery,
    }
    .accept(
        &fan_account,
        AlertInput::parse(&json!({"type": "cpu_high", "message": "fan-out"})).unwrap(),
        None,
    )
    .await
    .unwrap();
    let fan_took = started.elapsed();
    let fan_dynamo = counter.get() - dynamo_before;
    sqs.delete_queue().queue_url(scratch).send().await.unwrap();

    let limit = post_rate.min(put_rate);
    println!("Hookline benchmark ({DELIVERIES} deliveries, {BATCHES_IN_FLIGHT} batches of 10 in flight = {CONCURRENCY} concurrent)");
    println!("  deliver function          {deliver_rate:>9.0} deliveries/s");
    println!("  raw reqwest POST          {post_rate:>9.0} requests/s   (transport limit)");
    println!("  raw DynamoDB PutItem      {put_rate:>9.0} requests/s   (storage limit)");
    println!(
        "  deliver / lower limit     {:>9.0} %",
        100.0 * deliver_rate / limit
    );
    println!("  (transaction items        {tx_item_rate:>9.0} items/s, 10 conditional updates a request)");
    println!("  (BatchWriteItem items     {batch_item_rate:>9.0} items/s, 25 puts a request)");
    println!("  DynamoDB requests         {dynamo_per:>9.2} per successful delivery");
    println!("  SQS requests              {sqs_per:>9.2} per successful delivery (in the deliver function)");
    println!(
        "  fan-out to {FAN_OUT} webhooks   {:>5} deliveries queued with {} SQS calls and {fan_dynamo} DynamoDB requests in {:.2}s",
        accepted.deliveries,
        fan_queue.calls(),
        fan_took.as_secs_f64()
    );
}
