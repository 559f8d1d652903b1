//! `limit` and `cursor` query parameters, shared by the list routes.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hookline_shared::{error::FieldError, ApiError};
use lambda_http::Request;

use crate::http::query_param;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

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
            None => errors.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned",
            )),
        }
    }
    (limit, after)
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
