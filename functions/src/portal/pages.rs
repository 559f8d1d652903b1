//! The portal's pages. Each reads and acts through the API's handlers ([`super::call`]),
//! and renders what they answer. maud escapes every value.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use hookline_shared::{
    alert::lifecycle::{ActionName, AlertState},
    delivery::{format::Format, record::DeliveryState},
    event::EventType,
    webhook::HttpMethod,
};
use lambda_http::{
    http::{Method, StatusCode},
    Request,
};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::{json, Value};
use strum::VariantArray;

use super::{
    call, chart, field_errors,
    form::{self, Form, WebhookFields},
    Caller, Page, PageError, Site,
};
use crate::{alerts, deliveries, payloads, webhooks, App};

/// The one stylesheet, inlined in every page; our own constant, never user input.
pub const STYLE: &str = include_str!("style.css");

/// Attempts read per webhook for the list's sparklines, and for a chart.
const SPARK_SAMPLES: usize = 500;
const CHART_SAMPLES: usize = 5000;

/// What every signed-in page has at hand.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a Request,
    pub site: &'a Site,
    pub caller: &'a Caller,
}

type Result<T> = std::result::Result<T, PageError>;

fn ok(markup: Markup) -> Result<Page> {
    Ok(Page::Html(StatusCode::OK, markup))
}

/// The API's answer, or its error as the page's.
fn expect(answer: (StatusCode, Value)) -> Result<Value> {
    let (status, body) = answer;
    if status.is_success() {
        Ok(body)
    } else {
        Err(PageError::Api(status, body))
    }
}

/// Calls an API handler on the webhook `id`'s route `/webhooks/{id}{rest}`.
async fn call_on<'a, F, Fut>(
    ctx: &Ctx<'a>,
    handler: F,
    method: Method,
    id: &str,
    rest: &str,
    body: Option<&Value>,
) -> (StatusCode, Value)
where
    F: FnOnce(&'a App, Request) -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
{
    let uri = format!("/webhooks/{id}{rest}");
    call(ctx, handler, method, &uri, &[("id", id)], &[], body).await
}

fn layout(site: &Site, caller: Option<&Caller>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · Hookline" }
                // Inline (allowed by its hash in the CSP) and no favicon fetch: one request
                // per page.
                link rel="icon" href="data:,";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href=(site.path("/webhooks")) { "Hookline" }
                    @if let Some(c) = caller {
                        nav {
                            a href=(site.path("/webhooks")) { "Webhooks" }
                            a href=(site.path("/alerts")) { "Alerts" }
                        }
                        span.who {
                            "Account " code { (c.principal.account_id) }
                            @if !c.can_write() { " " span.badge.ro { "read-only" } }
                        }
                        form.inline method="post" action=(site.path("/sign-out")) {
                            (csrf(c))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn csrf(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.session.csrf); }
}

/// A form with one button that posts to `action` (with the CSRF token).
fn button(ctx: &Ctx, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(ctx.caller))
            button class=(class) type="submit" { (label) }
        }
    }
}

pub fn message(site: &Site, caller: Option<&Caller>, heading: &str, text: &str) -> Markup {
    layout(
        site,
        caller,
        heading,
        html! {
            p.notice { (text) }
            p { a href=(site.path("/webhooks")) { "Back to the portal" } }
        },
    )
}

fn when(value: &Value) -> Markup {
    match value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => {
            let t = t.with_timezone(&Utc);
            html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        None => html! { span.muted { "never" } },
    }
}

fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge " (state) } { (state) } }
}

pub fn sign_in(site: &Site, error: Option<&str>) -> Page {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    Page::Html(
        status,
        layout(
            site,
            None,
            "Sign in",
            html! {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form.card method="post" action=(site.path("/sign-in")) {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="off" required
                        placeholder="hkl_...";
                    p.hint { "A read-only token gives a read-only portal. Or open a portal link made by "
                        code { "POST /portal-links" } " or " code { "hookline-admin portal-link" } "." }
                    button type="submit" { "Sign in" }
                }
            },
        ),
    )
}

/// A portal link's page: one button, so link scanners that follow GETs use nothing up.
pub fn link_confirm(site: &Site, token: &str) -> Page {
    Page::Html(
        StatusCode::OK,
        layout(
            site,
            None,
            "Open the portal",
            html! {
                p { "This one-time link signs you in to a Hookline account's portal." }
                form method="post" action=(site.path(&format!("/link/{token}"))) {
                    button type="submit" { "Continue to the portal" }
                }
            },
        ),
    )
}

