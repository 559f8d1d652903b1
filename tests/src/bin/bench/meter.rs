//! Counts DynamoDB requests and the capacity units they consume: every call is made with
//! `ReturnConsumedCapacity=TOTAL`, which DynamoDB Local answers as DynamoDB does.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use aws_sdk_dynamodb::{
    config::{
        interceptors::{
            AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
            BeforeTransmitInterceptorContextRef,
        },
        ConfigBag, Intercept, RuntimeComponents,
    },
    error::BoxError,
    operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
        delete_item::{DeleteItemInput, DeleteItemOutput},
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemInput, PutItemOutput},
        query::{QueryInput, QueryOutput},
        transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
        update_item::{UpdateItemInput, UpdateItemOutput},
    },
    types::{ConsumedCapacity, ReturnConsumedCapacity},
};

/// Totals since the meter was made; take two readings and subtract.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    requests: Arc<AtomicU64>,
    /// Thousandths of a unit.
    read: Arc<AtomicU64>,
    write: Arc<AtomicU64>,
}

/// One reading of a [`Meter`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    pub requests: f64,
    pub read_units: f64,
    pub write_units: f64,
}

impl std::ops::Sub for Reading {
    type Output = Reading;
    fn sub(self, before: Reading) -> Reading {
        Reading {
            requests: self.requests - before.requests,
            read_units: self.read_units - before.read_units,
            write_units: self.write_units - before.write_units,
        }
    }
}

impl Reading {
    /// Per one of `n` things (deliveries, attempts).
    pub fn per(self, n: usize) -> Reading {
        let n = n as f64;
        Reading {
            requests: self.requests / n,
            read_units: self.read_units / n,
            write_units: self.write_units / n,
        }
    }
}

impl Meter {
    pub fn reading(&self) -> Reading {
        let units = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0;
        Reading {
            requests: self.requests.load(Ordering::Relaxed) as f64,
            read_units: units(&self.read),
            write_units: units(&self.write),
        }
    }

    fn add(&self, total: &AtomicU64, consumed: &[&ConsumedCapacity]) {
        let units: f64 = consumed.iter().filter_map(|c| c.capacity_units()).sum();
        total.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        macro_rules! ask {
            ($($input:ty),*) => {
                $( if let Some(i) = input.downcast_mut::<$input>() { i.return_consumed_capacity = total.clone(); } )*
            };
        }
        ask!(
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            GetItemInput,
            QueryInput,
            BatchWriteItemInput,
            BatchGetItemInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        macro_rules! one {
            ($total:expr, $($output:ty),*) => {
                $( if let Some(o) = output.downcast_ref::<$output>() {
                    self.add($total, &o.consumed_capacity().into_iter().collect::<Vec<_>>());
                } )*
            };
        }
        macro_rules! many {
            ($total:expr, $($output:ty),*) => {
                $( if let Some(o) = output.downcast_ref::<$output>() {
                    self.add($total, &o.consumed_capacity().iter().collect::<Vec<_>>());
                } )*
            };
        }
        one!(
            &self.write,
            PutItemOutput,
            UpdateItemOutput,
            DeleteItemOutput
        );
        one!(&self.read, GetItemOutput, QueryOutput);
        many!(&self.write, BatchWriteItemOutput, TransactWriteItemsOutput);
        many!(&self.read, BatchGetItemOutput);
        Ok(())
    }
}
