//! The document API: a document's state (`GET .../update`), an update posted to it
//! (`POST .../update`), and its figures (`GET /api/docs/{doc}`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use plait_protocol::name::DocName;
use plait_storage::store::{rebuild_blocking, DocStats, Seq};
use serde::Serialize;
use utoipa::ToSchema;

use super::{authorize, authorize_write, json_body, DocPath, ErrorBody};
use crate::document::PostOutcome;
use crate::error::{AppError, LoadError};
use crate::past::{AtQuery, POSITION_HEADER};
use crate::state::AppState;

/// How long `POST .../update` waits for the update to reach SQL before answering 202 instead of 200.
const DURABLE_WAIT: Duration = Duration::from_secs(10);

/// `GET /api/docs/{doc}/update`: the full state as one Yjs v1 update.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/update",
    operation_id = "getDocumentUpdate",
    tag = "documents",
    summary = "Read a document as one Yjs update",
    description = "The document's whole state as one Yjs v1 update \
        (`Y.applyUpdate(ydoc, new Uint8Array(body))`), with what connected clients have sent \
        and the database may not have stored yet. With `at`, the document as it was then \
        (inside `--history-retention`), from the nearest version and the rows after it; the \
        header `plait-position` names the log position that state reflects.",
    params(DocPath, AtQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The state as a Yjs v1 update", content(("application/octet-stream"))),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 404, description = "The document was never written", body = ErrorBody),
        (status = 410, description = "The document is deleted, or `at` is older than the history kept", body = ErrorBody),
        (status = 501, description = "`at` on the `memory:` database, which keeps no history", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_update(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    Query(query): Query<AtQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    if let Some(at) = query.point()? {
        let (seq, encoded) = crate::past::state_at(&state, &name, at).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (HeaderName::from_static(POSITION_HEADER), seq.to_string()),
            ],
            encoded,
        )
            .into_response());
    }
    let encoded = match state.registry.running(&name) {
        Some(handle) => match handle.state().await {
            Ok(state) => state,
            Err(_) => stored_state(&state, &name).await?,
        },
        None => stored_state(&state, &name).await?,
    };
    let encoded = encoded.ok_or(AppError::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        encoded,
    )
        .into_response())
}

/// The document's whole state as stored (`None`: never written); 410 for a deleted one.
pub(super) async fn stored_state(
    state: &AppState,
    name: &DocName,
) -> Result<Option<Vec<u8>>, AppError> {
    let Some(stored) = state.store.load(name.as_str()).await? else {
        return Ok(None);
    };
    if stored.deleted_at.is_some() {
        return Err(LoadError::Deleted.into());
    }
    let rebuilt = rebuild_blocking(stored).await?;
    Ok(Some(rebuilt.state))
}

/// `POST /api/docs/{doc}/update`'s body once the update is applied (200, 202).
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateOutcome {
    /// Whether the update changed the document (false: it held nothing the document lacked).
    applied: bool,
    /// Whether it is stored in the database (false: applied in memory and queued; the server
    /// keeps retrying until it is stored).
    durable: bool,
    /// The log position it was stored at, when it was stored now (a change-feed cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    seq: Option<Seq>,
}

/// `POST /api/docs/{doc}/update`'s body when the update depends on content the document lacks
/// (409).
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateIncomplete {
    /// Why.
    error: &'static str,
    /// Whether the part that could be integrated was (it is being stored).
    applied: bool,
}

/// `POST /api/docs/{doc}/update`: apply a Yjs v1 update from the body; connected clients get it.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/update",
    operation_id = "postDocumentUpdate",
    tag = "documents",
    summary = "Apply a Yjs update to a document",
    description = "Applies the Yjs v1 update in the body (`Y.encodeStateAsUpdate(ydoc)`, or any \
        update) to the document, creating it if needed; every connected client receives it. \
        200 once it is stored in the database; 202 if applied but the database has not taken it \
        within 10 s (the server keeps retrying). A malformed update changes nothing.",
    params(DocPath),
    request_body(description = "One Yjs v1 update, at most `--max-message-size` bytes",
        content(("application/octet-stream"))),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Applied and stored (or it held nothing new: `applied` is false)", body = UpdateOutcome),
        (status = 202, description = "Applied and sent to the connected clients; not stored yet (`durable` is false)", body = UpdateOutcome),
        (status = 400, description = "An invalid document name, or a malformed update (nothing changes)", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 409, description = "The update depends on content the document does not have; \
            what could be integrated was (`applied`)", body = UpdateIncomplete),
        (status = 413, description = "The body is over `--max-message-size` (plain text), or the \
            document would grow over `--max-doc-size` (JSON)",
            content((ErrorBody = "application/json"), (String = "text/plain"))),
        (status = 503, description = "The document could not be loaded (database unavailable, \
            shutting down), or the database is down and the server holds as many unsaved edits as \
            it may (`--max-pending-updates`, with `Retry-After`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (the unsaved-edits refusal only)"))),
    )
)]
pub async fn post_update(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let author = authorize_write(&state, &headers, &uri, &name)?;
    if state.writer.is_full() {
        return Err(AppError::Backlog);
    }
    let attached = state.registry.attach(&name).await?;
    let outcome = attached
        .handle
        .post_update(body, author)
        .await
        .map_err(|_| AppError::Unavailable(LoadError::ShuttingDown))??;
    Ok(answer_posted(outcome).await)
}

