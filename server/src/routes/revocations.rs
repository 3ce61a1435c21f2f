//! `POST /api/revocations`: revoke a subject's tokens, on every node.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plait_storage::sea_store::revocations::MAX_SUBJECT_BYTES;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{authorize_admin, ErrorBody};
use crate::error::AppError;
use crate::state::AppState;

/// The request's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The subject (a token's `sub`) whose tokens issued before now are refused.
    pub sub: String,
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer: the revocation as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub sub: String,
    /// Milliseconds since the Unix epoch (the database's clock).
    pub revoked_at_ms: i64,
    pub reason: Option<String>,
    /// Open connections of the subject this node closed (other nodes close theirs).
    pub closed_here: usize,
}

/// Revokes `sub`'s tokens issued before now: stored (so every node and every later start hears
/// it), applied here at once. Needs a token with scope `*` and mode `write` when authentication
/// is on. 201 with the revocation; 400 for an empty or over-long subject.
#[utoipa::path(
    post,
    path = "/api/revocations",
    operation_id = "revokeSubject",
    tag = "operations",
    summary = "Revoke a subject's tokens",
    description = "Refuses the tokens of the subject (`sub`) issued before now, and closes its \
        open connections on every node (4401). Stored, so every node and every later start \
        knows it; tokens issued after it work. With authentication on: a write token whose \
        `doc` scope is `*`.",
    request_body = RevokeRequest,
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 201, description = "Revoked", body = Revoked),
        (status = 400, description = "A body that is not the JSON object described, or a `sub` \
            that is empty or too long", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token's `doc` scope is not `*`, or it is read-only", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Json<RevokeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    authorize_admin(&state, &headers, &uri, true)?;
    let Json(request) = body.map_err(|e| AppError::BadQuery(e.body_text()))?;
    if request.sub.is_empty() || request.sub.len() > MAX_SUBJECT_BYTES {
        return Err(AppError::BadQuery(format!(
            "sub must be 1 to {MAX_SUBJECT_BYTES} bytes"
        )));
    }
    let (revoked_at_ms, reason) = match state.store.revocation_log() {
        Some(log) => {
            let row = log.revoke(&request.sub, request.reason.as_deref()).await?;
            (row.revoked_at_ms, row.reason)
        }
        // The memory store keeps none: the revocation holds in this process only.
        None => (now_ms(), request.reason),
    };
    let closed_here = state.revocations.revoke(&request.sub, revoked_at_ms);
    let body = Revoked {
        sub: request.sub,
        revoked_at_ms,
        reason,
        closed_here,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
