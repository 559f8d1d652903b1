//! The rules of each webhook setting: one parser per field, naming every fault.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{filter::ContentFilter, BasicAuth, HttpMethod, Metadata, MASK};
use crate::{
    delivery::{format::Format, render, template, url_template},
    error::FieldError,
    event::EventType,
    validate::{alert_type_name, dedup, fail, free_json, has_control, keep, string_list, text},
};

pub const NAME_MAX_CHARS: usize = 200;
pub const URL_MAX_CHARS: usize = 1000;
pub const HEADERS_MAX: usize = 20;
pub const HEADER_NAME_MAX: usize = 256;
pub const HEADER_VALUE_MAX: usize = 4096;
pub const METADATA_MAX_BYTES: usize = 4096;
pub const ALERT_TYPES_MAX: usize = 100;
pub const CREDENTIAL_MAX_CHARS: usize = 256;
pub const CONTENT_TYPE_MAX: usize = 256;
pub const SECRETS_MAX: usize = 10;
pub const SECRET_NAME_MAX: usize = 64;
pub const SECRET_VALUE_MAX: usize = 1024;

/// Header names that Hookline itself sets on every delivery.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
];

pub fn name(value: &Value) -> Result<String, Vec<FieldError>> {
    text("name", value, NAME_MAX_CHARS, false)
}

/// Checks `url` and returns it in normalised form; a URL template (see
/// [`url_template`]) is kept as written, once its origin, syntax and shape are checked.
pub fn url(value: &Value) -> Result<String, Vec<FieldError>> {
    let Some(raw) = value.as_str() else {
        return fail("url", "must be a string");
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return fail("url", "must not be empty");
    }
    if raw.chars().count() > URL_MAX_CHARS {
        return fail("url", format!("must be at most {URL_MAX_CHARS} characters"));
    }
    match url_template::origin_of(raw) {
        Err(why) => fail("url", why),
        Ok(None) => plain_url(raw),
        Ok(Some(_)) => {
            if let Err(e) = template::check(raw) {
                return fail("url", e.to_string());
            }
            let skeleton = url_template::skeleton(raw);
            plain_url(&skeleton)?;
            if let Err(why) = url_template::check_shape(&skeleton) {
                return fail("url", why);
            }
            Ok(raw.to_string())
        }
    }
}

fn plain_url(raw: &str) -> Result<String, Vec<FieldError>> {
    let parsed = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            return fail(
                "url",
                format!("must be an absolute http or https URL ({e})"),
            )
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return fail("url", "must use the http or https scheme");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return fail("url", "must name a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return fail(
            "url",
            "must not contain a user name or password; put credentials in the basic_auth field",
        );
    }
    let normalised = parsed.to_string();
    if normalised.chars().count() > URL_MAX_CHARS {
        return fail("url", format!("must be at most {URL_MAX_CHARS} characters"));
    }
    Ok(normalised)
}

pub fn enabled(value: &Value) -> Result<bool, Vec<FieldError>> {
    value
        .as_bool()
        .ok_or_else(|| vec![FieldError::new("enabled", "must be a boolean")])
}

pub fn alert_types(value: &Value) -> Result<Vec<String>, Vec<FieldError>> {
    let raw = string_list("alert_types", value)?;
    if raw.len() > ALERT_TYPES_MAX {
        return fail(
            "alert_types",
            format!("must hold at most {ALERT_TYPES_MAX} items"),
        );
    }
    let mut errors = Vec::new();
    let types: Vec<String> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let parsed = alert_type_name(&format!("alert_types[{i}]"), &Value::from(*t));
            keep(&mut errors, parsed)
        })
        .collect();
    if errors.is_empty() {
        Ok(dedup(types))
    } else {
        Err(errors)
    }
}

pub fn events(value: &Value) -> Result<Vec<EventType>, Vec<FieldError>> {
    let raw = string_list("events", value)?;
    let mut errors = Vec::new();
    let mut events = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        match EventType::parse(name) {
            Some(e) => events.push(e),
            None => errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("must be one of {}", EventType::names()),
            )),
        }
    }
    if errors.is_empty() {
        Ok(dedup(events))
    } else {
        Err(errors)
    }
}

