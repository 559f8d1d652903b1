//! What a delivery costs: DynamoDB capacity units (asked of DynamoDB Local with
//! `ReturnConsumedCapacity`), SQS requests, Lambda time, log bytes; and the bill for a
//! million deliveries at list prices.

use std::time::Duration;

use futures::{stream, StreamExt};
use hookline_functions::{triggers, App};
use hookline_shared::{
    alert::{lifecycle::Actor, AlertInput},
    auth::hash_token,
    delivery::queue::{DeliveryMessage, Queue, MAX_DELAY, MAX_HOLD},
    settings::{parse_schedule, DEFAULT_SCHEDULE},
};
use serde_json::json;

use crate::{
    event_of,
    meter::{since, Reading, Units},
    receiver, Bench,
};

/// Payloads carry action links; their base URL costs nothing.
const LINKS_BASE: &str = "https://hookline.example.com";

/// Deliveries per measured path.
const N: usize = 100;

/// List prices, us-east-1, as AWS published them (checked 2026-11-23).
struct Prices;
impl Prices {
    /// Lambda on arm64, per GB-second and per million requests.
    const LAMBDA_GB_S: f64 = 0.000_013_333_4;
    const LAMBDA_REQUESTS_M: f64 = 0.20;
    /// SQS standard queue, per million requests (64 KiB each).
    const SQS_M: f64 = 0.40;
    /// DynamoDB on-demand, per million write and read request units (since Nov 2024).
    const WRITE_M: f64 = 0.625;
    const READ_M: f64 = 0.125;
    /// API Gateway HTTP API, per million requests (first 300 million a month).
    const HTTP_API_M: f64 = 1.00;
    /// CloudWatch Logs ingestion, per GB.
    const LOGS_GB: f64 = 0.50;
}

/// Assumed, since nothing here runs on Lambda: a receiver answering in 200 ms, so an
/// invocation of the deliver function takes about 250 ms for a batch (attempts run at
/// once) and the ingest function 30 ms a request; functions have 256 MB.
const DELIVER_SECONDS: f64 = 0.25;
const INGEST_SECONDS: f64 = 0.03;
const MEMORY_GB: f64 = 0.25;
/// Lambda's own lines per invocation (start and report, in the JSON log format).
const PLATFORM_LOG_BYTES: f64 = 500.0;

struct Path {
    name: &'static str,
    units: Reading,
    log_bytes: f64,
    /// Write and read units by call, per delivery.
    calls: Vec<(String, Units)>,
}

