//! What a delivery sends: the body, its `Content-Type` and the custom header values, from
//! the Standard Webhooks payload and the webhook's `format` or `template`. Rendered at
//! every attempt (and by the preview and the delivery log), so a fixed template applies
//! to the next attempt or redelivery.
//!
//! The context a template sees:
//! - `event`: `type`, `timestamp`, `transition` (the timeline entry: number, from, to, at,
//!   by) and `previous_state`;
//! - `alert`: the alert as the transition left it (state, labels, timeline, links...);
//!   `labels`, `source` and `data` are objects even when the alert has none;
//! - `actions`: the action links that apply, in order, each `{name, label, url}`;
//! - `webhook`: `id`, `name`, `metadata`;
//! - `account`: `id`;
//! - `delivery`: `id`, `attempt`;
//! - `payload`: the whole Standard Webhooks payload.
//!
//! Only values a webhook was given as templates are templates: a header value is one when
//! it holds `{{`, `{%` or `{#`. The URL never is, so the destination check at save holds.

use serde_json::{json, Value};

use super::{
    format::Format,
    sandbox::{Job, Sandbox, SandboxError},
    template::{self, TemplateError},
};
use crate::webhook::Webhook;

/// How a render error starts in a delivery record, as Grafana OnCall writes it.
pub const TEMPLATE_WARNING: &str = "Template Warning";

/// The most a rendered header value may hold.
const HEADER_VALUE_MAX: usize = 8 * 1024;

/// A delivery's request content, before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub body: Vec<u8>,
    pub content_type: String,
    /// The webhook's custom headers, their values rendered.
    pub headers: Vec<(String, String)>,
}

/// Which delivery and attempt a render is for.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryRef<'a> {
    pub id: &'a str,
    pub attempt: u32,
}

/// Why nothing can be sent: which part failed, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{TEMPLATE_WARNING}: {part}: {error}")]
pub struct RenderError {
    /// `template`, `format slack`, or `header X-Name`.
    pub part: String,
    pub error: TemplateError,
}

/// Whether a header value is a template.
pub fn is_template(value: &str) -> bool {
    value.contains("{{") || value.contains("{%") || value.contains("{#")
}

/// Renders what `webhook` is sent for `payload` (the standard payload's JSON). A built-in
/// format renders here; the webhook's own template and header templates render in the
/// `sandbox`. The outer error is the sandbox's own (nothing is known of the template: the
/// attempt is to be made again); the inner one is the template's fault.
pub async fn render(
    webhook: &Webhook,
    payload: &str,
    delivery: DeliveryRef<'_>,
    sandbox: &Sandbox,
) -> Result<Result<Rendered, RenderError>, SandboxError> {
    let settings = &webhook.settings;
    let templated: Vec<(&String, &String)> = (settings.headers.iter())
        .filter(|(_, v)| is_template(v))
        .collect();
    let format = settings.format.template();
    if settings.template.is_none() && format.is_none() && templated.is_empty() {
        return Ok(Ok(Rendered::standard(webhook, payload.as_bytes().to_vec())));
    }
    let payload: Value = match serde_json::from_str(payload) {
        Ok(payload) => payload,
        Err(e) => {
            return Ok(Err(RenderError {
                part: "payload".into(),
                error: TemplateError::new(format!("the payload is not JSON: {e}")),
            }))
        }
    };
    let context = context(webhook, &payload, delivery);
    // The user's templates, body first, in one child.
    let job = Job {
        templates: (settings.template.iter())
            .chain(templated.iter().map(|(_, v)| *v))
            .cloned()
            .collect(),
        context: context.clone(),
    };
    let mut users = if job.templates.is_empty() {
        Vec::new()
    } else {
        sandbox.run(&job).await?.results
    }
    .into_iter();
    let (body, content_type) = match (&settings.template, format) {
        (Some(_), _) => {
            let fail = |error| RenderError {
                part: "template".into(),
                error,
            };
            let output = match users.next().unwrap_or_else(missing) {
                Ok(output) => output,
                Err(e) => return Ok(Err(fail(e))),
            };
            match body_of(output, settings.format, settings.content_type.as_deref()) {
                Ok(body) => body,
                Err(e) => return Ok(Err(fail(e))),
            }
        }
        (None, Some(source)) => {
            let fail = |error| RenderError {
                part: format!("format {}", settings.format),
                error,
            };
            let context = minijinja::Value::from(minijinja::value::Serde(&context));
            let made = template::render(source, &context)
                .and_then(|output| body_of(output, settings.format, None));
            match made {
                Ok(body) => body,
                Err(e) => return Ok(Err(fail(e))),
            }
        }
        (None, None) => (
            serde_json::to_vec(&payload).unwrap_or_default(),
            "application/json".to_string(),
        ),
    };
    let mut headers = Vec::with_capacity(settings.headers.len());
    for (name, value) in &settings.headers {
        let value = if is_template(value) {
            match users.next().unwrap_or_else(missing).and_then(header_value) {
                Ok(value) => value,
                Err(error) => {
                    return Ok(Err(RenderError {
                        part: format!("header {name}"),
                        error: error.brief(),
                    }))
                }
            }
        } else {
            value.clone()
        };
        headers.push((name.clone(), value));
    }
    Ok(Ok(Rendered {
        body,
        content_type,
        headers,
    }))
}