pub fn http_method(value: &Value) -> Result<HttpMethod, Vec<FieldError>> {
    match value.as_str().map(str::parse) {
        Some(Ok(method)) => Ok(method),
        _ => fail(
            "http_method",
            format!("must be one of {}", HttpMethod::names()),
        ),
    }
}

/// RFC 9110 `token`: the characters a header name may hold.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub fn headers(value: &Value) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let map = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(map) => map,
        _ => {
            return fail(
                "headers",
                "must be an object of header names to string values",
            )
        }
    };
    if map.len() > HEADERS_MAX {
        return fail(
            "headers",
            format!("must hold at most {HEADERS_MAX} headers"),
        );
    }
    let mut errors = Vec::new();
    let mut headers = BTreeMap::new();
    let mut seen = Vec::new();
    for (name, value) in map {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(name) || name.len() > HEADER_NAME_MAX {
            errors.push(FieldError::new(
                field,
                format!("is not a valid HTTP header name (a token of at most {HEADER_NAME_MAX} characters)"),
            ));
            continue;
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
            errors.push(FieldError::new(
                field,
                "is set by Hookline and cannot be overridden",
            ));
            continue;
        }
        if seen.contains(&lower) {
            errors.push(FieldError::new(
                field,
                "is given twice (header names ignore case)",
            ));
            continue;
        }
        seen.push(lower);
        let Some(value) = value.as_str() else {
            errors.push(FieldError::new(field, "must be a string"));
            continue;
        };
        if value.contains(['\r', '\n']) || has_control(value.trim_matches('\t')) {
            errors.push(FieldError::new(
                field,
                "must not contain CR, LF or other control characters",
            ));
        } else if value.len() > HEADER_VALUE_MAX {
            errors.push(FieldError::new(
                field,
                format!("must be at most {HEADER_VALUE_MAX} bytes"),
            ));
        } else if value == MASK {
            errors.push(FieldError::new(
                field,
                "is the masked placeholder; send the real value, or omit headers to keep them",
            ));
        } else if let Err(e) = checked_template(value) {
            errors.push(FieldError::new(
                field,
                format!("is not a valid template: {e}"),
            ));
        } else {
            headers.insert(name.clone(), value.to_string());
        }
    }
    if errors.is_empty() {
        Ok(headers)
    } else {
        Err(errors)
    }
}

/// Write-only values templates read as `webhook.secrets.NAME`: names are identifiers, so
/// a template can write `webhook.secrets.routing_key`.
pub fn secrets(value: &Value) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let map = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(map) => map,
        _ => {
            return fail(
                "secrets",
                "must be an object of names to string values, or null",
            )
        }
    };
    if map.len() > SECRETS_MAX {
        return fail("secrets", format!("must hold at most {SECRETS_MAX} values"));
    }
    let mut errors = Vec::new();
    let mut secrets = BTreeMap::new();
    for (name, value) in map {
        let field = format!("secrets.{name}");
        let identifier = name.len() <= SECRET_NAME_MAX
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let problem = match value.as_str() {
            _ if !identifier => Some(format!(
                "is not a valid name: letters, digits and _, not starting with a digit, at most {SECRET_NAME_MAX} characters"
            )),
            None => Some("must be a string".to_string()),
            Some("") => Some("must not be empty".to_string()),
            Some(v) if v.len() > SECRET_VALUE_MAX => {
                Some(format!("must be at most {SECRET_VALUE_MAX} bytes"))
            }
            Some(MASK) => Some(
                "is the masked placeholder; send the real value, or omit secrets to keep them"
                    .to_string(),
            ),
            Some(v) => {
                secrets.insert(name.clone(), v.to_string());
                None
            }
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(field, problem));
        }
    }
    if errors.is_empty() {
        Ok(secrets)
    } else {
        Err(errors)
    }
}