/// A webhook's attempts per hour; a store that fails fails the page (an empty chart would
/// claim there were none).
async fn hourly(
    ctx: &Ctx<'_>,
    webhook_id: &str,
    hours: u32,
    limit: usize,
) -> Result<Vec<chart::Bucket>> {
    let now = Utc::now();
    let since = now - chrono::Duration::hours(i64::from(hours));
    let samples = ctx
        .app
        .store
        .attempt_samples(&ctx.caller.principal.account_id, webhook_id, since, limit)
        .await;
    chart::read(samples, now, hours).map_err(PageError::from)
}

pub async fn webhooks(ctx: &Ctx<'_>) -> Result<Page> {
    let cursor = super::super::http::query_param(ctx.req, "cursor")
        .ok()
        .flatten();
    let list = expect(
        call(
            ctx,
            webhooks::list,
            Method::GET,
            "/webhooks",
            &[],
            &[("limit", "50"), ("cursor", cursor.as_deref().unwrap_or(""))],
            None,
        )
        .await,
    )?;
    let items: Vec<Value> = list["webhooks"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = items
        .iter()
        .map(|w| w["id"].as_str().unwrap_or_default())
        .collect();
    let mut sparks = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(8) {
        let read = join_all(chunk.iter().map(|id| hourly(ctx, id, 24, SPARK_SAMPLES))).await;
        for buckets in read {
            sparks.push(chart::sparkline(&buckets?));
        }
    }
    let site = ctx.site;
    ok(layout(
        site,
        Some(ctx.caller),
        "Webhooks",
        html! {
            @if ctx.caller.can_write() {
                p { a.button href=(site.path("/webhooks/new")) { "New webhook" } }
            }
            @if items.is_empty() {
                p.muted { "No webhooks yet." }
            } @else {
                table.list {
                    thead { tr { th { "Name" } th { "URL" } th { "Status" } th { "Last success" }
                        th { "Last failure" } th { "Failing" } th { "24 h" } } }
                    tbody {
                        @for (w, spark) in items.iter().zip(&sparks) {
                            @let id = w["id"].as_str().unwrap_or_default();
                            tr {
                                td { a href=(site.path(&format!("/webhooks/{id}"))) { (w["name"].as_str().unwrap_or_default()) } }
                                td.url { (w["url"].as_str().unwrap_or_default()) }
                                td {
                                    @if w["enabled"].as_bool().unwrap_or(false) { (state_badge("enabled")) }
                                    @else {
                                        (state_badge("disabled"))
                                        @if let Some(r) = w["disabled_reason"].as_str() { br; small { (r) } }
                                    }
                                }
                                td { (when(&w["last_success"])) }
                                td { (when(&w["last_failure"])) }
                                td { @match w["consecutive_failures"].as_u64().unwrap_or(0) {
                                    0 => span.muted { "-" },
                                    n => { (n) " since " (when(&w["failing_since"])) }
                                } }
                                td { (spark) }
                            }
                        }
                    }
                }
                @if let Some(next) = list["next_cursor"].as_str() {
                    p { a href={ (site.path("/webhooks")) "?cursor=" (next) } { "More" } }
                }
            }
        },
    ))
}

async fn get_webhook(ctx: &Ctx<'_>, id: &str) -> Result<Value> {
    expect(call_on(ctx, webhooks::get, Method::GET, id, "", None).await)
}

fn field_list(w: &Value) -> Markup {
    let list = |k: &str| -> String {
        let items: Vec<&str> = w[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if items.is_empty() {
            "all".into()
        } else {
            items.join(", ")
        }
    };
    html! {
        dl.fields {
            dt { "URL" } dd.url { (w["url"].as_str().unwrap_or_default()) }
            dt { "Method" } dd { (w["http_method"].as_str().unwrap_or("POST")) }
            dt { "Alert types" } dd { (list("alert_types")) }
            dt { "Events" } dd { (list("events")) }
            dt { "Format" } dd { (w["format"].as_str().unwrap_or("standard"))
                @if w["template"].is_string() { " (custom template)" } }
            dt { "Headers" } dd { @match w["headers"].as_object() {
                Some(h) if !h.is_empty() => { (h.keys().cloned().collect::<Vec<_>>().join(", ")) " (values hidden)" },
                _ => span.muted { "none" },
            } }
            dt { "Secrets" } dd { @match w["secrets"].as_object() {
                Some(h) if !h.is_empty() => { (h.keys().cloned().collect::<Vec<_>>().join(", ")) " (values hidden)" },
                _ => span.muted { "none" },
            } }
            dt { "Basic auth" } dd { @match w["basic_auth"]["username"].as_str() {
                Some(u) => { (u) " (password hidden)" },
                None => span.muted { "none" },
            } }
            dt { "Filter" } dd { @if w["filter"].is_null() { span.muted { "none" } } @else { code { (w["filter"].to_string()) } } }
            dt { "Condition" } dd { @match w["condition"].as_str() { Some(c) => code { (c) }, None => span.muted { "none" } } }
            dt { "Metadata" } dd { code { (w["metadata"].to_string()) } }
            dt { "Created" } dd { (when(&w["created_at"])) }
        }
    }
}

pub async fn webhook(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    let range = super::super::http::query_param(ctx.req, "range")
        .ok()
        .flatten();
    let hours = if range.as_deref() == Some("7d") {
        168
    } else {
        24
    };
    let buckets = hourly(ctx, id, hours, CHART_SAMPLES).await?;
    let site = ctx.site;
    let base = site.path(&format!("/webhooks/{id}"));
    let enabled = w["enabled"].as_bool().unwrap_or(false);
    ok(layout(
        site,
        Some(ctx.caller),
        w["name"].as_str().unwrap_or("Webhook"),
        html! {
            section.health {
                @if enabled { (state_badge("enabled")) } @else { (state_badge("disabled")) }
                @if let Some(r) = w["disabled_reason"].as_str() { " " span.error { (r) } }
                " Last success: " (when(&w["last_success"]))
                " · Last failure: " (when(&w["last_failure"]))
                @let streak = w["consecutive_failures"].as_u64().unwrap_or(0);
                @if streak > 0 { " · " strong { (streak) " failures in a row" } " since " (when(&w["failing_since"])) }
            }
            nav.actions {
                a.button href={ (base) "/deliveries" } { "Deliveries" }
                @if ctx.caller.can_write() {
                    a.button href={ (base) "/edit" } { "Edit, preview and filter" }
                    @if enabled { (button(ctx, &format!("{base}/disable"), "Disable", "")) }
                    @else { (button(ctx, &format!("{base}/enable"), "Enable", "")) }
                    (button(ctx, &format!("{base}/test"), "Send a test", ""))
                    a.button href={ (base) "/recover" } { "Recover failed since..." }
                    a.button href={ (base) "/secret" } { "Reveal secret" }
                    a.button href={ (base) "/rotate" } { "Rotate secret" }
                }
            }
            h2 { "Attempts per hour, last " @if hours == 24 { "24 hours" } @else { "7 days" } }
            p.tabs {
                a href={ (base) "?range=24h" } { "24 h" } " · " a href={ (base) "?range=7d" } { "7 days" }
                span.legend { " " span.key.ok {} "succeeded " span.key.retry {} "retrying " span.key.fail {} "failed" }
            }
            (chart::outcomes(&buckets))
            h2 { "Attempt duration (p50, p95)" }
            (chart::durations(&buckets))
            h2 { "Settings" }
            (field_list(&w))
        },
    ))
}

pub async fn edit_webhook(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    webhook_form(ctx, Some((id, &w)), None, None).await
}

/// What the editor shows beside the form: a preview or a filter test.
pub enum Trial {
    Preview(StatusCode, Value),
    Filter(StatusCode, Value),
}

/// The webhook form: new (`existing` none) or edit, with the refused post's values and
/// errors, and a trial's result.
pub async fn webhook_form(
    ctx: &Ctx<'_>,
    existing: Option<(&str, &Value)>,
    posted: Option<(WebhookFields, Vec<hookline_shared::error::FieldError>)>,
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
                    Some(Trial::Preview(status, body)) => section.trial {
                        h2 { "Preview" }
                        @if status.is_success() {
                            p { "Event " code { (body["event"].as_str().unwrap_or_default()) } ", delivery "
                                code { (body["delivery_id"].as_str().unwrap_or_default()) }
                                @if body["matches"] == json!(false) { " · " span.error { "fan-out would not send this alert to this webhook" } } }
                            @if let Some(e) = body["condition_error"].as_str() { p.error role="alert" { (e) } }
                            (request_view(&body["request"]))
                        } @else {
                            p.error role="alert" { (body["error"]["message"].as_str().unwrap_or("the preview failed")) }
                        }
                    },
                    Some(Trial::Filter(status, body)) => section.trial {
                        h2 { "Filter test" }
                        @if status.is_success() {
                            p { @if body["matches"] == json!(true) { strong.okay { "Would be sent." } } @else { strong.error { "Would not be sent." } } }
                            dl.fields { @for (k, v) in body["checks"].as_object().into_iter().flatten() {
                                dt { (k) } dd { @if v == &json!(true) { "passes" } @else { span.error { "fails" } } }
                            } }
                            @if let Some(e) = body["condition_error"].as_str() { p.error role="alert" { (e) } }
                        } @else {
                            p.error role="alert" { (body["error"]["message"].as_str().unwrap_or("the test failed")) }
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

fn request_view(r: &Value) -> Markup {
    html! {
        p { code { (r["method"].as_str().unwrap_or("POST")) " " (r["url"].as_str().unwrap_or_default()) } }
        table.headers { @for (k, v) in r["headers"].as_object().into_iter().flatten() {
            tr { th { (k) } td { (v.as_str().unwrap_or_default()) } }
        } }
        pre.body { (r["body"].as_str().unwrap_or_default()) }
    }
}

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
    let body = match form::webhook_body(form, existing.as_ref()) {
        Ok(body) => body,
        Err(errors) => {
            return webhook_form(ctx, id.zip(existing.as_ref()), Some((fields, errors)), None).await
        }
    };
    let (status, answer) = match id {
        None => {
            call(
                ctx,
                webhooks::create,
                Method::POST,
                "/webhooks",
                &[],
                &[],
                Some(&body),
            )
            .await
        }
        Some(id) => call_on(ctx, webhooks::update, Method::PATCH, id, "", Some(&body)).await,
    };
    if status.is_success() {
        let saved = answer["id"].as_str().unwrap_or_default();
        return Ok(Page::Redirect(
            ctx.site.path(&format!("/webhooks/{saved}")),
            vec![],
        ));
    }
    if status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY {
        let mut errors = field_errors(&answer);
        if errors.is_empty() {
            errors.push(hookline_shared::error::FieldError::new(
                "",
                answer["error"]["message"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_string(),
            ));
        }
        return webhook_form(ctx, id.zip(existing.as_ref()), Some((fields, errors)), None).await;
    }
    Err(PageError::Api(status, answer))
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
            json!(t)
        }
    };
    let mut body = serde_json::Map::new();
    if !alert_id.is_empty() {
        body.insert("alert_id".into(), json!(alert_id));
    }
    if preview {
        body.insert("format".into(), json!(draft.format));
        body.insert("template".into(), text_or_null(&draft.template));
        body.insert("content_type".into(), text_or_null(&draft.content_type));
        body.insert("condition".into(), text_or_null(&draft.condition));
        let body = Value::Object(body);
        let (s, v) = call_on(
            ctx,
            payloads::preview,
            Method::POST,
            id,
            "/preview",
            Some(&body),
        )
        .await;
        return Trial::Preview(s, v);
    }
    if !draft.filter.is_empty() {
        match serde_json::from_str::<Value>(&draft.filter) {
            Ok(f) => {
                body.insert("filter".into(), f);
            }
            Err(e) => {
                let message = format!("filter: is not JSON: {e}");
                return Trial::Filter(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"message": message}}),
                );
            }
        }
    }
    body.insert("condition".into(), text_or_null(&draft.condition));
    let body = Value::Object(body);
    let (s, v) = call_on(
        ctx,
        payloads::test_filter,
        Method::POST,
        id,
        "/filter/test",
        Some(&body),
    )
    .await;
    Trial::Filter(s, v)
}

