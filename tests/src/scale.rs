//! Scale: an alert to 10,000 webhooks (its fan-out, the size of what it stores, and its
//! deliveries listed page by page), and a transition whose webhooks are kept in pages,
//! which the next transition's order still follows.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use chrono::Utc;
use hookline_shared::{
    alert::{
        lifecycle::{Action, Actor},
        AlertInput,
    },
    clock::ManualClock,
    delivery::queue::{DeliveryMessage, Queue},
};
use serde_json::{json, Value};

use crate::support::{
    admin, admin_output, app_at, app_on, drop_queue, partition_items, patient_sqs, receive,
    scratch_queue, settings_with, Client, TestAccount,
};

/// Makes `n` webhooks for the account, as `hookline-admin import-webhooks` does (the
/// account's quota raised first), and their ids.
fn webhooks(account: &str, n: usize) -> Vec<String> {
    admin(&[
        "set-quota",
        "--account",
        account,
        "--webhook-quota",
        &n.to_string(),
    ]);
    let lines: Vec<String> = (0..n)
        .map(|i| {
            json!({"name": format!("hook {i}"), "url": format!("https://hook-{i}.example.com/in")})
                .to_string()
        })
        .collect();
    let file = std::env::temp_dir().join(format!("hookline-import-{account}.jsonl"));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = admin(&[
        "import-webhooks",
        "--account",
        account,
        "--file",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out["imported"], n);
    (out["webhooks"].as_array().unwrap().iter())
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect()
}

/// Takes every message off the queue as it comes, as the deliver function's event source
/// would, until `expected` distinct deliveries have come or the deadline passes. Many
/// readers at once: the emulator spends time linear in its queue's length on every send,
/// so the queue must stay short while a fan-out fills it. Patient ones: with thousands
/// queued, the emulator has taken more than 10 s to answer on a slow machine.
async fn drain(url: String, expected: usize) -> HashMap<String, DeliveryMessage> {
    const READERS: usize = 32;
    let sqs = patient_sqs().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    let found = Mutex::new(HashMap::new());
    let read = || async {
        while found.lock().unwrap().len() < expected && tokio::time::Instant::now() < deadline {
            let messages = receive(&sqs, &url, 10).await;
            if messages.is_empty() {
                continue;
            }
            let mut delete = sqs.delete_message_batch().queue_url(&url);
            for (i, m) in messages.iter().enumerate() {
                let message: DeliveryMessage =
                    serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                found
                    .lock()
                    .unwrap()
                    .insert(message.delivery_id.clone(), message);
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap())
                    .build()
                    .unwrap();
                delete = delete.entries(entry);
            }
            delete.send().await.unwrap();
        }
    };
    futures::future::join_all((0..READERS).map(|_| read())).await;
    found.into_inner().unwrap()
}

