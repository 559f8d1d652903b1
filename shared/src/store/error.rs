//! The store's errors, and how DynamoDB's answers become them.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("item not found")]
    NotFound,
    #[error("the account already exists")]
    AlreadyExists,
    #[error("the account does not exist")]
    NoAccount,
    #[error("the webhook quota of {0} is reached")]
    QuotaExceeded(u32),
    #[error("DynamoDB is throttling requests")]
    Throttled,
    #[error("DynamoDB request failed: {0}")]
    Dynamo(String),
    #[error("a stored item could not be read or written: {0}")]
    Corrupt(String),
    /// Concurrent writers kept winning a conditional write; the caller may try again.
    #[error("{0}")]
    Contended(&'static str),
    /// A credential could not be sealed or opened (no data key, KMS refused, altered).
    #[error("credentials at rest: {0}")]
    Sealing(String),
    /// DynamoDB did not answer in time, even when asked again (see [`crate::aws`]).
    #[error("DynamoDB did not answer in time")]
    TimedOut,
}

pub(super) fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    let timed_out = matches!(err, SdkError::TimeoutError(_))
        || matches!(&err, SdkError::DispatchFailure(d) if d.is_timeout());
    if timed_out {
        return StoreError::TimedOut;
    }
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or("");
    if matches!(
        code,
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    ) {
        return StoreError::Throttled;
    }
    // Debug, not Display: Display says only "service error", the debug form says why.
    StoreError::Dynamo(format!("{err:?}"))
}

/// The output of a conditional write, or `None` when its condition failed.
pub(super) fn conditional<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error(e)),
    }
}

/// A conditional write's error that can carry the item as it stood (asked for with
/// `ReturnValuesOnConditionCheckFailure::AllOld`).
pub(super) trait RefusedItem {
    /// `Some` when the condition failed, with the item if there was one.
    fn refused_item(&self) -> Option<Option<&Item>>;
}

impl RefusedItem for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn refused_item(&self) -> Option<Option<&Item>> {
        match self {
            Self::ConditionalCheckFailedException(refused) => Some(refused.item()),
            _ => None,
        }
    }
}

impl RefusedItem for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn refused_item(&self) -> Option<Option<&Item>> {
        match self {
            Self::ConditionalCheckFailedException(refused) => Some(refused.item()),
            _ => None,
        }
    }
}

/// Like [`conditional`], but a refused write answers with the item as it stood
/// (`Err(item)`), so no read need follow.
pub(super) fn refused_with_item<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Result<T, Option<Item>>, StoreError>
where
    E: RefusedItem + ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(e) => match e.as_service_error().and_then(RefusedItem::refused_item) {
            Some(item) => Ok(Err(item.cloned())),
            None => Err(sdk_error(e)),
        },
    }
}

pub(super) fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}