pub async fn set_enabled(ctx: &Ctx<'_>, id: &str, enabled: bool) -> Result<Page> {
    expect(
        call_on(
            ctx,
            webhooks::update,
            Method::PATCH,
            id,
            "",
            Some(&json!({ "enabled": enabled })),
        )
        .await,
    )?;
    Ok(Page::Redirect(
        ctx.site.path(&format!("/webhooks/{id}")),
        vec![],
    ))
}

pub async fn secret_confirm(ctx: &Ctx<'_>, id: &str, rotate: bool) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    let site = ctx.site;
    let (title, text, action, label) = if rotate {
        (
            "Rotate the signing secret?",
            "A new secret signs every delivery from now on. The old one keeps signing beside it for 24 hours, so receivers can switch over.",
            "rotate",
            "Rotate secret",
        )
    } else {
        (
            "Reveal the signing secret?",
            "The secret verifies that deliveries come from Hookline. Anyone who sees it can forge them.",
            "secret",
            "Reveal secret",
        )
    };
    ok(layout(
        site,
        Some(ctx.caller),
        title,
        html! {
            p { "Webhook " strong { (w["name"].as_str().unwrap_or_default()) } }
            p { (text) }
            (button(ctx, &site.path(&format!("/webhooks/{id}/{action}")), label, "danger"))
            " " a href=(site.path(&format!("/webhooks/{id}"))) { "Cancel" }
        },
    ))
}

