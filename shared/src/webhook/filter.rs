//! Content filters: which alerts a webhook wants, by the alert's content, in the
//! Mongo-style JSON of Convoy and Outpost. Checked at fan-out after `alert_types` and
//! `events`, over the alert as deliveries carry it (`type`, `severity`, `status`, `state`,
//! `labels`, `source`, `data`, `count`, `message`...).
//!
//! - An object's keys must all match. A key is a path: `labels.team`, or nested objects
//!   (`{"labels": {"team": "ops"}}`); a number in a path indexes an array.
//! - A plain value is equality; an object of `$` operators tests the value at its path:
//!   `$eq`, `$neq`, `$in`, `$nin`, `$gt`, `$gte`, `$lt`, `$lte`, `$exist` (also spelt
//!   `$exists`), `$regex`; `$and`, `$or` (lists of filters) and `$not` (a filter) combine.
//! - Against an array, `$eq`, `$in` and `$regex` match when any element does, as in Mongo
//!   (`$neq` and `$nin` when none does).
//! - `$gt` and the like compare numbers with numbers and text with text (RFC 3339 times
//!   order as text); anything else does not match.
//!
//! Everything here is pure: a filter is parsed once (each fault named by operator and
//! path), then evaluated.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::{json::JsonString, serde_as};

use crate::{delivery::template::compile_regex, error::FieldError};

pub const FILTER_MAX_BYTES: usize = 8 * 1024;
pub const FILTER_MAX_DEPTH: usize = 32;

/// A webhook's filter as given and stored (JSON text: DynamoDB maps nest at most 32 deep).
#[serde_as]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentFilter(#[serde_as(as = "JsonString")] pub Value);

/// A parsed filter.
#[derive(Clone, Debug)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// A test of the value at a path.
    At(Vec<String>, Test),
}

#[derive(Clone, Debug)]
pub enum Test {
    Eq(Value),
    Neq(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Order(std::cmp::Ordering, bool, Value),
    Exist(bool),
    Regex(regex::Regex),
}

impl ContentFilter {
    /// Validates a filter as a request gives it.
    pub fn parse(field: &str, value: &Value) -> Result<Self, Vec<FieldError>> {
        let text = value.to_string();
        if text.len() > FILTER_MAX_BYTES {
            return Err(vec![FieldError::new(
                field,
                format!("must be at most {} KiB as JSON", FILTER_MAX_BYTES / 1024),
            )]);
        }
        if depth(value) > FILTER_MAX_DEPTH {
            return Err(vec![FieldError::new(
                field,
                format!("must nest at most {FILTER_MAX_DEPTH} levels"),
            )]);
        }
        let mut errors = Vec::new();
        match value {
            Value::Object(_) => {
                parse_object(value, &[], field, &mut errors);
            }
            _ => errors.push(FieldError::new(field, "must be a JSON object")),
        }
        if errors.is_empty() {
            Ok(Self(value.clone()))
        } else {
            Err(errors)
        }
    }

    /// The filter, parsed. A stored filter was checked when saved, so a fault here (which
    /// a later, stricter release could find) matches nothing rather than everything.
    pub fn compile(&self) -> Filter {
        let mut errors = Vec::new();
        let filter = parse_object(&self.0, &[], "filter", &mut errors);
        if errors.is_empty() {
            filter
        } else {
            Filter::Any(Vec::new())
        }
    }

