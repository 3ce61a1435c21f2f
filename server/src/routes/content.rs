//! A document as JSON over HTTP: `GET /api/docs/{doc}/json` renders its root types
//! (`plait_content`), `PUT /api/docs/{doc}/json?field=NAME` replaces one of them with JSON, as one
//! Yjs transaction that every connected editor receives like any other update.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use plait_content::Format;
use plait_protocol::name::DocName;
use serde::Deserialize;
use utoipa::IntoParams;

use super::docs::{answer_posted, stored_state, UpdateIncomplete, UpdateOutcome};
use super::{authorize, authorize_write, DocPath, ErrorBody};
use crate::error::{AppError, LoadError};
use crate::state::AppState;

/// The query of `GET .../json` (`PUT` reads `field` only).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JsonQuery {
    /// One root type by name (Tiptap's is `default`); omitted: every root type, by name.
    #[param(example = "default")]
    pub(super) field: Option<String>,
    /// How to render `field`: `prosemirror` (an XML fragment as ProseMirror JSON, exactly what
    /// y-prosemirror's `yXmlFragmentToProsemirrorJSON` gives), `text` (plain text, blocks on
    /// lines of their own), `delta` (a text with its formatting, as a Quill delta) or `json`
    /// (the type's own JSON); omitted: the type's default (text: a string, map: an object,
    /// array: an array, XML fragment: ProseMirror JSON).
    #[param(example = "prosemirror")]
    format: Option<String>,
}

impl JsonQuery {
    /// The format asked for, checked: a known one, and only with a field.
    pub(super) fn format(&self) -> Result<Option<Format>, AppError> {
        let format = match &self.format {
            Some(text) => {
                Some(Format::from_str(text).map_err(|e| AppError::BadQuery(e.to_string()))?)
            }
            None => None,
        };
        if format.is_some() && self.field.is_none() {
            return Err(AppError::BadQuery(
                "`format` renders one root: name it with `field`".into(),
            ));
        }
        Ok(format)
    }
}

