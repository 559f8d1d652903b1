//! Alerts: the list by state, one alert with its timeline, and acting on it.

use hookline_shared::store::AlertQuery;

use super::*;

pub async fn alerts(ctx: &Ctx<'_>) -> Result<Page> {
    let asked = crate::http::query_param(ctx.req, "state")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut errors = Vec::new();
    let state = match asked.as_str() {
        "" => None,
        raw => crate::paging::choice(
            raw,
            "state",
            AlertState::parse,
            AlertState::names,
            &mut errors,
        ),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors).into());
    }
    let query = AlertQuery {
        state,
        ..AlertQuery::default()
    };
    let list = service::alerts::list(ctx.app, ctx.who(), &query, &PageRequest::default()).await?;
    let site = ctx.site;
    ok(layout(
        site,
        Some(ctx.caller),
        "Alerts",
        html! {
            form.filters method="get" action=(site.path("/alerts")) {
                label { "State " select name="state" {
                    option value="" { "any" }
                    @for s in AlertState::VARIANTS.iter().copied() { option value=(s.as_str()) selected[state == Some(s)] { (s.as_str()) } }
                } }
                button type="submit" { "Filter" }
            }
            table.list {
                thead { tr { th { "Alert" } th { "Type" } th { "State" } th { "Reports" } th { "Last seen" } } }
                tbody { @for a in &list.items {
                    tr {
                        td { a href=(site.path(&format!("/alerts/{}", a.id))) {
                            (a.title.as_deref().unwrap_or(&a.message)) } }
                        td { (a.alert_type) }
                        td { (state_badge(a.state.as_str())) }
                        td { (a.reports) }
                        td { (when(Some(a.last_seen))) }
                    }
                } }
            }
        },
    ))
}

/// The deliveries an alert's page lists: the first page of the API's.
const FIRST_DELIVERIES: service::PageRequest = service::PageRequest {
    limit: crate::paging::MAX_PAGE_SIZE,
    after: None,
};

pub async fn alert(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let detail = service::alerts::get(ctx.app, ctx.who(), id, &FIRST_DELIVERIES).await?;
    alert_page(ctx, id, &detail, None)
}

fn alert_page(
    ctx: &Ctx<'_>,
    id: &str,
    detail: &service::alerts::AlertDetail,
    note: Option<(bool, String)>,
) -> Result<Page> {
    let a = &detail.alert;
    let site = ctx.site;
    // The actions that move the alert, as the lifecycle decides (a silence is offered
    // with its length chosen on the page).
    let actions = ActionName::moving(a.state, Utc::now());
    ok(layout(
        site,
        Some(ctx.caller),
        a.input.title.as_deref().unwrap_or("Alert"),
        html! {
            @if let Some((good, text)) = &note {
                @if *good { p.notice role="status" { (text) } } @else { p.error role="alert" { (text) } }
            }
            dl.fields {
                dt { "State" } dd { (state_badge(a.state.as_str())) }
                dt { "Type" } dd { (a.input.alert_type) }
                dt { "Message" } dd { (a.input.message) }
                dt { "Severity" } dd { (a.input.severity.map_or("-", |s| s.as_str())) }
                dt { "Labels" } dd { @for (k, v) in &a.input.labels {
                    code { (k) "=" (v) } " " } }
                dt { "Reports" } dd { (a.reports) }
                dt { "Last seen" } dd { (when(Some(a.last_seen))) }
            }
            @if ctx.caller.can_write() {
                nav.actions { @for action in actions {
                    form.inline method="post" action=(site.path(&format!("/alerts/{id}/{}", action.as_str()))) {
                        (csrf(ctx.caller))
                        @if action == ActionName::Silence {
                            select name="duration_seconds" aria-label="Silence for" {
                                option value="3600" { "1 hour" } option value="14400" { "4 hours" } option value="86400" { "1 day" }
                            }
                        }
                        button type="submit" { (action.as_str()) }
                    }
                } }
            }
            h2 { "Timeline" }
            ol.timeline { @for t in &a.timeline {
                li { (when(Some(t.at))) " " strong { (t.event.as_str()) }
                    " → " (t.to.as_str())
                    " by " (t.by.kind()) }
            } }
            h2 { "Deliveries" }
            table.list {
                thead { tr { th { "Transition" } th { "Event" } th { "Webhook" } th { "State" } th { "Attempts" } } }
                tbody { @for d in &detail.deliveries {
                    tr {
                        td { (d.transition) }
                        td { (d.event.as_str()) }
                        td { a href=(site.path(&format!("/webhooks/{}/deliveries/{}", d.webhook_id, d.delivery_id))) { (d.webhook_id) } }
                        td { (state_badge(d.state.as_str())) }
                        td { (d.attempts) }
                    }
                } }
            }
            @if detail.next_cursor.is_some() {
                p.muted { "The first " (detail.deliveries.len()) " deliveries; the API's GET /alerts/" (id) " pages through the rest." }
            }
        },
    ))
}

pub async fn act(ctx: &Ctx<'_>, id: &str, action: &str, form: &Form) -> Result<Page> {
    let name = ActionName::parse(action).ok_or(ApiError::NotFound("action"))?;
    let body = match form
        .get("duration_seconds")
        .and_then(|d| d.parse::<u64>().ok())
    {
        Some(d) if name == ActionName::Silence => serde_json::json!({ "duration_seconds": d }),
        _ => serde_json::json!({}),
    };
    let acted = match crate::alerts::parse_action(name, &body, Utc::now()) {
        Ok(action) => {
            let base = crate::http::base_url(ctx.req);
            service::alerts::act(ctx.app, ctx.who(), id, action, base.as_deref()).await
        }
        Err(e) => Err(e),
    };
    let note = match acted {
        Ok(acted) => (true, acted.message),
        Err(e @ (ApiError::NotFound(_) | ApiError::InsufficientScope { .. })) => {
            return Err(e.into())
        }
        Err(e) => (false, crate::response::message(&e)),
    };
    let current = service::alerts::get(ctx.app, ctx.who(), id, &FIRST_DELIVERIES).await?;
    alert_page(ctx, id, &current, Some(note))
}
