//! Counts DynamoDB requests and the capacity units they consume: every call is made with
//! `ReturnConsumedCapacity=INDEXES`, which DynamoDB Local answers as DynamoDB does (the
//! total, and the table's and each index's part). Units are also attributed to the
//! partition keys each request touched (see [`Touched`]), an index's to the index's key,
//! for the heat of one partition key under a storm.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
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
    types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity},
};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Totals since the meter was made; take two readings and subtract.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    requests: Arc<AtomicU64>,
    /// Thousandths of a unit.
    read: Arc<AtomicU64>,
    write: Arc<AtomicU64>,
    /// Units by partition key.
    by_key: Arc<Mutex<HashMap<String, Units>>>,
    /// Units by call: the operation and the nouns of the items it touched.
    by_call: Arc<Mutex<HashMap<String, Units>>>,
    /// The largest item put whole, by noun.
    largest: Arc<Mutex<HashMap<String, HashMap<String, AttributeValue>>>>,
    /// Requests sent (retries included) by call.
    calls: Arc<Mutex<HashMap<String, u64>>>,
}

/// Read and write units on one partition key.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

/// The partition keys one request touches, each with its weight: the share of the
/// request's units it takes. A single-item call or a Query touches one key; a batch or a
/// transaction splits its units by each item's size in 1 KB write units (an update or a
/// delete counts as one: its stored size is not in the request).
#[derive(Clone, Debug)]
struct Touched {
    keys: Vec<(String, f64)>,
    /// The index partition keys (`state_pk`) of the items put: a global secondary
    /// index's units land there, apart from the table's.
    index_keys: Vec<String>,
    call: String,
}

impl Storable for Touched {
    type Storer = StoreReplace<Self>;
}

/// The `pk` of an item or a key.
fn pk(item: Option<&HashMap<String, AttributeValue>>) -> Option<String> {
    item?.get("pk")?.as_s().ok().cloned()
}

/// A value's size as DynamoDB counts it.
fn value_bytes(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_bytes(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
        _ => 1,
    }
}

/// An item's size, names and values.
pub fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_bytes(v)).sum()
}

/// Each attribute's size (its name and value), largest first.
pub fn attribute_bytes(item: &HashMap<String, AttributeValue>) -> Vec<(String, usize)> {
    let mut sizes: Vec<(String, usize)> = item
        .iter()
        .map(|(k, v)| (k.clone(), k.len() + value_bytes(v)))
        .collect();
    sizes.sort_by_key(|s| std::cmp::Reverse(s.1));
    sizes
}

/// An item's size in 1 KB write units.
fn write_units(item: &HashMap<String, AttributeValue>) -> f64 {
    item_bytes(item).div_ceil(1024).max(1) as f64
}

/// What an item is, by its sort key's noun: `ALERT`, `ALERTAT`, `DLV`, ...
fn noun(item: &HashMap<String, AttributeValue>) -> Option<String> {
    let sk = item.get("sk")?.as_s().ok()?;
    Some(sk.split('#').next().unwrap_or(sk).to_string())
}

/// The items a write input puts whole (not updates or deletes: their stored size is not
/// in the request).
fn put_items(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Vec<&HashMap<String, AttributeValue>> {
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        return i.item.iter().collect();
    }
    if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        return (i.request_items.iter().flatten())
            .flat_map(|(_, writes)| writes)
            .filter_map(|w| w.put_request.as_ref().map(|p| &p.item))
            .collect();
    }
    if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        return (i.transact_items.iter().flatten())
            .filter_map(|t| t.put().map(|p| p.item()))
            .collect();
    }
    Vec::new()
}