    /// Whether `alert` (as deliveries carry it) passes.
    pub fn matches(&self, alert: &Value) -> bool {
        self.compile().matches(alert)
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Where a fault is, for its message: `filter.labels.team.$regex`.
fn name(field: &str, path: &[String], op: Option<&str>) -> String {
    let mut name = field.to_string();
    for part in path.iter().map(String::as_str).chain(op) {
        name.push('.');
        name.push_str(part);
    }
    name
}

/// An object of keys (paths and operators) that must all hold, under `path`.
fn parse_object(
    value: &Value,
    path: &[String],
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Filter {
    let Value::Object(map) = value else {
        errors.push(FieldError::new(
            name(field, path, None),
            "must be an object",
        ));
        return Filter::All(Vec::new());
    };
    let mut all = Vec::with_capacity(map.len());
    for (key, operand) in map {
        let at = |message: String| FieldError::new(name(field, path, Some(key)), message);
        match key.as_str() {
            "$and" | "$or" => {
                let Some(items) = operand.as_array().filter(|items| !items.is_empty()) else {
                    errors.push(at("must be a non-empty list of filters".into()));
                    continue;
                };
                let parts = items
                    .iter()
                    .map(|item| parse_object(item, path, field, errors))
                    .collect();
                all.push(if key == "$and" {
                    Filter::All(parts)
                } else {
                    Filter::Any(parts)
                });
            }
            "$not" => {
                if operand.is_object() {
                    all.push(Filter::Not(Box::new(parse_object(
                        operand, path, field, errors,
                    ))));
                } else {
                    errors.push(at("must be a filter (an object)".into()));
                }
            }
            op if op.starts_with('$') => {
                if path.is_empty() {
                    errors.push(at(format!("{op} must be applied to a field")));
                    continue;
                }
                match parse_test(op, operand) {
                    Ok(test) => all.push(Filter::At(path.to_vec(), test)),
                    Err(message) => errors.push(at(message)),
                }
            }
            "" => errors.push(at("an empty key names no field".into())),
            key => {
                let mut deeper = path.to_vec();
                deeper.extend(key.split('.').map(str::to_string));
                if deeper.iter().any(String::is_empty) {
                    errors.push(at("a path must not have empty parts".into()));
                    continue;
                }
                all.push(match operand {
                    Value::Object(_) => parse_object(operand, &deeper, field, errors),
                    plain => Filter::At(deeper, Test::Eq(plain.clone())),
                });
            }
        }
    }
    if all.len() == 1 {
        all.pop().unwrap_or(Filter::All(Vec::new()))
    } else {
        Filter::All(all)
    }
}

fn parse_test(op: &str, operand: &Value) -> Result<Test, String> {
    use std::cmp::Ordering::{Greater, Less};
    let list = || match operand {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(format!("{op} takes a list")),
    };
    let comparable = |strict: bool, ordering| match operand {
        Value::Number(_) | Value::String(_) => Ok(Test::Order(ordering, strict, operand.clone())),
        _ => Err(format!("{op} takes a number or a string")),
    };
    match op {
        "$eq" => Ok(Test::Eq(operand.clone())),
        "$neq" | "$ne" => Ok(Test::Neq(operand.clone())),
        "$in" => list().map(Test::In),
        "$nin" => list().map(Test::Nin),
        "$gt" => comparable(true, Greater),
        "$gte" => comparable(false, Greater),
        "$lt" => comparable(true, Less),
        "$lte" => comparable(false, Less),
        "$exist" | "$exists" => operand
            .as_bool()
            .map(Test::Exist)
            .ok_or_else(|| format!("{op} takes true or false")),
        "$regex" => {
            let pattern = operand
                .as_str()
                .ok_or_else(|| format!("{op} takes a pattern (a string)"))?;
            compile_regex(pattern).map(Test::Regex)
        }
        _ => Err(format!(
            "{op} is not an operator; use $eq, $neq, $in, $nin, $gt, $gte, $lt, $lte, $exist, $regex, $and, $or or $not"
        )),
    }
}

impl Filter {
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Self::All(parts) => parts.iter().all(|p| p.matches(doc)),
            Self::Any(parts) => parts.iter().any(|p| p.matches(doc)),
            Self::Not(inner) => !inner.matches(doc),
            Self::At(path, test) => test.holds(lookup(doc, path)),
        }
    }
}

fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

impl Test {
    fn holds(&self, value: Option<&Value>) -> bool {
        // Against an array, a test of one value matches when any element does.
        let any = |test: &dyn Fn(&Value) -> bool| match value {
            Some(Value::Array(items)) => {
                test(value.unwrap_or(&Value::Null)) || items.iter().any(test)
            }
            Some(v) => test(v),
            None => false,
        };
        match self {
            Self::Eq(expected) => any(&|v| same(v, expected)),
            Self::Neq(expected) => !any(&|v| same(v, expected)),
            Self::In(list) => any(&|v| list.iter().any(|e| same(v, e))),
            Self::Nin(list) => !any(&|v| list.iter().any(|e| same(v, e))),
            Self::Exist(wanted) => value.is_some() == *wanted,
            Self::Regex(regex) => any(&|v| v.as_str().is_some_and(|s| regex.is_match(s))),
            Self::Order(ordering, strict, bound) => value.is_some_and(|v| {
                compare(v, bound).is_some_and(|o| o == *ordering || (!strict && o.is_eq()))
            }),
        }
    }
}

/// JSON equality, with numbers equal by value (`1` is `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alert() -> Value {
        json!({
            "type": "cpu_high", "severity": "critical", "status": "firing", "state": "triggered",
            "count": 7, "message": "CPU at 97% on web-01",
            "labels": {"team": "ops", "env": "prod", "tags": "a,b"},
            "source": {"host": {"name": "web-01", "zones": ["eu-1", "eu-2"]}},
            "data": {"value": 97.5, "items": [{"id": 1}, {"id": 2}], "at": "2026-11-23T10:00:00Z"}
        })
    }

