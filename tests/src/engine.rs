//! The ingest and delivery engines called in-process, on DynamoDB Local and the SQS
//! emulator, for what the HTTP tests cannot set up: scratch queues, a broken queue, and
//! settings other than the test stack's.

use std::sync::Arc;

use chrono::Utc;
use futures::{stream, StreamExt};
use hookline_shared::{
    alert::{lifecycle::Actor, AlertInput},
    clock::{Clock, ManualClock, ThreadRandom},
    delivery::{
        attempt::Attempter,
        outcome::{DeliveryState, Trigger},
        queue::{DeliveryMessage, PutOff, Queue},
        signing::generate_secret,
        worker::{Handled, Worker},
    },
    event::EventType,
    ingest::Ingest,
    store::Account,
    webhook::{Webhook, WebhookSettings},
    ApiError, Settings, Store,
};
use serde_json::json;

use crate::support::{
    deliver_batch, drop_queue,
    receiver::{Behaviour, Receiver},
    sandbox, scratch_queue, settings_with, sqs, store, store_as,
};

async fn account(store: &Store, quota: u32) -> String {
    let id = format!("acct_{}", uuid::Uuid::new_v4().simple());
    store
        .create_account(&Account {
            account_id: id.clone(),
            name: "engine".into(),
            created_at: Utc::now(),
            webhook_count: 0,
            webhook_quota: Some(quota),
            link_key: None,
            sessions_ended_at: None,
            escalate_after_seconds: None,
            webhooks_version: 0,
        })
        .await
        .unwrap();
    id
}

async fn webhooks(store: &Store, account: &str, url: &str, n: usize) -> Vec<Webhook> {
    stream::iter(0..n)
        .map(|i| async move {
            let settings =
                WebhookSettings::parse(&json!({"name": format!("w{i}"), "url": url})).unwrap();
            let w = Webhook::new(account, settings, generate_secret(), Utc::now());
            store.create_webhook(&w, n as u32).await.unwrap();
            w
        })
        .buffer_unordered(20)
        .collect()
        .await
}

async fn queue_depth(url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let get = |a: A| attrs.get(&a).unwrap().parse().unwrap();
    (
        get(A::ApproximateNumberOfMessages),
        get(A::ApproximateNumberOfMessagesDelayed),
    )
}

/// Settings like the test stack's (loopback allowed, for the receivers), with this
/// schedule and disable period.
fn config(schedule: &str, disable_after: &str) -> Settings {
    settings_with(&[
        ("RETRY_SCHEDULE", schedule),
        ("DISABLE_AFTER", disable_after),
    ])
}

/// A worker on `queue` with these settings and clock.
fn worker(store: &Store, queue: Queue, settings: &Settings, clock: Arc<dyn Clock>) -> Worker {
    let attempter = Attempter::new(settings, clock, Arc::new(ThreadRandom), sandbox());
    Worker::new(store.clone(), queue, attempter)
}

#[tokio::test]
async fn one_alert_to_1000_webhooks_takes_100_sqs_calls() {
    let store = store().await;
    let acct = account(&store, 1000).await;
    webhooks(&store, &acct, "https://example.com/hook", 1000).await;
    let (queue, url) = scratch_queue().await;
    let ingest = Ingest {
        store: &store,
        queue: &queue,
        settings: &config("1s", "5d").delivery,
        links_base: Some("https://hookline.example.com"),
        sandbox: &sandbox(),
    };
    let input = AlertInput::parse(&json!({"type": "t", "message": "to everyone"})).unwrap();
    let accepted = ingest
        .accept(&acct, input, None, Actor::Queue)
        .await
        .unwrap();
    assert_eq!(accepted.deliveries, 1000);
    // Batches of 10: 100 calls, and one more for each batch the emulator (slowed by the
    // tests beside this one) did not answer in time, sent again as on AWS. A batch it
    // took but answered late is then queued twice (deliver's claim drops the copy).
    let calls = queue.calls();
    assert!((100..=110).contains(&calls), "batches of 10: {calls} calls");
    let depth = queue_depth(&url).await.0;
    assert!(
        (1000..=1000 + 10 * (calls - 100)).contains(&depth),
        "{depth} messages queued"
    );
    drop_queue(url).await;
}

