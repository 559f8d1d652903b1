//! Putting received messages off, a whole batch's in as few requests as SQS takes: the
//! holds in ChangeMessageVisibilityBatch and the re-sends in SendMessageBatch, ten to a
//! request. In a storm most messages to a rate-limited or paused webhook are put off, some
//! several times: one request each made the queue's traffic ten times the alerts'.

use std::{sync::atomic::Ordering, time::Duration};

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;

use super::{queue_error, whole_seconds, Queue, QueueError, MAX_BATCH_MESSAGES, MAX_HOLD};

/// A received message to put off for `wait`.
#[derive(Clone, Copy, Debug)]
pub struct PutOff<'a> {
    pub receipt_handle: &'a str,
    /// Its `ApproximateReceiveCount`.
    pub receives: u32,
    pub body: &'a str,
    pub wait: Duration,
}

impl Queue {
    /// Puts off each received message. One on its first receive is held out of sight for
    /// its wait, at most [`MAX_HOLD`], and then comes back as if sent with that delay
    /// (`Ok(true)`: leave it on the queue). A long wait thus costs one hold, not a message
    /// every 15 minutes. Every hold spends one of the message's receives (its queue's
    /// maxReceiveCount), so a later receive is sent again as a new message, its count
    /// back at zero (`Ok(false)`: delete this one). A silence of days, a retry hours away
    /// or an ordered delivery waiting its turn never sends a sound message to the
    /// dead-letter queue.
    pub async fn postpone_all(&self, all: &[PutOff<'_>]) -> Vec<Result<bool, QueueError>> {
        let (holds, resends): (Vec<usize>, Vec<usize>) =
            (0..all.len()).partition(|&i| all[i].receives <= 1);
        let bodies = (resends.iter())
            .map(|&i| (all[i].body.to_string(), all[i].wait))
            .collect();
        let (held, sent) = futures::join!(
            self.hold_all(holds.iter().map(|&i| (all[i].receipt_handle, all[i].wait))),
            self.send_all_delayed(bodies),
        );
        let mut results: Vec<Option<Result<bool, QueueError>>> = all.iter().map(|_| None).collect();
        for (i, held) in holds.into_iter().zip(held) {
            results[i] = Some(held.map(|()| true));
        }
        for (i, sent) in resends.into_iter().zip(sent) {
            results[i] = Some(match sent {
                true => Ok(false),
                false => Err(QueueError("SQS did not take the message again".into())),
            });
        }
        (results.into_iter())
            .map(|r| r.unwrap_or_else(|| Err(QueueError("not put off".into()))))
            .collect()
    }

    /// Holds received messages out of sight, each for its wait: `Ok(())` for each held.
    async fn hold_all<'a>(
        &self,
        holds: impl Iterator<Item = (&'a str, Duration)>,
    ) -> Vec<Result<(), QueueError>> {
        let holds: Vec<(&str, Duration)> = holds.collect();
        let mut results = Vec::with_capacity(holds.len());
        for chunk in holds.chunks(MAX_BATCH_MESSAGES) {
            let entries: Result<Vec<_>, _> = (chunk.iter().enumerate())
                .map(|(n, (handle, wait))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(*handle)
                        .visibility_timeout(whole_seconds((*wait).min(MAX_HOLD)))
                        .build()
                })
                .collect();
            let entries = match entries {
                Ok(entries) => entries,
                Err(e) => {
                    results.extend(chunk.iter().map(|_| Err(QueueError(e.to_string()))));
                    continue;
                }
            };
            self.calls.fetch_add(1, Ordering::Relaxed);
            let answer = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match answer {
                Ok(answer) => results.extend((0..chunk.len()).map(|n| {
                    let id = n.to_string();
                    if let Some(failed) = answer.failed().iter().find(|f| f.id() == id) {
                        return Err(QueueError(format!(
                            "{}: {}",
                            failed.code(),
                            failed.message().unwrap_or_default()
                        )));
                    }
                    match answer.successful().iter().any(|s| s.id() == id) {
                        true => Ok(()),
                        false => Err(QueueError("SQS did not answer for the message".into())),
                    }
                })),
                Err(err) => {
                    let err = queue_error(err);
                    results.extend(chunk.iter().map(|_| Err(QueueError(err.0.clone()))));
                }
            }
        }
        results
    }
}
