//! A webhook's deliveries: the log, one delivery with its attempts, redelivery and
//! bulk recovery.

use super::*;

pub async fn deliveries(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let q = |name| {
        crate::http::query_param(ctx.req, name)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let (state, since, until) = (q("state"), q("since"), q("until"));
    let mut errors = Vec::new();
    let mut time = |raw: &str, field| {
        (!raw.is_empty())
            .then(|| crate::paging::parse_time(raw, field, &mut errors))
            .flatten()
    };
    let query = service::deliveries::ListQuery {
        page: page_request(ctx)?,
        since: time(&since, "since"),
        until: time(&until, "until"),
        state: match state.as_str() {
            "" => None,
            raw => {
                let names = DeliveryState::names;
                crate::paging::choice(raw, "state", DeliveryState::parse, names, &mut errors)
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors).into());
    }
    let w = get_webhook(ctx, id).await?;
    let list = service::deliveries::list(ctx.app, ctx.who(), id, &query).await?;
    let site = ctx.site;
    let base = site.path(&format!("/webhooks/{id}/deliveries"));
    ok(layout(
        site,
        Some(ctx.caller),
        &format!("Deliveries: {}", w.settings.name),
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
            @if list.items.is_empty() { p.muted { "No deliveries match." } } @else {
                table.list {
                    thead { tr { th { "Made" } th { "Event" } th { "State" } th { "Attempts" } th { "Last status" } th { "Last error" } } }
                    tbody { @for d in &list.items {
                        tr {
                            td { a href={ (base) "/" (d.delivery_id) } { (when(Some(d.created_at))) } }
                            td { (d.event.as_str()) }
                            td { (state_badge(d.state.as_str())) }
                            td { (d.attempt_count) }
                            td { (d.last_status_code.map(|c| c.to_string()).unwrap_or_default()) }
                            td.clip { (d.last_error.as_deref().unwrap_or_default()) }
                        }
                    } }
                }
                @if let Some(next) = &list.next_cursor {
                    p { a href={ (base) "?state=" (state) "&since=" (since) "&until=" (until) "&cursor=" (next) } { "Older" } }
                }
            }
        },
    ))
}

pub async fn delivery(ctx: &Ctx<'_>, id: &str, delivery: &str) -> Result<Page> {
    let d = service::deliveries::get(ctx.app, ctx.who(), id, delivery).await?;
    let site = ctx.site;
    let base = site.path(&format!("/webhooks/{id}/deliveries/{delivery}"));
    let alert_id = &d.delivery.alert_id;
    ok(layout(
        site,
        Some(ctx.caller),
        "Delivery",
        html! {
            dl.fields {
                dt { "Delivery" } dd { code { (delivery) } }
                dt { "Event" } dd { (d.delivery.event.as_str()) }
                dt { "State" } dd { (state_badge(d.delivery.state.as_str())) }
                dt { "Alert" } dd { a href=(site.path(&format!("/alerts/{alert_id}"))) { (alert_id) } }
                dt { "Next attempt" } dd { (when(d.delivery.next_attempt_at)) }
            }
            @if ctx.caller.can_write() { (button(ctx, &format!("{base}/redeliver"), "Redeliver", "")) }
            @for a in &d.attempts {
                section.attempt {
                    h2 { "Attempt " (a.attempt) " · " (a.trigger.as_str())
                        " · " (when(Some(a.timestamp))) " · " (a.duration_ms) " ms" }
                    @if let Some(e) = &a.error { p.error { (e) } }
                    h3 { "Request (secrets masked)" }
                    (request_view(&a.request))
                    h3 { "Response" }
                    @match &a.response {
                        None => p.muted { "none" },
                        Some(r) => {
                            p { "HTTP " (r.status) }
                            pre.body { (r.body) }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn redeliver(ctx: &Ctx<'_>, id: &str, delivery: &str) -> Result<Page> {
    let queued = service::deliveries::redeliver(ctx.app, ctx.who(), id, delivery).await?;
    let site = ctx.site;
    ok(layout(
        site,
        Some(ctx.caller),
        "Redelivery queued",
        html! {
            p.notice { "Attempt " (queued.attempt) " is on its way." }
            p { a href=(site.path(&format!("/webhooks/{id}/deliveries/{delivery}"))) { "Back to the delivery" } }
        },
    ))
}

/// The recovery form, with the outcome of the recovery just asked for.
pub async fn recover_form(
    ctx: &Ctx<'_>,
    id: &str,
    result: Option<std::result::Result<service::deliveries::Recovering, ApiError>>,
) -> Result<Page> {
    let w = get_webhook(ctx, id).await?;
    let site = ctx.site;
    let default_since = (Utc::now() - chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let status = match &result {
        Some(Err(e)) => crate::response::status(e),
        _ => StatusCode::OK,
    };
    Ok(Page::Html(
        status,
        layout(
            site,
            Some(ctx.caller),
            &format!("Recover failed deliveries: {}", w.settings.name),
            html! {
                @match &result {
                    Some(Ok(r)) => p.notice role="status" {
                        "Recovery " (r.recovery.state.as_str()) ": "
                        strong { (r.recovery.queued) " deliveries queued" }
                        " of " (r.recovery.scanned) " read."
                    },
                    Some(Err(e)) => p.error role="alert" { (crate::response::message(e)) },
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
    let mut window = serde_json::json!({"since": form.text("since")});
    if !form.text("until").is_empty() {
        window["until"] = form.text("until").into();
    }
    let recovering = match crate::deliveries::parse_window(&window) {
        Ok((since, until)) => {
            service::deliveries::recover(ctx.app, ctx.who(), id, since, until).await
        }
        Err(e) => Err(e),
    };
    match recovering {
        Err(e @ (ApiError::NotFound(_) | ApiError::InsufficientScope { .. })) => Err(e.into()),
        result => recover_form(ctx, id, Some(result)).await,
    }
}