#[tokio::test]
async fn deliveries_that_could_not_be_queued_are_never_claimed() {
    let store = store().await;
    let acct = account(&store, 10).await;
    webhooks(&store, &acct, "https://example.com/hook", 3).await;
    let broken = Queue::new(sqs().await, "http://127.0.0.1:1/000000000000/missing");
    let ingest = Ingest {
        store: &store,
        queue: &broken,
        settings: &config("1s", "5d").delivery,
        links_base: Some("https://hookline.example.com"),
        sandbox: &sandbox(),
    };
    let input = AlertInput::parse(&json!({"type": "t", "message": "m"})).unwrap();
    match ingest
        .accept(&acct, input.clone(), Some("k-broken"), Actor::Queue)
        .await
    {
        Err(ApiError::NotQueued {
            queued: 0,
            total: 3,
        }) => {}
        other => panic!("expected NotQueued, got {other:?}"),
    }
    assert!(broken.calls() >= 4, "failed sends were retried");
    // The key stays unfinished, so a retry with a working queue finishes the job.
    let (queue, url) = scratch_queue().await;
    let ingest = Ingest {
        store: &store,
        queue: &queue,
        settings: &config("1s", "5d").delivery,
        links_base: Some("https://hookline.example.com"),
        sandbox: &sandbox(),
    };
    assert_eq!(
        ingest
            .accept(&acct, input, Some("k-broken"), Actor::Queue)
            .await
            .unwrap()
            .deliveries,
        3
    );
    drop_queue(url).await;
}

