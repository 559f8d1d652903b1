//! Alerts: the list, one alert with where its deliveries stand, and the actions on it.

use chrono::{DateTime, Utc};
use hookline_shared::{
    alert::{
        lifecycle::{Action, Actor, AlertState},
        Alert,
    },
    auth::{Access, Principal},
    delivery::{outcome::DeliveryState, record::Delivery},
    event::EventType,
    ingest::Acted,
    store::{AlertQuery, TargetCursor},
    ApiError,
};
use serde::Serialize;

use super::{Listed, PageRequest};
use crate::{paging, App};

/// How much of an alert's message a listing shows.
const LIST_MESSAGE_CHARS: usize = 280;

/// An alert as a listing shows it: no data, labels or timeline, the message cut short.
#[derive(Clone, Debug, Serialize)]
pub struct AlertSummary {
    pub id: String,
    pub dedup_key: Option<String>,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub title: Option<String>,
    pub message: String,
    pub severity: Option<&'static str>,
    pub state: AlertState,
    pub transition: u32,
    pub reports: u64,
    pub received_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub silenced_until: Option<DateTime<Utc>>,
    pub escalated: bool,
}

impl AlertSummary {
    fn of(alert: Alert) -> Self {
        let input = alert.input;
        Self {
            id: alert.id,
            dedup_key: input.dedup_key,
            alert_type: input.alert_type,
            title: input.title,
            message: input.message.chars().take(LIST_MESSAGE_CHARS).collect(),
            severity: input.severity.map(|s| s.as_str()),
            state: alert.state,
            transition: alert.transition,
            reports: alert.reports,
            received_at: alert.received_at,
            last_seen: alert.last_seen,
            silenced_until: alert.silenced_until,
            escalated: alert.escalated,
        }
    }
}

/// A page of the caller's alerts, newest first.
pub async fn list(
    app: &App,
    who: &Principal,
    query: &AlertQuery,
    page: &PageRequest,
) -> Result<Listed<AlertSummary>, ApiError> {
    who.require(Access::Read)?;
    let found = app
        .store
        .list_alerts(
            &who.account_id,
            query,
            page.limit,
            page.after.as_deref(),
            Utc::now(),
        )
        .await?;
    Ok(Listed::of(found, |s| AlertSummary::of(s.alert)))
}

/// Where one delivery of an alert's transition stands.
#[derive(Clone, Debug, Serialize)]
pub struct DeliverySummary {
    pub webhook_id: String,
    pub delivery_id: String,
    pub transition: u32,
    pub event: EventType,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub out_of_order: bool,
}

/// The alert as its caller may see it, and a page of its latest transitions' deliveries
/// (oldest transition first, each in fan-out order).
#[derive(Clone, Debug, Serialize)]
pub struct AlertDetail {
    pub alert: Alert,
    pub deliveries: Vec<DeliverySummary>,
    /// Where the next page of deliveries starts; none on the last.
    pub next_cursor: Option<String>,
}

/// A page of an alert's deliveries starts after a transition and an index in its
/// fan-out, which the cursor (a UUID, as every cursor of this API) carries as its halves.
fn target_cursor(after: Option<&str>) -> Result<Option<TargetCursor>, ApiError> {
    let Some(after) = after else { return Ok(None) };
    let (transition, index) = uuid::Uuid::parse_str(after)
        .map_err(|_| ApiError::field("cursor", paging::NOT_A_CURSOR))?
        .as_u64_pair();
    match (u32::try_from(transition), usize::try_from(index)) {
        (Ok(t), Ok(i)) => Ok(Some((t, i))),
        _ => Err(ApiError::field("cursor", paging::NOT_A_CURSOR)),
    }
}

fn target_after((transition, index): TargetCursor) -> String {
    let id = uuid::Uuid::from_u64_pair(u64::from(transition), index as u64);
    paging::encode_cursor(&id.hyphenated().to_string())
}

pub async fn get(
    app: &App,
    who: &Principal,
    id: &str,
    page: &PageRequest,
) -> Result<AlertDetail, ApiError> {
    who.require(Access::Read)?;
    let after = target_cursor(page.after.as_deref())?;
    let stored = app
        .store
        .get_alert(&who.account_id, id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("alert"))?;
    let (targets, next) = (app.store)
        .alert_targets(&who.account_id, &stored, after, page.limit)
        .await?;
    let found = app.store.get_deliveries(&who.account_id, &targets).await?;
    let deliveries = targets
        .into_iter()
        .map(|t| {
            let d: Option<&Delivery> = found.iter().find(|d| d.delivery_id == t.delivery_id);
            DeliverySummary {
                state: d.map_or(DeliveryState::Pending, |d| d.state),
                attempts: d.map_or(0, |d| d.attempt_count),
                last_status_code: d.and_then(|d| d.last_status_code),
                last_error: d.and_then(|d| d.last_error.clone()),
                next_attempt_at: d.and_then(|d| d.next_attempt_at),
                out_of_order: d.is_some_and(|d| d.out_of_order),
                webhook_id: t.webhook_id,
                delivery_id: t.delivery_id,
                transition: t.transition,
                event: t.event,
            }
        })
        .collect();
    let alert = (app.store)
        .with_links(&who.account_id, stored.alert, stored.links.as_ref())
        .await?;
    Ok(AlertDetail {
        alert: alert.shown(who.access()),
        deliveries,
        next_cursor: next.map(target_after),
    })
}

/// Acts on the alert as the caller's token; `request_base` starts the action links when
/// no public base URL is set.
pub async fn act(
    app: &App,
    who: &Principal,
    id: &str,
    action: Action,
    request_base: Option<&str>,
) -> Result<Acted, ApiError> {
    who.require(Access::Write)?;
    let by = Actor::Token {
        token_id: who.token_id.clone(),
    };
    app.ingest(request_base)
        .act(&who.account_id, id, action, by)
        .await
}