/// `GET /api/docs/{doc}/json`.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/json",
    operation_id = "getDocumentJson",
    tag = "documents",
    summary = "Read a document as JSON",
    description = "Every root type of the document by name, each as JSON: a `Y.Text` as a \
        string, a `Y.Map` as an object, a `Y.Array` as an array, a `Y.XmlFragment` (Tiptap, \
        ProseMirror) as ProseMirror JSON. With `field`, that root only, in `format`. Includes \
        what connected clients sent and the database may not have stored yet. A root whose \
        content is empty and whose type nothing tells is left out.",
    params(DocPath, JsonQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The document (an object of its roots), or the one root", body = serde_json::Value),
        (status = 400, description = "An invalid document name, an unknown `format`, or a format that does not fit the root's type", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 404, description = "The document was never written, or has no root `field`", body = ErrorBody),
        (status = 410, description = "The document is deleted (`POST .../undelete` restores it)", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_json(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    Query(query): Query<JsonQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let format = query.format()?;
    let encoded = current_state(&state, &name)
        .await?
        .ok_or(AppError::NotFound)?;
    render(encoded, query.field, format).await
}

/// The document whose whole state is `encoded` as `GET .../json` answers it (`field` and
/// `format` as its query): rendered on the blocking pool, CPU work in proportion to it.
pub(super) async fn render(
    encoded: Vec<u8>,
    field: Option<String>,
    format: Option<Format>,
) -> Result<Response, AppError> {
    let rendered = tokio::task::spawn_blocking(move || {
        let doc = plait_content::scratch_doc(&encoded).map_err(|e| e.to_string())?;
        let txn = yrs::Transact::transact(&doc);
        match &field {
            None => Ok(Some(serde_json::Value::Object(plait_content::render_all(
                &txn,
            )))),
            Some(field) => match plait_content::render_field(&txn, field, format) {
                Ok(value) => Ok(Some(value)),
                Err(plait_content::RenderError::NoSuchField { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
        }
    })
    .await
    .map_err(|_| AppError::Unavailable(LoadError::ShuttingDown))?;
    match rendered {
        Ok(Some(value)) => Ok(axum::Json(value).into_response()),
        Ok(None) => Err(AppError::NoSuchField),
        Err(reason) => Err(AppError::BadQuery(reason)),
    }
}

/// The document's state: from its task if loaded here, else from storage.
async fn current_state(state: &AppState, name: &DocName) -> Result<Option<Vec<u8>>, AppError> {
    if let Some(handle) = state.registry.running(name) {
        if let Ok(encoded) = handle.state().await {
            return match encoded {
                Some(encoded) => Ok(Some(encoded)),
                // Loaded but empty: written only if storage says so.
                None => stored_state(state, name).await,
            };
        }
    }
    stored_state(state, name).await
}

/// The query of `PUT .../json`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutJsonQuery {
    /// The root type to replace (Tiptap's is `default`).
    #[param(example = "default")]
    field: Option<String>,
}

/// `PUT /api/docs/{doc}/json?field=NAME`.
#[utoipa::path(
    put,
    path = "/api/docs/{doc}/json",
    operation_id = "putDocumentJson",
    tag = "documents",
    summary = "Replace one root type of a document with JSON",
    description = "Replaces the content of root `field` in one Yjs transaction: with ProseMirror \
        JSON (`{\"type\":\"doc\",\"content\":[...]}`) for an XML fragment (what Tiptap and \
        y-prosemirror edit), a string for a `Y.Text`, an object for a `Y.Map`, an array for a \
        `Y.Array`. A root that does not exist yet takes its type from the JSON. Every connected \
        editor receives the change live; edits made at the same moment merge as Yjs merges \
        them. 200 once stored, with the new log position; the document is created if needed. \
        Marks without `attrs` come back from `GET .../json` with `\"attrs\": {}`, as \
        y-prosemirror renders them.",
    params(DocPath, PutJsonQuery),
    request_body(description = "The new content as JSON, at most `--max-message-size` bytes",
        content((serde_json::Value = "application/json"))),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Replaced and stored", body = UpdateOutcome),
        (status = 202, description = "Replaced and sent to the connected clients; not stored yet (`durable` is false)", body = UpdateOutcome),
        (status = 400, description = "No `field`, a body that is not JSON, or JSON that does not fit the root's type (the reason names where); the document is unchanged", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 409, description = "The document changed in a way the replacement depends on; retry", body = UpdateIncomplete),
        (status = 410, description = "The document is deleted", body = ErrorBody),
        (status = 413, description = "The body is over `--max-message-size` (plain text), or the document would grow over `--max-doc-size` (JSON)",
            content((ErrorBody = "application/json"), (String = "text/plain"))),
        (status = 503, description = "The document could not be loaded, or the database is down and the server holds as many unsaved edits as it may", body = ErrorBody),
    )
)]
pub async fn put_json(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    Query(query): Query<PutJsonQuery>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let author = authorize_write(&state, &headers, &uri, &name)?;
    let field = query
        .field
        .filter(|f| !f.is_empty())
        .ok_or_else(|| AppError::BadQuery("name the root to replace: `?field=NAME`".into()))?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadQuery(format!("the body is not JSON: {e}")))?;
    if state.writer.is_full() {
        return Err(AppError::Backlog);
    }
    let attached = state.registry.attach(&name).await?;
    let gone = |_| AppError::Unavailable(LoadError::ShuttingDown);
    let current = attached.handle.state().await.map_err(gone)?;
    let update = tokio::task::spawn_blocking(move || {
        let doc = plait_content::scratch_doc(current.as_deref().unwrap_or(&[0, 0]))
            .map_err(|e| e.to_string())?;
        plait_content::replace_field(&doc, &field, &value).map_err(|e| e.to_string())
    })
    .await
    .map_err(AppError::from_edit_task)?
    .map_err(AppError::BadQuery)?;
    let outcome = attached
        .handle
        .post_update(Bytes::from(update), author)
        .await
        .map_err(gone)??;
    Ok(answer_posted(outcome).await)
}
