//! One-click action links: `GET /links/{token}` answers a small page naming the alert and
//! the action, with one button; only its `POST` acts. Chat unfurlers, mail scanners and
//! prefetchers follow GETs, so a GET never changes anything. A link that is forged,
//! altered, expired, signed with a rotated key, or naming an alert its account does not
//! have, is a 403 page.

use chrono::Utc;
use hookline_shared::{
    alert::{
        lifecycle::{decide, Actor, Decision},
        links::{self, Claim, LinkAction, LinkError},
        Alert,
    },
    ApiError,
};
use lambda_http::{
    http::{header, Method, StatusCode},
    Body, Request, RequestExt, Response,
};
use maud::{html, Markup};

use crate::{http::base_url, App};

/// No script, only our stylesheet, no framing; the form posts back to the link itself.
static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
        *crate::html::STYLE_SRC
    )
});

/// `GET` and `POST /links/{token}`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let (status, page) = match link_page(app, &req).await {
        Ok(page) => page,
        Err(err) => error_page(&err),
    };
    html_response(status, page)
}

/// Why a link page could not be shown.
enum PageError {
    Link(LinkError),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self::Api(e.into())
    }
}

async fn link_page(app: &App, req: &Request) -> Result<(StatusCode, Markup), PageError> {
    let params = req.path_parameters();
    let token = params.first("token").unwrap_or_default();
    let unverified = links::open(token).map_err(PageError::Link)?;
    let key = app
        .store
        .link_key_if_any(&unverified.claim.account_id)
        .await?;
    let now = Utc::now();
    let claim = unverified
        .verify(key.as_ref(), now)
        .map_err(PageError::Link)?;
    if req.method() != Method::POST {
        let stored = app
            .store
            .get_alert(&claim.account_id, &claim.alert_id, now)
            .await?
            .ok_or(ApiError::NotFound("alert"))?;
        return Ok((StatusCode::OK, confirm_page(&stored.alert, &claim, now)));
    }
    // The action reads the alert itself (an alert not found is the same 403 page).
    let base = base_url(req);
    let by = Actor::Link {
        action: claim.action.as_str().into(),
    };
    let acted = app
        .ingest(base.as_deref())
        .act(
            &claim.account_id,
            &claim.alert_id,
            claim.action.action(now),
            by,
        )
        .await?;
    tracing::info!(account = %claim.account_id, alert = %claim.alert_id, action = claim.action.as_str(), changed = acted.changed, "action link used");
    let heading = if acted.changed {
        "Done"
    } else {
        "Nothing to do"
    };
    Ok((
        StatusCode::OK,
        page(
            heading,
            html! {
                p { (acted.message) "." }
                (alert_facts(&acted.alert))
            },
        ),
    ))
}

fn confirm_page(alert: &Alert, claim: &Claim, now: chrono::DateTime<Utc>) -> Markup {
    let action = claim.action;
    let applies = matches!(
        decide(&alert.standing(), action.action(now)),
        Decision::Move { .. }
    );
    page(
        &format!("{} this alert?", capitalised(action)),
        html! {
            (alert_facts(alert))
            @if !applies {
                p { "The alert is " (alert.state) " now: this may change nothing, or be refused." }
            }
            form method="post" {
                button type="submit" { (capitalised(action)) }
            }
            p { small { "This link works until " (chrono::DateTime::from_timestamp(claim.expires_at, 0).unwrap_or(now).to_rfc2822()) "." } }
        },
    )
}

fn capitalised(action: LinkAction) -> String {
    let text = action.describe();
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn alert_facts(alert: &Alert) -> Markup {
    let input = &alert.input;
    let message: String = input.message.chars().take(500).collect();
    html! {
        dl {
            dt { "Alert" } dd { (input.title.as_deref().unwrap_or(&input.alert_type)) }
            dt { "Type" } dd { (input.alert_type) }
            dt { "State" } dd { (alert.state) }
            dt { "Message" } dd { (message) }
        }
    }
}

fn page(heading: &str, body: Markup) -> Markup {
    crate::html::page(
        heading,
        html! { header { span.brand { "Hookline" } } },
        body,
    )
}

fn error_page(err: &PageError) -> (StatusCode, Markup) {
    let (status, heading, text) = match err {
        PageError::Link(e) => (StatusCode::FORBIDDEN, "Link not valid", e.to_string()),
        // Validly signed, but no such alert in the link's account: gone, or never its own.
        PageError::Api(ApiError::NotFound(_)) => (
            StatusCode::FORBIDDEN,
            "Link not valid",
            "this link names no alert of its account (it may have expired from the log)"
                .to_string(),
        ),
        PageError::Api(ApiError::Conflict { message, .. }) => {
            (StatusCode::CONFLICT, "Not possible now", message.clone())
        }
        PageError::Api(e) => {
            tracing::error!(error = %e, "action link failed");
            (
                crate::response::status(e),
                "Something went wrong",
                "try the link again in a moment".to_string(),
            )
        }
    };
    (status, page(heading, html! { p { (text) "." } }))
}

fn html_response(status: StatusCode, page: Markup) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP.as_str())
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::X_FRAME_OPTIONS, "DENY");
    if status == StatusCode::FORBIDDEN {
        builder = builder.header("x-robots-tag", "noindex");
    }
    builder
        .body(Body::Text(page.into_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
