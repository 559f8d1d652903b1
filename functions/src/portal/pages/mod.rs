//! The portal's pages, one file a page (or a few that belong together); here the page
//! skeleton and what every page uses. Each reads and acts through the API's handlers
//! ([`super::call`]), and renders what they answer. maud escapes every value.

mod alert;
mod delivery;
mod editor;
mod secret;
mod sign_in;
mod webhook;

pub use alert::{act, alert, alerts};
pub use delivery::{deliveries, delivery, recover, recover_form, redeliver};
pub use editor::{edit_webhook, save_webhook, webhook_form};
pub use secret::{secret, secret_confirm};
pub use sign_in::{link_confirm, sign_in};
pub use webhook::{send_test, set_enabled, webhook, webhooks};

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
pub const STYLE: &str = include_str!("../style.css");

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

async fn get_webhook(ctx: &Ctx<'_>, id: &str) -> Result<Value> {
    expect(call_on(ctx, webhooks::get, Method::GET, id, "", None).await)
}

fn request_view(r: &Value) -> Markup {
    html! {
        p { code { (r["method"].as_str().unwrap_or("POST")) " " (r["url"].as_str().unwrap_or_default()) } }
        table.headers { @for (k, v) in r["headers"].as_object().into_iter().flatten() {
            tr { th { (k) } td { (v.as_str().unwrap_or_default()) } }
        } }
        pre.body { (r["body"].as_str().unwrap_or_default()) }
    }
}