/// The sandbox answers for every template it is given.
fn missing() -> Result<String, TemplateError> {
    Err(TemplateError::new("the template sandbox gave no answer"))
}

impl Rendered {
    /// `body` as JSON with the webhook's headers as they are: a webhook with neither a
    /// format nor templates.
    pub fn standard(webhook: &Webhook, body: Vec<u8>) -> Self {
        Self {
            body,
            content_type: "application/json".into(),
            headers: (webhook.settings.headers.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// The body and its type: a built-in format's JSON, compacted (and so checked); a
/// template's output as it is, JSON when it parses as JSON.
fn body_of(
    output: String,
    format: Format,
    content_type: Option<&str>,
) -> Result<(Vec<u8>, String), TemplateError> {
    let json = "application/json".to_string();
    if format != Format::Standard {
        let value: Value = serde_json::from_str(&output).map_err(|e| {
            TemplateError::new(format!(
                "the format made invalid JSON ({e}); please report it"
            ))
        })?;
        return Ok((serde_json::to_vec(&value).unwrap_or_default(), json));
    }
    let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&output).is_ok();
    let content_type = match (is_json, content_type) {
        (true, _) => json,
        (false, Some(given)) => given.to_string(),
        (false, None) => "text/plain".to_string(),
    };
    Ok((output.into_bytes(), content_type))
}

/// A rendered header value, checked.
fn header_value(value: String) -> Result<String, TemplateError> {
    if value.len() > HEADER_VALUE_MAX {
        return Err(TemplateError::new(format!(
            "the value is longer than {} KiB",
            HEADER_VALUE_MAX / 1024
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(TemplateError::new(
            "the value holds a line break or another control character",
        ));
    }
    Ok(value)
}

/// The names a template can use; see the module's documentation.
fn context(webhook: &Webhook, payload: &Value, delivery: DeliveryRef) -> Value {
    let data = &payload["data"];
    let mut alert = data["alert"].clone();
    // Always objects, so `alert.labels.team|default(...)` works on an alert without
    // labels: strict mode refuses a field of a missing value, even under `default`.
    if let Value::Object(fields) = &mut alert {
        for name in ["labels", "source", "data"] {
            fields.entry(name).or_insert_with(|| json!({}));
        }
    }
    let actions = actions(&alert);
    json!({
        "event": {
            "type": payload["type"],
            "timestamp": payload["timestamp"],
            "transition": data.get("transition"),
            "previous_state": data.get("previous_state"),
        },
        "alert": alert,
        "actions": actions,
        "webhook": {
            "id": webhook.id,
            "name": webhook.settings.name,
            "metadata": webhook.settings.metadata.0,
        },
        "account": data["account"],
        "delivery": {"id": delivery.id, "attempt": delivery.attempt},
        "payload": payload,
    })
}

/// The alert's action links, in the order buttons show them.
fn actions(alert: &Value) -> Vec<Value> {
    const LABELS: [(&str, &str); 5] = [
        ("acknowledge", "Acknowledge"),
        ("resolve", "Resolve"),
        ("silence_1h", "Silence 1h"),
        ("silence_24h", "Silence 24h"),
        ("unsilence", "Unsilence"),
    ];
    let links = &alert["links"];
    LABELS
        .iter()
        .filter_map(|(name, label)| {
            let url = links.get(name)?.as_str()?;
            Some(json!({"name": name, "label": label, "url": url}))
        })
        .collect()
}
