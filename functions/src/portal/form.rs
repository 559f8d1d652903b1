//! HTML forms: parsing `application/x-www-form-urlencoded` bodies, and turning the
//! webhook form into the API's JSON body. Faults are the API's own field errors, so the
//! page shows them beside their fields the same way whichever side found them.

use std::collections::BTreeMap;

use hookline_shared::{
    error::FieldError,
    webhook::{WebhookSettings, WebhookView, MASK},
};
use serde_json::{json, Map, Value};

/// The most a form body may hold (a 64 KiB template, percent-encoded, and the rest).
pub const FORM_LIMIT: usize = 256 * 1024;

/// A parsed form: every value of every field, in order.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, trimmed, or "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// What the webhook form shows: the webhook's view (or nothing for a new one), overlaid
/// with what was just posted when the post was refused.
#[derive(Debug, Default, Clone)]
pub struct WebhookFields {
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub alert_types: String,
    pub events: Vec<String>,
    pub http_method: String,
    pub headers: String,
    pub basic_auth_username: String,
    pub metadata: String,
    pub format: String,
    pub template: String,
    pub content_type: String,
    pub filter: String,
    pub condition: String,
    pub secrets: String,
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl WebhookFields {
    /// A new webhook's defaults.
    pub fn new_webhook() -> Self {
        Self {
            enabled: true,
            http_method: "POST".into(),
            format: "standard".into(),
            metadata: "{}".into(),
            ..Self::default()
        }
    }

    /// The fields of a webhook as its view shows it (write-only values masked).
    pub fn from_view(view: &WebhookView) -> Self {
        let w = &view.settings;
        let lines = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Self {
            name: w.name.clone(),
            url: w.url.clone(),
            enabled: w.enabled,
            alert_types: w.alert_types.join(", "),
            events: w.events.iter().map(|e| e.as_str().to_string()).collect(),
            http_method: w.http_method.as_str().to_string(),
            headers: lines(&w.headers),
            secrets: lines(&w.secrets),
            condition: w.condition.clone().unwrap_or_default(),
            basic_auth_username: w
                .basic_auth
                .as_ref()
                .map(|a| a.username.clone())
                .unwrap_or_default(),
            metadata: pretty(&Value::Object(w.metadata.0.clone())),
            format: w.format.as_str().to_string(),
            template: w.template.clone().unwrap_or_default(),
            content_type: w.content_type.clone().unwrap_or_default(),
            filter: w.filter.as_ref().map(|f| pretty(&f.0)).unwrap_or_default(),
        }
    }

    /// The fields as posted.
    pub fn from_form(form: &Form) -> Self {
        Self {
            name: form.text("name").into(),
            url: form.text("url").into(),
            enabled: form.has("enabled"),
            alert_types: form.text("alert_types").into(),
            events: form.all("events").into_iter().map(str::to_string).collect(),
            http_method: form.text("http_method").into(),
            headers: form.get("headers").unwrap_or("").replace("\r\n", "\n"),
            basic_auth_username: form.text("basic_auth_username").into(),
            metadata: form.text("metadata").into(),
            format: form.text("format").into(),
            template: form.get("template").unwrap_or("").replace("\r\n", "\n"),
            content_type: form.text("content_type").into(),
            filter: form.text("filter").into(),
            condition: form.get("condition").unwrap_or("").replace("\r\n", "\n"),
            secrets: form.get("secrets").unwrap_or("").replace("\r\n", "\n"),
        }
    }
}

fn json_field(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    if raw.trim().is_empty() {
        return None;
    }
    match serde_json::from_str(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(FieldError::new(field, format!("is not JSON: {e}")));
            None
        }
    }
}

/// `Name: value` lines into the map of write-only values `field` (`headers`, `secrets`).
/// `None`: they were left as shown (every value still masked), so they are not sent and
/// stay as stored.
fn write_only_lines(
    field: &str,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    let mut map = Map::new();
    let mut masked = 0;
    let lines: Vec<&str> = raw.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some((name, value)) = line.split_once(':') else {
            errors.push(FieldError::new(
                field,
                format!("line {} must be `Name: value`", i + 1),
            ));
            continue;
        };
        let value = value.trim();
        if value == MASK {
            masked += 1;
        }
        map.insert(name.trim().to_string(), Value::String(value.to_string()));
    }
    if masked > 0 && masked == lines.len() {
        return None;
    }
    if masked > 0 {
        errors.push(FieldError::new(
            field,
            format!("values are write-only: when changing {field}, type every value again"),
        ));
    }
    Some(map)
}