pub fn basic_auth(value: &Value) -> Result<Option<BasicAuth>, Vec<FieldError>> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => {
            return fail(
                "basic_auth",
                "must be an object {username, password} or null",
            )
        }
    };
    let mut errors = Vec::new();
    let mut credential = |key: &str| -> Option<String> {
        let field = format!("basic_auth.{key}");
        match map.get(key) {
            None => errors.push(FieldError::new(field, "is required")),
            Some(Value::String(s)) if s.chars().count() > CREDENTIAL_MAX_CHARS => {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {CREDENTIAL_MAX_CHARS} characters"),
                ))
            }
            Some(Value::String(s)) if has_control(s) => errors.push(FieldError::new(
                field,
                "must not contain control characters",
            )),
            Some(Value::String(s)) => return Some(s.clone()),
            Some(_) => errors.push(FieldError::new(field, "must be a string")),
        }
        None
    };
    let username = credential("username");
    let password = credential("password");
    if let Some(u) = &username {
        if u.is_empty() {
            errors.push(FieldError::new("basic_auth.username", "must not be empty"));
        } else if u.contains(':') {
            errors.push(FieldError::new(
                "basic_auth.username",
                "must not contain ':'",
            ));
        }
    }
    if password.as_deref() == Some(MASK) {
        errors.push(FieldError::new(
            "basic_auth.password",
            "is the masked placeholder; send the real password, or omit basic_auth to keep it",
        ));
    }
    for key in map
        .keys()
        .filter(|k| !matches!(k.as_str(), "username" | "password"))
    {
        errors.push(FieldError::new(
            format!("basic_auth.{key}"),
            "is not a known field",
        ));
    }
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => {
            Ok(Some(BasicAuth { username, password }))
        }
        _ => Err(errors),
    }
}

pub fn format(value: &Value) -> Result<Format, Vec<FieldError>> {
    match value.as_str().and_then(Format::parse) {
        Some(format) => Ok(format),
        None => fail("format", format!("must be one of {}", Format::names())),
    }
}

/// A body template: a Jinja template, checked (syntax, filters, size) before it is saved.
pub fn template(value: &Value) -> Result<Option<String>, Vec<FieldError>> {
    match value {
        Value::Null => Ok(None),
        Value::String(source) if source.trim().is_empty() => {
            fail("template", "must not be empty; send null to remove it")
        }
        Value::String(source) => match template::check(source) {
            Ok(()) => Ok(Some(source.clone())),
            Err(e) => fail("template", e.to_string()),
        },
        _ => fail("template", "must be a string (a Jinja template) or null"),
    }
}

/// Grafana OnCall's `trigger_template`: a Jinja expression, bare or in `{{ }}`, checked
/// like a template.
pub fn condition(value: &Value) -> Result<Option<String>, Vec<FieldError>> {
    match value {
        Value::Null => Ok(None),
        Value::String(source) => match template::check_expression(source) {
            Ok(()) => Ok(Some(source.clone())),
            Err(e) => fail("condition", e.to_string()),
        },
        _ => fail("condition", "must be a string (a Jinja expression) or null"),
    }
}

/// A header value with `{{`, `{%` or `{#` is a template, checked like the body's.
fn checked_template(value: &str) -> Result<(), template::TemplateError> {
    if render::is_template(value) {
        template::check(value)
    } else {
        Ok(())
    }
}

/// The `Content-Type` of a template's output when it is not JSON: `type/subtype`, with
/// parameters if any.
pub fn content_type(value: &Value) -> Result<Option<String>, Vec<FieldError>> {
    let raw = match value {
        Value::Null => return Ok(None),
        Value::String(raw) => raw.trim(),
        _ => {
            return fail(
                "content_type",
                "must be a media type such as text/plain, or null",
            )
        }
    };
    let essence = raw.split(';').next().unwrap_or("").trim();
    let valid = essence
        .split_once('/')
        .is_some_and(|(kind, sub)| is_token(kind) && is_token(sub))
        && raw.len() <= CONTENT_TYPE_MAX
        && !has_control(raw);
    if valid {
        Ok(Some(raw.to_string()))
    } else {
        fail(
            "content_type",
            format!("must be a media type such as text/plain (type/subtype, at most {CONTENT_TYPE_MAX} characters)"),
        )
    }
}

pub fn filter(value: &Value) -> Result<Option<ContentFilter>, Vec<FieldError>> {
    match value {
        Value::Null => Ok(None),
        _ => ContentFilter::parse("filter", value).map(Some),
    }
}

