//! `limit` and `cursor` query parameters, shared by the list routes.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use hookline_shared::{error::FieldError, ApiError};
use lambda_http::Request;

use crate::http::query_param;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;
pub const NOT_A_CURSOR: &str = "is not a cursor this API returned";

/// A query parameter; a fault goes into `errors`.
pub fn param(req: &Request, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match query_param(req, name) {
        Ok(value) => value,
        Err(ApiError::Validation(details)) => {
            errors.extend(details);
            None
        }
        Err(_) => None,
    }
}

/// An RFC 3339 time (after 1970), or else a field error.
pub fn parse_time(raw: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(raw.trim()) {
        Ok(t) if t.timestamp() >= 0 => Some(t.with_timezone(&Utc)),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 timestamp after 1970, such as 2026-11-23T08:00:00Z",
            ));
            None
        }
    }
}

/// One of a set of named values (`state=failed`), or else a field error naming them all.
pub fn choice<T>(
    raw: &str,
    field: &str,
    parse: fn(&str) -> Option<T>,
    names: fn() -> String,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let parsed = parse(raw);
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            format!("must be one of {}", names()),
        ));
    }
    parsed
}

/// A query parameter holding a time.
pub fn time_param(
    req: &Request,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    param(req, name, errors).and_then(|raw| parse_time(&raw, name, errors))
}

/// The page size and the id after which the page starts.
pub fn parse(req: &Request, errors: &mut Vec<FieldError>) -> (usize, Option<String>) {
    let mut limit = DEFAULT_PAGE_SIZE;
    if let Some(raw) = param(req, "limit", errors) {
        match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => limit = n,
            _ => errors.push(FieldError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            )),
        }
    }
    let mut after = None;
    if let Some(raw) = param(req, "cursor", errors) {
        match decode_cursor(&raw) {
            Some(id) => after = Some(id),
            None => errors.push(FieldError::new("cursor", NOT_A_CURSOR)),
        }
    }
    (limit, after)
}

/// A cursor this API returned, decoded (none when not given, or empty).
pub fn decode(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(raw) => decode_cursor(raw)
            .map(Some)
            .ok_or_else(|| ApiError::field("cursor", NOT_A_CURSOR)),
    }
}

/// Cursors are opaque to clients: the last id of the page, base64url-encoded.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id = uuid::Uuid::parse_str(std::str::from_utf8(&bytes).ok()?).ok()?;
    Some(id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(decode_cursor(&encode_cursor(&id)), Some(id));
        assert_eq!(decode_cursor(&encode_cursor("WEBHOOK#x")), None);
        assert_eq!(decode_cursor("%%%"), None);
    }
}
