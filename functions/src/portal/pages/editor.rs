//! The webhook form: new or edit, saved through the API, with a preview or a filter test
//! of the draft beside it.

use hookline_shared::{
    error::FieldError,
    webhook::{filter::ContentFilter, rules, WebhookChanges, WebhookSettings},
};
use serde_json::Value;

use super::*;
use crate::service::trials::{
    FilterTestRequest, FilterTested, Preview, PreviewRequest, TrialAlert, TrialRequest,
};

pub async fn edit_webhook(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    webhook_form(ctx, Some((id, &w)), None, None).await
}

/// What the editor shows beside the form: a preview or a filter test, or why it failed.
pub enum Trial {
    Preview(std::result::Result<Preview, ApiError>),
    Filter(std::result::Result<FilterTested, ApiError>),
}

/// The webhook form: new (`existing` none) or edit, with the refused post's values and
/// errors, and a trial's result.
pub async fn webhook_form(
    ctx: &Ctx<'_>,
    existing: Option<(&str, &WebhookView)>,
    posted: Option<(WebhookFields, Vec<FieldError>)>,
    trial: Option<Trial>,
) -> Result<Page> {
    let site = ctx.site;
    let (fields, errors) = match posted {
        Some((f, e)) => (f, e),
        None => (
            existing.map_or_else(WebhookFields::new_webhook, |(_, w)| {
                WebhookFields::from_view(w)
            }),
            Vec::new(),
        ),
    };
    let by_field = form::by_field(&errors);
    let err = |name: &str| -> Markup {
        html! { @for e in by_field.get(name).into_iter().flatten() { span.error role="alert" { (e) } } }
    };
    let action = match existing {
        Some((id, _)) => site.path(&format!("/webhooks/{id}/edit")),
        None => site.path("/webhooks/new"),
    };
    let title = if existing.is_some() {
        "Edit webhook"
    } else {
        "New webhook"
    };
    let other: Vec<&String> = by_field
        .iter()
        .filter(|(k, _)| !FORM_FIELDS.contains(&k.as_str()))
        .flat_map(|(_, v)| v)
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(Page::Html(
        status,
        layout(
            site,
            Some(ctx.caller),
            title,
            html! {
                @if !errors.is_empty() {
                    p.error role="alert" { "The webhook was not saved: fix the fields marked below." }
                    @for e in &other { p.error { (e) } }
                }
                form.webhook method="post" action=(action) {
                    (csrf(ctx.caller))
                    label for="name" { "Name" } (err("name"))
                    input #name name="name" value=(fields.name) required;
                    label for="url" { "URL" } (err("url"))
                    // Text, not `url`: a URL template's `{{ }}` is no URL yet.
                    input #url name="url" type="text" inputmode="url" value=(fields.url) required;
                    p.hint { "The path and query may be a template: " code { "https://api.example.com/incidents/{{ alert.id }}/ack" } }
                    label.check { input type="checkbox" name="enabled" checked[fields.enabled]; " Enabled" } (err("enabled"))
                    label for="http_method" { "Method" } (err("http_method"))
                    select #http_method name="http_method" {
                        @for m in HttpMethod::VARIANTS.iter().map(|m| m.as_str()) { option value=(m) selected[fields.http_method == m] { (m) } }
                    }
                    label for="alert_types" { "Alert types (comma separated; empty: all)" } (err("alert_types"))
                    input #alert_types name="alert_types" value=(fields.alert_types);
                    fieldset {
                        legend { "Events (none ticked: every alert event; operational events only when ticked)" } (err("events"))
                        @for e in EventType::VARIANTS.iter().copied() {
                            label.check { input type="checkbox" name="events" value=(e.as_str()) checked[fields.events.iter().any(|x| x == e.as_str())]; " " (e.as_str()) }
                        }
                    }
                    label for="headers" { "Headers (one `Name: value` per line; values are write-only)" } (err("headers"))
                    textarea #headers name="headers" rows="3" { (fields.headers) }
                    label for="secrets" { "Secrets for templates and formats, as webhook.secrets.NAME (one `NAME: value` per line; values are write-only)" } (err("secrets"))
                    textarea #secrets name="secrets" rows="2" { (fields.secrets) }
                    label for="basic_auth_username" { "Basic auth user name" } (err("basic_auth"))
                    input #basic_auth_username name="basic_auth_username" value=(fields.basic_auth_username) autocomplete="off";
                    label for="basic_auth_password" { "Basic auth password (leave empty to keep)" }
                    input #basic_auth_password name="basic_auth_password" type="password" autocomplete="new-password";
                    label for="metadata" { "Metadata (JSON object)" } (err("metadata"))
                    textarea #metadata name="metadata" rows="3" { (fields.metadata) }
                    label for="format" { "Format" } (err("format"))
                    select #format name="format" {
                        @for f in Format::VARIANTS.iter().copied() { option value=(f.as_str()) selected[fields.format == f.as_str()] { (f.as_str()) } }
                    }
                    label for="template" { "Template (Jinja; instead of a format)" } (err("template"))
                    textarea #template.code name="template" rows="8" { (fields.template) }
                    label for="content_type" { "Content-Type of a template's non-JSON output" } (err("content_type"))
                    input #content_type name="content_type" value=(fields.content_type);
                    label for="filter" { "Content filter (JSON)" } (err("filter"))
                    textarea #filter.code name="filter" rows="4" { (fields.filter) }
                    label for="condition" { "Condition (a Jinja expression; with a filter, both must pass)" } (err("condition"))
                    textarea #condition.code name="condition" rows="2" { (fields.condition) }
                    @if existing.is_some() {
                        label for="alert_id" { "Alert to preview or test with (id; empty: the test alert)" }
                        input #alert_id name="alert_id" value="";
                    }
                    div.buttons {
                        button type="submit" name="do" value="save" { "Save" }
                        @if existing.is_some() {
                            button.secondary type="submit" name="do" value="preview" { "Preview payload" }
                            button.secondary type="submit" name="do" value="filter" { "Test filter" }
                        }
                    }
                }
                @match &trial {
                    Some(Trial::Preview(preview)) => section.trial {
                        h2 { "Preview" }
                        @match preview {
                            Ok(p) => {
                                p { "Event " code { (p.event.as_str()) } ", delivery " code { (p.delivery_id) }
                                    @if !p.matches { " · " span.error { "fan-out would not send this alert to this webhook" } } }
                                @if let Some(e) = &p.condition_error { p.error role="alert" { (e) } }
                                (request_view(&p.request))
                            },
                            Err(e) => p.error role="alert" { (crate::response::message(e)) },
                        }
                    },
                    Some(Trial::Filter(tested)) => section.trial {
                        h2 { "Filter test" }
                        @match tested {
                            Ok(t) => {
                                p { @if t.matches { strong.okay { "Would be sent." } } @else { strong.error { "Would not be sent." } } }
                                dl.fields { @for (check, passes) in t.checks.named() {
                                    dt { (check) } dd { @if passes { "passes" } @else { span.error { "fails" } } }
                                } }
                                @if let Some(e) = &t.condition_error { p.error role="alert" { (e) } }
                            },
                            Err(e) => p.error role="alert" { (crate::response::message(e)) },
                        }
                    },
                    None => {}
                }
            },
        ),
    ))
}

