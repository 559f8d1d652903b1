//! Request parsing shared by the API functions: authentication, body limits, strict
//! JSON, path and query parameters.

use std::collections::HashSet;
use std::fmt;

use lambda_http::{Body, Request, RequestExt};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use hookline_shared::{
    auth::{bearer_token, hash_token, Access, Principal},
    ApiError, Store,
};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Finds the caller by its bearer token and checks it may do `access`.
pub async fn authenticate(
    store: &Store,
    req: &Request,
    access: Access,
) -> Result<Principal, ApiError> {
    let header = match req.headers().get("authorization") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::Unauthenticated("invalid or revoked token"))?,
        ),
    };
    let token = bearer_token(header)?;
    let principal = store
        .find_token(&hash_token(token))
        .await?
        .ok_or(ApiError::Unauthenticated("invalid or revoked token"))?;
    principal.require(access)?;
    Ok(principal)
}

fn body_bytes(req: &Request) -> &[u8] {
    body_bytes_of(req.body())
}

/// The bytes of a request's or response's body.
pub fn body_bytes_of(body: &Body) -> &[u8] {
    match body {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // lambda_http's Body is non-exhaustive; any future variant has no bytes we know of.
        #[allow(unreachable_patterns)]
        _ => &[],
    }
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the request has no body (whitespace counts as none); a route whose body is
/// optional then takes its defaults.
pub fn body_is_blank(req: &Request) -> bool {
    body_bytes(req).iter().all(u8::is_ascii_whitespace)
}

/// The request's JSON body: at most [`BODY_LIMIT`] bytes, sent as JSON, well formed, and
/// with no key given twice in any object.
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    json_body_within(req, BODY_LIMIT)
}

/// As [`json_body`], with a route's own size limit.
pub fn json_body_within(req: &Request, limit: usize) -> Result<Value, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body_is_blank(req) {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    strict_json(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// Parses JSON with duplicate object keys refused (see [`StrictValue`]); also for input
/// that arrives other than over HTTP, such as queue messages.
pub fn strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<StrictValue>(bytes).map(|strict| strict.0)
}

/// A JSON value parsed with duplicate object keys refused: "last one wins" would let two
/// readers of the same body see different requests.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// A UUID path parameter. Anything that cannot be an id is simply not found.
pub fn path_id(req: &Request, param: &str, entity: &'static str) -> Result<String, ApiError> {
    let params = req.path_parameters();
    let id = params.first(param).ok_or(ApiError::NotFound(entity))?;
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound(entity))
}

/// The API's base URL as this request reached it (API Gateway's domain and stage).
pub fn base_url(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref()? else {
        return None;
    };
    let domain = ctx.domain_name.as_deref().filter(|d| !d.is_empty())?;
    Some(
        match ctx
            .stage
            .as_deref()
            .filter(|s| *s != "$default" && !s.is_empty())
        {
            Some(stage) => format!("https://{domain}/{stage}"),
            None => format!("https://{domain}"),
        },
    )
}

/// A single query parameter; given twice it is refused rather than guessed at.
pub fn query_param(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let params = req.query_string_parameters();
    match params.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(Some(values[0].to_string())),
        Some(_) => Err(ApiError::field(name, "must be given at most once")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/webhooks");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(Body::Text(body.to_string())).unwrap()
    }

    #[test]
    fn body_rules() {
        assert!(json_body(&request(Some("application/json"), r#"{"a":1}"#)).is_ok());
        assert!(json_body(&request(Some("application/json; charset=utf-8"), "{}")).is_ok());
        assert!(matches!(
            json_body(&request(Some("text/plain"), "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            json_body(&request(None, "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(BODY_LIMIT));
        assert!(matches!(
            json_body(&request(Some("application/json"), &big)),
            Err(ApiError::PayloadTooLarge { .. })
        ));
        for bad in [
            "{",
            "",
            "  ",
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"b":1,"b":1}}"#,
            "1e999",
        ] {
            assert!(
                matches!(
                    json_body(&request(Some("application/json"), bad)),
                    Err(ApiError::MalformedJson(_))
                ),
                "{bad}"
            );
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(json_body(&request(Some("application/json"), &deep)).is_err());
    }

    #[test]
    fn non_utf8_is_malformed() {
        let req = lambda_http::http::Request::builder()
            .header("content-type", "application/json")
            .body(Body::Binary(vec![b'"', 0xff, 0xfe, b'"']))
            .unwrap();
        assert!(matches!(json_body(&req), Err(ApiError::MalformedJson(_))));
    }
}
