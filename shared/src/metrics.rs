//! Metrics in CloudWatch's Embedded Metric Format: one JSON line on stdout, from which
//! CloudWatch Logs makes the metrics (no `PutMetricData` call, no extra permission).
//!
//! | metric | unit | from |
//! |---|---|---|
//! | `Delivered` | Count | attempts that succeeded |
//! | `Retried` | Count | attempts that failed and will be retried |
//! | `Failed` | Count | deliveries that ended failed (not retried, or refused) |
//! | `Exhausted` | Count | deliveries that ended failed with their retries spent |
//! | `RefusedDestinations` | Count | attempts refused by the destination check |
//! | `TemplateErrors` | Count | attempts whose format or template failed to render (nothing sent) |
//! | `AttemptDuration` | Milliseconds | each attempt's HTTP exchange |
//! | `DeliveryLatency` | Milliseconds | from the alert's arrival to a successful attempt |
//! | `FanOut` | Count | deliveries queued for one alert |
//! | `Lateness` | Milliseconds | how long after it was due each due message was handled (deliver) |
//!
//! The one dimension is `Function` (`deliver`, `ingest`): low cardinality, never an
//! account or a webhook. Ids of what a line counts ride along as plain properties, which
//! CloudWatch keeps in the log but makes no metric of.

use std::{
    io::Write,
    sync::{Mutex, OnceLock},
};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Hookline";

/// Where lines go: stdout, unless [`send_to`] said otherwise.
static SINK: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

/// Sends every line from now on to `sink` instead of stdout (the benchmark counts them);
/// only the first call takes effect.
pub fn send_to(sink: Box<dyn Write + Send>) {
    let _ = SINK.set(Mutex::new(sink));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: metrics for one function, each with one or more values.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    function: &'static str,
    values: Vec<(&'static str, Unit, Vec<f64>)>,
    properties: Map<String, Value>,
}

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        Self {
            function,
            values: Vec::new(),
            properties: Map::new(),
        }
    }

    /// Adds a value to metric `name` (several values make a distribution).
    pub fn add(&mut self, name: &'static str, unit: Unit, value: f64) {
        match self.values.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, _, values)) => values.push(value),
            None => self.values.push((name, unit, vec![value])),
        }
    }

    /// Whether any metric has a value.
    pub fn has_values(&self) -> bool {
        !self.values.is_empty()
    }

    /// The values of metric `name` so far.
    pub fn values(&self, name: &str) -> &[f64] {
        (self.values.iter())
            .find(|(n, _, _)| *n == name)
            .map_or(&[], |(_, _, values)| values.as_slice())
    }

    /// Counts `n` of `name`, written even when zero, so every line has every count.
    pub fn count(&mut self, name: &'static str, n: usize) {
        match self.values.iter_mut().find(|(m, _, _)| *m == name) {
            Some((_, _, values)) => values[0] += n as f64,
            None => self.values.push((name, Unit::Count, vec![n as f64])),
        }
    }

    /// A plain property of the log line, not a metric nor a dimension.
    pub fn property(&mut self, name: &str, value: Value) {
        self.properties.insert(name.to_string(), value);
    }

    /// The line, stamped `at`.
    pub fn line(&self, at: DateTime<Utc>) -> String {
        let mut root = self.properties.clone();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Function"]],
                    "Metrics": self.values.iter()
                        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        root.insert("Function".into(), self.function.into());
        for (name, _, values) in &self.values {
            let value = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            root.insert((*name).into(), value);
        }
        Value::Object(root).to_string()
    }

    /// Writes the line to stdout, where Lambda hands it to CloudWatch Logs.
    pub fn emit(&self, at: DateTime<Utc>) {
        if self.values.is_empty() {
            return;
        }
        let line = self.line(at);
        match SINK.get() {
            Some(sink) => {
                let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(sink, "{line}");
            }
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_embedded_metric_format() {
        let mut m = Metrics::new("deliver");
        m.count("Delivered", 2);
        m.count("Retried", 0);
        m.add("AttemptDuration", Unit::Milliseconds, 12.0);
        m.add("AttemptDuration", Unit::Milliseconds, 30.0);
        m.property("delivery_ids", json!(["d1", "d2"]));
        let at = DateTime::from_timestamp_millis(1_800_000_000_123).unwrap();
        let line: Value = serde_json::from_str(&m.line(at)).unwrap();
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_800_000_000_123i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Hookline");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "Delivered", "Unit": "Count"},
                {"Name": "Retried", "Unit": "Count"},
                {"Name": "AttemptDuration", "Unit": "Milliseconds"}
            ])
        );
        // Every metric and dimension named in the directive is a member of the root.
        assert_eq!(line["Function"], "deliver");
        assert_eq!(line["Delivered"], 2.0);
        assert_eq!(line["Retried"], 0.0);
        assert_eq!(line["AttemptDuration"], json!([12.0, 30.0]));
        assert_eq!(line["delivery_ids"], json!(["d1", "d2"]));
    }
}
