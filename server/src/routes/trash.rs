//! `DELETE /api/docs/{doc}` and `POST /api/docs/{doc}/undelete` (see [`crate::trash`]).

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use plait_storage::catalog::Trashed;
use serde::Serialize;
use utoipa::ToSchema;

use super::{authorize_write, json_body, DocPath, ErrorBody};
use crate::error::AppError;
use crate::state::AppState;

/// What `DELETE /api/docs/{doc}` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    name: String,
    /// When it went to the trash (RFC 3339): now, or earlier if it already was there.
    #[schema(value_type = String, format = DateTime)]
    deleted_at: String,
    /// When it will be purged with its log, snapshots and projection (`--trash-retention`).
    #[schema(value_type = String, format = DateTime)]
    purge_after: String,
    /// The deletion's log position in the change feed (absent if it was already deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
}

/// `DELETE /api/docs/{doc}`.
#[utoipa::path(
    delete,
    path = "/api/docs/{doc}",
    operation_id = "deleteDocument",
    tag = "documents",
    summary = "Move a document to the trash",
    description = "The document stops being served on every node: its connections are closed \
        with code 4410 (y-websocket 3.1+ does not reconnect on 4400–4499; Hocuspocus providers \
        get a Close for that document) and new ones are closed the same way; HTTP reads answer \
        410. It leaves the list, search and the projection table, and appears in the change \
        feed (`kind: delete`) and as a `document.deleted` webhook event. \
        `POST .../undelete` restores it until `--trash-retention` (7 days by default) has \
        passed; then it is purged. Deleting a deleted document changes nothing (200).",
    params(super::DocPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "In the trash", body = Deleted),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "No such document (never written, or purged)", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no trash", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize_write(&state, &headers, &uri, &name)?;
    let (deleted_at, seq) = match crate::trash::delete(&state, &name).await? {
        Trashed::NotFound => return Err(AppError::NotFound),
        Trashed::Done { seq, deleted_at } => (deleted_at, Some(seq)),
        Trashed::Unchanged { deleted_at } => (deleted_at, None),
    };
    let deleted_at = deleted_at.unwrap_or_else(chrono::Utc::now);
    let retention =
        chrono::Duration::from_std(state.config.trash_retention).unwrap_or(chrono::Duration::MAX);
    let purge_after = deleted_at
        .checked_add_signed(retention)
        .unwrap_or(deleted_at);
    let body = Deleted {
        name: name.as_str().to_owned(),
        deleted_at: deleted_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        purge_after: purge_after.to_rfc3339_opts(SecondsFormat::Millis, true),
        seq,
    };
    Ok(json_body(&body).into_response())
}

/// What `POST /api/docs/{doc}/undelete` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Undeleted {
    name: String,
    /// False if it was not deleted (nothing changed).
    restored: bool,
    /// The undeletion's log position in the change feed, if it was restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
}

/// `POST /api/docs/{doc}/undelete`.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/undelete",
    operation_id = "undeleteDocument",
    tag = "documents",
    summary = "Restore a document from the trash",
    description = "The document is served again as it was when deleted (clients reconnect with \
        `provider.connect()`), listed and searchable; the change feed shows `kind: undelete` \
        and a `document.undeleted` webhook event is sent.",
    params(super::DocPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Restored (or it was not deleted: `restored` is false)", body = Undeleted),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "No such document (never written, or already purged)", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no trash", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn undelete(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize_write(&state, &headers, &uri, &name)?;
    let (restored, seq) = match crate::trash::undelete(&state, &name).await? {
        Trashed::NotFound => return Err(AppError::NotFound),
        Trashed::Done { seq, .. } => (true, Some(seq)),
        Trashed::Unchanged { .. } => (false, None),
    };
    let body = Undeleted {
        name: name.as_str().to_owned(),
        restored,
        seq,
    };
    Ok(json_body(&body).into_response())
}
