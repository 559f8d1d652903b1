//! `bench storm`: an alert storm into one account, beside a quiet one, through the real
//! deliver handler (in-process, as many invocations at once as the event source would
//! run) and receivers on loopback.
//!
//! Account A gets 1,000 alerts in 10 s, 5 % critical, 200 of them resolved during the
//! storm, to three webhooks: a Slack-format one limited at 1 a second, burst 3; a
//! PagerDuty-format one whose receiver answers every fifth request 429 with
//! `Retry-After: 5`; and a `standard` one with no limit. Account B gets one alert a
//! second for 40 s, to one `standard` webhook, alone before the storm (its latency
//! without it) and from the storm's start.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use hookline_functions::App;
use hookline_shared::{
    alert::{
        lifecycle::{Action, Actor},
        AlertInput,
    },
    delivery::outcome::DeliveryState,
    webhook::Webhook,
};
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::{
    event_of,
    load::{counted_since, BusyTimeline, CpuMark},
    Bench,
};

const STORM_ALERTS: usize = 1000;
const STORM_SECONDS: u64 = 10;
/// How long account B sends its alert a second, alone and then in the storm: the same
/// number of samples on each side of the comparison.
const QUIET_SECONDS: u64 = 40;
/// Invocations of the deliver function at once, as the event source scales them.
const INVOCATIONS: usize = 8;
/// How often the machine's busy share is read.
const BUSY_EVERY: Duration = Duration::from_millis(250);
/// Below this busy share the machine had room to spare.
const CALM: f64 = 0.8;

/// One request as a receiver got it.
#[derive(Clone)]
struct Got {
    at: Instant,
    body: Value,
    /// Its `webhook-id` header: which delivery it was.
    msg_id: String,
    /// Answered 429 (with `Retry-After: 5`).
    refused: bool,
}