    fn check(filter: Value) -> bool {
        ContentFilter::parse("filter", &filter)
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"))
            .matches(&alert())
    }

    #[test]
    fn each_operator_matches_and_refuses() {
        let cases = [
            (json!({"severity": "critical"}), true),
            (json!({"severity": "info"}), false),
            (json!({"severity": {"$eq": "critical"}}), true),
            (json!({"severity": {"$neq": "info"}}), true),
            (json!({"severity": {"$neq": "critical"}}), false),
            (json!({"severity": {"$in": ["critical", "error"]}}), true),
            (json!({"severity": {"$in": ["warning"]}}), false),
            (json!({"severity": {"$nin": ["warning", "info"]}}), true),
            (json!({"severity": {"$nin": ["critical"]}}), false),
            (json!({"count": {"$gt": 5}}), true),
            (json!({"count": {"$gt": 7}}), false),
            (json!({"count": {"$gte": 7}}), true),
            (json!({"count": {"$lt": 7.5}}), true),
            (json!({"count": {"$lte": 6}}), false),
            (json!({"count": 7.0}), true),
            (json!({"count": {"$gt": "5"}}), false),
            (json!({"data.at": {"$gte": "2026-11-01T00:00:00Z"}}), true),
            (json!({"labels.team": {"$exist": true}}), true),
            (json!({"labels.owner": {"$exist": false}}), true),
            (json!({"labels.owner": {"$exists": true}}), false),
            (json!({"message": {"$regex": "^CPU at 9\\d%"}}), true),
            (json!({"message": {"$regex": "(?i)^cpu AT 1"}}), false),
            (json!({"labels.owner": {"$regex": "."}}), false),
            (json!({"labels.owner": {"$neq": "x"}}), true),
            (
                json!({"$or": [{"severity": "info"}, {"labels.env": "prod"}]}),
                true,
            ),
            (
                json!({"$and": [{"severity": "critical"}, {"labels.env": "dev"}]}),
                false,
            ),
            (json!({"$not": {"severity": "info"}}), true),
            (json!({"severity": {"$not": {"$in": ["critical"]}}}), false),
        ];
        for (filter, expected) in cases {
            assert_eq!(check(filter.clone()), expected, "{filter}");
        }
    }

    #[test]
    fn nested_keys_dotted_paths_and_arrays() {
        assert!(check(json!({"labels": {"team": "ops", "env": "prod"}})));
        assert!(!check(json!({"labels": {"team": "ops", "env": "dev"}})));
        assert!(check(json!({"source.host.name": "web-01"})));
        assert!(check(json!({"source": {"host.name": {"$regex": "^web-"}}})));
        assert!(check(json!({"source.host.zones": "eu-2"})));
        assert!(check(
            json!({"source.host.zones": {"$in": ["eu-9", "eu-1"]}})
        ));
        assert!(check(json!({"source.host.zones": {"$nin": ["eu-9"]}})));
        assert!(!check(json!({"source.host.zones": {"$nin": ["eu-1"]}})));
        assert!(check(
            json!({"source.host.zones": {"$eq": ["eu-1", "eu-2"]}})
        ));
        assert!(check(json!({"data.items.1.id": 2})));
        assert!(!check(json!({"data.items.5.id": 2})));
        assert!(check(
            json!({"data": {"$or": [{"value": {"$gt": 99}}, {"items.0.id": 1}]}})
        ));
        // Deep combinations.
        assert!(check(json!({"$and": [
            {"$or": [{"severity": "critical"}, {"severity": "error"}]},
            {"$not": {"$or": [{"labels.env": "dev"}, {"labels.env": "staging"}]}},
            {"labels": {"team": {"$in": ["ops", "sre"]}}}
        ]})));
        assert!(check(json!({})));
    }

