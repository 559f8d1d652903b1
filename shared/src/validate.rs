//! Small helpers for validating JSON input field by field, collecting every error.

use serde_json::Value;

use crate::error::FieldError;

/// Keeps a parsed value, or moves its errors into `errors`.
pub fn keep<T>(errors: &mut Vec<FieldError>, result: Result<T, Vec<FieldError>>) -> Option<T> {
    result.map_err(|e| errors.extend(e)).ok()
}

pub fn fail<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, Vec<FieldError>> {
    Err(vec![FieldError::new(field, message)])
}

pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A JSON array of strings; `null` means empty.
pub fn string_list<'a>(field: &str, value: &'a Value) -> Result<Vec<&'a str>, Vec<FieldError>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return fail(field, "must be an array of strings"),
    };
    let mut errors = Vec::new();
    let strings: Vec<&str> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let s = item.as_str();
            if s.is_none() {
                errors.push(FieldError::new(format!("{field}[{i}]"), "must be a string"));
            }
            s
        })
        .collect();
    if errors.is_empty() {
        Ok(strings)
    } else {
        Err(errors)
    }
}

pub fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A trimmed, non-empty string of at most `max` characters. `multiline` admits line
/// breaks and tabs; no other control character is ever admitted.
pub fn text(
    field: &str,
    value: &Value,
    max: usize,
    multiline: bool,
) -> Result<String, Vec<FieldError>> {
    let Some(raw) = value.as_str() else {
        return fail(field, "must be a string");
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return fail(field, "must not be empty");
    }
    if trimmed.chars().count() > max {
        return fail(field, format!("must be at most {max} characters"));
    }
    let bad_control = trimmed
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad_control {
        return fail(field, "must not contain control characters");
    }
    Ok(trimmed.to_string())
}

/// An alert type name, as webhooks filter on and alerts carry.
pub fn alert_type_name(field: &str, value: &Value) -> Result<String, Vec<FieldError>> {
    text(field, value, ALERT_TYPE_MAX_CHARS, false)
}

pub const ALERT_TYPE_MAX_CHARS: usize = 128;

/// A free-form JSON value (metadata, alert data): at most `max` bytes as JSON, and every
/// number exact for any reader.
pub fn free_json(field: &str, value: &Value, max: usize) -> Result<(), Vec<FieldError>> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max {
        return fail(
            field,
            format!("must be at most {max} bytes as JSON (it is {size})"),
        );
    }
    exact_numbers(field, value)
}

/// The largest integer every JSON reader holds exactly (2^53 - 1, per I-JSON, RFC 7493).
pub const JSON_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Refuses numbers beyond ±2^53 - 1: the parser would already have rounded an integer
/// that large, and receivers in JavaScript would round it again, so it would not arrive
/// as sent.
pub fn exact_numbers(field: &str, value: &Value) -> Result<(), Vec<FieldError>> {
    let too_big = |v: &Value| match v {
        Value::Number(n) => n.as_f64().is_none_or(|f| f.abs() > JSON_SAFE_INTEGER),
        _ => false,
    };
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if too_big(v) {
            return fail(
                field,
                "numbers must lie within ±9007199254740991 (2^53 - 1), so that receivers read them exactly",
            );
        }
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_json_refuses_inexact_numbers_at_any_depth() {
        assert!(free_json("m", &json!({"a": [1, 2.5, -9007199254740991i64]}), 100).is_ok());
        for bad in [
            json!({"a": 9007199254740993u64}),
            json!({"a": [{"b": 1e300}]}),
            json!({"a": -1e20}),
        ] {
            assert_eq!(free_json("m", &bad, 100).unwrap_err()[0].field, "m");
        }
        assert!(free_json("m", &json!({"a": "x".repeat(200)}), 100).is_err());
    }
}