/// The answer to an update posted to a document (`POST .../update`, `PUT .../json`): 200 once
/// it is stored, 202 if the database has not taken it within [`DURABLE_WAIT`], 409 if part of it
/// needs content the document lacks.
pub(super) async fn answer_posted(outcome: PostOutcome) -> Response {
    let (status, body) = posted(outcome).await;
    (status, axum::Json(body)).into_response()
}

/// [`answer_posted`]'s status and JSON body, for a caller that adds to the body.
pub(super) async fn posted(outcome: PostOutcome) -> (StatusCode, serde_json::Value) {
    if outcome.incomplete {
        // What could be integrated was (and is being stored); the rest needs content first.
        let body = UpdateIncomplete {
            error: "the update depends on content this document does not have; \
                    apply its dependencies first",
            applied: outcome.durable.is_some(),
        };
        return (StatusCode::CONFLICT, json_body(&body).0);
    }
    let (status, body) = match outcome.durable {
        None => (
            StatusCode::OK,
            UpdateOutcome {
                applied: false,
                durable: true,
                seq: None,
            },
        ),
        Some(durable) => match tokio::time::timeout(DURABLE_WAIT, durable).await {
            Ok(Ok(seq)) => (
                StatusCode::OK,
                UpdateOutcome {
                    applied: true,
                    durable: true,
                    seq: Some(seq),
                },
            ),
            // Applied in memory and queued; the writer keeps retrying until it is in SQL.
            _ => (
                StatusCode::ACCEPTED,
                UpdateOutcome {
                    applied: true,
                    durable: false,
                    seq: None,
                },
            ),
        },
    };
    (status, json_body(&body).0)
}

/// `GET /api/docs/{doc}`'s body: the document's storage figures and where it is open.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentStats {
    /// The document's name.
    name: String,
    /// Log rows not yet folded into the snapshot.
    log_updates: u64,
    /// Bytes of those rows.
    log_bytes: u64,
    /// Size of the compacted snapshot (0 if none).
    snapshot_bytes: u64,
    /// The log position the snapshot covers.
    #[schema(value_type = i64)]
    snapshot_seq: Seq,
    /// The highest log position written for this document.
    #[schema(value_type = i64)]
    last_seq: Seq,
    /// When the document was first written (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the document was last appended to (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    last_write_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Stored updates that could not be applied, moved to the table `quarantined_updates` with
    /// the reason.
    quarantined: u64,
    /// Whether the document was ever written (false: every figure above is zero).
    stored: bool,
    /// Whether this node has it in memory.
    loaded: bool,
    /// This node's connections to it.
    connections: usize,
    /// Its updates applied in memory and not yet stored.
    pending: usize,
    /// PostgreSQL only: the other nodes that have it open.
    #[serde(skip_serializing_if = "Option::is_none")]
    other_nodes: Option<usize>,
}

/// `GET /api/docs/{doc}`: how the document is stored (for the demo's storage panel). A document
/// never written answers 200 with `"stored": false` and zero figures, so a page can poll it
/// from the first keystroke without error responses.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}",
    operation_id = "getDocumentStats",
    tag = "documents",
    summary = "How a document is stored, and where it is open",
    description = "A document never written answers 200 with `stored: false` and zero figures, \
        so a page can poll it from the first keystroke.",
    params(DocPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The document's figures", body = DocumentStats),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_stats(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let figures = match state.registry.running(&name) {
        Some(handle) => handle.figures().await.ok(),
        None => None,
    };
    let stats = state.store.stats(name.as_str()).await?;
    let stored = stats.is_some();
    // Every field named: a figure added to `DocStats` must be added here too.
    let DocStats {
        name: stored_name,
        log_updates,
        log_bytes,
        snapshot_bytes,
        snapshot_seq,
        last_seq,
        created_at,
        last_write_at,
        quarantined,
    } = stats.unwrap_or_else(|| DocStats {
        name: name.as_str().to_owned(),
        log_updates: 0,
        log_bytes: 0,
        snapshot_bytes: 0,
        snapshot_seq: 0,
        last_seq: 0,
        created_at: None,
        last_write_at: None,
        quarantined: 0,
    });
    let body = DocumentStats {
        name: stored_name,
        log_updates,
        log_bytes,
        snapshot_bytes,
        snapshot_seq,
        last_seq,
        created_at,
        last_write_at,
        quarantined,
        stored,
        loaded: figures.is_some(),
        connections: figures.map_or(0, |f| f.connections),
        pending: figures.map_or(0, |f| f.pending),
        // PostgreSQL only: the other nodes that have the document open.
        other_nodes: state.registry.open_elsewhere(&name),
    };
    Ok(json_body(&body).into_response())
}
