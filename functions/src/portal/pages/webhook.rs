//! The webhooks: their list with health and sparklines, one webhook's page with its
//! chart, enabling and disabling it, and sending it a test.

use super::*;
use hookline_shared::delivery::pace::RateLimitSetting;

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
    let query = service::webhooks::ListQuery {
        page: page_request(ctx)?,
        ..Default::default()
    };
    let list = service::webhooks::list(ctx.app, ctx.who(), &query).await?;
    let items = &list.items;
    let mut sparks = Vec::with_capacity(items.len());
    for chunk in items.chunks(8) {
        let read = join_all(chunk.iter().map(|w| hourly(ctx, &w.id, 24, SPARK_SAMPLES))).await;
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
                            tr {
                                td { a href=(site.path(&format!("/webhooks/{}", w.id))) { (w.settings.name) } }
                                td.url { (w.settings.url) }
                                td {
                                    @if w.settings.enabled { (state_badge("enabled")) }
                                    @else {
                                        (state_badge("disabled"))
                                        @if let Some(r) = &w.disabled_reason { br; small { (r) } }
                                    }
                                }
                                td { (when(w.health.last_success)) }
                                td { (when(w.health.last_failure)) }
                                td { @match w.health.consecutive_failures {
                                    0 => span.muted { "-" },
                                    n => { (n) " since " (when(w.health.failing_since)) }
                                } }
                                td { (spark) }
                            }
                        }
                    }
                }
                @if let Some(next) = &list.next_cursor {
                    p { a href={ (site.path("/webhooks")) "?cursor=" (next) } { "More" } }
                }
            }
        },
    ))
}

fn field_list(w: &WebhookView) -> Markup {
    let s = &w.settings;
    let all_or = |items: Vec<&str>| -> String {
        if items.is_empty() {
            "all".into()
        } else {
            items.join(", ")
        }
    };
    let names = |map: &std::collections::BTreeMap<String, String>| -> String {
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    };
    html! {
        dl.fields {
            dt { "URL" } dd.url { (s.url) }
            dt { "Method" } dd { (s.http_method.as_str()) }
            dt { "Alert types" } dd { (all_or(s.alert_types.iter().map(String::as_str).collect())) }
            dt { "Events" } dd { (all_or(s.events.iter().map(|e| e.as_str()).collect())) }
            dt { "Format" } dd { (s.format.as_str())
                @if s.template.is_some() { " (custom template)" } }
            dt { "Headers" } dd { @if s.headers.is_empty() { span.muted { "none" } }
                @else { (names(&s.headers)) " (values hidden)" } }
            dt { "Secrets" } dd { @if s.secrets.is_empty() { span.muted { "none" } }
                @else { (names(&s.secrets)) " (values hidden)" } }
            dt { "Basic auth" } dd { @match &s.basic_auth {
                Some(auth) => { (auth.username) " (password hidden)" },
                None => span.muted { "none" },
            } }
            dt { "Filter" } dd { @match &s.filter { Some(f) => code { (f.0.to_string()) }, None => span.muted { "none" } } }
            dt { "Condition" } dd { @match &s.condition { Some(c) => code { (c) }, None => span.muted { "none" } } }
            dt { "Rate limit" } dd { @match s.rate_limit.in_force(s.format) {
                Some(l) => { (l.per_minute) " a minute, " (l.burst) " at once"
                    @if s.rate_limit == RateLimitSetting::Format { " (the format's published limit)" } },
                None => span.muted { "none" },
            } }
            dt { "Metadata" } dd { code { (serde_json::Value::Object(s.metadata.0.clone()).to_string()) } }
            dt { "Created" } dd { (when(Some(w.created_at))) }
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
    let enabled = w.settings.enabled;
    let h = &w.health;
    let now = ctx.app.attempter.now();
    let backlog = match w.settings.rate_limit.in_force(w.settings.format) {
        Some(_) => (ctx.app.store)
            .backlog(&ctx.who().account_id, id, now)
            .await
            .map_err(ApiError::from)?,
        None => Default::default(),
    };
    ok(layout(
        site,
        Some(ctx.caller),
        &w.settings.name,
        html! {
            section.health {
                @if enabled { (state_badge("enabled")) } @else { (state_badge("disabled")) }
                @if let Some(r) = &w.disabled_reason { " " span.error { (r) } }
                " Last success: " (when(h.last_success))
                " · Last failure: " (when(h.last_failure))
                @if h.consecutive_failures > 0 { " · " strong { (h.consecutive_failures) " failures in a row" } " since " (when(h.failing_since)) }
                @if let Some(until) = h.paused_until.filter(|u| *u > now) {
                    " · " strong.paused { "Paused until " (when(Some(until))) } " (the receiver asked for it)"
                }
                @if let Some(limit) = w.settings.rate_limit.in_force(w.settings.format) {
                    br;
                    "Rate limit: " (limit.per_minute) " a minute, " (limit.burst) " at once · Backlog: "
                    @if backlog.granted == 0 && backlog.digest.is_none() { "none" }
                    @if backlog.granted > 0 {
                        (backlog.granted) " sends granted ahead, the last " (when(backlog.until))
                    }
                    @if let Some((at, held)) = backlog.digest {
                        @if backlog.granted > 0 { " · " }
                        "a digest of " (held) " alerts goes " (when(Some(at)))
                    }
                }
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
    let changes = hookline_shared::webhook::WebhookChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    service::webhooks::update(ctx.app, ctx.who(), id, &changes).await?;
    Ok(Page::Redirect(
        ctx.site.path(&format!("/webhooks/{id}")),
        vec![],
    ))
}

pub async fn send_test(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let report = service::webhooks::test(ctx.app, ctx.who(), id).await?;
    let site = ctx.site;
    let outcome = if report.success {
        "succeeded"
    } else {
        "failed"
    };
    let delivery = &report.delivery_id;
    ok(layout(
        site,
        Some(ctx.caller),
        "Test sent",
        html! {
            p {
                "Result: " (state_badge(outcome))
                @if let Some(code) = report.status_code { " HTTP " (code) }
                " in " (report.duration_ms) " ms"
            }
            pre.body { (report.message) }
            p {
                a href=(site.path(&format!("/webhooks/{id}/deliveries/{delivery}"))) { "See the delivery" } " · "
                a href=(site.path(&format!("/webhooks/{id}"))) { "Back to the webhook" }
            }
        },
    ))
}
