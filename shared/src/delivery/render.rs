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
//! - `digest`: for an `alert.digest`, its counts (`count`, `by_event`, `by_severity`), its
//!   first `alerts`, `left_out` and the portal's `url` (see [`super::digest`]);
//! - `webhook`: `id`, `name`, `metadata`, `secrets` (write-only values: what is sent, and
//!   masked in what anyone is shown);
//! - `account`: `id`;
//! - `delivery`: `id`, `attempt`;
//! - `payload`: the whole Standard Webhooks payload.
//!
//! Only values a webhook was given as templates are templates: a header value or the URL
//! is one when it holds `{{`, `{%` or `{#`. A URL template renders its path and query
//! only (see [`super::url_template`]), so the destination check at save holds.

use serde_json::{json, Value};

use super::{
    format::Format,
    sandbox::{Job, Piece, Sandbox, SandboxError},
    template::{self, Syntax, TemplateError},
    url_template,
};
use crate::{alert::links::LinkAction, webhook::Webhook};

/// How a render error starts in a delivery record, as Grafana OnCall writes it.
pub const TEMPLATE_WARNING: &str = "Template Warning";

/// The most a rendered header value may hold.
const HEADER_VALUE_MAX: usize = 8 * 1024;

/// A delivery's request content, before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Where it goes: the webhook's URL, or its render.
    pub url: String,
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
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{TEMPLATE_WARNING}: {part}: {error}")]
pub struct RenderError {
    /// `template`, `format slack`, `header X-Name`, `url` or `condition`.
    pub part: String,
    pub error: TemplateError,
}

/// Whether a header value is a template.
pub fn is_template(value: &str) -> bool {
    value.contains("{{") || value.contains("{%") || value.contains("{#")
}