    #[test]
    fn bad_filters_name_the_operator_and_path() {
        let fault = |filter: Value| -> Vec<String> {
            ContentFilter::parse("filter", &filter)
                .unwrap_err()
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect()
        };
        let cases = [
            (
                json!({"labels.team": {"$regx": "x"}}),
                "filter.labels.team.$regx",
            ),
            (json!({"message": {"$regex": "("}}), "filter.message.$regex"),
            (json!({"count": {"$gt": [1]}}), "filter.count.$gt"),
            (
                json!({"severity": {"$in": "critical"}}),
                "filter.severity.$in",
            ),
            (json!({"labels": {"$exist": "yes"}}), "filter.labels.$exist"),
            (json!({"$or": []}), "filter.$or"),
            (json!({"$or": [1]}), "filter"),
            (json!({"$not": "x"}), "filter.$not"),
            (json!({"$eq": 1}), "filter.$eq"),
            (json!({"a..b": 1}), "filter.a..b"),
            (json!([]), "filter"),
        ];
        for (filter, field) in cases {
            let faults = fault(filter.clone());
            assert!(
                faults.iter().any(|f| f.starts_with(&format!("{field}: "))),
                "{filter}: {faults:?}"
            );
        }
        // Every fault is named, not just the first.
        assert_eq!(fault(json!({"a": {"$gt": {}}, "b": {"$in": 1}})).len(), 2);
        let deep = (0..40).fold(json!(1), |inner, _| json!({ "a": inner }));
        assert!(fault(deep)[0].contains("32 levels"));
        let big = json!({"message": {"$in": vec!["x".repeat(100); 100]}});
        assert!(fault(big)[0].contains("8 KiB"));
        let huge_regex = json!({"message": {"$regex": "\\w{1000}\\w{1000}"}});
        assert!(fault(huge_regex)[0].contains("too large"));
    }

    #[test]
    fn a_stored_filter_round_trips_as_text() {
        let filter = ContentFilter::parse("filter", &json!({"labels.team": "ops"})).unwrap();
        let item =
            serde_dynamo::to_attribute_value::<_, aws_sdk_dynamodb::types::AttributeValue>(&filter)
                .unwrap();
        assert_eq!(item.as_s().unwrap(), r#"{"labels.team":"ops"}"#);
        let back: ContentFilter = serde_dynamo::from_attribute_value(item).unwrap();
        assert_eq!(back, filter);
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{json, Value};

        use super::super::ContentFilter;

        const PATHS: [&str; 5] = [
            "severity",
            "count",
            "labels.env",
            "source.host.zones",
            "data.items.id",
        ];

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(json!("critical")),
                Just(json!("info")),
                Just(json!("prod")),
                Just(json!("eu-1")),
                (0i64..10).prop_map(Value::from),
                Just(Value::Null),
            ]
        }

        /// Any filter over a few fields, with every operator, nested up to 3 deep.
        fn filter() -> impl Strategy<Value = Value> {
            let leaf = (0..PATHS.len(), 0u8..9, value(), value()).prop_map(|(p, op, a, b)| {
                let path = PATHS[p];
                let condition = match op {
                    0 => a,
                    1 => json!({"$eq": a}),
                    2 => json!({"$neq": a}),
                    3 => json!({"$in": [a, b]}),
                    4 => json!({"$nin": [a, b]}),
                    // Order takes a number or a string.
                    5 => json!({"$gt": if a.is_null() { json!(3) } else { a }}),
                    6 => json!({"$lte": if b.is_null() { json!("m") } else { b }}),
                    7 => json!({"$exist": a.is_null()}),
                    _ => json!({"$regex": "^(crit|eu-)"}),
                };
                json!({ path: condition })
            });
            leaf.prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..3).prop_map(|fs| json!({"$and": fs})),
                    prop::collection::vec(inner.clone(), 1..3).prop_map(|fs| json!({"$or": fs})),
                    inner.prop_map(|f| json!({"$not": f})),
                ]
            })
        }

        fn alert() -> impl Strategy<Value = Value> {
            (value(), value(), value(), 0usize..3).prop_map(|(severity, count, env, items)| {
                json!({
                    "severity": severity, "count": count, "labels": {"env": env},
                    "source": {"host": {"zones": ["eu-1", "eu-2"]}},
                    "data": {"items": (0..items).map(|i| json!({"id": i})).collect::<Vec<_>>()}
                })
            })
        }

        proptest! {
            /// `$not` of a filter passes exactly the alerts the filter does not.
            #[test]
            fn not_is_the_negation(filter in filter(), alert in alert()) {
                let plain = ContentFilter::parse("filter", &filter).unwrap();
                let negated = ContentFilter::parse("filter", &json!({"$not": filter})).unwrap();
                prop_assert_eq!(negated.matches(&alert), !plain.matches(&alert));
            }
        }
    }
}
