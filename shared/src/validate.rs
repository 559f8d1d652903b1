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

/// The size of a value serialised as JSON, checked against `max` bytes.
pub fn json_size(field: &str, value: &Value, max: usize) -> Result<(), Vec<FieldError>> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max {
        fail(
            field,
            format!("must be at most {max} bytes as JSON (it is {size})"),
        )
    } else {
        Ok(())
    }
}
