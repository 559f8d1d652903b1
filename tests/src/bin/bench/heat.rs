//! The heat of one partition key: a storm into one account (by default 200 alerts to 10
//! webhooks, each delivered on its first attempt), with every DynamoDB call's consumed
//! capacity attributed to the partition keys it touched. DynamoDB serves one partition
//! key at most about 1,000 write and 3,000 read units a second (DynamoDB Local throttles
//! nothing), so the hottest key's units per alert and per delivery set the ceilings an
//! account has, whatever its table's capacity.

use futures::{stream, StreamExt};
use hookline_functions::triggers;
use hookline_shared::alert::{lifecycle::Actor, AlertInput};
use serde_json::json;

use crate::{
    event_of,
    meter::{since, Units},
    receiver, Bench,
};

/// What DynamoDB serves one partition key value a second.
const KEY_WRITES_PER_S: f64 = 1000.0;
const KEY_READS_PER_S: f64 = 3000.0;

/// The storm's size: `HEAT_ALERTS` and `HEAT_WEBHOOKS` change it. Units per alert and per
/// delivery do not depend on it; the SQS emulator does: with some thousands of messages
/// waiting (500 alerts to 10 webhooks) its batch sends fail.
fn size() -> (usize, usize) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("HEAT_ALERTS", 200), var("HEAT_WEBHOOKS", 10))
}

/// A key as the table lays it out: the noun, with the account's id named as such.
fn kind(key: &str, account: &str) -> String {
    key.replace(account, "<account>")
}

pub async fn run(bench: &Bench) {
    let (alerts, webhooks) = size();
    let ok = receiver::start(200).await;
    let queue_url = bench.scratch_queue().await;
    let app = bench.app(bench.settings.clone(), &queue_url);
    let (account, _) = bench.account(webhooks, &ok).await;
    let before = bench.meter.by_key();

    let ingest = |i: usize| {
        let (app, account) = (&app, &account);
        async move {
            let input = AlertInput::parse(&json!({
                "type": "node_down",
                "message": format!("node {i} is not answering"),
                "severity": if i.is_multiple_of(20) { "critical" } else { "warning" },
                "dedup_key": format!("node-{i}"),
                "labels": {"node": format!("n{i}")}
            }))
            .unwrap();
            app.ingest(Some("https://hookline.example.com"))
                .accept(account, input, None, Actor::Queue)
                .await
                .unwrap();
        }
    };
    // As a few ingest functions would, each alert's fan-out queued as it is accepted.
    stream::iter(0..alerts)
        .map(ingest)
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let ingested = since(&before, bench.meter.by_key());

    let mut delivered = 0;
    loop {
        let bodies = bench.drain(&queue_url).await;
        if bodies.is_empty() {
            break;
        }
        delivered += bodies.len();
        let failed: usize = stream::iter(bodies.chunks(10).map(event_of))
            .map(|e| {
                let app = &app;
                async move {
                    let answer = triggers::deliver(app, e).await.unwrap();
                    answer.batch_item_failures.len()
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .sum();
        assert_eq!(failed, 0, "the deliver handler left messages for later");
    }
    assert_eq!(
        delivered,
        alerts * webhooks,
        "every alert delivered to every webhook"
    );
    let storm = since(&before, bench.meter.by_key());
    let _ = bench.sqs.delete_queue().queue_url(queue_url).send().await;

    let total = |keys: &[(String, Units)]| {
        keys.iter().fold(Units::default(), |sum, (_, u)| Units {
            read: sum.read + u.read,
            write: sum.write + u.write,
        })
    };
    let all = total(&storm);
    let (hot_key, hot) = storm.first().cloned().unwrap_or_default();
    let share = (hot.write + hot.read) / (all.write + all.read);
    let per = |units: Units, n: usize| Units {
        read: units.read / n as f64,
        write: units.write / n as f64,
    };
    let ceiling = |u: Units| {
        let by_writes = if u.write > 0.0 {
            KEY_WRITES_PER_S / u.write
        } else {
            f64::INFINITY
        };
        let by_reads = if u.read > 0.0 {
            KEY_READS_PER_S / u.read
        } else {
            f64::INFINITY
        };
        by_writes.min(by_reads)
    };
    let (per_alert, per_delivery) = (per(hot, alerts), per(hot, alerts * webhooks));
    let ingest_hot = ingested
        .first()
        .map(|(_, u)| per(*u, alerts))
        .unwrap_or_default();

    println!();
    println!(
        "Hookline benchmark: heat ({alerts} alerts into one account, {webhooks} webhooks, \
         {} first-attempt deliveries; units from ReturnConsumedCapacity, by partition key)",
        alerts * webhooks
    );
    println!(
        "  all keys: {:.0} write and {:.0} read units; {} partition keys touched",
        all.write,
        all.read,
        storm.len()
    );
    println!("  the hottest keys:                                 write units  read units   share");
    for (key, units) in storm.iter().take(5) {
        println!(
            "    {:<48} {:>11.0} {:>11.0} {:>6.1}%",
            kind(key, &account),
            units.write,
            units.read,
            100.0 * (units.write + units.read) / (all.write + all.read)
        );
    }
    println!(
        "  the hottest key ({}), per alert: {:.2} write, {:.2} read units (ingest alone: {:.2} \
         write, {:.2} read); per delivery: {:.2} write, {:.2} read; {:.1}% of all units",
        kind(&hot_key, &account),
        per_alert.write,
        per_alert.read,
        ingest_hot.write,
        ingest_hot.read,
        per_delivery.write,
        per_delivery.read,
        100.0 * share
    );
    println!(
        "  ceilings from DynamoDB's per-key limits ({KEY_WRITES_PER_S:.0} WCU/s, {KEY_READS_PER_S:.0} RCU/s): \
         {:.0} alerts a second to {webhooks} webhooks, {:.0} deliveries a second; \
         new alerts alone (ingest): {:.0} a second",
        ceiling(per_alert),
        ceiling(per_delivery),
        ceiling(ingest_hot)
    );
    println!("  the largest item of each kind written whole (bytes, and its largest attributes):");
    let mut largest: Vec<_> = bench.meter.largest_items().into_iter().collect();
    largest.sort_by_key(|(noun, _)| noun.clone());
    for (noun, item) in largest {
        let parts: Vec<String> = crate::meter::attribute_bytes(&item)
            .into_iter()
            .take(4)
            .map(|(name, bytes)| format!("{name} {bytes}"))
            .collect();
        println!(
            "    {:<10} {:>6}   {}",
            noun,
            crate::meter::item_bytes(&item),
            parts.join(", ")
        );
    }
    let per_webhook_keys = storm
        .iter()
        .filter(|(k, _)| !k.starts_with("ACCOUNT#"))
        .count();
    if per_webhook_keys == 0 {
        println!(
            "  every unit of the storm lands on the account's one key: the delivery ceiling is \
             the account's, whatever its number of webhooks ({:.0} a second per webhook at {webhooks})",
            ceiling(per_delivery) / webhooks as f64
        );
    }
}
