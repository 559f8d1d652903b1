//! How fast the deliver function goes, and what bounds it.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::{
    AttributeValue, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use chrono::Utc;
use futures::{future::join_all, stream, StreamExt};
use hookline_functions::triggers;
use hookline_shared::{
    alert::{lifecycle::Actor, Alert, AlertInput},
    delivery::{
        outcome::{Outcome, Sent, Trigger},
        payload::Payload,
        queue::{DeliveryMessage, Queue},
        record::{AttemptRecord, Delivery},
        render::{self, DeliveryRef, Rendered},
        retry,
        sandbox::Sandbox,
        send,
        signing::build_request,
    },
    event::EventType,
    ingest::Ingest,
    store::{AttemptClaim, Claim},
    webhook::{health::WebhookStatus, LastDelivery, Webhook},
};
use serde_json::json;

use crate::{event_of, receiver, Bench};

/// Webhooks the deliveries spread over.
const WEBHOOKS: usize = 20;
/// Deliveries per measured run, by batches in flight.
const SWEEP: [(usize, usize); 4] = [(1, 1000), (4, 2000), (16, 2000), (64, 3000)];
/// Requests at once for the raw limits.
const CONCURRENCY: usize = 40;
const FAN_OUT: usize = 1000;
/// A template as users write them: a few fields, filters, one JSON value.
const TYPICAL_TEMPLATE: &str = r#"{"text": "{{ alert.severity|default('info')|upper }}: {{ alert.message|truncate(200) }}", "host": {{ alert.labels.host|default("unknown")|tojson }}, "at": {{ event.timestamp|tojson }}, "attempt": {{ delivery.attempt }}}"#;
/// A filter as users write them; the fan-out alert passes it, so only its cost differs.
fn typical_filter() -> serde_json::Value {
    json!({"filter": {"severity": {"$in": ["critical", "error"]}, "labels.team": {"$regex": "^op"}}})
}
/// Deliveries per run, and runs of each shape, in the template comparison.
const SHAPE_RUN: usize = 2000;
const SHAPE_ROUNDS: usize = 3;

