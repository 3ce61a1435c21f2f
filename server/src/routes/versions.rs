//! A document's versions over HTTP (see [`crate::versions`]): list, cut one with a name, read
//! one (as a Yjs update or as JSON), restore one, delete one.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::SecondsFormat;
use plait_protocol::name::DocName;
use plait_storage::history::{Version, VersionKind};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::ToSchema;

use super::content::{render, JsonQuery};
use super::docs::{posted, UpdateOutcome};
use super::{authorize, authorize_write, authorize_writer, json_body, DocPath, ErrorBody};
use crate::error::AppError;
use crate::state::AppState;

/// The longest version name, in bytes.
const MAX_NAME_BYTES: usize = 200;

/// The `{doc}` and `{id}` of `/api/docs/{doc}/versions/{id}...`.
pub struct VersionPath(pub DocName, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path((doc, id)) = Path::<(String, String)>::from_request_parts(parts, state).await?;
        let id = id
            .parse::<i64>()
            .map_err(|_| AppError::BadQuery(format!("invalid version id {id:?}")))?;
        Ok(VersionPath(DocName::parse(&doc)?, id))
    }
}

impl utoipa::IntoParams for VersionPath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = <DocPath as utoipa::IntoParams>::into_params(parameter_in);
        params.push(
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The version's id (from `GET .../versions`)"))
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .build(),
        );
        params
    }
}

/// One version as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionJson {
    id: i64,
    /// `auto` (cut when the document changed and `--version-interval` passed), `named` (cut on
    /// request) or `restore` (cut just before a restore: restoring it undoes the restore).
    kind: &'static str,
    name: Option<String>,
    /// The log position the version reflects.
    seq: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<String>,
    /// The token subject that asked for it (named and restore versions, with authentication).
    created_by: Option<String>,
    /// Size of the version's state in bytes.
    bytes: u64,
    /// Who wrote the changes since the version before it: `{"sub", "via"}` each once, in order
    /// of their first change; null when not known.
    #[schema(value_type = Option<Vec<Object>>)]
    authors: Option<serde_json::Value>,
}

impl From<Version> for VersionJson {
    fn from(v: Version) -> Self {
        VersionJson {
            id: v.id,
            kind: v.kind.as_str(),
            name: v.name,
            seq: v.seq,
            created_at: v
                .created_at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            created_by: v.created_by,
            bytes: v.bytes,
            authors: v
                .authors
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()),
        }
    }
}

/// The versions of a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// Oldest first.
    versions: Vec<VersionJson>,
}

/// The body of `POST .../versions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersionBody {
    /// What the version is (1 to 200 bytes): `"before review"`.
    name: String,
}

const NO_VERSION: &str = "no version of this document has that id";

/// `GET /api/docs/{doc}/versions`.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/versions",
    operation_id = "listVersions",
    tag = "history",
    summary = "List a document's versions",
    description = "Every version kept of the document, oldest first: automatic ones (cut when it \
        changed and `--version-interval` passed), named ones, and those cut before a restore.",
    params(DocPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The versions", body = VersionList),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let versions = state.history()?.versions(name.as_str()).await?;
    let body = VersionList {
        versions: versions.into_iter().map(VersionJson::from).collect(),
    };
    Ok(json_body(&body).into_response())
}

