//! Webhooks: list, read, create, change, delete, test, and their signing secret.

use chrono::{DateTime, Utc};
use hookline_shared::{
    alert,
    auth::{Access, Principal},
    backoff::Backoff,
    delivery::{
        attempt::Attempted,
        destination::Refusal,
        outcome::Trigger,
        payload::Payload,
        record::{self, Delivery},
        signing, url_template,
    },
    event::EventType,
    store::{Move, StoreError, StoredAlert},
    webhook::{Webhook, WebhookChanges, WebhookSettings, WebhookView},
    ApiError,
};
use serde::Serialize;

use super::{Listed, PageRequest};
use crate::App;

/// Which of an account's webhooks a list shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub page: PageRequest,
    pub enabled: Option<bool>,
    /// Those that take this alert type.
    pub alert_type: Option<String>,
    /// Those that take this event.
    pub event: Option<EventType>,
}

/// A page of the caller's webhooks, oldest first.
pub async fn list(
    app: &App,
    who: &Principal,
    query: &ListQuery,
) -> Result<Listed<WebhookView>, ApiError> {
    who.require(Access::Read)?;
    let page = app
        .store
        .list_webhooks(
            &who.account_id,
            query.page.limit,
            query.page.after.as_deref(),
            |w| {
                query.enabled.is_none_or(|e| w.settings.enabled == e)
                    && w.subscribes_to(query.alert_type.as_deref(), query.event)
            },
        )
        .await?;
    let access = who.access();
    Ok(Listed::of(page, |w| w.view(access)))
}