fn secret_page(ctx: &Ctx<'_>, id: &str, title: &str, secret: &str) -> Result<Page> {
    ok(layout(
        ctx.site,
        Some(ctx.caller),
        title,
        html! {
            p { "Signing secret:" }
            pre.secret { (secret) }
            p { a href=(ctx.site.path(&format!("/webhooks/{id}"))) { "Back to the webhook" } }
        },
    ))
}

/// Reveals the secret, or rotates it and shows the new one.
pub async fn secret(ctx: &Ctx<'_>, id: &str, rotate: bool) -> Result<Page> {
    let answer = if rotate {
        call_on(
            ctx,
            webhooks::rotate_secret,
            Method::POST,
            id,
            "/secret/rotate",
            None,
        )
        .await
    } else {
        call_on(ctx, webhooks::secret, Method::GET, id, "/secret", None).await
    };
    let body = expect(answer)?;
    let title = if rotate {
        "Secret rotated"
    } else {
        "Signing secret"
    };
    secret_page(ctx, id, title, body["secret"].as_str().unwrap_or_default())
}

pub async fn send_test(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let (status, body) = call_on(ctx, webhooks::test, Method::POST, id, "/test", None).await;
    if !status.is_success() && body["delivery_id"].is_null() {
        return Err(PageError::Api(status, body));
    }
    let site = ctx.site;
    let delivery = body["delivery_id"].as_str().unwrap_or_default();
    let outcome = if body["success"] == json!(true) {
        "succeeded"
    } else {
        "failed"
    };
    ok(layout(
        site,
        Some(ctx.caller),
        "Test sent",
        html! {
            p {
                "Result: " (state_badge(outcome))
                @if let Some(code) = body["status_code"].as_u64() { " HTTP " (code) }
                @if let Some(ms) = body["duration_ms"].as_u64() { " in " (ms) " ms" }
            }
            @if let Some(m) = body["message"].as_str() { pre.body { (m) } }
            p {
                @if !delivery.is_empty() {
                    a href=(site.path(&format!("/webhooks/{id}/deliveries/{delivery}"))) { "See the delivery" } " · "
                }
                a href=(site.path(&format!("/webhooks/{id}"))) { "Back to the webhook" }
            }
        },
    ))
}

