//! Alerts: the list by state, one alert with its timeline, and acting on it.

use super::*;

pub async fn alerts(ctx: &Ctx<'_>) -> Result<Page> {
    let state = crate::http::query_param(ctx.req, "state")
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

/// The alert as `GET /alerts/{id}` shows it to the caller.
async fn get_alert(ctx: &Ctx<'_>, id: &str) -> Result<Value> {
    let uri = format!("/alerts/{id}");
    expect(
        call(
            ctx,
            alerts::get,
            Method::GET,
            &uri,
            &[("id", id)],
            &[],
            None,
        )
        .await,
    )
}

pub async fn alert(ctx: &Ctx<'_>, id: &str) -> Result<Page> {
    let body = get_alert(ctx, id).await?;
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
    let current = get_alert(ctx, id).await?;
    alert_page(ctx, id, &current, Some(note))
}
