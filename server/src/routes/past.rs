//! `POST /api/docs/{doc}/restore?at=`: a document made what it was at a point of its past (see
//! [`crate::past`]); `?at=` on `GET /api/docs/{doc}/update` is in [`super::docs::get_update`].

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::docs::UpdateOutcome;
use super::versions::restored_answer;
use super::{authorize_writer, DocPath, ErrorBody};
use crate::error::AppError;
use crate::past::AtQuery;
use crate::state::AppState;

/// `POST /api/docs/{doc}/restore?at=`.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/restore",
    operation_id = "restoreToPoint",
    tag = "history",
    summary = "Restore a document as it was at a point, as a new edit",
    description = "Makes the document's content equal to what it was at `at` (a log position \
        or an RFC 3339 time inside `--history-retention`) as a new forward edit, exactly like \
        restoring a version: stored, received live by every connected editor, undone by \
        restoring `undo_version`, cut just before.",
    params(DocPath, AtQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Restored and stored; `at` is the position restored, `undo_version` undoes it", body = UpdateOutcome),
        (status = 202, description = "Restored and sent to the editors; not stored yet", body = UpdateOutcome),
        (status = 400, description = "An invalid document name, or `at` missing or invalid", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "The document was never written", body = ErrorBody),
        (status = 410, description = "The document is deleted, or the point is older than the history kept", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no history", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    Query(query): Query<AtQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let subject = authorize_writer(&state, &headers, &uri, &name)?;
    let at = query.point()?.ok_or_else(|| {
        AppError::BadQuery("at= is required: a log position or an RFC 3339 time".into())
    })?;
    let (seq, target) = crate::past::state_at(&state, &name, at).await?;
    let label = format!("before restoring position {seq}");
    let restored = crate::versions::restore_state(&state, &name, target, label, subject).await?;
    tracing::info!(doc = %name, at = seq, undo = restored.undo.id, "restored to a point");
    Ok(restored_answer(restored, ("at", seq)).await)
}
