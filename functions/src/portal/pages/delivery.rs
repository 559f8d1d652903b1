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
