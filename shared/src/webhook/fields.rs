//! The user-writable part of a webhook. Its field list is written once, in the
//! `webhook_settings!` invocation below; from it come the stored settings, the changes a
//! request makes (whose serialized form is the store's update), how a body is parsed
//! field by field, the defaults, the required fields and the masked view.

use std::collections::BTreeMap;

use serde::{ser::SerializeMap, Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{filter::ContentFilter, pacing, rules, BasicAuth, HttpMethod, Metadata, MASK};
use crate::alert::Severity;
use crate::{
    auth::Access,
    delivery::{format::Format, pace::RateLimitSetting},
    error::FieldError,
    event::EventType,
};

/// `default!(required)` is `None`; `default!((value))` is `Some(value)`.
macro_rules! default {
    (required) => {
        None
    };
    (($value:expr)) => {
        Some($value)
    };
}

macro_rules! webhook_settings {
    ($(
        $(#[$attr:meta])*
        $field:ident: $ty:ty = $rule:path, default $default:tt, view $view:path;
    )*) => {
        /// The user-writable part of a webhook, complete (create and PUT, and as stored).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct WebhookSettings {
            $( $(#[$attr])* pub $field: $ty, )*
        }

        /// The fields a request provided; each replaces the stored value whole. Serialized,
        /// it is the store's update: a field present is set, a `null` removed.
        #[derive(Clone, Debug, Default, PartialEq, Serialize)]
        pub struct WebhookChanges {
            $( #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
        }

        impl WebhookSettings {
            /// Every field set, as a change: a PUT replaces all of them.
            pub fn into_changes(self) -> WebhookChanges {
                WebhookChanges { $( $field: Some(self.$field), )* }
            }

            /// Writes every field as the API shows it (null where unset); masking is
            /// done before, by [`WebhookSettings::masked`].
            fn serialize_shown<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                $( map.serialize_entry(stringify!($field), &$view(&self.$field))?; )*
                Ok(())
            }
        }

        impl WebhookChanges {
            /// The settings once this change is applied to `settings`.
            pub fn applied_to(&self, settings: &WebhookSettings) -> WebhookSettings {
                WebhookSettings {
                    $( $field: self.$field.clone().unwrap_or_else(|| settings.$field.clone()), )*
                }
            }

            /// Takes field `key` from a body, collecting its faults; false for a field that
            /// is not a setting.
            fn take(&mut self, key: &str, value: &Value, errors: &mut Vec<FieldError>) -> bool {
                match key {
                    $( stringify!($field) => self.$field = crate::validate::keep(errors, $rule(value)), )*
                    _ => return false,
                }
                true
            }

            /// The complete settings, with defaults for what is not given; names every
            /// required field that is missing.
            fn complete(self) -> Result<WebhookSettings, Vec<FieldError>> {
                let mut missing = Vec::new();
                $(
                    let $field: Option<$ty> = self.$field.or_else(|| default!($default));
                    if $field.is_none() {
                        missing.push(FieldError::new(stringify!($field), "is required"));
                    }
                )*
                match ($($field,)*) {
                    ($(Some($field),)*) => Ok(WebhookSettings { $($field,)* }),
                    _ => Err(missing),
                }
            }
        }
    };
}

webhook_settings! {
    /// Trimmed, 1 to 200 characters.
    name: String = rules::name, default required, view shown;
    /// Absolute http(s), normalised.
    url: String = rules::url, default required, view shown;
    enabled: bool = rules::enabled, default (true), view shown;
    /// Empty means every alert type.
    alert_types: Vec<String> = rules::alert_types, default (Vec::new()), view shown;
    /// Empty means every event.
    events: Vec<EventType> = rules::events, default (Vec::new()), view shown;
    http_method: HttpMethod = rules::http_method, default (HttpMethod::Post), view shown;
    /// Write-only values.
    headers: BTreeMap<String, String> = rules::headers, default (BTreeMap::new()), view shown;
    /// The password is write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    basic_auth: Option<BasicAuth> = rules::basic_auth, default (None), view shown;
    metadata: Metadata = rules::metadata, default (Metadata::default()), view metadata;
    /// Write-only values for templates and formats (`webhook.secrets.NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, String> = rules::secrets, default (BTreeMap::new()), view shown;
    /// The body's shape: a built-in format; exclusive with `template`.
    #[serde(default)]
    format: Format = rules::format, default (Format::Standard), view shown;
    /// A Jinja template that renders the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String> = rules::template, default (None), view shown;
    /// The `Content-Type` of a template's output that is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String> = rules::content_type, default (None), view shown;
    /// Which alerts the webhook wants, by content (see [`super::filter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<ContentFilter> = rules::filter, default (None), view filter;
    /// A Jinja expression over a template's context: the webhook fires when it is truthy
    /// (see [`super::condition`]). With a `filter`, both must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String> = rules::condition, default (None), view shown;
    /// How fast it may be sent to (see [`crate::delivery::pace`]): by default, its
    /// format's receiver's published limit.
    #[serde(default)]
    rate_limit: RateLimitSetting = pacing::rate_limit, default (RateLimitSetting::Format), view rate_limit;
    /// A limited webhook's alerts queued further off than this go out as one digest;
    /// `None`: never digested.
    #[serde(default = "pacing::default_digest_after")]
    digest_after_seconds: pacing::DigestAfter = pacing::digest_after_seconds, default (pacing::default_digest_after()), view digest_after;
    /// Severities whose alerts are never digested, and go before the queue.
    #[serde(default = "pacing::default_never_digest")]
    never_digest: Vec<Severity> = pacing::never_digest, default (pacing::default_never_digest()), view shown;
}

fn shown<T>(value: &T) -> &T {
    value
}

fn digest_after(setting: &pacing::DigestAfter) -> Option<u32> {
    setting.shown()
}

fn rate_limit(setting: &RateLimitSetting) -> Value {
    setting.shown()
}

fn metadata(metadata: &Metadata) -> &Map<String, Value> {
    &metadata.0
}

fn filter(filter: &Option<ContentFilter>) -> Option<&Value> {
    filter.as_ref().map(|f| &f.0)
}

impl WebhookSettings {
    /// The settings as a caller with `access` may see them: header, secret and password
    /// values masked, and for readers the URL too (an incoming-webhook URL is its own
    /// credential).
    pub fn masked(&self, access: Access) -> WebhookSettings {
        let mask_values = |map: &BTreeMap<String, String>| {
            map.keys().map(|k| (k.clone(), MASK.to_string())).collect()
        };
        WebhookSettings {
            url: crate::mask::url_for(access, &self.url),
            headers: mask_values(&self.headers),
            secrets: mask_values(&self.secrets),
            basic_auth: self.basic_auth.as_ref().map(|a| BasicAuth {
                username: a.username.clone(),
                password: MASK.to_string(),
            }),
            ..self.clone()
        }
    }
}

/// Masked settings as the API shows them: every field, `null` where unset.
pub struct SettingsView<'a>(pub &'a WebhookSettings);

impl Serialize for SettingsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.0.serialize_shown(&mut map)?;
        map.end()
    }
}

