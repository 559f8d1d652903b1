//! The webhooks: their list with health and sparklines, one webhook's page with its
//! chart, enabling and disabling it, and sending it a test.

use super::*;

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
    let cursor = crate::http::query_param(ctx.req, "cursor").ok().flatten();
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
    let range = crate::http::query_param(ctx.req, "range").ok().flatten();
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