/// Runs `deliver` on these messages, `per_event` to an event, four events at once.
async fn deliver(app: &App, bodies: &[String], per_event: usize) -> usize {
    let failed: usize = stream::iter(bodies.chunks(per_event).map(event_of))
        .map(|e| async move {
            triggers::deliver(app, e)
                .await
                .unwrap()
                .batch_item_failures
                .len()
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    // Taken off the queue already: one the handler left for later would be lost here.
    assert_eq!(failed, 0, "the deliver handler left messages for later");
    bodies.len()
}

/// Runs `deliver` over every message visible on `queue_url`.
pub async fn deliver_all(bench: &Bench, app: &App, queue_url: &str, per_event: usize) -> usize {
    deliver(app, &bench.drain(queue_url).await, per_event).await
}

/// Measures `work`, which handles `n` deliveries: units and log bytes per delivery.
async fn measure<F: std::future::Future<Output = usize>>(
    bench: &Bench,
    name: &'static str,
    work: F,
) -> Path {
    let (before, logs) = (bench.meter.reading(), bench.log_bytes.get());
    let calls_before = bench.meter.by_call();
    let n = work.await;
    let per = |u: Units| Units {
        read: u.read / n as f64,
        write: u.write / n as f64,
    };
    Path {
        name,
        units: (bench.meter.reading() - before).per(n),
        log_bytes: (bench.log_bytes.get() - logs) as f64 / n as f64,
        calls: (since(&calls_before, bench.meter.by_call()).into_iter())
            .map(|(call, units)| (call, per(units)))
            .collect(),
    }
}

/// SQS requests and deliver invocations for a delivery failing every attempt of
/// `schedule`, as the deliver function queues retries now: each retry is one message sent
/// with at most SQS's 15-minute delay, received (an invocation), and deleted; one due later
/// is held out of sight for the rest (one ChangeMessageVisibility per 11 hours) and
/// received again. Before, a longer wait sent a new message every 15 minutes (`hops`).
fn retry_traffic(schedule: &[Duration]) -> (usize, usize, usize) {
    let quarter = MAX_DELAY.as_secs();
    let (mut requests, mut invocations, mut hops) = (3, 1, 1);
    for delay in schedule {
        let held_for = delay.as_secs().saturating_sub(quarter);
        let holds = held_for.div_ceil(MAX_HOLD.as_secs()) as usize;
        requests += 3 + 2 * holds;
        invocations += 1 + holds;
        hops += delay.as_secs().div_ceil(quarter).max(1) as usize;
    }
    (requests, invocations, hops)
}

/// An account's first alert makes its link key, and a webhook's first success writes its
/// health: once each, not what a delivery costs. One alert goes through first, unmeasured.
async fn warm_up(bench: &Bench, app: &App, account: &str, input: &AlertInput, queue_url: &str) {
    (app.ingest(Some(LINKS_BASE)))
        .accept(account, input.clone(), None, Actor::Queue)
        .await
        .unwrap();
    deliver_all(bench, app, queue_url, 10).await;
}

/// Ingests `N` copies of `input`, each with a fresh Idempotency-Key when `keyed`.
async fn ingest_all(app: &App, account: &str, input: &AlertInput, keyed: bool) -> usize {
    for _ in 0..N {
        let key = keyed.then(|| format!("bench-{}", uuid::Uuid::new_v4()));
        app.ingest(Some(LINKS_BASE))
            .accept(account, input.clone(), key.as_deref(), Actor::Queue)
            .await
            .unwrap();
    }
    N
}

pub async fn run(bench: &Bench) {
    let ok = receiver::start(200).await;
    let failing = receiver::start(503).await;
    let queue_url = bench.scratch_queue().await;
    let queue = Queue::new(bench.sqs.clone(), queue_url.clone());
    let app = bench.app(bench.settings.clone(), &queue_url);
    let input = AlertInput::parse(&json!({"type": "cpu_high", "message": "CPU usage at 92% (threshold: 80%)", "severity": "critical", "labels": {"host": "web-01"}})).unwrap();
    let (account, _) = bench.account(1, &ok).await;
    warm_up(bench, &app, &account, &input, &queue_url).await;

    // Ingest: one alert to one webhook, so every unit is the delivery's.
    let auth = measure(bench, "token lookup (each API request)", async {
        let hash = hash_token("hkl_bench");
        for _ in 0..N {
            bench.store.find_token(&hash).await.unwrap();
        }
        N
    })
    .await;
    let ingest = measure(
        bench,
        "ingest, no Idempotency-Key",
        ingest_all(&app, &account, &input, false),
    )
    .await;
    let deliver_batch = measure(
        bench,
        "deliver, first-attempt success (batches of 10)",
        deliver_all(bench, &app, &queue_url, 10),
    )
    .await;
    let ingest_keyed = measure(
        bench,
        "ingest, with an Idempotency-Key",
        ingest_all(&app, &account, &input, true),
    )
    .await;
    let deliver_alone = measure(
        bench,
        "deliver, first-attempt success (alone)",
        deliver_all(bench, &app, &queue_url, 1),
    )
    .await;

    // The same at fan-out 10: one alert to ten webhooks, every unit per delivery.
    let (account_10, _) = bench.account(10, &ok).await;
    warm_up(bench, &app, &account_10, &input, &queue_url).await;
    let ingest_10 = measure(
        bench,
        "ingest to 10 webhooks, no key (per delivery)",
        async { ingest_all(&app, &account_10, &input, false).await * 10 },
    )
    .await;
    let deliver_10 = measure(
        bench,
        "deliver, fan-out 10 (batches of 10)",
        deliver_all(bench, &app, &queue_url, 10),
    )
    .await;
    let ingest_10_keyed = measure(
        bench,
        "ingest to 10 webhooks, with a key (per delivery)",
        async { ingest_all(&app, &account_10, &input, true).await * 10 },
    )
    .await;
    let deliver_10_keyed = measure(
        bench,
        "deliver, fan-out 10, keyed alerts",
        deliver_all(bench, &app, &queue_url, 10),
    )
    .await;

    // A failure through the whole schedule, at 1 ms a retry: 8 attempts, like Svix's.
    let retries = parse_schedule(DEFAULT_SCHEDULE).unwrap();
    let fast = vec!["1ms"; retries.len()].join(",");
    let failing_app = bench.app(
        bench.settings_with(&[("RETRY_SCHEDULE", &fast)]),
        &queue_url,
    );
    let (failing_account, _) = bench.account(1, &failing).await;
    for _ in 0..N {
        failing_app
            .ingest(Some(LINKS_BASE))
            .accept(&failing_account, input.clone(), None, Actor::Queue)
            .await
            .unwrap();
    }
    let mut attempts = Vec::new();
    // Retries of attempt n come back a second after it; a slow round may also see those
    // of the next: each round takes its own attempt's messages and keeps the others.
    let mut later: Vec<String> = Vec::new();
    for attempt in 1..=retries.len() + 1 {
        let name = match attempt {
            1 => "deliver, a failing first attempt",
            a if a == retries.len() + 1 => "deliver, the last attempt (retries exhausted)",
            _ => "deliver, a failing retry",
        };
        let mut round = Vec::new();
        while round.len() < N {
            later.extend(bench.drain(&queue_url).await);
            let (mine, others): (Vec<String>, Vec<String>) = later.drain(..).partition(|body| {
                serde_json::from_str::<DeliveryMessage>(body)
                    .is_ok_and(|m| m.attempt as usize == attempt)
            });
            round.extend(mine);
            later = others;
            if round.len() < N {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let sends_before = failing_app.queue.calls();
        let path = measure(bench, name, deliver(&failing_app, &round, 10)).await;
        let sends = (failing_app.queue.calls() - sends_before) as f64 / N as f64;
        attempts.push((path, sends));
    }
    bench
        .sqs
        .delete_queue()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap();
    let _ = queue;

    println!();
    println!(
        "Hookline benchmark: cost (DynamoDB units asked of DynamoDB Local; {N} deliveries a path)"
    );
    println!("  path                                             write units  read units  requests  log bytes");
    let paths = [
        &auth,
        &ingest,
        &ingest_keyed,
        &deliver_batch,
        &deliver_alone,
        &ingest_10,
        &ingest_10_keyed,
        &deliver_10,
        &deliver_10_keyed,
    ];
    for p in paths.iter().copied().chain(attempts.iter().map(|(p, _)| p)) {
        println!(
            "  {:<48} {:>11.2} {:>11.2} {:>9.2} {:>10.0}",
            p.name, p.units.write_units, p.units.read_units, p.units.requests, p.log_bytes
        );
        for (call, units) in &p.calls {
            println!(
                "      {call:<44} {:>11.2} {:>11.2}",
                units.write, units.read
            );
        }
    }
    let success =
        |ingest: &Path, deliver: &Path| ingest.units.write_units + deliver.units.write_units;
    println!(
        "  first-attempt success, ingest included:          {:.2} write units ({:.2} with a key); goal 4",
        success(&ingest, &deliver_batch),
        success(&ingest_keyed, &deliver_batch)
    );
    println!(
        "  the same at fan-out 10, per delivery:            {:.2} write units ({:.2} with a key); goal 2.5",
        success(&ingest_10, &deliver_10),
        success(&ingest_10_keyed, &deliver_10_keyed)
    );
    let through: f64 = attempts.iter().map(|(p, _)| p.units.write_units).sum();
    let sends: f64 = attempts.iter().map(|(_, s)| s).sum();
    println!(
        "  a failure through all {} attempts: {:.2} write units, {:.2} read units, {:.0} retry messages sent by deliver",
        attempts.len(),
        through + ingest.units.write_units,
        attempts.iter().map(|(p, _)| p.units.read_units).sum::<f64>() + ingest.units.read_units + auth.units.read_units,
        sends
    );
    let (requests, invocations, hops) = retry_traffic(&retries);
    println!(
        "  the same on the {DEFAULT_SCHEDULE} schedule: {requests} SQS requests and {invocations} deliver invocations \
         (hopping every 15 minutes, it was {} requests and {hops} invocations)",
        3 * hops
    );

    // A million first-attempt successes, one webhook per alert (so ingest is all theirs),
    // the deliver function taking batches of 10.
    let m = 1.0;
    let lambda_gb_s = m * 1e6 * (DELIVER_SECONDS / 10.0 + INGEST_SECONDS) * MEMORY_GB;
    let rows = [
        (
            "Lambda GB-s (deliver, ingest)",
            lambda_gb_s * Prices::LAMBDA_GB_S,
            format!("{lambda_gb_s:.0} GB-s"),
        ),
        (
            "Lambda requests",
            m * 1.1 * Prices::LAMBDA_REQUESTS_M,
            "1.1 M invocations".to_string(),
        ),
        (
            "HTTP API requests (POST /alerts)",
            m * Prices::HTTP_API_M,
            "1 M".to_string(),
        ),
        (
            "SQS (send, receive, delete)",
            m * 1.2 * Prices::SQS_M,
            "1.2 M requests".to_string(),
        ),
        (
            "DynamoDB writes",
            m * success(&ingest, &deliver_batch) * Prices::WRITE_M,
            format!("{:.2} M units", success(&ingest, &deliver_batch)),
        ),
        (
            "DynamoDB reads",
            m * (auth.units.read_units + ingest.units.read_units + deliver_batch.units.read_units)
                * Prices::READ_M,
            format!(
                "{:.2} M units",
                auth.units.read_units + ingest.units.read_units + deliver_batch.units.read_units
            ),
        ),
        (
            "CloudWatch Logs",
            (ingest.log_bytes + deliver_batch.log_bytes + PLATFORM_LOG_BYTES * 1.1)
                * Prices::LOGS_GB
                / 1000.0,
            format!(
                "{:.2} GB",
                (ingest.log_bytes + deliver_batch.log_bytes + PLATFORM_LOG_BYTES * 1.1) / 1000.0
            ),
        ),
    ];
    println!();
    println!("  a million first-attempt successes (one webhook per alert, deliver batches of 10):");
    let total: f64 = rows.iter().map(|(_, usd, _)| usd).sum();
    for (name, usd, amount) in &rows {
        println!("    {name:<36} {amount:>18}   ${usd:>6.2}");
    }
    println!("    {:<36} {:>18}   ${total:>6.2}", "total", "");
}