/// Renders what `webhook` is sent for `payload` (the standard payload's JSON). A built-in
/// format renders here; the webhook's own templates (body, header values, URL) render in
/// the `sandbox`. The outer error is the sandbox's own (nothing is known of the template:
/// the attempt is to be made again); the inner one is the template's fault.
pub async fn render(
    webhook: &Webhook,
    payload: &str,
    delivery: DeliveryRef<'_>,
    sandbox: &Sandbox,
) -> Result<Result<Rendered, RenderError>, SandboxError> {
    let settings = &webhook.settings;
    let format = settings.format.template();
    let url_origin = match url_template::origin_of(&settings.url) {
        Ok(origin) => origin,
        Err(why) => return Ok(Err(RenderError::new("url", TemplateError::new(why)))),
    };
    let templated_headers = settings.headers.values().any(|v| is_template(v));
    if settings.template.is_none() && format.is_none() && !templated_headers && url_origin.is_none()
    {
        let body = match settings.http_method.has_body() {
            true => payload.as_bytes().to_vec(),
            // A method without a body (GET, DELETE, OPTIONS) sends none: signed over nothing.
            false => Vec::new(),
        };
        return Ok(Ok(Rendered::standard(webhook, body)));
    }
    let payload: Value = match serde_json::from_str(payload) {
        Ok(payload) => payload,
        Err(e) => {
            let why = format!("the payload is not JSON: {e}");
            return Ok(Err(RenderError::new("payload", TemplateError::new(why))));
        }
    };
    // A digest has a template of its own in each format that shows one.
    let format = match payload["type"] == "alert.digest" {
        true => settings.format.digest_template(),
        false => format,
    };
    let context = context(webhook, &payload, delivery);
    // The user's templates in one child: the body, the header values, the URL.
    let mut pieces = Vec::new();
    let mut add = |source: &String, syntax| {
        pieces.push(Piece {
            source: source.clone(),
            syntax,
            sets: Vec::new(),
        });
        Some(pieces.len() - 1)
    };
    let body_at = settings
        .template
        .as_ref()
        .and_then(|t| add(t, Syntax::Text));
    let header_at: Vec<Option<usize>> = (settings.headers.values())
        .map(|v| {
            if is_template(v) {
                add(v, Syntax::Text)
            } else {
                None
            }
        })
        .collect();
    let url_at = url_origin
        .as_ref()
        .and_then(|_| add(&settings.url, Syntax::Url));
    let mut results: Vec<Option<Result<String, TemplateError>>> = if pieces.is_empty() {
        Vec::new()
    } else {
        let job = Job {
            pieces,
            context: context.clone(),
        };
        sandbox
            .run(&job)
            .await?
            .results
            .into_iter()
            .map(Some)
            .collect()
    };
    let mut take = |at: Option<usize>| {
        (results.get_mut(at?)).and_then(Option::take).or_else(|| {
            Some(Err(TemplateError::new(
                "the template sandbox gave no answer",
            )))
        })
    };
    // The context as the engine takes it, for the format's own templates: built once.
    let engine_context = std::cell::OnceCell::new();
    let ours =
        || engine_context.get_or_init(|| minijinja::Value::from(minijinja::value::Serde(&context)));
    let (body, content_type) = match (take(body_at), format) {
        (Some(output), _) => {
            match output.and_then(|o| body_of(o, settings.format, settings.content_type.as_deref()))
            {
                Ok(body) => body,
                Err(e) => return Ok(Err(RenderError::new("template", e))),
            }
        }
        (None, Some(source)) => {
            let made = template::render(source, ours(), Syntax::Text)
                .and_then(|output| body_of(output, settings.format, None));
            match made {
                Ok(body) => body,
                Err(e) => {
                    return Ok(Err(RenderError::new(
                        format!("format {}", settings.format),
                        e,
                    )))
                }
            }
        }
        (None, None) => {
            let body = match settings.http_method.has_body() {
                true => serde_json::to_vec(&payload).unwrap_or_default(),
                false => Vec::new(),
            };
            (body, "application/json".to_string())
        }
    };
    let mut headers = Vec::with_capacity(settings.headers.len());
    for ((name, value), at) in settings.headers.iter().zip(header_at) {
        let value = match take(at) {
            None => value.clone(),
            Some(output) => match output.and_then(header_value) {
                Ok(value) => value,
                // A header's value is a secret: its error says what went wrong, not where.
                Err(e) => return Ok(Err(RenderError::new(format!("header {name}"), e.brief()))),
            },
        };
        headers.push((name.clone(), value));
    }
    let mut url = match (take(url_at), &url_origin) {
        (Some(output), Some(origin)) => {
            match output.and_then(|rendered| url_template::checked(rendered, origin)) {
                Ok(url) => url,
                Err(e) => return Ok(Err(RenderError::new("url", e))),
            }
        }
        _ => settings.url.clone(),
    };
    if let Some(source) = settings.format.path() {
        let made = template::render(source, ours(), Syntax::Url).and_then(|suffix| {
            let origin = url::Url::parse(&url)
                .map_err(|e| TemplateError::new(format!("the URL does not parse ({e})")))?;
            url_template::checked(url_template::join(&url, &suffix)?, &origin)
        });
        url = match made {
            Ok(url) => url,
            Err(e) => {
                return Ok(Err(RenderError::new(
                    format!("format {}", settings.format),
                    e,
                )))
            }
        };
    }
    Ok(Ok(Rendered {
        url,
        body,
        content_type,
        headers,
    }))
}

impl RenderError {
    pub fn new(part: impl Into<String>, error: TemplateError) -> Self {
        Self {
            part: part.into(),
            error,
        }
    }
}

impl Rendered {
    /// `body` as JSON with the webhook's headers as they are: a webhook with neither a
    /// format nor templates.
    pub fn standard(webhook: &Webhook, body: Vec<u8>) -> Self {
        Self {
            url: webhook.settings.url.clone(),
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
pub fn context(webhook: &Webhook, payload: &Value, delivery: DeliveryRef) -> Value {
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
        "digest": data.get("digest"),
        "webhook": {
            "id": webhook.id,
            "name": webhook.settings.name,
            "metadata": webhook.settings.metadata.0,
            "secrets": webhook.settings.secrets,
        },
        "account": data["account"],
        "delivery": {"id": delivery.id, "attempt": delivery.attempt},
        "payload": payload,
    })
}

/// The alert's action links, in the order buttons show them.
fn actions(alert: &Value) -> Vec<Value> {
    use strum::VariantArray;
    let links = &alert["links"];
    LinkAction::VARIANTS
        .iter()
        .filter_map(|action| {
            let name = action.as_str();
            let url = links.get(name)?.as_str()?;
            Some(json!({"name": name, "label": action.label(), "url": url}))
        })
        .collect()
}