/// `POST /api/docs/{doc}/versions`.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/versions",
    operation_id = "createVersion",
    tag = "history",
    summary = "Cut a named version of a document",
    description = "Keeps the document's current state (what this node holds is stored first) \
        as a version with a name, until it is deleted.",
    params(DocPath),
    request_body(content = NewVersionBody, content_type = "application/json"),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 201, description = "The version", body = VersionJson),
        (status = 400, description = "An invalid document name, or a body without a name of 1 to 200 bytes", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "The document was never written", body = ErrorBody),
        (status = 410, description = "The document is deleted", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let subject = authorize_writer(&state, &headers, &uri, &name)?;
    let body: NewVersionBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadQuery(format!("the body is not {{\"name\": \"...\"}}: {e}")))?;
    let label = body.name.trim().to_owned();
    if label.is_empty() || label.len() > MAX_NAME_BYTES || label.chars().any(char::is_control) {
        return Err(AppError::BadQuery(format!(
            "a version's name is 1 to {MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    state.history()?;
    let version = crate::versions::cut(&state, &name, VersionKind::Named, Some(label), subject)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, json_body(&VersionJson::from(version))).into_response())
}

/// `GET /api/docs/{doc}/versions/{id}/update`.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/versions/{id}/update",
    operation_id = "getVersionUpdate",
    tag = "history",
    summary = "Read a version as one Yjs update",
    description = "The document as it was at the version, as one Yjs v1 update \
        (`Y.applyUpdate(new Y.Doc(), body)` shows it; applying it to the live document would \
        merge, not restore: use `.../restore`).",
    params(VersionPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The version's state", content(("application/octet-stream"))),
        (status = 400, description = "An invalid document name or id", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_update(
    State(state): State<AppState>,
    VersionPath(name, id): VersionPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let (_, encoded) = state
        .history()?
        .version(name.as_str(), id)
        .await?
        .ok_or(AppError::NotFoundBecause(NO_VERSION))?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        encoded,
    )
        .into_response())
}

/// `GET /api/docs/{doc}/versions/{id}/json`.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/versions/{id}/json",
    operation_id = "getVersionJson",
    tag = "history",
    summary = "Read a version as JSON",
    description = "The document as it was at the version, rendered as `GET /api/docs/{doc}/json` \
        renders the live one (`field` and `format` alike).",
    params(VersionPath, JsonQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The version as JSON", body = serde_json::Value),
        (status = 400, description = "An invalid document name or id, an unknown format, or one that does not fit", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 404, description = "No such version, or no such root in it", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_json(
    State(state): State<AppState>,
    VersionPath(name, id): VersionPath,
    Query(query): Query<JsonQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
    let format = query.format()?;
    let (_, encoded) = state
        .history()?
        .version(name.as_str(), id)
        .await?
        .ok_or(AppError::NotFoundBecause(NO_VERSION))?;
    render(encoded, query.field, format).await
}

/// `POST /api/docs/{doc}/versions/{id}/restore`.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/versions/{id}/restore",
    operation_id = "restoreVersion",
    tag = "history",
    summary = "Restore a version, as a new edit",
    description = "Makes the document's content equal to the version as a new forward edit: \
        every root type (text, map, array, XML fragment) in one Yjs transaction, stored in the \
        log and received live by every connected editor, which shows the old content without \
        reloading. A version of the current state is cut first (`undo_version`): restoring it \
        undoes this. Clients that were offline merge their edits afterwards as Yjs merges.",
    params(VersionPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Restored and stored; `undo_version` undoes it", body = UpdateOutcome),
        (status = 202, description = "Restored and sent to the editors; not stored yet", body = UpdateOutcome),
        (status = 400, description = "An invalid document name or id", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 410, description = "The document is deleted", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    VersionPath(name, id): VersionPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let subject = authorize_writer(&state, &headers, &uri, &name)?;
    let restored = crate::versions::restore(&state, &name, id, subject)
        .await?
        .ok_or(AppError::NotFoundBecause(NO_VERSION))?;
    Ok(restored_answer(restored, ("version", id)).await)
}

/// A restore's answer: the posted update's status and body, with `undo_version` and what was
/// restored (`("version", id)` or `("at", position)`).
pub(super) async fn restored_answer(
    restored: crate::versions::Restored,
    (key, value): (&str, i64),
) -> Response {
    let (status, mut body) = posted(restored.outcome).await;
    if let Some(fields) = body.as_object_mut() {
        fields.insert(key.into(), value.into());
        fields.insert("undo_version".into(), restored.undo.id.into());
    }
    (status, Json(body)).into_response()
}

/// `DELETE /api/docs/{doc}/versions/{id}`.
#[utoipa::path(
    delete,
    path = "/api/docs/{doc}/versions/{id}",
    operation_id = "deleteVersion",
    tag = "history",
    summary = "Delete a version",
    params(VersionPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An invalid document name or id", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no versions", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    VersionPath(name, id): VersionPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize_write(&state, &headers, &uri, &name)?;
    if state.history()?.delete_version(name.as_str(), id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFoundBecause(NO_VERSION))
    }
}