/// The API body for the posted webhook form. On an edit (`existing`: the webhook's
/// settings as shown, masked), write-only values left untouched are not sent, so they stay
/// as stored.
pub fn webhook_body(
    form: &Form,
    existing: Option<&WebhookSettings>,
) -> Result<Value, Vec<FieldError>> {
    let f = WebhookFields::from_form(form);
    let mut errors = Vec::new();
    let mut body = Map::new();
    body.insert("name".into(), json!(f.name));
    body.insert("url".into(), json!(f.url));
    body.insert("enabled".into(), json!(f.enabled));
    let types: Vec<&str> = f
        .alert_types
        .split([',', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    body.insert("alert_types".into(), json!(types));
    body.insert("events".into(), json!(f.events));
    if !f.http_method.is_empty() {
        body.insert("http_method".into(), json!(f.http_method));
    }
    for (field, raw) in [("headers", &f.headers), ("secrets", &f.secrets)] {
        if let Some(values) = write_only_lines(field, raw, &mut errors) {
            body.insert(field.into(), Value::Object(values));
        } else if existing.is_none() {
            body.insert(field.into(), json!({}));
        }
    }
    let password = form.get("basic_auth_password").unwrap_or("");
    let had = existing.is_some_and(|e| e.basic_auth.is_some());
    match (f.basic_auth_username.is_empty(), password.is_empty()) {
        (true, true) if had => {
            body.insert("basic_auth".into(), Value::Null);
        }
        (true, true) => {}
        (false, true) if had => {
            // The password is write-only: a new user name needs it again.
            let same = existing
                .and_then(|e| e.basic_auth.as_ref())
                .is_some_and(|a| a.username == f.basic_auth_username);
            if !same {
                errors.push(FieldError::new(
                    "basic_auth",
                    "type the password again to change the user name",
                ));
            }
        }
        _ => {
            body.insert(
                "basic_auth".into(),
                json!({"username": f.basic_auth_username, "password": password}),
            );
        }
    }
    let metadata = json_field("metadata", &f.metadata, &mut errors).unwrap_or_else(|| json!({}));
    body.insert("metadata".into(), metadata);
    if !f.format.is_empty() {
        body.insert("format".into(), json!(f.format));
    }
    let template = (!f.template.trim().is_empty()).then(|| json!(f.template));
    body.insert("template".into(), template.unwrap_or(Value::Null));
    let content_type = (!f.content_type.is_empty()).then(|| json!(f.content_type));
    body.insert("content_type".into(), content_type.unwrap_or(Value::Null));
    let filter = json_field("filter", &f.filter, &mut errors);
    body.insert("filter".into(), filter.unwrap_or(Value::Null));
    let condition = (!f.condition.trim().is_empty()).then(|| json!(f.condition));
    body.insert("condition".into(), condition.unwrap_or(Value::Null));
    if errors.is_empty() {
        Ok(Value::Object(body))
    } else {
        Err(errors)
    }
}

/// Field errors by the form field they belong to (`headers.X-Key` belongs to `headers`);
/// the rest under "".
pub fn by_field(errors: &[FieldError]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in errors {
        let field = e
            .field
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_string();
        map.entry(field)
            .or_default()
            .push(format!("{}: {}", e.field, e.message));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Form::parse(body.as_bytes())
    }

    #[test]
    fn a_new_webhook_form_becomes_the_api_body() {
        let f = form(&[
            ("name", " Ops "),
            ("url", "https://example.com/h"),
            ("enabled", "on"),
            ("alert_types", "cpu_high, disk_full\nmem"),
            ("events", "alert.triggered"),
            ("events", "webhook.disabled"),
            ("headers", "X-Team: ops\r\nX-Env: prod"),
            ("metadata", "{\"team\": \"ops\"}"),
            ("format", "slack"),
            ("filter", ""),
            ("template", ""),
        ]);
        let body = webhook_body(&f, None).unwrap();
        assert_eq!(body["name"], "Ops");
        assert_eq!(body["enabled"], true);
        assert_eq!(body["alert_types"], json!(["cpu_high", "disk_full", "mem"]));
        assert_eq!(
            body["events"],
            json!(["alert.triggered", "webhook.disabled"])
        );
        assert_eq!(body["headers"], json!({"X-Team": "ops", "X-Env": "prod"}));
        assert_eq!(body["metadata"], json!({"team": "ops"}));
        assert!(body["filter"].is_null() && body["template"].is_null());
        assert!(body.get("basic_auth").is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let f = form(&[("headers", "no colon"), ("metadata", "{"), ("filter", "[")]);
        let errors = webhook_body(&f, None).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["headers", "metadata", "filter"]);
        let grouped = by_field(&[
            FieldError::new("headers.X-A", "bad"),
            FieldError::new("x", "y"),
        ]);
        assert_eq!(grouped["headers"], ["headers.X-A: bad"]);
    }

    #[test]
    fn write_only_values_left_masked_are_kept() {
        let existing = WebhookSettings::parse(&json!({
            "name": "n", "url": "https://example.com/h",
            "headers": {"X-Key": "v"}, "basic_auth": {"username": "u", "password": "p"}
        }))
        .unwrap()
        .masked(hookline_shared::auth::Access::Write);
        let f = form(&[
            ("headers", &format!("X-Key: {MASK}")),
            ("basic_auth_username", "u"),
        ]);
        let body = webhook_body(&f, Some(&existing)).unwrap();
        assert!(body.get("headers").is_none());
        assert!(body.get("basic_auth").is_none());
        let half = form(&[("headers", &format!("X-Key: {MASK}\nX-New: 1"))]);
        assert!(webhook_body(&half, Some(&existing)).is_err());
        let cleared = form(&[("headers", "")]);
        let body = webhook_body(&cleared, Some(&existing)).unwrap();
        assert_eq!(body["headers"], json!({}));
        assert!(body["basic_auth"].is_null());
    }
}