#[tokio::test]
async fn an_import_is_checked_whole_and_held_to_the_quota() {
    let account = TestAccount::new().await;
    let file = std::env::temp_dir().join(format!("hookline-import-{}.jsonl", account.id));
    let import = |lines: &[Value]| {
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(&file, text.join("\n")).unwrap();
        admin_output(&[
            "import-webhooks",
            "--account",
            &account.id,
            "--file",
            file.to_str().unwrap(),
        ])
    };
    let good =
        |i: usize| json!({"name": format!("w{i}"), "url": format!("https://w{i}.example.com/")});
    // A bad line anywhere: refused by its line and field, and nothing stored.
    let refused = import(&[good(1), json!({"name": "no url"}), good(3)]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("line 2") && why.contains("url"), "{why}");
    let listed = account.writer.get("/webhooks").await;
    assert_eq!(listed.body["webhooks"], json!([]), "{listed:?}");
    // More than the quota (the default, 30) leaves: refused whole.
    let too_many: Vec<Value> = (0..31).map(good).collect();
    let refused = import(&too_many);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("quota of 30"));
    // 30 fit: created, counted (the API's next create is over the quota), and signed with
    // the secrets printed.
    let out = import(&too_many[..30]);
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["imported"], 30);
    assert!(printed["webhooks"][0]["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let over = account.writer.post("/webhooks", good(99)).await;
    assert_eq!(over.status, 409, "{over:?}");
    std::fs::remove_file(&file).unwrap();
}

/// Every delivery `GET /alerts/{id}` lists, `limit` a page, in order.
async fn listed(c: &Client, alert_id: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/alerts/{alert_id}?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{r:?}");
        let page = r.body["deliveries"].as_array().unwrap().clone();
        assert!(page.len() <= limit);
        all.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

/// An item's size as DynamoDB counts it, roughly from above: its text.
fn size(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> usize {
    format!("{item:?}").len()
}

#[tokio::test]
#[ignore = "run alone by scripts/test.sh: its 10,000 messages slow the SQS emulator for every test beside it"]
async fn an_alert_reaches_ten_thousand_webhooks() {
    const N: usize = 10_000;
    let account = TestAccount::new().await;
    let started = std::time::Instant::now();
    let ids = webhooks(&account.id, N);
    eprintln!("{N} webhooks made in {:.0?}", started.elapsed());
    let (_, url) = scratch_queue().await;
    let queue = Queue::new(patient_sqs().await, url.clone());
    let settings = settings_with(&[("DELIVERY_QUEUE_URL", &url)]);
    let app = app_on(settings, Arc::new(ManualClock::new(Utc::now())), queue).await;
    let drained = tokio::spawn(drain(url.clone(), N));
    let input =
        AlertInput::parse(&json!({"type": "region_down", "message": "eu-west-1 is down"})).unwrap();
    let accepted = (app.ingest(None))
        .accept(&account.id, input, None, Actor::Queue)
        .await
        .unwrap();
    assert_eq!(accepted.deliveries as usize, N);
    eprintln!("fanned out to {N} in {:.0?}", started.elapsed());
    let messages = drained.await.unwrap();
    drop_queue(url).await;
    eprintln!("{N} messages read in {:.0?}", started.elapsed());
    assert_eq!(messages.len(), N, "every delivery queued once");
    let reached: HashSet<&str> = messages.values().map(|m| m.webhook_id.as_str()).collect();
    assert_eq!(reached, ids.iter().map(String::as_str).collect());

    // What the alert stored: a small item, and its webhooks in pages far under 400 KB.
    let alert_id = accepted.alert_id.unwrap();
    let mut items = Vec::new();
    for shard in 0..16 {
        items.extend(partition_items(&format!("ALERTS#{}#{shard:02}", account.id)).await);
    }
    let alert = items
        .iter()
        .find(|(sk, _)| *sk == format!("ALERT#{alert_id}"))
        .unwrap();
    assert!(
        size(&alert.1) < 4_000,
        "the alert item is {} bytes",
        size(&alert.1)
    );
    let pages: Vec<_> = items
        .iter()
        .filter(|(sk, _)| sk.starts_with("FANOUT#"))
        .collect();
    assert_eq!(pages.len(), 10);
    for (sk, page) in pages {
        assert!(size(page) < 64_000, "{sk} is {} bytes", size(page));
    }

    // Its deliveries, page by page: each once, in fan-out order.
    let all = listed(&account.reader, &alert_id, 100).await;
    let listed_ids: Vec<&str> = all
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    let queued: HashSet<&str> = messages.keys().map(String::as_str).collect();
    let delivery_ids: HashSet<&str> = all
        .iter()
        .map(|d| d["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids.len(), N);
    assert_eq!(delivery_ids, queued);
    assert_eq!(listed_ids.iter().copied().collect::<HashSet<_>>().len(), N);
    eprintln!("listed, 100 a page, in {:.0?}", started.elapsed());
}

#[tokio::test]
async fn a_paged_transition_is_listed_and_followed_in_order() {
    // More webhooks than an alert names in its own item: its transitions are paged.
    let account = TestAccount::new().await;
    let mut ids = webhooks(&account.id, 40);
    // Fan-out goes in the order the account's webhooks are listed: by id.
    ids.sort();
    let (_, url) = scratch_queue().await;
    let (app, _) = app_at(settings_with(&[("DELIVERY_QUEUE_URL", &url)]), Utc::now()).await;
    let input = AlertInput::parse(&json!({"type": "disk_full", "message": "/ is full"})).unwrap();
    let ingest = app.ingest(None);
    let fired = (ingest.accept(&account.id, input, None, Actor::Queue))
        .await
        .unwrap();
    let alert_id = fired.alert_id.unwrap();
    let first = drain(url.clone(), 40).await;
    let resolved = ingest
        .act(&account.id, &alert_id, Action::Resolve, Actor::Queue)
        .await
        .unwrap();
    assert_eq!(resolved.deliveries, 40);
    let second = drain(url.clone(), 40).await;
    drop_queue(url).await;
    // Each resolve waits for the trigger's delivery to the same webhook.
    let triggered: HashMap<&str, &str> = (first.values())
        .map(|m| (m.webhook_id.as_str(), m.delivery_id.as_str()))
        .collect();
    assert_eq!(second.len(), 40);
    for m in second.values() {
        assert_eq!(m.transition, Some(2));
        assert_eq!(
            m.waits_for.as_deref(),
            Some(triggered[m.webhook_id.as_str()])
        );
    }
    // Both transitions listed, 7 a page: the first's 40 in fan-out order, then the second's.
    let all = listed(&account.reader, &alert_id, 7).await;
    assert_eq!(all.len(), 80);
    let order: Vec<(u64, &str)> = (all.iter())
        .map(|d| {
            (
                d["transition"].as_u64().unwrap(),
                d["webhook_id"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u64, &str)> = (1..=2)
        .flat_map(|t| ids.iter().map(move |id| (t, id.as_str())))
        .collect();
    assert_eq!(order, expected);
}