/// A call's name and the nouns of the items it names: `TransactWriteItems ALERT+ALERTAT`.
fn call_label(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> String {
    let mut nouns: Vec<String> = Vec::new();
    let mut name = |item: &HashMap<String, AttributeValue>| {
        if let Some(noun) = noun(item) {
            if !nouns.contains(&noun) {
                nouns.push(noun);
            }
        }
    };
    let op = if let Some(i) = input.downcast_ref::<PutItemInput>() {
        i.item.iter().for_each(&mut name);
        "PutItem"
    } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        i.key.iter().for_each(&mut name);
        "UpdateItem"
    } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        i.key.iter().for_each(&mut name);
        "DeleteItem"
    } else if let Some(i) = input.downcast_ref::<GetItemInput>() {
        i.key.iter().for_each(&mut name);
        "GetItem"
    } else if input.downcast_ref::<QueryInput>().is_some() {
        "Query"
    } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        (i.request_items.iter().flatten())
            .flat_map(|(_, keys)| keys.keys())
            .for_each(&mut name);
        "BatchGetItem"
    } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        (i.request_items.iter().flatten())
            .flat_map(|(_, writes)| writes)
            .filter_map(|w| {
                (w.put_request.as_ref().map(|p| &p.item))
                    .or(w.delete_request.as_ref().map(|d| &d.key))
            })
            .for_each(&mut name);
        "BatchWriteItem"
    } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        (i.transact_items.iter().flatten())
            .filter_map(|t| {
                (t.put().map(|p| p.item()))
                    .or(t.update().map(|u| u.key()))
                    .or(t.delete().map(|d| d.key()))
                    .or(t.condition_check().map(|c| c.key()))
            })
            .for_each(&mut name);
        "TransactWriteItems"
    } else {
        "other"
    };
    if nouns.is_empty() {
        op.to_string()
    } else {
        format!("{op} {}", nouns.join("+"))
    }
}

/// The index keys of the items an input puts whole (see [`Touched`]).
fn index_keys(input: &aws_smithy_runtime_api::client::interceptors::context::Input) -> Vec<String> {
    (put_items(input).into_iter())
        .filter_map(|item| item.get("state_pk")?.as_s().ok().cloned())
        .collect()
}

/// What an input touches (see [`Touched`]).
fn touched(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Vec<(String, f64)> {
    let one = |key: Option<String>| key.map(|k| vec![(k, 1.0)]).unwrap_or_default();
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        return one(pk(i.item.as_ref()));
    }
    if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        return one(pk(i.key.as_ref()));
    }
    if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        return one(pk(i.key.as_ref()));
    }
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return one(pk(i.key.as_ref()));
    }
    if let Some(i) = input.downcast_ref::<QueryInput>() {
        let values = i.expression_attribute_values.as_ref();
        return one(values.and_then(|v| v.get(":pk")?.as_s().ok().cloned()));
    }
    if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        return (i.request_items.iter().flatten())
            .flat_map(|(_, keys)| keys.keys())
            .filter_map(|k| Some((pk(Some(k))?, 1.0)))
            .collect();
    }
    if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        return (i.request_items.iter().flatten())
            .flat_map(|(_, writes)| writes)
            .filter_map(|w| match (&w.put_request, &w.delete_request) {
                (Some(put), _) => Some((pk(Some(&put.item))?, write_units(&put.item))),
                (_, Some(delete)) => Some((pk(Some(&delete.key))?, 1.0)),
                _ => None,
            })
            .collect();
    }
    if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        return (i.transact_items.iter().flatten())
            .filter_map(|t| {
                if let Some(put) = t.put() {
                    return Some((pk(Some(put.item()))?, write_units(put.item())));
                }
                let key = (t.update().map(|u| u.key()))
                    .or(t.delete().map(|d| d.key()))
                    .or(t.condition_check().map(|c| c.key()));
                Some((pk(key)?, 1.0))
            })
            .collect();
    }
    Vec::new()
}