/// A receiver on loopback that keeps what it got; every `refuse_every`th request (if
/// any) is answered 429 with `Retry-After: 5`.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(refuse_every: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let turn = Arc::new(AtomicUsize::new(0));
        let log = got.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, turn) = (log.clone(), turn.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (log, turn) = (log.clone(), turn.clone());
                        async move {
                            let msg_id = (request.headers().get("webhook-id"))
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string();
                            let bytes = request.into_body().collect().await.map(|b| b.to_bytes());
                            let body = bytes
                                .ok()
                                .and_then(|b| serde_json::from_slice(&b).ok())
                                .unwrap_or_default();
                            let n = turn.fetch_add(1, Ordering::SeqCst) + 1;
                            let refused = refuse_every.is_some_and(|every| n.is_multiple_of(every));
                            log.lock().unwrap().push(Got {
                                at: Instant::now(),
                                body,
                                msg_id,
                                refused,
                            });
                            let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                            if refused {
                                *response.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
                                response
                                    .headers_mut()
                                    .insert("retry-after", "5".parse().unwrap());
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

/// When each delivery's batches began, by its `webhook-id`: a request whose batch began
/// before a pause was asked for was already on its way.
type Began = Mutex<HashMap<String, Vec<Instant>>>;

/// Runs the deliver handler on the queue, `INVOCATIONS` at once, until `stop` is set.
async fn deliver(bench: &Bench, app: &App, queue: &str, stop: &AtomicBool, began: &Began) {
    let invoke = || async {
        while !stop.load(Ordering::Relaxed) {
            let got = bench
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await;
            let Ok(got) = got else { continue };
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            let bodies: Vec<String> = messages
                .iter()
                .map(|m| m.body().unwrap_or_default().to_string())
                .collect();
            let now = Instant::now();
            for body in &bodies {
                let delivery = serde_json::from_str::<Value>(body).ok();
                if let Some(id) = delivery.as_ref().and_then(|d| d["delivery_id"].as_str()) {
                    let msg_id = hookline_shared::delivery::record::msg_id(id);
                    began.lock().unwrap().entry(msg_id).or_default().push(now);
                }
            }
            let mut event = event_of(&bodies);
            for (record, m) in event.records.iter_mut().zip(&messages) {
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record
                    .attributes
                    .insert("ApproximateReceiveCount".into(), "1".into());
            }
            let answer = hookline_functions::triggers::deliver(app, event)
                .await
                .unwrap();
            let kept: HashSet<&str> = (answer.batch_item_failures.iter())
                .map(|f| f.item_identifier.as_str())
                .collect();
            let mut delete = bench.sqs.delete_message_batch().queue_url(queue);
            let mut any = false;
            for (n, m) in messages.iter().enumerate() {
                if !kept.contains(m.message_id().unwrap_or_default()) {
                    let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .unwrap();
                    delete = delete.entries(entry);
                    any = true;
                }
            }
            if any {
                if let Err(e) = delete.send().await {
                    eprintln!("DeleteMessageBatch failed: {e}");
                }
            }
        }
    };
    futures::future::join_all((0..INVOCATIONS).map(|_| invoke())).await;
}

/// Messages on the queue: visible, in flight and delayed.
async fn queued(bench: &Bench, queue: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let got = bench
        .sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await;
    let attributes = got.ok().and_then(|g| g.attributes).unwrap_or_default();
    attributes
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// One of B's alerts: its id, when it was sent, and how long ingest took to accept it.
type Quiet = (String, Instant, Duration);

/// Sends account B one alert a second for `seconds`.
async fn quiet_account(app: &App, account: &str, seconds: u64) -> Vec<Quiet> {
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for i in 0..seconds {
        tick.tick().await;
        let input =
            AlertInput::parse(&json!({"type": "quiet", "message": format!("b{i}")})).unwrap();
        let started = Instant::now();
        let accepted = app
            .ingest(None)
            .accept(account, input, None, Actor::Queue)
            .await
            .unwrap();
        sent.push((accepted.alert_id.unwrap(), started, started.elapsed()));
    }
    sent
}

/// How long B's alerts took, each sorted: from being sent to reaching the receiver, to
/// being accepted by ingest, and from being accepted to reaching the receiver.
fn latencies(sent: &[Quiet], receiver: &Receiver) -> [Vec<Duration>; 3] {
    let got = receiver.got();
    let (mut whole, mut ingest, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for (id, at, took) in sent {
        let Some(arrived) = (got.iter()).find(|g| g.body["data"]["alert"]["id"] == id.as_str())
        else {
            continue;
        };
        whole.push(arrived.at - *at);
        ingest.push(*took);
        after.push((arrived.at - *at).saturating_sub(*took));
    }
    for list in [&mut whole, &mut ingest, &mut after] {
        list.sort();
    }
    [whole, ingest, after]
}

/// From sent to the receiver, sorted, for B's alerts that never met the machine busier
/// than `CALM` on their way: what the storm's queued work costs them, apart from the
/// emulators' CPU on a machine of two cores.
fn calm_latencies(sent: &[Quiet], receiver: &Receiver, busy: &BusyTimeline) -> Vec<Duration> {
    let got = receiver.got();
    let mut calm: Vec<Duration> = (sent.iter())
        .filter_map(|(id, at, _)| {
            let arrived = got
                .iter()
                .find(|g| g.body["data"]["alert"]["id"] == id.as_str())?;
            let busiest = busy.busiest(*at, arrived.at, BUSY_EVERY)?;
            (busiest < CALM).then(|| arrived.at - *at)
        })
        .collect();
    calm.sort();
    calm
}

/// The `pct` percentile of sorted durations, in ms.
fn percentile(sorted: &[Duration], pct: usize) -> f64 {
    let i = (sorted.len() * pct).div_ceil(100).saturating_sub(1);
    sorted.get(i).copied().unwrap_or_default().as_secs_f64() * 1000.0
}

/// Every delivery of a webhook as stored.
async fn deliveries(
    bench: &Bench,
    w: &Webhook,
) -> Vec<hookline_shared::delivery::record::Delivery> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = bench
            .store
            .list_deliveries(
                &w.account_id,
                &w.id,
                1000,
                after.as_deref(),
                None,
                (None, None),
                Utc::now(),
            )
            .await
            .unwrap();
        all.extend(page.items);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

fn alert_of(g: &Got) -> Option<&str> {
    g.body["data"]["alert"]["id"].as_str()
}

pub async fn run(bench: &Bench) {
    println!("\n## Storm: 1,000 alerts in 10 s into account A, beside account B\n");
    let slack = Receiver::start(None).await;
    let pagerduty = Receiver::start(Some(5)).await;
    let standard = Receiver::start(None).await;
    let quiet = Receiver::start(None).await;
    let (a, _) = bench.account(0, "").await;
    let slack_hook = webhook_of(
        bench,
        &a,
        &slack.url,
        json!({"format": "slack", "rate_limit": {"per_minute": 60, "burst": 3}}),
    )
    .await;
    let pd_hook = webhook_of(
        bench,
        &a,
        &pagerduty.url,
        json!({"format": "pagerduty", "secrets": {"routing_key": "R0UTINGKEY"}}),
    )
    .await;
    let standard_hook = webhook_of(bench, &a, &standard.url, json!({})).await;
    let (b, _) = bench.account(0, "").await;
    let quiet_hook = webhook_of(bench, &b, &quiet.url, json!({})).await;
    let queue = bench.scratch_queue().await;
    // Retries a minute apart at most, so that a delivery refused twice (the PagerDuty
    // receiver refuses every fifth request) is done within the run, not in 5 minutes.
    let settings = bench.settings_with(&[
        ("DELIVERY_QUEUE_URL", &queue),
        ("RETRY_SCHEDULE", "5s,10s,20s,40s,60s,60s,60s"),
    ]);
    let app = bench.app(settings, &queue);
    let stop = AtomicBool::new(false);
    let began = Began::default();

    let busy = BusyTimeline::start(BUSY_EVERY);
    println!("(CPU is read for {})", crate::load::watched());

    // B alone: its latency without a storm, and the write units of a quiet alert.
    let before = bench.meter.reading();
    let (calls_before, sqs_before) = (bench.meter.calls(), bench.sqs_requests.by_operation());
    let cpu_alone = Mutex::new(String::new());
    let (alone, _) = tokio::join!(
        async {
            let mark = CpuMark::now();
            let sent = quiet_account(&app, &b, QUIET_SECONDS).await;
            *cpu_alone.lock().unwrap() = mark.describe_since();
            tokio::time::sleep(Duration::from_secs(3)).await;
            stop.store(true, Ordering::Relaxed);
            sent
        },
        deliver(bench, &app, &queue, &stop, &began),
    );
    let quiet_units = (bench.meter.reading() - before).write_units / alone.len() as f64;
    let quiet_calls = counted_since(&calls_before, bench.meter.calls());
    let quiet_sqs = counted_since(&sqs_before, bench.sqs_requests.by_operation());
    let latency_alone = latencies(&alone, &quiet);
    quiet.got.lock().unwrap().clear();

    // The storm, with B throughout.
    stop.store(false, Ordering::Relaxed);
    let before = bench.meter.reading();
    let (calls_before, sqs_before) = (bench.meter.calls(), bench.sqs_requests.by_operation());
    let units_before = bench.meter.by_call();
    let cpu_storm = Mutex::new(String::new());
    // Each alert's message, when it was sent, and whether it is critical: the Slack format
    // shows the message, not the alert's id.
    let sent_at: Mutex<HashMap<String, (Instant, bool)>> = Mutex::default();
    // Each alert goes at its own time, 10 ms apart, whatever the ones before it take (as
    // many monitoring systems would send them), and every fifth is resolved half a second
    // after it was accepted: 200 in all.
    let storm_sent = Mutex::new(None);
    let storm = async {
        let every = Duration::from_micros(STORM_SECONDS * 1_000_000 / STORM_ALERTS as u64);
        let begin = tokio::time::Instant::now();
        let alerts = (0..STORM_ALERTS).map(|i| {
            let (app, a, sent_at) = (&app, &a, &sent_at);
            async move {
                tokio::time::sleep_until(begin + every * i as u32).await;
                let critical = i % 20 == 7;
                let severity = if critical { "critical" } else { "warning" };
                let input = json!({"type": "partition", "message": format!("node {i} unreachable"), "severity": severity});
                let started = Instant::now();
                let accepted = app
                    .ingest(None)
                    .accept(a, AlertInput::parse(&input).unwrap(), None, Actor::Queue)
                    .await
                    .unwrap();
                if accepted.deliveries != 3 {
                    println!(
                        "(alert {i} was queued to {} webhooks, not 3)",
                        accepted.deliveries
                    );
                }
                let id = accepted.alert_id.unwrap();
                sent_at
                    .lock()
                    .unwrap()
                    .insert(format!("node {i} unreachable"), (started, critical));
                if i % 5 == 0 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    app.ingest(None)
                        .act(a, &id, Action::Resolve, Actor::Queue)
                        .await
                        .unwrap();
                }
                id
            }
        });
        let fired = futures::future::join_all(alerts).await;
        *storm_sent.lock().unwrap() = Some(begin.elapsed());
        fired
    };
    let storm_started = Instant::now();
    let drained = AtomicBool::new(true);
    let (fired, during, ()) = tokio::join!(
        storm,
        async {
            let mark = CpuMark::now();
            let sent = quiet_account(&app, &b, QUIET_SECONDS).await;
            *cpu_storm.lock().unwrap() = mark.describe_since();
            // Then until the queue is empty, for long enough to be sure.
            let mut empty_since: Option<Instant> = None;
            while empty_since.is_none_or(|t| t.elapsed() < Duration::from_secs(5)) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                match queued(bench, &queue).await {
                    0 => {
                        empty_since.get_or_insert_with(Instant::now);
                    }
                    _ => empty_since = None,
                }
                if storm_started.elapsed() > Duration::from_secs(900) {
                    drained.store(false, Ordering::Relaxed);
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            sent
        },
        deliver(bench, &app, &queue, &stop, &began),
    );
    let drained_after = storm_started.elapsed();
    let drained = drained.into_inner();
    let storm_units = (bench.meter.reading() - before).write_units;
    let storm_calls = counted_since(&calls_before, bench.meter.calls());
    let storm_sqs = counted_since(&sqs_before, bench.sqs_requests.by_operation());
    let storm_units_by_call = crate::meter::since(&units_before, bench.meter.by_call());
    let storm_alerts = STORM_ALERTS + 200 + during.len();

    // Slack: the limit, the lane, and every alert reached.
    let got = slack.got();
    let most_in_a_second = most_within(&got, Duration::from_secs(1));
    let sent_at = sent_at.into_inner().unwrap();
    // A critical alert's trigger, as Slack shows it: "[TRIGGERED] partition: node 7 ...".
    let critical_latency = |g: &Got| {
        let text = g.body["text"]
            .as_str()?
            .strip_prefix("[TRIGGERED] partition: ")?;
        let (sent, critical) = sent_at.get(text)?;
        critical.then(|| g.at - *sent)
    };
    let criticals: Vec<Duration> = got.iter().filter_map(critical_latency).collect();
    let first_critical = criticals.first().copied();
    let worst_critical = criticals.iter().max().copied();
    let slack_deliveries = deliveries(bench, &slack_hook).await;
    let (reached, individually, digested) = reach(&slack_deliveries, &fired);
    let digests = slack_deliveries
        .iter()
        .filter(|d| d.event == hookline_shared::event::EventType::AlertDigest)
        .count();
    println!("Slack-format webhook (1 a second, burst 3):");
    println!(
        "- requests: {} in all ({} alert transitions on their own, {} digests)",
        got.len(),
        got.len() - digests,
        digests
    );
    println!(
        "- most requests in any 1-second window: {most_in_a_second} (goal: at most the burst, 3)"
    );
    match (first_critical, worst_critical) {
        (Some(first), Some(worst)) => println!(
            "- its first critical alert arrived {:.2} s after it was sent (goal: at most 2 s); {} critical alerts on their own, the last {:.1} s after it was sent",
            first.as_secs_f64(),
            criticals.len(),
            worst.as_secs_f64()
        ),
        _ => println!("- no critical alert arrived"),
    }
    println!("- alerts reached: {reached} of {} ({individually} transitions on their own, {digested} digested)", fired.len());

    // PagerDuty: requests during each pause. One whose batch began before the 429 was
    // answered was on its way before anyone could know of the pause; any other broke it.
    let got = pagerduty.got();
    let pauses: Vec<Instant> = got.iter().filter(|g| g.refused).map(|g| g.at).collect();
    let began = began.into_inner().unwrap();
    let batch_began = |g: &Got| {
        let starts = began.get(&g.msg_id)?;
        starts.iter().filter(|s| **s < g.at).max().copied()
    };
    let (mut in_flight, mut during_pause, mut late) = (0, 0, Vec::new());
    for start in &pauses {
        for g in got
            .iter()
            .filter(|g| g.at > *start && g.at < *start + Duration::from_secs(5))
        {
            match batch_began(g) {
                Some(b) if b < *start => in_flight += 1,
                b => {
                    during_pause += 1;
                    late.push((g.at - *start, b.map(|b| b - *start)));
                }
            }
        }
    }
    let pd_deliveries = deliveries(bench, &pd_hook).await;
    let (pd_reached, _, _) = reach(&pd_deliveries, &fired);
    println!("\nPagerDuty-format webhook (every fifth request answered 429, Retry-After: 5):");
    println!(
        "- requests: {}, of which {} answered 429, each pausing the webhook 5 s",
        got.len(),
        pauses.len()
    );
    println!("- requests during the pauses: {during_pause} (goal: 0), besides {in_flight} already in flight (their batch began before the 429 was answered)");
    for (after, batch) in late.iter().take(10) {
        println!(
            "  - {:.0} ms after a 429, its batch began {batch:?} after it",
            after.as_secs_f64() * 1000.0
        );
    }
    println!("- alerts reached: {pd_reached} of {}", fired.len());

    // Standard: every alert on its own, every resolve after its trigger.
    let got = standard.got();
    let mut triggers = HashMap::new();
    let mut resolves_after = 0;
    let mut resolves = 0;
    for (i, g) in got.iter().enumerate() {
        match (g.body["type"].as_str(), alert_of(g)) {
            (Some("alert.triggered"), Some(id)) => {
                triggers.entry(id.to_string()).or_insert(i);
            }
            (Some("alert.resolved"), Some(id)) => {
                resolves += 1;
                if triggers.get(id).is_some_and(|t| *t < i) {
                    resolves_after += 1;
                }
            }
            _ => {}
        }
    }
    let standard_deliveries = deliveries(bench, &standard_hook).await;
    let all_own = standard_deliveries
        .iter()
        .all(|d| d.state == DeliveryState::Succeeded);
    println!("\nStandard webhook (no limit):");
    println!(
        "- alerts on their own: {} of {} (every delivery succeeded on its own: {all_own})",
        triggers.len(),
        fired.len()
    );
    println!("- resolves after their triggers: {resolves_after} of {resolves}");

    // B, and the write units.
    let latency_storm = latencies(&during, &quiet);
    let quiet_ok = deliveries(bench, &quiet_hook)
        .await
        .iter()
        .all(|d| d.state == DeliveryState::Succeeded);
    println!("\nAccount B (1 alert a second, one standard webhook; all delivered: {quiet_ok}):");
    let (p95_alone, p95_storm) = (
        percentile(&latency_alone[0], 95),
        percentile(&latency_storm[0], 95),
    );
    println!(
        "- p95 from alert to receiver: {p95_alone:.0} ms alone, {p95_storm:.0} ms during the storm ({:.2}×; goal: at most 1.5×)",
        p95_storm / p95_alone.max(0.001)
    );
    for (when, [whole, ingest, after]) in
        [("alone", &latency_alone), ("in the storm", &latency_storm)]
    {
        println!(
            "- {when}: p50 {:.0} ms, p95 {:.0}, max {:.0}; ingest's accept p50 {:.0} ms, p95 {:.0}; from accepted to the receiver p50 {:.0} ms, p95 {:.0}",
            percentile(whole, 50),
            percentile(whole, 95),
            percentile(whole, 100),
            percentile(ingest, 50),
            percentile(ingest, 95),
            percentile(after, 50),
            percentile(after, 95)
        );
    }
    let calm = calm_latencies(&during, &quiet, &busy);
    println!(
        "- in the storm, of B's alerts that never met the machine over {:.0} % busy on their way: {} of {}, p95 {:.0} ms",
        CALM * 100.0,
        calm.len(),
        during.len(),
        percentile(&calm, 95)
    );
    println!(
        "- while B sent alone, {}; in the storm, {}",
        cpu_alone.into_inner().unwrap(),
        cpu_storm.into_inner().unwrap()
    );
    let per_alert = |calls: &[(String, u64)], n: usize| {
        let total: u64 = calls.iter().map(|(_, c)| c).sum();
        let top: Vec<String> = (calls.iter().take(6))
            .map(|(call, c)| format!("{call} {:.2}", *c as f64 / n as f64))
            .collect();
        format!("{:.2} ({})", total as f64 / n as f64, top.join(", "))
    };
    println!(
        "\nDynamoDB requests per alert: {} during the storm; {} for B alone",
        per_alert(&storm_calls, storm_alerts),
        per_alert(&quiet_calls, alone.len())
    );
    println!(
        "SQS requests per alert (the bench's receives and deletes included): {} during the storm; {} for B alone",
        per_alert(&storm_sqs, storm_alerts),
        per_alert(&quiet_sqs, alone.len())
    );
    println!(
        "\nWrite units per alert: {:.2} during the storm (A's {} transitions to 3 webhooks and B's alerts, {storm_alerts} in all), {:.2} for B's alerts alone (1 webhook)",
        storm_units / storm_alerts as f64,
        STORM_ALERTS + 200,
        quiet_units
    );
    let mut by_write = storm_units_by_call;
    by_write.sort_by(|a, b| b.1.write.total_cmp(&a.1.write));
    let top: Vec<String> = (by_write.iter().take(6))
        .map(|(call, u)| format!("{call} {:.2}", u.write / storm_alerts as f64))
        .collect();
    println!("- in the storm, by call: {}", top.join(", "));
    if let Some(took) = *storm_sent.lock().unwrap() {
        println!(
            "A's {STORM_ALERTS} alerts and 200 resolves were accepted within {:.1} s.",
            took.as_secs_f64()
        );
    }
    match drained {
        true => println!(
            "The queue was empty {:.0} s after the storm began.",
            drained_after.as_secs_f64()
        ),
        false => println!("The queue was not empty 900 s after the storm began."),
    }
    // What had not finished, if anything: by webhook, state and event.
    let mut unfinished: HashMap<String, usize> = HashMap::new();
    for (name, w) in [
        ("slack", &slack_hook),
        ("pagerduty", &pd_hook),
        ("standard", &standard_hook),
    ] {
        for d in deliveries(bench, w).await {
            if matches!(d.state, DeliveryState::Pending | DeliveryState::Retrying) {
                let key = format!("{name} {:?} {}", d.state, d.event);
                *unfinished.entry(key).or_default() += 1;
            }
        }
    }
    for (what, n) in &unfinished {
        println!("- unfinished: {n} {what}");
    }
}

/// A webhook for `account` to `url`, with `extra` settings.
async fn webhook_of(bench: &Bench, account: &str, url: &str, extra: Value) -> Webhook {
    let mut body = json!({"name": "storm", "url": url});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let settings = hookline_shared::webhook::WebhookSettings::parse(&body).unwrap();
    let w = Webhook::new(
        account,
        settings,
        hookline_shared::delivery::signing::generate_secret(),
        Utc::now(),
    );
    bench.store.set_webhook_quota(account, 10).await.unwrap();
    bench.store.create_webhook(&w, 10).await.unwrap();
    w
}

/// How many of `fired` reached the webhook (a transition succeeded on its own, or went
/// into a digest that succeeded), and how many transitions went each way.
fn reach(
    all: &[hookline_shared::delivery::record::Delivery],
    fired: &[String],
) -> (usize, usize, usize) {
    use hookline_shared::event::EventType;
    let sent_digests: HashSet<&str> = all
        .iter()
        .filter(|d| d.event == EventType::AlertDigest && d.state == DeliveryState::Succeeded)
        .map(|d| d.delivery_id.as_str())
        .collect();
    let mut reached = HashSet::new();
    let (mut own, mut digested) = (0, 0);
    for d in all.iter().filter(|d| d.event != EventType::AlertDigest) {
        let arrived = match d.state {
            DeliveryState::Succeeded => {
                own += 1;
                true
            }
            DeliveryState::Digested => {
                digested += 1;
                d.digest_id
                    .as_deref()
                    .is_some_and(|id| sent_digests.contains(id))
            }
            _ => false,
        };
        if arrived && d.event == EventType::AlertTriggered {
            reached.insert(d.alert_id.clone());
        }
    }
    let fired: HashSet<&String> = fired.iter().collect();
    (
        reached.iter().filter(|id| fired.contains(id)).count(),
        own,
        digested,
    )
}

/// The most requests that arrived within any span shorter than `window`.
fn most_within(got: &[Got], window: Duration) -> usize {
    hookline_tests::measure::most_within(got.iter().map(|g| g.at).collect(), window)
}
