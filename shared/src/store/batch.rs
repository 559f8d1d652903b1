//! DynamoDB's batch calls: BatchGetItem and BatchWriteItem, each asked again for what it
//! left unprocessed, with a backoff, as DynamoDB requires.

use super::*;
use crate::backoff::Backoff;

/// Hands `pending` to `call` until it leaves nothing unprocessed, backing off between
/// tries, as DynamoDB's batch calls require; collects what the calls return. What is
/// still left after [`Backoff::BATCH`]'s tries counts as throttled.
async fn drain<P, R, F, Fut>(mut pending: Vec<P>, mut call: F) -> Result<Vec<R>, StoreError>
where
    F: FnMut(Vec<P>) -> Fut,
    Fut: Future<Output = Result<(Vec<R>, Vec<P>), StoreError>>,
{
    let mut done = Vec::new();
    let mut tries = Backoff::BATCH.start();
    while tries.next().await {
        let (got, left) = call(pending).await?;
        done.extend(got);
        if left.is_empty() {
            return Ok(done);
        }
        pending = left;
    }
    Err(StoreError::Throttled)
}

impl Store {
    /// The items of `keys` that exist, strongly consistent, by BatchGetItem (100 a request).
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let items = drain(chunk.to_vec(), |keys| async move {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(corrupt)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let got = output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                let left = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                Ok((got, left))
            })
            .await?;
            found.extend(items);
        }
        Ok(found)
    }

    /// Puts items with BatchWriteItem, 25 to a request and several requests at once.
    pub(super) async fn put_items(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        use futures::{stream, StreamExt, TryStreamExt};
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(corrupt)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let chunks: Vec<Vec<WriteRequest>> =
            requests.chunks(25).map(<[WriteRequest]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| {
                drain(chunk, |requests| async move {
                    let output = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, requests)
                        .send()
                        .await
                        .map_err(sdk_error)?;
                    let left = output
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    Ok((Vec::<()>::new(), left))
                })
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }
}