pub async fn deliveries(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let q = |name| {
        super::super::http::query_param(ctx.req, name)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let (state, since, until, cursor) = (q("state"), q("since"), q("until"), q("cursor"));
    let w = get_webhook(ctx, id).await?;
    let list = expect(
        call(
            ctx,
            deliveries::list,
            Method::GET,
            &format!("/webhooks/{id}/deliveries"),
            &[("id", id)],
            &[
                ("state", &state),
                ("since", &since),
                ("until", &until),
                ("cursor", &cursor),
                ("limit", "50"),
            ],
            None,
        )
        .await,
    )?;
    let site = ctx.site;
    let base = site.path(&format!("/webhooks/{id}/deliveries"));
    let items = list["deliveries"].as_array().cloned().unwrap_or_default();
    ok(layout(
        site,
        Some(ctx.caller),
        &format!("Deliveries: {}", w["name"].as_str().unwrap_or_default()),
        html! {
            form.filters method="get" action=(base) {
                label { "State " select name="state" {
                    option value="" { "any" }
                    @for s in DeliveryState::VARIANTS.iter().copied() { option value=(s.as_str()) selected[state == s.as_str()] { (s.as_str()) } }
                } }
                label { "Made since " input name="since" value=(since) placeholder="2026-11-23T08:00:00Z"; }
                label { "until " input name="until" value=(until) placeholder="RFC 3339"; }
                button type="submit" { "Filter" }
            }
            @if items.is_empty() { p.muted { "No deliveries match." } } @else {
                table.list {
                    thead { tr { th { "Made" } th { "Event" } th { "State" } th { "Attempts" } th { "Last status" } th { "Last error" } } }
                    tbody { @for d in &items {
                        @let did = d["delivery_id"].as_str().unwrap_or_default();
                        tr {
                            td { a href={ (base) "/" (did) } { (when(&d["created_at"])) } }
                            td { (d["event"].as_str().unwrap_or_default()) }
                            td { (state_badge(d["state"].as_str().unwrap_or_default())) }
                            td { (d["attempt_count"].as_u64().unwrap_or(0)) }
                            td { (d["last_status_code"].as_u64().map(|c| c.to_string()).unwrap_or_default()) }
                            td.clip { (d["last_error"].as_str().unwrap_or_default()) }
                        }
                    } }
                }
                @if let Some(next) = list["next_cursor"].as_str() {
                    p { a href={ (base) "?state=" (state) "&since=" (since) "&until=" (until) "&cursor=" (next) } { "Older" } }
                }
            }
        },
    ))
}

pub async fn delivery(ctx: &Ctx<'_>, id: &str, delivery: &str) -> Result<Page> {
    let d = expect(
        call(
            ctx,
            deliveries::get,
            Method::GET,
            &format!("/webhooks/{id}/deliveries/{delivery}"),
            &[("id", id), ("delivery_id", delivery)],
            &[],
            None,
        )
        .await,
    )?;
    let site = ctx.site;
    let base = site.path(&format!("/webhooks/{id}/deliveries/{delivery}"));
    ok(layout(
        site,
        Some(ctx.caller),
        "Delivery",
        html! {
            dl.fields {
                dt { "Delivery" } dd { code { (delivery) } }
                dt { "Event" } dd { (d["event"].as_str().unwrap_or_default()) }
                dt { "State" } dd { (state_badge(d["state"].as_str().unwrap_or_default())) }
                dt { "Alert" } dd { a href=(site.path(&format!("/alerts/{}", d["alert_id"].as_str().unwrap_or_default()))) { (d["alert_id"].as_str().unwrap_or_default()) } }
                dt { "Next attempt" } dd { (when(&d["next_attempt_at"])) }
            }
            @if ctx.caller.can_write() { (button(ctx, &format!("{base}/redeliver"), "Redeliver", "")) }
            @for a in d["attempts"].as_array().into_iter().flatten() {
                section.attempt {
                    h2 { "Attempt " (a["attempt"].as_u64().unwrap_or(0)) " · " (a["trigger"].as_str().unwrap_or_default())
                        " · " (when(&a["timestamp"])) " · " (a["duration_ms"].as_u64().unwrap_or(0)) " ms" }
                    @if let Some(e) = a["error"].as_str() { p.error { (e) } }
                    h3 { "Request (secrets masked)" }
                    (request_view(&a["request"]))
                    h3 { "Response" }
                    @if a["response"].is_null() { p.muted { "none" } } @else {
                        p { "HTTP " (a["response"]["status"].as_u64().unwrap_or(0)) }
                        @if let Some(h) = a["response"]["headers"].as_object() {
                            table.headers { @for (k, v) in h { tr { th { (k) } td { (v.as_str().unwrap_or_default()) } } } }
                        }
                        pre.body { (a["response"]["body"].as_str().unwrap_or_default()) }
                    }
                }
            }
        },
    ))
}

pub async fn redeliver(ctx: &Ctx<'_>, id: &str, delivery: &str) -> Result<Page> {
    let body = expect(
        call(
            ctx,
            deliveries::redeliver,
            Method::POST,
            &format!("/webhooks/{id}/deliveries/{delivery}/redeliver"),
            &[("id", id), ("delivery_id", delivery)],
            &[],
            None,
        )
        .await,
    )?;
    let site = ctx.site;
    ok(layout(
        site,
        Some(ctx.caller),
        "Redelivery queued",
        html! {
            p.notice { "Attempt " (body["attempt"].as_u64().unwrap_or(0)) " is on its way." }
            p { a href=(site.path(&format!("/webhooks/{id}/deliveries/{delivery}"))) { "Back to the delivery" } }
        },
    ))
}

pub async fn recover_form(
    ctx: &Ctx<'_>,
    id: &str,
    result: Option<(StatusCode, Value)>,
) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    let site = ctx.site;
    let default_since = (Utc::now() - chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let status = result.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let page_status = if status.is_success() {
        StatusCode::OK
    } else {
        status
    };
    Ok(Page::Html(
        page_status,
        layout(
            site,
            Some(ctx.caller),
            &format!(
                "Recover failed deliveries: {}",
                w["name"].as_str().unwrap_or_default()
            ),
            html! {
                @match &result {
                    Some((s, r)) if s.is_success() => p.notice role="status" {
                        "Recovery " (r["state"].as_str().unwrap_or_default()) ": "
                        strong { (r["queued"].as_u64().unwrap_or(0)) " deliveries queued" }
                        " of " (r["scanned"].as_u64().unwrap_or(0)) " read."
                    },
                    Some((_, r)) => p.error role="alert" { (r["error"]["message"].as_str().unwrap_or("refused")) },
                    None => {}
                }
                p { "Queues a new attempt for every delivery of this webhook that ended failed in the window. Running it again for the same window while it runs changes nothing." }
                form method="post" action=(site.path(&format!("/webhooks/{id}/recover"))) {
                    (csrf(ctx.caller))
                    label for="since" { "Failed since (RFC 3339)" }
                    input #since name="since" value=(default_since) required;
                    label for="until" { "Until (empty: now)" }
                    input #until name="until" value="";
                    button type="submit" { "Recover" }
                }
            },
        ),
    ))
}

pub async fn recover(ctx: &Ctx<'_>, id: &str, form: &Form) -> Result<Page> {
    let mut body = json!({"since": form.text("since")});
    if !form.text("until").is_empty() {
        body["until"] = json!(form.text("until"));
    }
    let answer = call_on(
        ctx,
        deliveries::recover,
        Method::POST,
        id,
        "/recover",
        Some(&body),
    )
    .await;
    if answer.0 == StatusCode::NOT_FOUND || answer.0 == StatusCode::FORBIDDEN {
        return Err(PageError::Api(answer.0, answer.1));
    }
    recover_form(ctx, id, Some(answer)).await
}

pub async fn alerts(ctx: &Ctx<'_>) -> Result<Page> {
    let state = super::super::http::query_param(ctx.req, "state")
        .ok()
        .flatten()
        .unwrap_or_default();
    let list = expect(
        call(
            ctx,
            alerts::list,
            Method::GET,
            "/alerts",
            &[],
            &[("state", &state), ("limit", "50")],
            None,
        )
        .await,
    )?;
    let site = ctx.site;
    ok(layout(
        site,
        Some(ctx.caller),
        "Alerts",
        html! {
            form.filters method="get" action=(site.path("/alerts")) {
                label { "State " select name="state" {
                    option value="" { "any" }
                    @for s in ["triggered", "acknowledged", "silenced", "resolved"] { option value=(s) selected[state == s] { (s) } }
                } }
                button type="submit" { "Filter" }
            }
            table.list {
                thead { tr { th { "Alert" } th { "Type" } th { "State" } th { "Reports" } th { "Last seen" } } }
                tbody { @for a in list["alerts"].as_array().into_iter().flatten() {
                    tr {
                        td { a href=(site.path(&format!("/alerts/{}", a["id"].as_str().unwrap_or_default()))) {
                            (a["title"].as_str().or(a["message"].as_str()).unwrap_or("(untitled)")) } }
                        td { (a["type"].as_str().unwrap_or_default()) }
                        td { (state_badge(a["state"].as_str().unwrap_or_default())) }
                        td { (a["reports"].as_u64().unwrap_or(1)) }
                        td { (when(&a["last_seen"])) }
                    }
                } }
            }
        },
    ))
}

/// The actions that move an alert in `state`, as the lifecycle decides (a silence is
/// offered with its length chosen on the page).
fn actions_for(state: &str) -> Vec<&'static str> {
    AlertState::parse(state).map_or_else(Vec::new, |state| {
        ActionName::moving(state, Utc::now())
            .into_iter()
            .map(ActionName::as_str)
            .collect()
    })
}

