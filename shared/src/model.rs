//! The webhook: what is stored, what the API accepts, and what it shows.
//!
//! Input is validated field by field from the raw JSON object, so that one answer names
//! every field at fault (serde's derive stops at the first).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::validate::{
    alert_type_name, dedup, fail, free_json, has_control, keep, string_list, text,
};

pub const NAME_MAX_CHARS: usize = 200;
pub const URL_MAX_CHARS: usize = 1000;
pub const HEADERS_MAX: usize = 20;
pub const HEADER_NAME_MAX: usize = 256;
pub const HEADER_VALUE_MAX: usize = 4096;
pub const METADATA_MAX_BYTES: usize = 4096;
pub const ALERT_TYPES_MAX: usize = 100;
pub const CREDENTIAL_MAX_CHARS: usize = 256;
/// What responses show in place of a write-only value.
pub const MASK: &str = "********";

/// Header names that Hookline itself sets on every delivery.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
];
const READ_ONLY_FIELDS: [&str; 11] = [
    "id",
    "secret",
    "created_at",
    "updated_at",
    "last_success",
    "last_failure",
    "last_delivery",
    "disabled_reason",
    "consecutive_failures",
    "failing_since",
    "version",
];

/// The event types a webhook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "alert.triggered")]
    AlertTriggered,
    #[serde(rename = "alert.resolved")]
    AlertResolved,
    #[serde(rename = "alert.test")]
    AlertTest,
}

impl EventType {
    pub const ALL: [EventType; 3] = [Self::AlertTriggered, Self::AlertResolved, Self::AlertTest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlertTriggered => "alert.triggered",
            Self::AlertResolved => "alert.resolved",
            Self::AlertTest => "alert.test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
    Patch,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// ApiTree's `lastDelivery`: the outcome of the most recent attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDelivery {
    pub success: bool,
    pub status_code: Option<u16>,
    pub response: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// A webhook as stored. `secret`, header values and the basic-auth password never leave
/// the service except through [`SecretView`] and the deliveries themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub account_id: String,
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub alert_types: Vec<String>,
    pub events: Vec<EventType>,
    pub http_method: HttpMethod,
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Stored as JSON text: DynamoDB maps cap nesting at 32 levels and would reshape numbers.
    #[serde(with = "json_text")]
    pub metadata: Map<String, Value>,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<LastDelivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// When the current run of failures began; any success clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Bumped by every change of what a delivery uses (settings, enabled), so a cached
    /// copy can be checked in the same transaction that claims an attempt.
    #[serde(default)]
    pub version: u64,
    /// Secrets replaced by a rotation, newest first, each signing beside `secret` until
    /// its grace period ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<PreviousSecret>,
}

/// A replaced signing secret and the end of its grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

/// The grace period of a rotation when the call names none.
pub const ROTATION_GRACE_DEFAULT_SECS: u32 = 24 * 3600;
pub const ROTATION_GRACE_MAX_SECS: u32 = 7 * 24 * 3600;
/// How many replaced secrets may still sign; a further rotation drops the oldest.
pub const PREVIOUS_SECRETS_MAX: usize = 10;

/// The user-writable part of a webhook, complete (create and PUT).
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub alert_types: Vec<String>,
    pub events: Vec<EventType>,
    pub http_method: HttpMethod,
    pub headers: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuth>,
    pub metadata: Map<String, Value>,
}

/// The fields a request provided; each replaces the stored value whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookChanges {
    pub name: Option<String>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
    pub alert_types: Option<Vec<String>>,
    pub events: Option<Vec<EventType>>,
    pub http_method: Option<HttpMethod>,
    pub headers: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes basic auth.
    pub basic_auth: Option<Option<BasicAuth>>,
    pub metadata: Option<Map<String, Value>>,
}

impl WebhookSettings {
    /// Validates a create or PUT body: `name` and `url` are required, the rest default.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let changes = parse_fields(body, true)?;
        // parse_fields guarantees name and url for a full body.
        let (Some(name), Some(url)) = (changes.name, changes.url) else {
            return Err(ApiError::Internal(
                "required fields missing after validation".into(),
            ));
        };
        Ok(Self {
            name,
            url,
            enabled: changes.enabled.unwrap_or(true),
            alert_types: changes.alert_types.unwrap_or_default(),
            events: changes.events.unwrap_or_default(),
            http_method: changes.http_method.unwrap_or_default(),
            headers: changes.headers.unwrap_or_default(),
            basic_auth: changes.basic_auth.flatten(),
            metadata: changes.metadata.unwrap_or_default(),
        })
    }

    /// Every field set, as a change: a PUT replaces all of them.
    pub fn into_changes(self) -> WebhookChanges {
        WebhookChanges {
            name: Some(self.name),
            url: Some(self.url),
            enabled: Some(self.enabled),
            alert_types: Some(self.alert_types),
            events: Some(self.events),
            http_method: Some(self.http_method),
            headers: Some(self.headers),
            basic_auth: Some(self.basic_auth),
            metadata: Some(self.metadata),
        }
    }
}

