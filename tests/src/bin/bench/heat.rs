//! The heat of one partition key: a storm into one account (by default 2,000 alerts to 10
//! webhooks, each delivered on its first attempt), with every DynamoDB call's consumed
//! capacity attributed to the partition keys it touched. DynamoDB serves one partition
//! key at most about 1,000 write and 3,000 read units a second (DynamoDB Local throttles
//! nothing), so each key's units per alert set the rate at which it saturates, and the
//! first to saturate sets the account's ceiling, whatever its table's capacity.

use std::collections::HashMap;

use futures::{stream, StreamExt};
use hookline_shared::alert::{lifecycle::Actor, AlertInput};
use serde_json::json;

use crate::{
    cost,
    meter::{since, Units},
    receiver, Bench,
};

/// What DynamoDB serves one partition key value a second.
const KEY_WRITES_PER_S: f64 = 1000.0;
const KEY_READS_PER_S: f64 = 3000.0;

/// The storm's size: `HEAT_ALERTS` and `HEAT_WEBHOOKS` change it. Units per alert do not
/// depend on it; how evenly alerts spread over an account's shards does.
fn size() -> (usize, usize) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (var("HEAT_ALERTS", 2000), var("HEAT_WEBHOOKS", 10))
}

/// Alerts ingested a round, each round delivered before the next: the SQS emulator spends
/// time linear in its queue's length on every send, so its queue must stay short.
const ROUND: usize = 20;

/// The kinds of partition key, by the prefix before the account.
const KINDS: [&str; 4] = ["ACCOUNT#", "ALERTS#", "ALERTSTATE#", "HOOK#"];

/// The alert rate (a second) at which a key taking `u` units an alert saturates.
fn ceiling(u: Units) -> f64 {
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
}

fn per(units: Units, n: usize) -> Units {
    Units {
        read: units.read / n as f64,
        write: units.write / n as f64,
    }
}

/// The key of `keys` that saturates first at a rate of alerts (taking `units / alerts`
/// each), with that rate.
fn first_to_saturate<'a>(
    keys: impl IntoIterator<Item = &'a (String, Units)>,
    alerts: usize,
) -> Option<(&'a str, f64)> {
    (keys.into_iter())
        .map(|(k, u)| (k.as_str(), ceiling(per(*u, alerts))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
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
    let mut ingested: HashMap<String, Units> = HashMap::new();
    let mut delivered = 0;
    for round in (0..alerts).step_by(ROUND) {
        let at = bench.meter.by_key();
        // As a few ingest functions would, each alert's fan-out queued as it is accepted.
        stream::iter(round..(round + ROUND).min(alerts))
            .map(ingest)
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        for (key, u) in since(&at, bench.meter.by_key()) {
            let sum = ingested.entry(key).or_default();
            sum.read += u.read;
            sum.write += u.write;
        }
        // Until the queue is empty: a round's messages become visible over a moment.
        loop {
            match cost::deliver_all(bench, &app, &queue_url, 10).await {
                0 => break,
                n => delivered += n,
            }
        }
    }
    assert_eq!(
        delivered,
        alerts * webhooks,
        "every alert delivered to every webhook"
    );
    let storm = since(&before, bench.meter.by_key());
    let ingested: Vec<(String, Units)> = ingested.into_iter().collect();
    let _ = bench.sqs.delete_queue().queue_url(queue_url).send().await;

    let total = |keys: &[(String, Units)]| {
        keys.iter().fold(Units::default(), |sum, (_, u)| Units {
            read: sum.read + u.read,
            write: sum.write + u.write,
        })
    };
    let all = total(&storm);
    let share = |u: Units| 100.0 * (u.write + u.read) / (all.write + all.read);
    let (hot_key, hot) = storm.first().cloned().unwrap_or_default();
    let (per_alert, per_delivery) = (per(hot, alerts), per(hot, alerts * webhooks));

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
            share(*units)
        );
    }
    println!(
        "  the hottest key ({}), per alert: {:.2} write, {:.2} read units; per delivery: \
         {:.2} write, {:.2} read; {:.1}% of all units",
        kind(&hot_key, &account),
        per_alert.write,
        per_alert.read,
        per_delivery.write,
        per_delivery.read,
        share(hot)
    );
    println!(
        "  the hottest key of each kind, per alert of the storm, and the storm's rate that \
         saturates it ({KEY_WRITES_PER_S:.0} WCU/s, {KEY_READS_PER_S:.0} RCU/s a key):"
    );
    for prefix in KINDS {
        let of_kind: Vec<&(String, Units)> = storm
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        if let Some((key, rate)) = first_to_saturate(of_kind.iter().copied(), alerts) {
            let u = per(of_kind.iter().find(|(k, _)| k == key).unwrap().1, alerts);
            println!(
                "    {:<48} {:>6.2} write {:>6.2} read   {:>8.0} alerts/s   ({} keys)",
                kind(key, &account),
                u.write,
                u.read,
                rate,
                of_kind.len()
            );
        }
    }
    let storm_cap = first_to_saturate(&storm, alerts).unwrap();
    let ingest_cap = first_to_saturate(&ingested, alerts).unwrap();
    let hooks: Vec<&(String, Units)> = storm
        .iter()
        .filter(|(k, _)| k.starts_with("HOOK#"))
        .collect();
    let others: Vec<&(String, Units)> = storm
        .iter()
        .filter(|(k, _)| !k.starts_with("HOOK#"))
        .collect();
    println!("  ceilings from DynamoDB's per-key limits:");
    println!(
        "    new alerts alone (ingest): {:.0} a second (first to saturate: {})",
        ingest_cap.1,
        kind(ingest_cap.0, &account)
    );
    println!(
        "    alerts delivered to {webhooks} webhooks: {:.0} a second, {:.0} deliveries a second \
         (first to saturate: {})",
        storm_cap.1,
        storm_cap.1 * webhooks as f64,
        kind(storm_cap.0, &account)
    );
    match first_to_saturate(hooks.iter().copied(), alerts) {
        Some((key, rate)) => {
            // Each webhook got one delivery an alert; the account's other keys bound the
            // deliveries of all its webhooks together.
            let rest = first_to_saturate(others.iter().copied(), alerts * webhooks)
                .map_or(f64::INFINITY, |(_, r)| r);
            println!(
                "    deliveries a second per webhook: {rate:.0} (its own partition, {}); the \
                 account's shared keys allow {rest:.0} deliveries a second in all",
                kind(key, &account)
            );
        }
        None => println!(
            "    every delivery unit lands on the account's shared keys: the delivery ceiling \
             is the account's, whatever its number of webhooks ({:.0} a second per webhook at \
             {webhooks})",
            storm_cap.1
        ),
    }
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
}