/// The webhook's configuration (not its health) in the caller's account, for a caller
/// with `access`; another account's is simply not found.
pub(crate) async fn load(
    app: &App,
    who: &Principal,
    id: &str,
    access: Access,
) -> Result<Webhook, ApiError> {
    who.require(access)?;
    app.store
        .get_webhook_config(&who.account_id, id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// The webhook with its health.
pub async fn get(app: &App, who: &Principal, id: &str) -> Result<WebhookView, ApiError> {
    who.require(Access::Read)?;
    let webhook = app
        .store
        .get_webhook(&who.account_id, id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(webhook.view(who.access()))
}

/// A new webhook, with (this once) its signing secret.
pub async fn create(
    app: &App,
    who: &Principal,
    settings: WebhookSettings,
) -> Result<WebhookView, ApiError> {
    who.require(Access::Write)?;
    check_destination(app, &settings.url).await?;
    let webhook = Webhook::new(
        &who.account_id,
        settings,
        signing::generate_secret(),
        Utc::now(),
    );
    app.store
        .create_webhook(&webhook, app.settings.webhook_quota)
        .await?;
    tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook created");
    Ok(webhook.view_with_secret())
}

/// A destination the delivery policy refuses is a 400 now, rather than failed deliveries
/// later. A name that does not resolve (yet) is accepted: every attempt checks again.
async fn check_destination(app: &App, url: &str) -> Result<(), ApiError> {
    // A URL template goes to the origin it starts with.
    let target = match url_template::origin_of(url) {
        Ok(Some(origin)) => Ok(origin),
        _ => url::Url::parse(url),
    };
    let Ok(parsed) = target else {
        return Ok(());
    };
    match app.settings.destinations.check(&parsed).await {
        Ok(()) | Err(Refusal::Unresolvable(_)) => Ok(()),
        Err(refusal) => Err(ApiError::field("url", refusal.to_string())),
    }
}

/// Applies `changes`: they must fit the fields they leave as they are (template or
/// format, what a format needs), checked against the webhook as read and written only
/// over that.
pub async fn update(
    app: &App,
    who: &Principal,
    id: &str,
    changes: &WebhookChanges,
) -> Result<WebhookView, ApiError> {
    who.require(Access::Write)?;
    if let Some(url) = &changes.url {
        check_destination(app, url).await?;
    }
    let now = Utc::now();
    let mut tries = Backoff::RACE.start();
    while tries.next().await {
        let current = load(app, who, id, Access::Write).await?;
        changes
            .applied_to(&current.settings)
            .check_combination()
            .map_err(ApiError::Validation)?;
        match app.store.update_webhook(&current, changes, now).await {
            Ok(webhook) => {
                tracing::info!(account = %webhook.account_id, webhook = %webhook.id, "webhook updated");
                return Ok(webhook.view(Access::Write));
            }
            Err(StoreError::Contended(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(
        StoreError::Contended("the webhook kept changing while this update was applied; try again")
            .into(),
    )
}

pub async fn delete(app: &App, who: &Principal, id: &str) -> Result<(), ApiError> {
    who.require(Access::Write)?;
    app.store.delete_webhook(&who.account_id, id).await?;
    tracing::info!(account = %who.account_id, webhook = %id, "webhook deleted");
    Ok(())
}

/// How a test delivery went.
#[derive(Clone, Debug, Serialize)]
pub struct TestReport {
    pub success: bool,
    pub status_code: Option<u16>,
    pub message: String,
    pub duration_ms: u64,
    pub delivery_id: String,
}

/// Sends the webhook a signed `alert.test` now, and keeps it in the delivery log.
pub async fn test(app: &App, who: &Principal, id: &str) -> Result<TestReport, ApiError> {
    let mut webhook = load(app, who, id, Access::Write).await?;
    app.store.open_webhook(&mut webhook).await?;
    let now = app.attempter.now();
    let alert = alert::test_alert(now);
    let alert_json = serde_json::to_value(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Payload::new(EventType::AlertTest, &alert_json, None, &webhook, now).render();
    let delivery = Delivery::pending(
        record::delivery_id(&alert.id, &webhook.id, now),
        webhook.id.clone(),
        alert.id.clone(),
        EventType::AlertTest,
        Trigger::Test,
        now,
        app.settings.delivery.expires_at(now),
    );
    let attempted = app
        .attempter
        .attempt(&webhook, &delivery, 1, Trigger::Test, &body, None)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    record_test(app, &webhook, alert, &attempted).await;
    let sent = attempted.sent;
    Ok(TestReport {
        success: sent.success(),
        status_code: sent.status_code,
        message: sent.message,
        duration_ms: sent.duration_ms,
        delivery_id: attempted.delivery.delivery_id,
    })
}

/// Keeps the test in the delivery log (trigger `test`), with its alert kept apart: no list,
/// count, chart or action finds a test alert. The test already happened, so a failure to
/// record it is logged rather than turned into an error answer.
async fn record_test(app: &App, webhook: &Webhook, alert: alert::Alert, attempted: &Attempted) {
    let moves = vec![Move {
        transition: 1,
        event: EventType::AlertTest,
        at: attempted.delivery.created_at,
        webhook_ids: vec![webhook.id.clone()],
        paged: None,
        report_id: None,
    }];
    let stored = StoredAlert::new(alert, moves, attempted.delivery.expires_at);
    if let Err(err) = app
        .store
        .record_test(
            &webhook.account_id,
            &stored,
            &attempted.delivery,
            &attempted.record,
        )
        .await
    {
        tracing::error!(webhook = %webhook.id, error = %err, "could not record the test delivery");
    }
}

/// The signing secret. Needs write access: the secret is a credential.
#[derive(Clone, Debug, Serialize)]
pub struct Secret {
    pub secret: String,
}

pub async fn secret(app: &App, who: &Principal, id: &str) -> Result<Secret, ApiError> {
    let mut webhook = load(app, who, id, Access::Write).await?;
    app.store.open_webhook(&mut webhook).await?;
    Ok(Secret {
        secret: webhook.secret,
    })
}

/// A new signing secret, and until when each replaced one keeps signing beside it.
#[derive(Clone, Debug, Serialize)]
pub struct Rotated {
    pub secret: String,
    pub grace_period_seconds: i64,
    pub previous_secrets: Vec<Expiring>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Expiring {
    pub expires_at: DateTime<Utc>,
}

/// Rotates the signing secret; the replaced one keeps signing for `grace`.
pub async fn rotate_secret(
    app: &App,
    who: &Principal,
    id: &str,
    grace: chrono::Duration,
) -> Result<Rotated, ApiError> {
    who.require(Access::Write)?;
    let secret = signing::generate_secret();
    let webhook = app
        .store
        .rotate_secret(&who.account_id, id, &secret, grace, Utc::now())
        .await?;
    tracing::info!(
        account = %webhook.account_id,
        webhook = %webhook.id,
        grace_seconds = grace.num_seconds(),
        previous_secrets = webhook.previous_secrets.len(),
        "signing secret rotated"
    );
    Ok(Rotated {
        secret,
        grace_period_seconds: grace.num_seconds(),
        previous_secrets: webhook
            .previous_secrets
            .iter()
            .map(|p| Expiring {
                expires_at: p.expires_at,
            })
            .collect(),
    })
}