pub async fn alert(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let body = expect(
        call(
            ctx,
            alerts::get,
            Method::GET,
            &format!("/alerts/{id}"),
            &[("id", id)],
            &[],
            None,
        )
        .await,
    )?;
    alert_page(ctx, id, &body, None)
}

fn alert_page(ctx: &Ctx<'_>, id: &str, body: &Value, note: Option<(bool, String)>) -> Result<Page> {
    let a = &body["alert"];
    let site = ctx.site;
    let state = a["state"].as_str().unwrap_or_default();
    ok(layout(
        site,
        Some(ctx.caller),
        a["title"].as_str().unwrap_or("Alert"),
        html! {
            @if let Some((good, text)) = &note {
                @if *good { p.notice role="status" { (text) } } @else { p.error role="alert" { (text) } }
            }
            dl.fields {
                dt { "State" } dd { (state_badge(state)) }
                dt { "Type" } dd { (a["type"].as_str().unwrap_or_default()) }
                dt { "Message" } dd { (a["message"].as_str().unwrap_or_default()) }
                dt { "Severity" } dd { (a["severity"].as_str().unwrap_or("-")) }
                dt { "Labels" } dd { @for (k, v) in a["labels"].as_object().into_iter().flatten() {
                    code { (k) "=" (v.as_str().unwrap_or_default()) } " " } }
                dt { "Reports" } dd { (a["reports"].as_u64().unwrap_or(1)) }
                dt { "Last seen" } dd { (when(&a["last_seen"])) }
            }
            @if ctx.caller.can_write() {
                nav.actions { @for action in actions_for(state) {
                    form.inline method="post" action=(site.path(&format!("/alerts/{id}/{action}"))) {
                        (csrf(ctx.caller))
                        @if action == "silence" {
                            select name="duration_seconds" aria-label="Silence for" {
                                option value="3600" { "1 hour" } option value="14400" { "4 hours" } option value="86400" { "1 day" }
                            }
                        }
                        button type="submit" { (action) }
                    }
                } }
            }
            h2 { "Timeline" }
            ol.timeline { @for t in a["timeline"].as_array().into_iter().flatten() {
                li { (when(&t["at"])) " " strong { (t["event"].as_str().unwrap_or_default()) }
                    " → " (t["to"].as_str().unwrap_or_default())
                    " by " (t["by"]["kind"].as_str().or(t["by"].as_str()).unwrap_or("-")) }
            } }
            h2 { "Deliveries" }
            table.list {
                thead { tr { th { "Transition" } th { "Event" } th { "Webhook" } th { "State" } th { "Attempts" } } }
                tbody { @for d in body["deliveries"].as_array().into_iter().flatten() {
                    @let wid = d["webhook_id"].as_str().unwrap_or_default();
                    @let did = d["delivery_id"].as_str().unwrap_or_default();
                    tr {
                        td { (d["transition"].as_u64().unwrap_or(0)) }
                        td { (d["event"].as_str().unwrap_or_default()) }
                        td { a href=(site.path(&format!("/webhooks/{wid}/deliveries/{did}"))) { (wid) } }
                        td { (state_badge(d["state"].as_str().unwrap_or_default())) }
                        td { (d["attempts"].as_u64().unwrap_or(0)) }
                    }
                } }
            }
        },
    ))
}