impl WebhookChanges {
    /// Validates a PATCH body: any subset of fields, but at least one.
    pub fn parse(body: &Value) -> Result<Self, crate::error::ApiError> {
        parse_fields(body, false).map(|(changes, _)| changes)
    }

    /// Whether the change names a field of [`WebhookSettings::check_combination`], and so
    /// must be checked against the stored settings.
    pub fn touches_combination(&self) -> bool {
        self.format.is_some()
            || self.template.is_some()
            || self.metadata.is_some()
            || self.secrets.is_some()
            || self.http_method.is_some()
    }

    /// Whether the change turns the webhook back on, which ends a failure streak.
    pub fn reenables(&self) -> bool {
        self.enabled == Some(true)
    }
}

impl WebhookSettings {
    /// Validates a create or PUT body: `name` and `url` are required, the rest default.
    pub fn parse(body: &Value) -> Result<Self, crate::error::ApiError> {
        let (changes, mut errors) = parse_fields(body, true)?;
        match changes.complete() {
            Ok(settings) if errors.is_empty() => settings
                .check_combination()
                .map(|()| settings)
                .map_err(crate::error::ApiError::Validation),
            Ok(_) => Err(crate::error::ApiError::Validation(errors)),
            Err(missing) => {
                // A field given but invalid has its own fault already.
                errors.extend(missing.into_iter().filter(|m| body.get(&m.field).is_none()));
                Err(crate::error::ApiError::Validation(errors))
            }
        }
    }
}

