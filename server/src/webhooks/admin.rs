//! The admin endpoints: `GET /api/webhooks/failed`, `GET /api/webhooks/pending`,
//! `POST /api/webhooks/{id}/retry`. With authentication on, only a token whose `doc` scope is
//! `*` may use them (and a write token to requeue): events name every document.
//!
//! Each route is registered from its OpenAPI annotation (`utoipa_axum::routes!`), so the router
//! and the description (`GET /api/openapi.json`) list the same routes.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use plait_storage::sea_store::outbox::{Outbox, OutboxEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deliver::webhook_id;
use crate::error::AppError;
use crate::routes::{authorize_admin, json_body, ErrorBody};
use crate::state::AppState;

/// Events listed by default, and at most.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// The admin routes, merged into the app's router (an `OpenApiRouter` turns into an axum
/// `Router`), with their OpenAPI description (`OpenApiRouter::into_openapi`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(failed))
        .routes(routes!(pending))
        .routes(routes!(retry))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The most events listed: 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// One event as the admin endpoints show it. Times are RFC 3339 (UTC).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEvent)]
struct EventView {
    /// The `webhook-id` receivers see (`evt_<n>`).
    #[schema(example = "evt_12")]
    id: String,
    /// The document's name.
    doc: String,
    /// `document.created` or `document.changed`.
    #[schema(example = "document.changed")]
    kind: String,
    /// The log positions covered (`document.changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seq: Option<i64>,
    /// The updates the event covers.
    updates: i64,
    /// Delivery attempts so far.
    attempts: i64,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// Still collecting changes (its debounce is not over).
    open: bool,
    /// The first change it covers.
    #[schema(format = DateTime)]
    first_change: String,
    /// The last change it covers.
    #[schema(format = DateTime)]
    last_change: String,
    /// The first delivery attempt.
    #[schema(format = DateTime)]
    first_attempt: Option<String>,
    /// When it is due next (pending events).
    #[schema(format = DateTime)]
    next_attempt: Option<String>,
    /// When it was given up on (failed events).
    #[schema(format = DateTime)]
    failed_at: Option<String>,
}

/// `GET /api/webhooks/failed` and `GET /api/webhooks/pending`'s body.
#[derive(Debug, Serialize, ToSchema)]
struct EventList {
    events: Vec<EventView>,
}

/// `POST /api/webhooks/{id}/retry`'s body.
#[derive(Debug, Serialize, ToSchema)]
struct Requeued {
    /// The event's `webhook-id`.
    #[schema(example = "evt_12")]
    requeued: String,
}

impl From<OutboxEvent> for EventView {
    fn from(e: OutboxEvent) -> Self {
        let changed = e.kind == plait_storage::sea_store::outbox::DOCUMENT_CHANGED;
        let pending = e.delivered_ms.is_none() && e.failed_ms.is_none() && !e.is_open;
        EventView {
            id: webhook_id(e.id),
            first_seq: changed.then_some(e.first_seq),
            last_seq: changed.then_some(e.last_seq),
            updates: e.updates,
            attempts: e.attempts,
            open: e.is_open,
            first_change: time(e.first_ms),
            last_change: time(e.last_ms),
            first_attempt: e.first_attempt_ms.map(time),
            next_attempt: pending.then(|| time(e.next_attempt_ms)),
            failed_at: e.failed_ms.map(time),
            last_error: e.last_error,
            doc: e.doc_name,
            kind: e.kind,
        }
    }
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Which events a listing shows.
#[derive(Clone, Copy)]
enum Listing {
    Failed,
    Pending,
}

/// `GET /api/webhooks/failed?limit=N`: events given up on after the retry window, newest first.
#[utoipa::path(
    get,
    path = "/api/webhooks/failed",
    operation_id = "listFailedWebhooks",
    tag = "webhooks",
    summary = "List the webhook events given up on",
    description = "Events whose delivery failed for the whole retry window (24 h), newest first. \
        With authentication on: a token whose `doc` scope is `*`.",
    params(ListQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The events", body = EventList),
        (status = 400, description = "A `limit` that is not a number", body = String, content_type = "text/plain"),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token's `doc` scope is not `*`", body = ErrorBody),
        (status = 404, description = "Webhooks need a SQL database (not `memory:`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn failed(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    listing(&state, &headers, &uri, &query, Listing::Failed).await
}

/// `GET /api/webhooks/pending?limit=N`: events not yet delivered (open, due, or being
/// retried), oldest first.
#[utoipa::path(
    get,
    path = "/api/webhooks/pending",
    operation_id = "listPendingWebhooks",
    tag = "webhooks",
    summary = "List the webhook events not yet delivered",
    description = "Events still open (debouncing), due, or being retried, oldest first. With \
        authentication on: a token whose `doc` scope is `*`.",
    params(ListQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The events", body = EventList),
        (status = 400, description = "A `limit` that is not a number", body = String, content_type = "text/plain"),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token's `doc` scope is not `*`", body = ErrorBody),
        (status = 404, description = "Webhooks need a SQL database (not `memory:`)", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn pending(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    listing(&state, &headers, &uri, &query, Listing::Pending).await
}

async fn listing(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    query: &ListQuery,
    which: Listing,
) -> Result<Response, AppError> {
    authorize_admin(state, headers, uri, false)?;
    let Some(outbox) = outbox(state) else {
        return Ok(no_outbox());
    };
    let events = match which {
        Listing::Failed => outbox.failed(limit(query)).await?,
        Listing::Pending => outbox.pending(limit(query)).await?,
    };
    Ok(list(events))
}

/// `POST /api/webhooks/{id}/retry` (`id` as `evt_12` or `12`): a failed event is due again at
/// once, with a new retry window; receivers that had accepted it are not called again.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/retry",
    operation_id = "retryWebhook",
    tag = "webhooks",
    summary = "Deliver a failed webhook event again",
    description = "The failed event is due again at once, with a new retry window; receivers \
        that had accepted it are not called again. With authentication on: a write token whose \
        `doc` scope is `*`.",
    params(("id" = String, Path, description = "The event's `webhook-id` (`evt_12`) or its number (`12`)", example = "evt_12")),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Requeued", body = Requeued),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token's `doc` scope is not `*`, or it is read-only", body = ErrorBody),
        (status = 404, description = "No failed event has this id, or the database is `memory:` (webhooks need SQL)", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    authorize_admin(&state, &headers, &uri, true)?;
    let Some(outbox) = outbox(&state) else {
        return Ok(no_outbox());
    };
    let Ok(id) = id.strip_prefix("evt_").unwrap_or(&id).parse::<i64>() else {
        return Err(AppError::NotFound);
    };
    if outbox.requeue(id).await? {
        let body = Requeued {
            requeued: webhook_id(id),
        };
        Ok(json_body(&body).into_response())
    } else {
        Err(AppError::NotFound)
    }
}

fn outbox(state: &AppState) -> Option<Outbox> {
    state.store.outbox()
}

fn no_outbox() -> Response {
    let body = ErrorBody {
        error: "webhooks need a SQL database (not `memory:`)".to_owned(),
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn limit(query: &ListQuery) -> u64 {
    query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn list(events: Vec<OutboxEvent>) -> Response {
    let events = EventList {
        events: events.into_iter().map(EventView::from).collect(),
    };
    json_body(&events).into_response()
}