impl WebhookChanges {
    /// Validates a PATCH body: any subset of fields, but at least one.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        parse_fields(body, false)
    }
}

impl Webhook {
    pub fn new(
        account_id: &str,
        settings: WebhookSettings,
        secret: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            account_id: account_id.to_string(),
            // v7: time-ordered, so listing by id lists in creation order.
            id: uuid::Uuid::now_v7().to_string(),
            name: settings.name,
            url: settings.url,
            enabled: settings.enabled,
            alert_types: settings.alert_types,
            events: settings.events,
            http_method: settings.http_method,
            headers: settings.headers,
            basic_auth: settings.basic_auth,
            metadata: settings.metadata,
            secret,
            created_at: now,
            updated_at: now,
            last_success: None,
            last_failure: None,
            last_delivery: None,
            disabled_reason: None,
            consecutive_failures: 0,
            failing_since: None,
            version: 1,
            previous_secrets: Vec::new(),
        }
    }

    /// The secrets that sign a message sent at `at`: the current one first, then every
    /// replaced one still in its grace period.
    pub fn signing_secrets(&self, at: DateTime<Utc>) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret.as_str()).chain(
            self.previous_secrets
                .iter()
                .filter(move |p| p.expires_at > at)
                .map(|p| p.secret.as_str()),
        )
    }

    /// The replaced secrets after rotating away from the current one at `now`: it joins
    /// them with `grace` to run, expired ones go, and at most [`PREVIOUS_SECRETS_MAX`]
    /// stay, the newest.
    pub fn previous_secrets_after_rotation(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Vec<PreviousSecret> {
        let mut kept: Vec<PreviousSecret> = Vec::with_capacity(PREVIOUS_SECRETS_MAX);
        if grace > chrono::Duration::zero() {
            kept.push(PreviousSecret {
                secret: self.secret.clone(),
                expires_at: now + grace,
            });
        }
        kept.extend(
            self.previous_secrets
                .iter()
                .filter(|p| p.expires_at > now)
                .cloned(),
        );
        kept.truncate(PREVIOUS_SECRETS_MAX);
        kept
    }

    /// Whether an alert of `alert_type` raising `event` goes to this webhook.
    pub fn subscribes_to(&self, alert_type: Option<&str>, event: Option<EventType>) -> bool {
        let type_ok = match alert_type {
            None => true,
            Some(t) => self.alert_types.is_empty() || self.alert_types.iter().any(|a| a == t),
        };
        let event_ok = match event {
            None => true,
            Some(e) => self.events.is_empty() || self.events.contains(&e),
        };
        type_ok && event_ok
    }

    pub fn view(&self) -> WebhookView<'_> {
        WebhookView {
            webhook: self,
            secret: None,
        }
    }

    /// The view returned on create: the only response besides the secret route that
    /// carries the signing secret.
    pub fn view_with_secret(&self) -> WebhookView<'_> {
        WebhookView {
            webhook: self,
            secret: Some(&self.secret),
        }
    }
}

/// A webhook as the API shows it: header values and the password masked.
pub struct WebhookView<'a> {
    webhook: &'a Webhook,
    secret: Option<&'a str>,
}

impl Serialize for WebhookView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Masked<'a> {
            id: &'a str,
            name: &'a str,
            url: &'a str,
            enabled: bool,
            alert_types: &'a [String],
            events: &'a [EventType],
            http_method: HttpMethod,
            headers: BTreeMap<&'a str, &'static str>,
            basic_auth: Option<MaskedAuth<'a>>,
            metadata: &'a Map<String, Value>,
            created_at: DateTime<Utc>,
            updated_at: DateTime<Utc>,
            last_success: Option<DateTime<Utc>>,
            last_failure: Option<DateTime<Utc>>,
            last_delivery: Option<&'a LastDelivery>,
            disabled_reason: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            secret: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct MaskedAuth<'a> {
            username: &'a str,
            password: &'static str,
        }
        let w = self.webhook;
        Masked {
            id: &w.id,
            name: &w.name,
            url: &w.url,
            enabled: w.enabled,
            alert_types: &w.alert_types,
            events: &w.events,
            http_method: w.http_method,
            headers: w.headers.keys().map(|k| (k.as_str(), MASK)).collect(),
            basic_auth: w.basic_auth.as_ref().map(|a| MaskedAuth {
                username: &a.username,
                password: MASK,
            }),
            metadata: &w.metadata,
            created_at: w.created_at,
            updated_at: w.updated_at,
            last_success: w.last_success,
            last_failure: w.last_failure,
            last_delivery: w.last_delivery.as_ref(),
            disabled_reason: w.disabled_reason.as_deref(),
            secret: self.secret,
        }
        .serialize(serializer)
    }
}

