//! The portal's pages, one file a page (or a few that belong together); here the page
//! skeleton and what every page uses. Each reads and acts through the typed operations
//! the API's routes call ([`crate::service`]), as the signed-in caller, and renders what
//! they return. maud escapes every value.

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
    delivery::{
        format::Format,
        outcome::{DeliveryState, RecordedRequest},
    },
    event::EventType,
    webhook::{HttpMethod, WebhookView},
    ApiError,
};
use lambda_http::{http::StatusCode, Request};
use maud::{html, Markup};
use strum::VariantArray;

use super::{
    chart,
    form::{self, Form, WebhookFields},
    Caller, Page, PageError, Site,
};
use crate::{
    service::{self, PageRequest},
    App,
};

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

impl Ctx<'_> {
    /// The signed-in caller, as the operations take it.
    fn who(&self) -> &hookline_shared::auth::Principal {
        &self.caller.principal
    }
}

type Result<T> = std::result::Result<T, PageError>;

fn ok(markup: Markup) -> Result<Page> {
    Ok(Page::Html(StatusCode::OK, markup))
}

fn layout(site: &Site, caller: Option<&Caller>, title: &str, body: Markup) -> Markup {
    let header = html! {
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
    };
    crate::html::page(title, header, body)
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

fn when(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(t) => {
            html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        None => html! { span.muted { "never" } },
    }
}

fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge " (state) } { (state) } }
}

async fn get_webhook(ctx: &Ctx<'_>, id: &str) -> Result<WebhookView> {
    Ok(service::webhooks::get(ctx.app, ctx.who(), id).await?)
}

/// A page of a list, from the cursor in the page's own query (one the API returned).
fn page_request(ctx: &Ctx<'_>) -> Result<PageRequest> {
    let cursor = crate::http::query_param(ctx.req, "cursor").ok().flatten();
    Ok(PageRequest {
        limit: crate::paging::DEFAULT_PAGE_SIZE,
        after: crate::paging::decode(cursor.as_deref())?,
    })
}

fn request_view(r: &RecordedRequest) -> Markup {
    html! {
        p { code { (r.method) " " (r.url) } }
        table.headers { @for (k, v) in &r.headers {
            tr { th { (k) } td { (v) } }
        } }
        pre.body { (r.body) }
    }
}