/// The form's fields: errors of other fields are shown above the form.
const FORM_FIELDS: [&str; 15] = [
    "name",
    "url",
    "enabled",
    "http_method",
    "alert_types",
    "events",
    "headers",
    "secrets",
    "condition",
    "basic_auth",
    "metadata",
    "format",
    "template",
    "content_type",
    "filter",
];

/// Saves the form (a new webhook, or changes to `id`) through the same operations as the
/// API, or shows it again with what was refused; its preview and filter-test buttons
/// try the draft instead.
pub async fn save_webhook(ctx: &Ctx<'_>, id: Option<&str>, form: &Form) -> Result<Page> {
    let existing = match id {
        Some(id) => Some(get_webhook(ctx, id).await?),
        None => None,
    };
    let fields = WebhookFields::from_form(form);
    let action = form.text("do");
    if let (Some(id), Some(w), "preview" | "filter") = (id, &existing, action) {
        let trial = trial(ctx, id, &fields, form.text("alert_id"), action == "preview").await;
        return webhook_form(ctx, Some((id, w)), Some((fields, Vec::new())), Some(trial)).await;
    }
    let body = match form::webhook_body(form, existing.as_ref().map(|w| &w.settings)) {
        Ok(body) => body,
        Err(errors) => {
            return webhook_form(ctx, id.zip(existing.as_ref()), Some((fields, errors)), None).await
        }
    };
    let (app, who) = (ctx.app, ctx.who());
    let saved = match id {
        None => match WebhookSettings::parse(&body) {
            Ok(settings) => service::webhooks::create(app, who, settings).await,
            Err(e) => Err(e),
        },
        Some(id) => match WebhookChanges::parse(&body) {
            Ok(changes) => service::webhooks::update(app, who, id, &changes).await,
            Err(e) => Err(e),
        },
    };
    match saved {
        Ok(saved) => Ok(Page::Redirect(
            ctx.site.path(&format!("/webhooks/{}", saved.id)),
            vec![],
        )),
        Err(e)
            if crate::response::status(&e) == StatusCode::BAD_REQUEST
                || crate::response::status(&e) == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            let mut errors = e.details().to_vec();
            if errors.is_empty() {
                errors.push(FieldError::new("", crate::response::message(&e)));
            }
            webhook_form(ctx, id.zip(existing.as_ref()), Some((fields, errors)), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A preview or a filter test of the form's draft, on `alert_id` (or the test alert).
async fn trial(
    ctx: &Ctx<'_>,
    id: &str,
    draft: &WebhookFields,
    alert_id: &str,
    preview: bool,
) -> Trial {
    let text_or_null = |t: &str| {
        if t.trim().is_empty() {
            Value::Null
        } else {
            Value::String(t.to_string())
        }
    };
    let alert = if alert_id.is_empty() {
        TrialAlert::Test
    } else {
        TrialAlert::Stored {
            alert_id: alert_id.to_string(),
            transition: None,
        }
    };
    let trial = TrialRequest { alert, event: None };
    let (app, who) = (ctx.app, ctx.who());
    if preview {
        // The draft's fields, checked as the API checks them.
        let mut fields = serde_json::Map::new();
        fields.insert("format".into(), Value::String(draft.format.clone()));
        fields.insert("template".into(), text_or_null(&draft.template));
        fields.insert("content_type".into(), text_or_null(&draft.content_type));
        fields.insert("condition".into(), text_or_null(&draft.condition));
        let previewed = match WebhookChanges::parse(&Value::Object(fields)) {
            Ok(changes) => {
                let asked = PreviewRequest {
                    trial,
                    attempt: 1,
                    draft: Some(changes),
                };
                service::trials::preview(app, who, id, &asked).await
            }
            Err(e) => Err(e),
        };
        return Trial::Preview(previewed);
    }
    let filter = if draft.filter.is_empty() {
        Ok(None)
    } else {
        match serde_json::from_str::<Value>(&draft.filter) {
            Ok(f) => ContentFilter::parse("filter", &f)
                .map(Some)
                .map_err(ApiError::Validation),
            Err(e) => Err(ApiError::field("filter", format!("is not JSON: {e}"))),
        }
    };
    let condition = rules::condition(&text_or_null(&draft.condition)).map_err(ApiError::Validation);
    let tested = match (filter, condition) {
        (Ok(filter), Ok(condition)) => {
            let asked = FilterTestRequest {
                trial,
                filter,
                condition: Some(condition),
            };
            service::trials::test_filter(app, who, id, &asked).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Trial::Filter(tested)
}