/// The units each key took between two readings.
pub fn since(
    before: &HashMap<String, Units>,
    after: HashMap<String, Units>,
) -> Vec<(String, Units)> {
    let mut keys: Vec<(String, Units)> = after
        .into_iter()
        .map(|(key, now)| {
            let was = before.get(&key).copied().unwrap_or_default();
            let units = Units {
                read: now.read - was.read,
                write: now.write - was.write,
            };
            (key, units)
        })
        .filter(|(_, u)| u.read > 0.0 || u.write > 0.0)
        .collect();
    keys.sort_by(|a, b| (b.1.write + b.1.read).total_cmp(&(a.1.write + a.1.read)));
    keys
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

    /// The largest item of each noun put whole since the meter was made.
    pub fn largest_items(&self) -> HashMap<String, HashMap<String, AttributeValue>> {
        self.largest.lock().unwrap().clone()
    }

    /// Units by partition key since the meter was made; take two and subtract.
    pub fn by_key(&self) -> HashMap<String, Units> {
        self.by_key.lock().unwrap().clone()
    }

    /// Requests (retries included) by call (see [`call_label`]) since the meter was made.
    pub fn calls(&self) -> HashMap<String, u64> {
        self.calls.lock().unwrap().clone()
    }

    /// Units by call (see [`call_label`]) since the meter was made.
    pub fn by_call(&self) -> HashMap<String, Units> {
        self.by_call.lock().unwrap().clone()
    }

    fn add(
        &self,
        total: &AtomicU64,
        consumed: &[&ConsumedCapacity],
        touched: Option<&Touched>,
        write: bool,
    ) {
        let mut units: f64 = consumed.iter().filter_map(|c| c.capacity_units()).sum();
        // DynamoDB bills a transaction 2 units a KB for each of its items. DynamoDB Local
        // does not count by item: it answers 4 for 1 to 20 small ones alike.
        if let Some(t) = touched.filter(|t| t.call.starts_with("TransactWriteItems")) {
            units = units.max(2.0 * t.keys.iter().map(|(_, w)| w).sum::<f64>());
        }
        total.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        let Some(Touched {
            keys,
            index_keys,
            call,
        }) = touched
        else {
            return;
        };
        {
            let mut by_call = self.by_call.lock().unwrap();
            let entry = by_call.entry(call.clone()).or_default();
            if write {
                entry.write += units;
            } else {
                entry.read += units;
            }
        }
        // An index's units go to the index keys of the items put, when there are any (a
        // Query on the index names its own key, in `keys`).
        let index_units: f64 = if index_keys.is_empty() {
            0.0
        } else {
            (consumed.iter())
                .flat_map(|c| c.global_secondary_indexes().into_iter().flatten())
                .filter_map(|(_, c)| c.capacity_units())
                .sum()
        };
        let mut by_key = self.by_key.lock().unwrap();
        let mut add = |key: &String, share: f64| {
            let entry = by_key.entry(key.clone()).or_default();
            if write {
                entry.write += share;
            } else {
                entry.read += share;
            }
        };
        let weights: f64 = keys.iter().map(|(_, w)| w).sum();
        for (key, weight) in keys {
            add(key, (units - index_units) * weight / weights);
        }
        for key in index_keys {
            add(key, index_units / index_keys.len() as f64);
        }
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
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let keys = touched(context.input());
        let index_keys = index_keys(context.input());
        let call = call_label(context.input());
        cfg.interceptor_state().store_put(Touched {
            keys,
            index_keys,
            call,
        });
        {
            let mut largest = self.largest.lock().unwrap();
            for item in put_items(context.input()) {
                let Some(noun) = noun(item) else { continue };
                let bigger = largest
                    .get(&noun)
                    .is_none_or(|kept| item_bytes(kept) < item_bytes(item));
                if bigger {
                    largest.insert(noun, item.clone());
                }
            }
        }
        let input = context.input_mut();
        // The table's and each index's units apart, and their sum (as TOTAL gives it).
        let total = Some(ReturnConsumedCapacity::Indexes);
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
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(touched) = cfg.load::<Touched>() {
            *self
                .calls
                .lock()
                .unwrap()
                .entry(touched.call.clone())
                .or_default() += 1;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let touched = cfg.load::<Touched>();
        macro_rules! one {
            ($total:expr, $write:expr, $($output:ty),*) => {
                $( if let Some(o) = output.downcast_ref::<$output>() {
                    self.add($total, &o.consumed_capacity().into_iter().collect::<Vec<_>>(), touched, $write);
                } )*
            };
        }
        macro_rules! many {
            ($total:expr, $write:expr, $($output:ty),*) => {
                $( if let Some(o) = output.downcast_ref::<$output>() {
                    self.add($total, &o.consumed_capacity().iter().collect::<Vec<_>>(), touched, $write);
                } )*
            };
        }
        one!(
            &self.write,
            true,
            PutItemOutput,
            UpdateItemOutput,
            DeleteItemOutput
        );
        one!(&self.read, false, GetItemOutput, QueryOutput);
        many!(
            &self.write,
            true,
            BatchWriteItemOutput,
            TransactWriteItemsOutput
        );
        many!(&self.read, false, BatchGetItemOutput);
        Ok(())
    }
}