/// Validates a rotate body, `{"grace_period_seconds": n}` or `{}`: how long the replaced
/// secret keeps signing.
pub fn parse_rotation(body: &Value) -> Result<chrono::Duration, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut grace = ROTATION_GRACE_DEFAULT_SECS;
    for (key, value) in map {
        match key.as_str() {
            "grace_period_seconds" => match value.as_u64() {
                Some(secs) if secs <= u64::from(ROTATION_GRACE_MAX_SECS) => grace = secs as u32,
                _ => errors.push(FieldError::new(
                    key,
                    format!("must be a whole number of seconds from 0 to {ROTATION_GRACE_MAX_SECS} (7 days)"),
                )),
            },
            _ => errors.push(FieldError::new(key, "is not a known field")),
        }
    }
    if errors.is_empty() {
        Ok(chrono::Duration::seconds(i64::from(grace)))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Parses the body's fields; `full` requires `name` and `url` (create and PUT).
fn parse_fields(body: &Value, full: bool) -> Result<WebhookChanges, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    if !full && map.is_empty() {
        return Err(ApiError::field("body", "no fields to update"));
    }
    let mut errors = Vec::new();
    let mut changes = WebhookChanges::default();
    for (key, value) in map {
        let field = key.as_str();
        match field {
            "name" => changes.name = keep(&mut errors, parse_name(value)),
            "url" => changes.url = keep(&mut errors, parse_url(value)),
            "enabled" => changes.enabled = keep(&mut errors, parse_bool(field, value)),
            "alert_types" => changes.alert_types = keep(&mut errors, parse_alert_types(value)),
            "events" => changes.events = keep(&mut errors, parse_events(value)),
            "http_method" => changes.http_method = keep(&mut errors, parse_method(value)),
            "headers" => changes.headers = keep(&mut errors, parse_headers(value)),
            "basic_auth" => changes.basic_auth = keep(&mut errors, parse_basic_auth(value)),
            "metadata" => changes.metadata = keep(&mut errors, parse_metadata(value)),
            _ if READ_ONLY_FIELDS.contains(&field) => {
                errors.push(FieldError::new(field, "is read-only"))
            }
            _ => errors.push(FieldError::new(field, "is not a known field")),
        }
    }
    if full {
        for required in ["name", "url"] {
            if !map.contains_key(required) {
                errors.push(FieldError::new(required, "is required"));
            }
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn parse_name(value: &Value) -> Result<String, Vec<FieldError>> {
    text("name", value, NAME_MAX_CHARS, false)
}

/// Checks `url` and returns it in normalised form.
pub fn parse_url(value: &Value) -> Result<String, Vec<FieldError>> {
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

fn parse_bool(field: &str, value: &Value) -> Result<bool, Vec<FieldError>> {
    value
        .as_bool()
        .ok_or_else(|| vec![FieldError::new(field, "must be a boolean")])
}

fn parse_alert_types(value: &Value) -> Result<Vec<String>, Vec<FieldError>> {
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

fn parse_events(value: &Value) -> Result<Vec<EventType>, Vec<FieldError>> {
    let raw = string_list("events", value)?;
    let mut errors = Vec::new();
    let mut events = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        match EventType::parse(name) {
            Some(e) => events.push(e),
            None => errors.push(FieldError::new(
                format!("events[{i}]"),
                "must be one of alert.triggered, alert.resolved, alert.test",
            )),
        }
    }
    if errors.is_empty() {
        Ok(dedup(events))
    } else {
        Err(errors)
    }
}

fn parse_method(value: &Value) -> Result<HttpMethod, Vec<FieldError>> {
    match value.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("POST") => Ok(HttpMethod::Post),
        Some("PUT") => Ok(HttpMethod::Put),
        Some("PATCH") => Ok(HttpMethod::Patch),
        _ => fail("http_method", "must be one of POST, PUT, PATCH"),
    }
}

/// RFC 9110 `token`: the characters a header name may hold.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_headers(value: &Value) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
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

fn parse_basic_auth(value: &Value) -> Result<Option<BasicAuth>, Vec<FieldError>> {
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

fn parse_metadata(value: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => {
            free_json("metadata", value, METADATA_MAX_BYTES)?;
            Ok(map.clone())
        }
        _ => fail("metadata", "must be a JSON object"),
    }
}

/// Stores a JSON object as a string attribute.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::{Map, Value};

    pub fn serialize<S: Serializer>(map: &Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(map).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(err: ApiError) -> Vec<String> {
        err.details().iter().map(|d| d.field.clone()).collect()
    }

    #[test]
    fn create_trims_and_defaults() {
        let s =
            WebhookSettings::parse(&json!({"name": "  ops  ", "url": " https://example.com/h "}))
                .unwrap();
        assert_eq!(s.name, "ops");
        assert_eq!(s.url, "https://example.com/h");
        assert!(s.enabled);
        assert_eq!(s.http_method, HttpMethod::Post);
        assert!(s.alert_types.is_empty() && s.events.is_empty() && s.headers.is_empty());
    }

    #[test]
    fn every_faulty_field_is_named() {
        let err = WebhookSettings::parse(&json!({
            "name": "", "enabled": "yes", "events": ["alert.nope"], "bogus": 1, "id": "x"
        }))
        .unwrap_err();
        let mut f = fields(err);
        f.sort();
        assert_eq!(f, ["bogus", "enabled", "events[0]", "id", "name", "url"]);
    }

    #[test]
    fn rotation_body() {
        let day = chrono::Duration::hours(24);
        assert_eq!(parse_rotation(&json!({})).unwrap(), day);
        assert_eq!(
            parse_rotation(&json!({"grace_period_seconds": 0})).unwrap(),
            chrono::Duration::zero()
        );
        assert_eq!(
            parse_rotation(&json!({"grace_period_seconds": 604800})).unwrap(),
            chrono::Duration::days(7)
        );
        for bad in [
            json!({"grace_period_seconds": 604801}),
            json!({"grace_period_seconds": -1}),
            json!({"grace_period_seconds": 1.5}),
            json!({"grace_period_seconds": "60"}),
            json!({"grace_period_seconds": 1e300}),
        ] {
            assert_eq!(
                fields(parse_rotation(&bad).unwrap_err()),
                ["grace_period_seconds"]
            );
        }
        assert_eq!(
            fields(parse_rotation(&json!({"grace": 1})).unwrap_err()),
            ["grace"]
        );
        assert_eq!(fields(parse_rotation(&json!([])).unwrap_err()), ["body"]);
    }

    #[test]
    fn rotation_keeps_at_most_ten_unexpired_secrets() {
        let settings =
            WebhookSettings::parse(&json!({"name": "n", "url": "https://example.com/"})).unwrap();
        let t0 = Utc::now();
        let mut webhook = Webhook::new("a", settings, "s0".into(), t0);
        let grace = chrono::Duration::hours(1);
        for i in 1..=12 {
            let now = t0 + chrono::Duration::seconds(i);
            webhook.previous_secrets = webhook.previous_secrets_after_rotation(now, grace);
            webhook.secret = format!("s{i}");
        }
        let at = t0 + chrono::Duration::seconds(13);
        let signing: Vec<_> = webhook.signing_secrets(at).collect();
        assert_eq!(
            signing,
            ["s12", "s11", "s10", "s9", "s8", "s7", "s6", "s5", "s4", "s3", "s2"]
        );
        // Once the grace period is over only the current secret signs.
        assert_eq!(
            webhook
                .signing_secrets(t0 + chrono::Duration::hours(2))
                .collect::<Vec<_>>(),
            ["s12"]
        );
        // A later rotation drops the expired ones; no grace keeps none of the old.
        let late = t0 + chrono::Duration::hours(2);
        assert_eq!(
            webhook.previous_secrets_after_rotation(late, grace).len(),
            1
        );
        assert!(webhook
            .previous_secrets_after_rotation(late, chrono::Duration::zero())
            .is_empty());
    }

    #[test]
    fn url_rules() {
        let bad = |u: &str| parse_url(&json!(u)).unwrap_err()[0].message.clone();
        assert!(bad("ftp://example.com").contains("http"));
        assert!(bad("/relative").contains("absolute"));
        assert!(bad("https://user:pw@example.com/").contains("basic_auth"));
        let long = format!("https://example.com/{}", "a".repeat(1000));
        assert!(bad(&long).contains("1000"));
        assert!(parse_url(&json!(7)).is_err());
        assert_eq!(
            parse_url(&json!("HTTPS://Example.com")).unwrap(),
            "https://example.com/"
        );
    }

    #[test]
    fn name_limits() {
        assert!(parse_name(&json!("a".repeat(200))).is_ok());
        assert!(parse_name(&json!("a".repeat(201))).is_err());
        assert!(parse_name(&json!("   ")).is_err());
        assert!(parse_name(&json!("a\nb")).is_err());
    }

    #[test]
    fn header_rules() {
        assert!(parse_headers(&json!({"X-Token": "abc", "Authorization": "Bearer x"})).is_ok());
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
            let err = parse_headers(&json!({ name: value })).unwrap_err();
            assert_eq!(err[0].field, format!("headers.{name}"), "{name}");
        }
        let many: Map<String, Value> = (0..21).map(|i| (format!("X-{i}"), json!("v"))).collect();
        assert!(parse_headers(&Value::Object(many)).is_err());
        assert!(parse_headers(&json!({"X-A": "1", "x-a": "2"})).is_err());
        assert!(parse_headers(&json!({"X-A": 1})).is_err());
    }

    #[test]
    fn basic_auth_rules() {
        assert_eq!(parse_basic_auth(&Value::Null).unwrap(), None);
        assert!(parse_basic_auth(&json!({"username": "u", "password": "p"}))
            .unwrap()
            .is_some());
        let err = parse_basic_auth(&json!({"username": "a:b", "extra": 1})).unwrap_err();
        let f: Vec<_> = err.iter().map(|e| e.field.as_str()).collect();
        assert!(f.contains(&"basic_auth.password"));
        assert!(f.contains(&"basic_auth.username"));
        assert!(f.contains(&"basic_auth.extra"));
    }

    #[test]
    fn metadata_is_capped_at_4k() {
        assert!(parse_metadata(&json!({"k": "v".repeat(4000)})).is_ok());
        assert!(parse_metadata(&json!({"k": "v".repeat(4100)})).is_err());
        assert!(parse_metadata(&json!([1])).is_err());
    }

    #[test]
    fn lists_are_deduplicated_and_typed() {
        let s = WebhookChanges::parse(&json!({
            "alert_types": ["cpu_high", " cpu_high ", "ERRORS_ALERT"],
            "events": ["alert.triggered", "alert.triggered"],
            "http_method": "put"
        }))
        .unwrap();
        assert_eq!(s.alert_types.unwrap(), ["cpu_high", "ERRORS_ALERT"]);
        assert_eq!(s.events.unwrap(), [EventType::AlertTriggered]);
        assert_eq!(s.http_method, Some(HttpMethod::Put));
        assert!(WebhookChanges::parse(&json!({"alert_types": [1]})).is_err());
        assert!(WebhookChanges::parse(&json!({"http_method": "GET"})).is_err());
    }

    #[test]
    fn patch_needs_a_field_and_an_object() {
        assert!(WebhookChanges::parse(&json!({})).is_err());
        assert!(WebhookChanges::parse(&json!([])).is_err());
        assert_eq!(
            WebhookChanges::parse(&json!({"enabled": false}))
                .unwrap()
                .enabled,
            Some(false)
        );
    }

    #[test]
    fn views_mask_write_only_values() {
        let mut settings =
            WebhookSettings::parse(&json!({"name": "n", "url": "https://e.com"})).unwrap();
        settings
            .headers
            .insert("X-Token".into(), "s3cret-value".into());
        settings.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: "hunter2".into(),
        });
        let w = Webhook::new("acct", settings, "whsec_abc".into(), Utc::now());
        let shown = serde_json::to_string(&w.view()).unwrap();
        assert!(!shown.contains("s3cret-value") && !shown.contains("hunter2"));
        assert!(!shown.contains("whsec_abc"));
        assert!(shown.contains("X-Token"));
        assert!(serde_json::to_string(&w.view_with_secret())
            .unwrap()
            .contains("whsec_abc"));
    }

    #[test]
    fn subscription_matching() {
        let mut w = Webhook::new(
            "a",
            WebhookSettings::parse(&json!({"name": "n", "url": "https://e.com"})).unwrap(),
            String::new(),
            Utc::now(),
        );
        assert!(w.subscribes_to(Some("cpu_high"), Some(EventType::AlertResolved)));
        w.alert_types = vec!["cpu_high".into()];
        w.events = vec![EventType::AlertTriggered];
        assert!(w.subscribes_to(Some("cpu_high"), Some(EventType::AlertTriggered)));
        assert!(!w.subscribes_to(Some("disk_high"), None));
        assert!(!w.subscribes_to(None, Some(EventType::AlertResolved)));
    }
}