fn per_second(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// A triggered alert, as fan-out hands it to deliveries.
fn bench_alert() -> serde_json::Value {
    let input = AlertInput::parse(&json!({"type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)", "severity": "critical", "labels": {"host": "web-01", "team": "ops"}})).unwrap();
    let mut alert = Alert::new(uuid::Uuid::now_v7().to_string(), input, Utc::now());
    let standing = alert.standing();
    alert.record_move(
        EventType::AlertTriggered,
        standing,
        Actor::Queue,
        Utc::now(),
    );
    serde_json::to_value(&alert).unwrap()
}

/// `n` delivery messages to the webhooks in turn, as fan-out makes them (it writes
/// nothing the deliver function reads, so they need no fan-out here).
fn messages(account: &str, webhooks: &[Webhook], n: usize) -> Vec<String> {
    let alert = bench_alert();
    (0..n)
        .map(|i| {
            let webhook = &webhooks[i % webhooks.len()];
            let payload =
                Payload::new(EventType::AlertTriggered, &alert, None, webhook, Utc::now());
            let message = DeliveryMessage {
                account_id: account.to_string(),
                webhook_id: webhook.id.clone(),
                delivery_id: uuid::Uuid::now_v7().to_string(),
                alert_id: uuid::Uuid::now_v7().to_string(),
                event: EventType::AlertTriggered,
                attempt: 1,
                trigger: Trigger::Scheduled,
                payload: payload.to_raw(),
                not_before: None,
                transition: None,
                waits_for: None,
                out_of_order: false,
                condition_error: None,
                slot: None,
            };
            serde_json::to_string(&message).unwrap()
        })
        .collect()
}

/// Runs the deliver handler on `bodies`, ten to an event, `in_flight` events at once.
async fn deliver(bench: &Bench, bodies: &[String], in_flight: usize) -> Duration {
    let app = bench.app(bench.settings.clone(), &bench.settings.delivery_queue_url);
    let started = Instant::now();
    let failures: usize = stream::iter(bodies.chunks(10).map(event_of))
        .map(|e| {
            let app = &app;
            async move {
                triggers::deliver(app, e)
                    .await
                    .unwrap()
                    .batch_item_failures
                    .len()
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(
        failures, 0,
        "every delivery succeeds against the local receiver"
    );
    started.elapsed()
}

/// The same DynamoDB calls as `deliver` makes for `bodies`, without the HTTP: per batch
/// of ten, the worker's reads, claims and records (mirrored here, through the store).
async fn writes_only(bench: &Bench, bodies: &[String], in_flight: usize) -> Duration {
    let settings = &bench.settings.delivery;
    let started = Instant::now();
    stream::iter(bodies.chunks(10))
        .map(|batch| async move {
            let now = Utc::now();
            let messages: Vec<DeliveryMessage> = batch
                .iter()
                .map(|b| serde_json::from_str(b).unwrap())
                .collect();
            let keys: Vec<(&str, &str)> = messages
                .iter()
                .map(|m| (m.account_id.as_str(), m.webhook_id.as_str()))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let webhooks = bench.store.get_webhook_configs(&keys).await.unwrap();
            let deliveries: Vec<Delivery> = messages
                .iter()
                .map(|m| m.delivery(now, settings.expires_at(now)))
                .collect();
            let claims = messages.iter().zip(&deliveries).map(|(m, delivery)| {
                let claim = AttemptClaim {
                    account_id: &m.account_id,
                    delivery,
                    attempt: m.attempt,
                    trigger: m.trigger,
                };
                async move {
                    bench
                        .store
                        .claim_attempt(&claim, now + settings.lease, now)
                        .await
                        .unwrap()
                }
            });
            for claim in join_all(claims).await {
                assert!(matches!(claim, Claim::Claimed));
            }
            let sent = Sent {
                outcome: Outcome::Success,
                status_code: Some(200),
                message: "delivered: the endpoint answered HTTP 200".into(),
                duration_ms: 1,
                response_body: Some("ok".into()),
                retry_after: None,
                window_reset: None,
            };
            let decision = retry::decide(&sent, 1, Trigger::Scheduled, &settings.retry, 0.5, now);
            let last = LastDelivery {
                success: true,
                status_code: Some(200),
                response: Some("ok".into()),
                timestamp: now,
            };
            let records: Vec<(AttemptRecord, Delivery)> = messages
                .iter()
                .zip(&deliveries)
                .map(|(m, delivery)| {
                    let webhook = webhooks.iter().find(|w| w.id == m.webhook_id).unwrap();
                    let rendered =
                        Rendered::standard(webhook, m.payload_json().as_bytes().to_vec());
                    let request =
                        build_request(webhook, &delivery.msg_id, rendered, now.timestamp())
                            .unwrap();
                    let record = AttemptRecord::new(
                        delivery,
                        1,
                        m.trigger,
                        now,
                        request.recorded(),
                        &sent,
                        &decision,
                        settings.expires_at(now),
                    );
                    let after = delivery.after(&record, now);
                    (record, after)
                })
                .collect();
            let all = WebhookStatus::per_webhook(
                messages
                    .iter()
                    .map(|m| ((m.account_id.as_str(), m.webhook_id.as_str()), &last)),
            );
            let keys: Vec<(&str, &str)> = all.iter().map(|(key, _)| *key).collect();
            let gates = bench.store.gates(&keys, &[]).await.unwrap();
            let statuses: Vec<_> = (all.into_iter())
                .filter(|((a, w), status)| {
                    let gate = gates.get(&(a.to_string(), w.to_string()));
                    let paused = gate.is_some_and(|g| g.paused_until.is_some());
                    status.worth_writing(gate.and_then(|g| g.clear_at), paused, now)
                })
                .collect();
            let finished: Vec<_> = messages
                .iter()
                .zip(&records)
                .map(|(m, (record, delivery))| (m.account_id.as_str(), record, delivery))
                .collect();
            bench
                .store
                .record_attempts(&finished, &statuses)
                .await
                .unwrap();
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

pub async fn run(bench: &Bench) {
    let url = receiver::start(200).await;
    let (account, webhooks) = bench.account(WEBHOOKS, &url).await;

    // Warm up caches, connections and the JIT of DynamoDB Local.
    deliver(bench, &messages(&account, &webhooks, 400), 4).await;

    println!("Hookline benchmark: throughput ({WEBHOOKS} webhooks, a loopback receiver)");
    println!(
        "  batches of 10 in flight   deliver             same writes, no HTTP   deliver / writes"
    );
    let mut per_delivery = None;
    for (in_flight, n) in SWEEP {
        let bodies = messages(&account, &webhooks, n);
        let before = bench.meter.reading();
        let took = deliver(bench, &bodies, in_flight).await;
        per_delivery.get_or_insert((bench.meter.reading() - before).per(n));
        let took_writes = writes_only(bench, &messages(&account, &webhooks, n), in_flight).await;
        let (rate, writes_rate) = (per_second(n, took), per_second(n, took_writes));
        println!(
            "  {in_flight:>24}   {rate:>6.0} deliveries/s   {writes_rate:>6.0} deliveries/s      {:>5.0} %",
            100.0 * rate / writes_rate
        );
    }
    let per = per_delivery.unwrap();
    println!(
        "  DynamoDB requests          {:>8.2} per successful delivery (1 batch in flight)",
        per.requests
    );

    // The transport limit: the same signed POSTs straight from reqwest.
    let policy = &bench.settings.destinations;
    let http = send::http_client(policy);
    let body = r#"{"type":"alert.triggered","data":{"alert":{"message":"CPU usage at 92%"}}}"#;
    let started = Instant::now();
    stream::iter(0..3000)
        .map(|i| {
            let webhook = &webhooks[i % WEBHOOKS];
            let request = build_request(
                webhook,
                "msg_bench",
                Rendered::standard(webhook, body.into()),
                Utc::now().timestamp(),
            )
            .unwrap();
            let http = &http;
            async move { send::send(http, &request, Duration::from_secs(10), policy).await }
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|a| async move { assert!(a.success()) })
        .await;
    let post_rate = per_second(3000, started.elapsed());

    // The storage limit: PutItem of a record-sized item, and two reference rates.
    let table = &bench.settings.table_name;
    let record = "x".repeat(1500);
    let started = Instant::now();
    stream::iter(0..3000)
        .map(|i| {
            let put = bench
                .dynamo
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(format!("BENCH#{i}")))
                .item("sk", AttributeValue::S("RAW".into()))
                .item("record", AttributeValue::S(record.clone()));
            async move { put.send().await.unwrap() }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let put_rate = per_second(3000, started.elapsed());
    let started = Instant::now();
    stream::iter(0..300)
        .map(|i| {
            let items = (0..10).map(|j| {
                let update = Update::builder()
                    .table_name(table)
                    .key("pk", AttributeValue::S(format!("BENCH#{i}#{j}")))
                    .key("sk", AttributeValue::S("TX".into()))
                    .update_expression("SET lease_until = :l")
                    .condition_expression("attribute_not_exists(lease_until) OR lease_until < :l")
                    .expression_attribute_values(":l", AttributeValue::N("1".into()))
                    .build()
                    .unwrap();
                TransactWriteItem::builder().update(update).build()
            });
            let tx = bench
                .dynamo
                .transact_write_items()
                .set_transact_items(Some(items.collect()));
            async move { tx.send().await.unwrap() }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let tx_rate = per_second(3000, started.elapsed());
    let started = Instant::now();
    stream::iter(0..120)
        .map(|i| {
            let puts = (0..25).map(|j| {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(format!("BENCH#{i}#{j}")))
                    .item("sk", AttributeValue::S("BATCH".into()))
                    .item("record", AttributeValue::S(record.clone()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            });
            let batch = bench
                .dynamo
                .batch_write_item()
                .request_items(table, puts.collect());
            async move { batch.send().await.unwrap() }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let batch_rate = per_second(3000, started.elapsed());
    println!("  raw reqwest POST           {post_rate:>8.0} requests/s, {CONCURRENCY} at once (transport limit)");
    println!("  raw DynamoDB PutItem       {put_rate:>8.0} requests/s, {CONCURRENCY} at once (storage limit)");
    println!(
        "  (transaction items         {tx_rate:>8.0} items/s, 10 conditional updates a request)"
    );
    println!("  (BatchWriteItem items      {batch_rate:>8.0} items/s, 25 puts a request)");

    fan_out(bench, &url, &json!({}), "no filter").await;
}

/// What formats, templates and filters cost: deliver throughput by payload shape, each
/// render's CPU time, and a fan-out whose webhooks each have a filter beside one without.
pub async fn payloads(bench: &Bench) {
    let url = receiver::start(200).await;
    let (account, webhooks) = bench.account(WEBHOOKS, &url).await;
    deliver(bench, &messages(&account, &webhooks, 400), 4).await;
    println!("Hookline benchmark: payloads ({WEBHOOKS} webhooks, a loopback receiver)");
    shapes(bench, &url, &account, &webhooks).await;
    fan_out(bench, &url, &json!({}), "no filter").await;
    fan_out(bench, &url, &typical_filter(), "a filter each").await;
    fan_out(
        bench,
        &url,
        &json!({"condition": TYPICAL_CONDITION}),
        "a condition each",
    )
    .await;
}

/// An OnCall `trigger_template` as users write them.
const TYPICAL_CONDITION: &str =
    r#"{{ alert.severity in ["critical", "error"] and alert.labels.team|default("") == "ops" }}"#;

/// Deliver throughput with the standard payload, a typical template and the Slack format,
/// run in turn (so the machine's drift touches each alike), and each render's CPU time.
async fn shapes(bench: &Bench, url: &str, account: &str, webhooks: &[Webhook]) {
    let (templated_account, templated) = bench
        .account_with(WEBHOOKS, url, &json!({"template": TYPICAL_TEMPLATE}))
        .await;
    let (slack_account, slack) = bench
        .account_with(WEBHOOKS, url, &json!({"format": "slack"}))
        .await;
    let runs = [
        ("standard payload", account, webhooks),
        (
            "typical template",
            templated_account.as_str(),
            templated.as_slice(),
        ),
        ("slack format", slack_account.as_str(), slack.as_slice()),
    ];
    let mut took = [Duration::ZERO; 3];
    for _ in 0..SHAPE_ROUNDS {
        for (i, (_, account, webhooks)) in runs.iter().enumerate() {
            took[i] += deliver(bench, &messages(account, webhooks, SHAPE_RUN), 16).await;
        }
    }
    println!("  payload shape, 16 in flight, {SHAPE_ROUNDS} x {SHAPE_RUN} each, in turn:");
    let standard = per_second(SHAPE_ROUNDS * SHAPE_RUN, took[0]);
    for (i, (name, _, webhooks)) in runs.iter().enumerate() {
        let rate = per_second(SHAPE_ROUNDS * SHAPE_RUN, took[i]);
        let cpu = render_time(&webhooks[0]).await;
        println!(
            "    {name:<22} {rate:>6.0} deliveries/s ({:>+5.1} %), render {cpu:>6.1} us",
            100.0 * (rate / standard - 1.0)
        );
    }
}

/// The time one render for `webhook` takes, in microseconds, over many in turn: a user's
/// template includes its sandbox child's start.
async fn render_time(webhook: &Webhook) -> f64 {
    let alert = bench_alert();
    let payload =
        Payload::new(EventType::AlertTriggered, &alert, None, webhook, Utc::now()).render();
    let sandbox = Sandbox::beside("deliver").expect("the benchmark knows its path");
    const N: u32 = 500;
    let started = Instant::now();
    for _ in 0..N {
        let delivery = DeliveryRef {
            id: "bench",
            attempt: 1,
        };
        let rendered = render::render(webhook, &payload, delivery, &sandbox).await;
        std::hint::black_box(rendered.unwrap().unwrap());
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(N)
}

/// One alert to 1,000 webhooks (each with the settings in `extra`), on a scratch queue.
async fn fan_out(bench: &Bench, url: &str, extra: &serde_json::Value, what: &str) {
    let (fan_account, _) = bench.account_with(FAN_OUT, url, extra).await;
    let scratch = bench.scratch_queue().await;
    let fan_queue = Queue::new(bench.sqs.clone(), scratch.clone());
    let before = bench.meter.reading();
    let started = Instant::now();
    let sandbox = Sandbox::beside("deliver").expect("the benchmark knows its path");
    let accepted = Ingest {
        store: &bench.store,
        queue: &fan_queue,
        settings: &bench.settings.delivery,
        links_base: Some(url),
        sandbox: &sandbox,
    }
    .accept(
        &fan_account,
        AlertInput::parse(&json!({"type": "cpu_high", "message": "fan-out", "severity": "critical", "labels": {"team": "ops"}}))
            .unwrap(),
        None,
        Actor::Queue,
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let dynamo = bench.meter.reading() - before;
    bench
        .sqs
        .delete_queue()
        .queue_url(scratch)
        .send()
        .await
        .unwrap();
    println!(
        "  fan-out to {FAN_OUT} webhooks, {what:<16} {} deliveries queued with {} SQS calls and {} DynamoDB requests in {:.2}s",
        accepted.deliveries,
        fan_queue.calls(),
        dynamo.requests,
        took.as_secs_f64()
    );
}
