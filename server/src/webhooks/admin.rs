//! The admin endpoints: `GET /api/webhooks/failed`, `GET /api/webhooks/pending`,
//! `POST /api/webhooks/{id}/retry`. With authentication on, only a token whose `doc` scope is
//! `*` may use them (and a write token to requeue): events name every document.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use plait_storage::sea_store::outbox::{Outbox, OutboxEvent};
use serde::{Deserialize, Serialize};

use super::deliver::webhook_id;
use crate::auth::{token_from_request, AuthError};
use crate::error::AppError;
use crate::state::AppState;

/// Events listed by default, and at most.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// The admin routes, merged into the app's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks/failed", get(failed))
        .route("/api/webhooks/pending", get(pending))
        .route("/api/webhooks/{id}/retry", post(retry))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u64>,
}

/// One event as the admin endpoints show it. Times are RFC 3339 (UTC).
#[derive(Debug, Serialize)]
struct EventView {
    /// The `webhook-id` receivers see (`evt_<n>`).
    id: String,
    doc: String,
    kind: String,
    /// The log positions covered (`document.changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seq: Option<i64>,
    updates: i64,
    attempts: i64,
    last_error: Option<String>,
    /// Still collecting changes (its debounce is not over).
    open: bool,
    first_change: String,
    last_change: String,
    first_attempt: Option<String>,
    /// When it is due next (pending events).
    next_attempt: Option<String>,
    failed_at: Option<String>,
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
    require_admin(state, headers, uri, false)?;
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
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    require_admin(&state, &headers, &uri, true)?;
    let Some(outbox) = outbox(&state) else {
        return Ok(no_outbox());
    };
    let Ok(id) = id.strip_prefix("evt_").unwrap_or(&id).parse::<i64>() else {
        return Err(AppError::NotFound);
    };
    if outbox.requeue(id).await? {
        Ok(Json(serde_json::json!({ "requeued": webhook_id(id) })).into_response())
    } else {
        Err(AppError::NotFound)
    }
}

fn outbox(state: &AppState) -> Option<Outbox> {
    state.store.outbox()
}

fn no_outbox() -> Response {
    let body = serde_json::json!({ "error": "webhooks need a SQL database (not `memory:`)" });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn limit(query: &ListQuery) -> u64 {
    query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn list(events: Vec<OutboxEvent>) -> Response {
    let events: Vec<EventView> = events.into_iter().map(EventView::from).collect();
    Json(serde_json::json!({ "events": events })).into_response()
}

/// With authentication on: a valid token whose scope is `*` (and write mode if `write`).
fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    write: bool,
) -> Result<(), AppError> {
    let Some(auth) = &state.auth else {
        return Ok(());
    };
    let token = token_from_request(headers, uri.query()).ok_or(AuthError::Missing)?;
    let claims = auth.verify_claims(&token)?;
    if claims.doc != "*" {
        return Err(AuthError::OutOfScope {
            doc: "*".to_owned(),
        }
        .into());
    }
    if write && !claims.mode.can_write() {
        return Err(AuthError::ReadOnly {
            doc: "*".to_owned(),
        }
        .into());
    }
    Ok(())
}
