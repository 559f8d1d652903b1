//! A webhook's delivery log, manual redelivery, and bulk recovery.

use chrono::{DateTime, Utc};
use hookline_shared::{
    auth::{Access, Principal},
    delivery::{
        outcome::DeliveryState,
        record::{AttemptRecord, Delivery},
        recovery::{self, Recovery, RecoveryError},
        redeliver,
        render::{self, DeliveryRef},
    },
    webhook::{Webhook, MASK},
    ApiError,
};
use serde::Serialize;

use super::{webhooks::load, Listed, PageRequest};
use crate::App;

/// Which of a webhook's deliveries a list shows.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub page: PageRequest,
    pub state: Option<DeliveryState>,
    /// Made at or after.
    pub since: Option<DateTime<Utc>>,
    /// Made at or before.
    pub until: Option<DateTime<Utc>>,
}

/// A page of the webhook's deliveries, newest first.
pub async fn list(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    query: &ListQuery,
) -> Result<Listed<Delivery>, ApiError> {
    let webhook = load(app, who, webhook_id, Access::Read).await?;
    if let (Some(s), Some(u)) = (query.since, query.until) {
        if s > u {
            return Err(ApiError::field("since", "must not be after until"));
        }
    }
    let page = app
        .store
        .list_deliveries(
            &webhook.account_id,
            &webhook.id,
            query.page.limit,
            query.page.after.as_deref(),
            query.state,
            (query.since, query.until),
            Utc::now(),
        )
        .await?;
    Ok(Listed::of(page, |d| d))
}

/// A delivery and every attempt of it, as its caller may see them.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempts: Vec<AttemptRecord>,
    /// For a digest: every alert transition it carried, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried: Option<Vec<Carried>>,
}

/// An alert transition a digest carried: its own delivery (recorded `digested`).
#[derive(Clone, Debug, Serialize)]
pub struct Carried {
    pub delivery_id: String,
    pub alert_id: String,
    pub event: hookline_shared::event::EventType,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub title: String,
    pub severity: Option<String>,
}

/// The webhook (its configuration) and one of its deliveries.
async fn find(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    delivery_id: &str,
    access: Access,
) -> Result<(Webhook, Delivery), ApiError> {
    let webhook = load(app, who, webhook_id, access).await?;
    let delivery = app
        .store
        .get_delivery(&webhook.account_id, &webhook.id, delivery_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok((webhook, delivery))
}

/// The delivery with its attempts, each with the request it made (credentials masked).
pub async fn get(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryDetail, ApiError> {
    let (mut webhook, delivery) = find(app, who, webhook_id, delivery_id, Access::Read).await?;
    let access = who.access();
    // A body made with `webhook.secrets` shows them masked (they are sealed here anyway).
    for value in webhook.settings.secrets.values_mut() {
        *value = MASK.to_string();
    }
    let mut attempts = app
        .store
        .list_attempts(&webhook.account_id, &webhook.id, &delivery.delivery_id)
        .await?;
    // Records keep no body: each attempt's is rebuilt here from the alert, rendered as the
    // webhook's format or template renders it now. One that failed to render shows none.
    let payload = payload_of(app, &webhook, &delivery, access).await?;
    for attempt in &mut attempts {
        let made = DeliveryRef {
            id: &delivery.delivery_id,
            attempt: attempt.attempt,
        };
        attempt.request = std::mem::take(&mut attempt.request).shown(access);
        attempt.request.body =
            render::render(&webhook, payload.get(), made, &app.attempter.sandbox)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default();
    }
    let carried = match delivery.event {
        hookline_shared::event::EventType::AlertDigest => Some(
            (app.store)
                .digest_members(&webhook.account_id, &webhook.id, &delivery.delivery_id)
                .await?
                .into_iter()
                .map(|m| Carried {
                    delivery_id: m.delivery_id,
                    alert_id: m.alert_id,
                    event: m.event,
                    alert_type: m.alert_type,
                    title: m.title,
                    severity: m.severity,
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(DeliveryDetail {
        delivery,
        attempts,
        carried,
    })
}

/// The payload the delivery sends, as a caller with `access` sees it; not found once what
/// it was built from has expired.
async fn payload_of(
    app: &App,
    webhook: &Webhook,
    delivery: &Delivery,
    access: Access,
) -> Result<Box<serde_json::value::RawValue>, ApiError> {
    redeliver::payload_of(&app.store, webhook, delivery, access, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("delivery"))
}

fn require_enabled(webhook: &Webhook, doing: &str) -> Result<(), ApiError> {
    if webhook.settings.enabled {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "webhook_disabled",
        message: format!("the webhook is disabled; enable it before {doing}"),
    })
}

/// A manual attempt, queued.
#[derive(Clone, Debug, Serialize)]
pub struct Redelivery {
    pub delivery_id: String,
    pub attempt: u32,
}

/// Queues a manual attempt of the delivery, with the same `webhook-id`.
pub async fn redeliver(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Redelivery, ApiError> {
    let (webhook, delivery) = find(app, who, webhook_id, delivery_id, Access::Write).await?;
    require_enabled(&webhook, "redelivering")?;
    let payload = payload_of(app, &webhook, &delivery, Access::Write).await?;
    let message = redeliver::message(&webhook, &delivery, payload);
    app.queue
        .send_delayed(&message, std::time::Duration::ZERO)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let attempt = message.attempt;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, delivery = %delivery.delivery_id, attempt, "redelivery queued");
    Ok(Redelivery {
        delivery_id: delivery.delivery_id,
        attempt,
    })
}

/// A recovery as it stands, and whether this call started it (rather than finding the
/// same window already running).
#[derive(Clone, Debug)]
pub struct Recovering {
    pub recovery: Recovery,
    pub started: bool,
}

/// Starts (or reports) the recovery of the webhook's failed deliveries made in
/// `since..until` (until now when open): a manual attempt for each, the first page now.
pub async fn recover(
    app: &App,
    who: &Principal,
    webhook_id: &str,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<Recovering, ApiError> {
    let webhook = load(app, who, webhook_id, Access::Write).await?;
    let now = Utc::now();
    let settings = &app.settings.delivery;
    let window = recovery::window(since, until, now, settings).map_err(|e| {
        let text = e.to_string();
        let (field, message) = text.split_once(": ").unwrap_or(("since", &text));
        ApiError::field(field, message.to_string())
    })?;
    require_enabled(&webhook, "recovering its deliveries")?;
    let account = &webhook.account_id;
    let fresh = Recovery::new(&webhook.id, window, now, settings.expires_at(now));
    if let Some(running) = app.store.start_recovery(account, &fresh).await? {
        return Ok(Recovering {
            recovery: running,
            started: false,
        });
    }
    tracing::info!(account = %account, webhook = %webhook.id, recovery = %fresh.id, "recovery started");
    let page = recovery::run_page(&app.store, &app.queue, &webhook, &fresh, settings, now).await;
    let stands = match page {
        Ok(Some(next)) => next,
        // Another worker moved it on first: it carries on from there.
        Ok(None) => fresh,
        Err(RecoveryError::Store(e)) => return Err(e.into()),
        Err(RecoveryError::Queue(e)) => {
            // The first page failed to queue: hand the page to the worker instead.
            tracing::warn!(error = %e, "recovery's first page not queued; the worker retries it");
            app.queue
                .send_delayed(&fresh.message(account), std::time::Duration::ZERO)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            fresh
        }
    };
    Ok(Recovering {
        recovery: stands,
        started: true,
    })
}