pub async fn act(ctx: &Ctx<'_>, id: &str, action: &str, form: &Form) -> Result<Page> {
    if ActionName::parse(action).is_none() {
        return Err(PageError::Api(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "no such action"}}),
        ));
    }
    let body = match form
        .get("duration_seconds")
        .and_then(|d| d.parse::<u64>().ok())
    {
        Some(d) if action == "silence" => Some(json!({ "duration_seconds": d })),
        _ => None,
    };
    let uri = format!("/alerts/{id}/{action}");
    let (status, answer) = call(
        ctx,
        alerts::act,
        Method::POST,
        &uri,
        &[("id", id)],
        &[],
        body.as_ref(),
    )
    .await;
    if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
        return Err(PageError::Api(status, answer));
    }
    let note = if status.is_success() {
        (
            true,
            answer["message"].as_str().unwrap_or("done").to_string(),
        )
    } else {
        (
            false,
            answer["error"]["message"]
                .as_str()
                .unwrap_or("refused")
                .to_string(),
        )
    };
    let current = expect(
        call(
            ctx,
            alerts::get,
            Method::GET,
            &format!("/alerts/{id}"),
            &[("id", id)],
            &[],
            None,
        )
        .await,
    )?;
    alert_page(ctx, id, &current, Some(note))
}