pub fn metadata(value: &Value) -> Result<Metadata, Vec<FieldError>> {
    match value {
        Value::Null => Ok(Metadata::default()),
        Value::Object(map) => {
            free_json("metadata", value, METADATA_MAX_BYTES)?;
            Ok(Metadata(map.clone()))
        }
        _ => fail("metadata", "must be a JSON object"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    #[test]
    fn url_rules() {
        let bad = |u: &str| url(&json!(u)).unwrap_err()[0].message.clone();
        assert!(bad("ftp://example.com").contains("http"));
        assert!(bad("/relative").contains("absolute"));
        assert!(bad("https://user:pw@example.com/").contains("basic_auth"));
        let long = format!("https://example.com/{}", "a".repeat(1000));
        assert!(bad(&long).contains("1000"));
        assert!(url(&json!(7)).is_err());
        assert_eq!(
            url(&json!("HTTPS://Example.com")).unwrap(),
            "https://example.com/"
        );
    }

    /// OnCall's URLs built per alert: a template in the path and query, kept as written.
    #[test]
    fn url_templates_in_the_path_and_query() {
        let oncall = "https://api.example.com/incidents/{{ alert.id }}/ack?by={{ event.type }}";
        assert_eq!(url(&json!(oncall)).unwrap(), oncall);
        let bad = |u: &str| url(&json!(u)).unwrap_err()[0].message.clone();
        assert!(bad("https://{{ alert.labels.host }}/x").contains("path and query only"));
        assert!(bad("https://e.com:{{ p }}/x").contains("path and query only"));
        assert!(bad("ftp://e.com/{{ x }}").contains("http"));
        assert!(bad("https://u:p@e.com/{{ x }}").contains("basic_auth"));
        assert!(bad("https://e.com/{{ x }").contains("syntax error"));
        assert!(bad("https://e.com/{{ x|shout }}").contains("shout"));
        assert!(bad("https://e.com/a/../{{ x }}").contains(".."));
        assert!(bad("https://e.com/a//{{ x }}").contains("empty path segment"));
        assert!(bad("https://e.com/{{ x }}#top").contains("fragment"));
    }

    #[test]
    fn name_limits() {
        assert!(name(&json!("a".repeat(200))).is_ok());
        assert!(name(&json!("a".repeat(201))).is_err());
        assert!(name(&json!("   ")).is_err());
        assert!(name(&json!("a\nb")).is_err());
    }

    #[test]
    fn header_rules() {
        assert!(headers(&json!({"X-Token": "abc", "Authorization": "Bearer x"})).is_ok());
        for (name, value) in [
            ("Host", "x"),
            ("content-type", "x"),
            ("Webhook-Signature", "x"),
            ("Transfer-Encoding", "x"),
            ("Connection", "x"),
            ("Content-Length", "1"),
            ("bad name", "x"),
            ("X-Split", "a\r\nInjected: yes"),
            ("X-Lf", "a\nb"),
            ("X-Masked", MASK),
        ] {
            let err = headers(&json!({ name: value })).unwrap_err();
            assert_eq!(err[0].field, format!("headers.{name}"), "{name}");
        }
        let many: Map<String, Value> = (0..21).map(|i| (format!("X-{i}"), json!("v"))).collect();
        assert!(headers(&Value::Object(many)).is_err());
        assert!(headers(&json!({"X-A": "1", "x-a": "2"})).is_err());
        assert!(headers(&json!({"X-A": 1})).is_err());
    }

    #[test]
    fn basic_auth_rules() {
        assert_eq!(basic_auth(&Value::Null).unwrap(), None);
        assert!(basic_auth(&json!({"username": "u", "password": "p"}))
            .unwrap()
            .is_some());
        let err = basic_auth(&json!({"username": "a:b", "extra": 1})).unwrap_err();
        let f: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert!(f.contains(&"basic_auth.password"));
        assert!(f.contains(&"basic_auth.username"));
        assert!(f.contains(&"basic_auth.extra"));
    }

    #[test]
    fn metadata_is_capped_at_4k() {
        assert!(metadata(&json!({"k": "v".repeat(4000)})).is_ok());
        assert!(metadata(&json!({"k": "v".repeat(4100)})).is_err());
        assert!(metadata(&json!([1])).is_err());
    }
}