fn message(w: &Webhook, attempt: u32) -> DeliveryMessage {
    DeliveryMessage {
        account_id: w.account_id.clone(),
        webhook_id: w.id.clone(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        alert_id: uuid::Uuid::now_v7().to_string(),
        event: EventType::AlertTriggered,
        attempt,
        trigger: Trigger::Scheduled,
        payload: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
        not_before: None,
        transition: None,
        waits_for: None,
        out_of_order: false,
        condition_error: None,
        slot: None,
    }
}

#[tokio::test]
async fn a_webhook_failing_for_too_long_is_disabled_and_a_success_resets_the_clock() {
    let store = store().await;
    let acct = account(&store, 10).await;
    let script = vec![(500, None), (200, None), (500, None), (500, None)];
    let receiver = Receiver::start(Behaviour::Script(script)).await;
    let w = webhooks(&store, &acct, &receiver.url, 1).await.remove(0);
    let (queue, url) = scratch_queue().await;
    // The clock stands still between attempts unless moved: no waiting. The worker's
    // DynamoDB calls are the deliver function's (the permission check counts them).
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let as_deliver = store_as("deliver").await;
    let worker = worker(&as_deliver, queue, &config("", "2s"), clock.clone());
    let later = || clock.advance(chrono::Duration::milliseconds(2200));

    // Fails, then succeeds after the disable period: the success keeps it enabled.
    assert!(matches!(
        worker.handle(message(&w, 1)).await.unwrap(),
        Handled::Attempted(_)
    ));
    later();
    worker.handle(message(&w, 1)).await.unwrap();
    // A new run of failures: not yet long enough...
    worker.handle(message(&w, 1)).await.unwrap();
    let now = store.get_webhook(&acct, &w.id).await.unwrap().unwrap();
    assert!(now.settings.enabled, "a success reset the failure clock");
    assert_eq!(now.health.consecutive_failures, 1);
    // ...and then it is.
    later();
    worker.handle(message(&w, 1)).await.unwrap();
    let off = store.get_webhook(&acct, &w.id).await.unwrap().unwrap();
    assert!(!off.settings.enabled);
    assert!(off
        .disabled_reason
        .unwrap()
        .contains("no successful delivery for 2 seconds"));
    assert_eq!(off.health.consecutive_failures, 2);
    // Deliveries to it stop without a request.
    assert_eq!(
        worker.handle(message(&w, 1)).await.unwrap(),
        Handled::Dropped
    );
    assert_eq!(receiver.received().len(), 4);
    drop_queue(url).await;
}

#[tokio::test]
async fn a_message_not_yet_due_is_held_out_of_sight_until_it_is() {
    let store = store().await;
    let acct = account(&store, 10).await;
    let w = webhooks(&store, &acct, "https://example.com/hook", 1)
        .await
        .remove(0);
    let (queue, url) = scratch_queue().await;
    let worker = worker(
        &store,
        queue.clone(),
        &config("5h", "5d"),
        Arc::new(ManualClock::new(Utc::now())),
    );
    // Five hours off, far past SQS's 15-minute delays: the worker gives the time back...
    let due = Utc::now() + chrono::Duration::hours(5);
    let mut later = message(&w, 2);
    later.not_before = Some(due);
    assert_eq!(
        worker.handle(later.clone()).await.unwrap(),
        Handled::Postponed(due)
    );
    assert_eq!(queue.calls(), 0, "no hop: nothing sent");

    // ...and the deliver function holds the message out of sight, on the queue. Taken
    // with no visibility timeout, it would be visible at once had it not been held.
    let sqs = sqs().await;
    sqs.send_message()
        .queue_url(&url)
        .message_body(serde_json::to_string(&later).unwrap())
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    let reply = deliver_batch(&url, &received[..1]).await;
    assert_eq!(reply.batch_item_failures.len(), 1, "left on the queue");
    let (visible, _) = queue_depth(&url).await;
    assert_eq!(visible, 0, "held out of sight");
    let none = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(none.messages.unwrap_or_default().is_empty());
    drop_queue(url).await;
}

#[tokio::test]
async fn a_refused_destination_is_recorded_failed_and_not_retried() {
    let store = store().await;
    let acct = account(&store, 10).await;
    // Saved while allowed; the policy in force now (the default) refuses loopback.
    let receiver = Receiver::start(Behaviour::Status(200)).await;
    let w = webhooks(&store, &acct, &receiver.url, 1).await.remove(0);
    let (queue, url) = scratch_queue().await;
    let strict = settings_with(&[("ALLOWED_CIDRS", "")]);
    let worker = worker(
        &store,
        queue.clone(),
        &strict,
        Arc::new(ManualClock::new(Utc::now())),
    );
    let msg = message(&w, 1);
    assert_eq!(
        worker.handle(msg.clone()).await.unwrap(),
        Handled::Attempted(DeliveryState::Failed)
    );
    assert!(
        receiver.received().is_empty(),
        "no request may reach a refused address"
    );
    assert_eq!(queue.calls(), 0, "a refusal is not retried");
    let attempts = store
        .list_attempts(&acct, &w.id, &msg.delivery_id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(
        attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("ALLOWED_CIDRS"),
        "{:?}",
        attempts[0].error
    );
    drop_queue(url).await;
}

/// A batch's messages are put off together: one ChangeMessageVisibilityBatch for those on
/// their first receive (held out of sight), one SendMessageBatch for the others (sent
/// again, delayed), and a receipt SQS refuses fails its own message only.
#[tokio::test]
async fn a_batch_is_put_off_in_one_request_for_its_holds_and_one_for_its_resends() {
    use std::{collections::HashSet, time::Duration};
    let (queue, url) = scratch_queue().await;
    let sqs = sqs().await;
    for n in 0..5 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!(r#"{{"account_id":"a","n":{n}}}"#))
            .send()
            .await
            .unwrap();
    }
    // Out of sight for a minute once received: back within seconds only if put off.
    let mut received = Vec::new();
    while received.len() < 5 {
        let got = (sqs.receive_message().queue_url(&url))
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        received.extend(got.messages.unwrap_or_default());
    }
    let mut all: Vec<PutOff> = (received.iter().enumerate())
        .map(|(n, m)| PutOff {
            receipt_handle: m.receipt_handle().unwrap(),
            // Three on their first receive are held; two received before are sent again.
            receives: if n < 3 { 1 } else { 2 },
            body: m.body().unwrap(),
            wait: Duration::from_secs(2),
        })
        .collect();
    all.push(PutOff {
        receipt_handle: "not-a-receipt",
        receives: 1,
        body: "{}",
        wait: Duration::from_secs(2),
    });
    let results = queue.postpone_all(&all).await;
    assert!(matches!(
        results[..5],
        [Ok(true), Ok(true), Ok(true), Ok(false), Ok(false)]
    ));
    assert!(results[5].is_err(), "{:?}", results[5]);
    assert_eq!(
        queue.calls(),
        2,
        "one request for the holds, one for the re-sends"
    );
    // The function deletes the two sent again.
    for m in &received[3..] {
        (sqs.delete_message().queue_url(&url))
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }

    // All five come back within seconds: the held three as themselves, the other two as
    // new messages with the same bodies.
    let mut back = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while back.len() < 5 && std::time::Instant::now() < deadline {
        let got = (sqs.receive_message().queue_url(&url))
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        back.extend(got.messages.unwrap_or_default());
    }
    let ids = |ms: &[aws_sdk_sqs::types::Message]| -> HashSet<String> {
        ms.iter()
            .map(|m| m.message_id().unwrap().to_string())
            .collect()
    };
    let bodies = |ms: &[aws_sdk_sqs::types::Message]| -> HashSet<String> {
        ms.iter().map(|m| m.body().unwrap().to_string()).collect()
    };
    assert_eq!(bodies(&back), bodies(&received), "every message came back");
    let (back_ids, held_ids, resent_ids) = (ids(&back), ids(&received[..3]), ids(&received[3..]));
    assert!(held_ids.is_subset(&back_ids), "the held ones came back");
    assert!(
        resent_ids.is_disjoint(&back_ids),
        "the others came back as new messages"
    );
    drop_queue(url).await;
}

/// A batch's members join their digest in one transaction. One refused (a member in
/// already, a delivery begun on its own) sends each on its own, which says which: nothing
/// is in twice, and a claimed attempt is never made a digest member. A second claim of a
/// claimed attempt is refused with the delivery as it stood.
#[tokio::test]
async fn a_batch_joins_its_digest_together_and_a_repeat_or_a_begun_delivery_on_its_own() {
    use hookline_shared::{
        delivery::digest::{self, Member},
        store::{AttemptClaim, Claim, Joined},
    };
    let store = store().await;
    let acct = account(&store, 10).await;
    let w = webhooks(&store, &acct, "https://example.com/hook", 1)
        .await
        .remove(0);
    let (now, at) = (Utc::now(), Utc::now() + chrono::Duration::seconds(30));
    let expires = now.timestamp() + 3600;
    let messages: Vec<DeliveryMessage> = (0..5).map(|_| message(&w, 1)).collect();
    let member = |m: &DeliveryMessage| {
        let delivery = digest::digested(m.delivery(now, expires), "dg", now);
        (Member::of(m), delivery)
    };
    let join = |ms: &[&DeliveryMessage]| {
        let members: Vec<_> = ms.iter().map(|m| member(m)).collect();
        let store = store.clone();
        let (acct, id) = (acct.clone(), w.id.clone());
        async move {
            store
                .join_digest(&acct, &id, "dg", at, &members)
                .await
                .unwrap()
        }
    };
    let [m0, m1, m2, m3, m4] = [0, 1, 2, 3, 4].map(|i| &messages[i]);
    // The first to join carries the digest's message.
    let first = join(&[m0, m1]).await;
    assert!(
        matches!(first[..], [Joined::Carrier(_), Joined::In]),
        "{first:?}"
    );
    // A repeat of m1 beside a new member.
    assert_eq!(join(&[m1, m2]).await, [Joined::Already, Joined::In]);
    // m3's attempt was claimed on its own first.
    let d3 = m3.delivery(now, expires);
    let claim = AttemptClaim {
        account_id: &acct,
        delivery: &d3,
        attempt: 1,
        trigger: Trigger::Scheduled,
    };
    let lease = now + chrono::Duration::seconds(60);
    assert!(matches!(
        store.claim_attempt(&claim, lease, now).await.unwrap(),
        Claim::Claimed
    ));
    match store.claim_attempt(&claim, lease, now).await.unwrap() {
        Claim::Refused(Some(d)) => {
            assert_eq!(d.delivery_id, m3.delivery_id);
            assert_eq!(d.state, DeliveryState::Pending);
        }
        other => panic!("a second claim: {other:?}"),
    }
    assert_eq!(join(&[m3, m4]).await, [Joined::Begun, Joined::In]);
    let members: Vec<String> = (store.digest_members(&acct, &w.id, "dg").await.unwrap())
        .into_iter()
        .map(|m| m.delivery_id)
        .collect();
    let mut expected: Vec<String> = [m0, m1, m2, m4]
        .iter()
        .map(|m| m.delivery_id.clone())
        .collect();
    expected.sort();
    let mut members = members;
    members.sort();
    assert_eq!(members, expected);
}