impl WebhookSettings {
    /// The rules across fields: `template` and a `format` other than `standard` are
    /// exclusive; the `pagerduty` format needs `metadata.routing_key`.
    pub fn check_combination(&self) -> Result<(), Vec<FieldError>> {
        let method = self.http_method;
        if !method.has_body() && self.template.is_some() {
            return Err(vec![FieldError::new(
                "template",
                format!("cannot be set with http_method {method}, which sends no body; use POST, PUT or PATCH, or set template to null"),
            )]);
        }
        if !method.has_body() && self.format != Format::Standard {
            return Err(vec![FieldError::new(
                "format",
                format!("cannot be {} with http_method {method}, which sends no body; use format standard", self.format),
            )]);
        }
        if self.template.is_some() && self.format != Format::Standard {
            return Err(vec![FieldError::new(
                "template",
                format!(
                    "cannot be set with format {}: a webhook has a template or a format; set format to standard, or template to null",
                    self.format
                ),
            )]);
        }
        // The key belongs in `secrets`; one already in `metadata` keeps working.
        if self.format == Format::Pagerduty
            && !self.secrets.contains_key("routing_key")
            && !(self.metadata.0.get("routing_key")).is_some_and(Value::is_string)
        {
            return Err(vec![FieldError::new(
                "secrets.routing_key",
                "is required by format pagerduty: the integration key of the PagerDuty service (Events API v2)",
            )]);
        }
        Ok(())
    }
}

/// Parses a body's fields. A PATCH (`!full`) fails on any fault; a full body hands back
/// its faults so that missing required fields can join them.
fn parse_fields(
    body: &Value,
    full: bool,
) -> Result<(WebhookChanges, Vec<FieldError>), crate::error::ApiError> {
    use crate::error::ApiError;
    let Value::Object(map) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    if !full && map.is_empty() {
        return Err(ApiError::field("body", "no fields to update"));
    }
    let mut errors = Vec::new();
    let mut changes = WebhookChanges::default();
    for (key, value) in map {
        if changes.take(key, value, &mut errors) {
            continue;
        }
        let message = if super::READ_ONLY_FIELDS.contains(&key.as_str()) {
            "is read-only"
        } else {
            "is not a known field"
        };
        errors.push(FieldError::new(key, message));
    }
    match (full, errors.is_empty()) {
        (false, false) => Err(ApiError::Validation(errors)),
        _ => Ok((changes, errors)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::{error::ApiError, webhook::Webhook};

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
        assert!(WebhookChanges::parse(&json!({"http_method": "TRACE"})).is_err());
        assert_eq!(
            WebhookChanges::parse(&json!({"http_method": "get"}))
                .unwrap()
                .http_method,
            Some(HttpMethod::Get)
        );
    }

    /// OnCall's GET, DELETE and OPTIONS send no body: a template or a format that makes
    /// one is refused, saying why.
    #[test]
    fn a_method_without_a_body_takes_no_template_or_format() {
        for method in ["GET", "DELETE", "OPTIONS"] {
            let ok = json!({"name": "n", "url": "https://e.com", "http_method": method});
            assert!(WebhookSettings::parse(&ok).is_ok(), "{method}");
            let mut templated = ok.clone();
            templated["template"] = json!("{{ alert.id }}");
            let err = WebhookSettings::parse(&templated).unwrap_err();
            assert!(
                err.details()[0].message.contains("sends no body"),
                "{err:?}"
            );
            assert_eq!(fields(err), ["template"]);
            let mut formatted = ok.clone();
            formatted["format"] = json!("slack");
            assert_eq!(
                fields(WebhookSettings::parse(&formatted).unwrap_err()),
                ["format"]
            );
        }
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
        let shown = serde_json::to_string(&w.view(Access::Write)).unwrap();
        assert!(!shown.contains("s3cret-value") && !shown.contains("hunter2"));
        assert!(!shown.contains("whsec_abc"));
        assert!(shown.contains("X-Token"));
        assert!(serde_json::to_string(&w.view_with_secret())
            .unwrap()
            .contains("whsec_abc"));
        // A reader sees the URL's scheme and host only.
        let mut slack = w.clone();
        slack.settings.url = "https://hooks.slack.com/services/T0/B0/s3cret".into();
        let read = serde_json::to_value(slack.view(Access::Read)).unwrap();
        assert_eq!(read["url"], "https://hooks.slack.com/********");
        let written = serde_json::to_value(slack.view(Access::Write)).unwrap();
        assert_eq!(written["url"], slack.settings.url.as_str());
    }

    #[test]
    fn changes_serialize_to_the_stores_update() {
        let changes = WebhookChanges::parse(&json!({
            "name": "renamed", "basic_auth": null, "metadata": {"team": "ops"}
        }))
        .unwrap();
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&changes).unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort();
        // Only what the request named; a cleared field is null, which the store removes.
        assert_eq!(names, ["basic_auth", "metadata", "name"]);
        assert!(item["basic_auth"].is_null());
        assert_eq!(item["metadata"].as_s().unwrap(), r#"{"team":"ops"}"#);
        assert!(!changes.reenables());
        assert!(WebhookChanges::parse(&json!({"enabled": true}))
            .unwrap()
            .reenables());
    }
}
