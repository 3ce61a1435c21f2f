//! HTTP handlers: the WebSocket upgrade, health probes and the document API. Handlers stay thin:
//! they validate input and call the registry, the store or the connection module.

pub mod catalog;
pub mod changes;
pub mod content;
pub mod docs;
pub mod history;
pub mod hocuspocus;
pub mod metrics;
pub mod past;
pub mod revocations;
mod scope;
pub mod trash;
pub mod versions;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use plait_protocol::name::DocName;
use serde::{Deserialize, Serialize};
use tracing::{debug_span, info, Instrument};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::ToSchema;

use crate::auth::{origin_allowed, token_from_request, Access, AuthError};
use crate::connection::{self, ConnParams};
use crate::error::AppError;
use crate::linger::Linger;
use crate::state::AppState;

/// WebSocket read buffer per connection, and the most read per syscall beyond the frame being
/// read: sync messages are mostly tens of bytes, and a larger frame reserves its whole length
/// anyway. At 4 KiB this buffer was a third of an idle connection's memory.
pub(crate) const READ_BUFFER: usize = 512;

/// Frames are written to the socket once this many bytes are buffered or at a flush; the
/// connection flushes after each run of queued frames, so several go out in one syscall.
pub(crate) const WRITE_BUFFER: usize = 16 * 1024;

/// The `{doc}` of a route, percent-decoded and validated. A bad name is refused before the
/// handler runs, with a 400 and its reason in the same JSON as every other error.
pub struct DocPath(pub DocName);

impl<S: Send + Sync> FromRequestParts<S> for DocPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(DocPath(DocName::parse(&raw)?))
    }
}

/// How the OpenAPI description shows the `{doc}` of the `/api/docs/{doc}...` routes.
impl utoipa::IntoParams for DocPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1));
        vec![ParameterBuilder::new()
            .name("doc")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "The document name, percent-encoded: a name with `/` is sent as `%2F` \
                 (`team-a%2Fnotes`). Once decoded: 1 to 255 bytes of UTF-8, no control \
                 characters and no invisible format characters (bidi overrides, zero-width \
                 spaces); a name that breaks these rules answers 400.",
            ))
            .schema(Some(name))
            .example(Some(serde_json::json!("team-a%2Fnotes")))
            .build()]
    }
}

/// The body of every refusal: `{"error": "..."}`, as `AppError` answers (see `crate::error`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Why, in a sentence.
    #[schema(example = "document not found")]
    pub error: String,
}

/// A JSON body written as the API always wrote it: through a [`serde_json::Value`], whose objects
/// list their keys in alphabetical order whatever the order of the struct's fields.
pub(crate) fn json_body<T: Serialize>(body: &T) -> Json<serde_json::Value> {
    // Cannot fail: the bodies are structs of strings, numbers and booleans.
    Json(serde_json::to_value(body).unwrap_or_default())
}

/// `GET /ws/{doc}`: the y-websocket endpoint. Everything that can be refused is refused here,
/// before the upgrade, with an HTTP status and a reason: a refused upgrade also makes stock
/// providers back off, which a closed WebSocket does not always do.
#[utoipa::path(
    get,
    path = "/ws/{doc}",
    operation_id = "openWebSocket",
    tag = "websocket",
    summary = "Open a document over a WebSocket (y-websocket protocol)",
    description = "The endpoint of a stock y-websocket `WebsocketProvider` \
        (`new WebsocketProvider('ws://host:1234/ws', 'notes', ydoc)`). Everything that can be \
        refused is refused before the upgrade, with an HTTP status and a JSON reason. After the \
        upgrade the socket carries the y-websocket protocol in binary frames (sync and awareness \
        messages); the server closes it with a 4xxx code and a reason when it must (an expired \
        token: 4401; a read-only token that writes: 4403; a frame over `--max-message-size`: \
        4413; too many messages: 4429).",
    params(
        ("doc" = String, Path, description = "The document name, appended to the URL as y-websocket \
            does: `/` may stand as is (`/ws/team-a/notes`) or percent-encoded. Once decoded: 1 to \
            255 bytes of UTF-8, no control characters and no invisible format characters."),
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Connection" = String, Header, description = "`Upgrade`"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`"),
        ("Sec-WebSocket-Key" = String, Header, description = "The client's handshake key"),
        ("Origin" = Option<String>, Header, description = "A browser's origin: with \
            `--allowed-origins` set, only those origins may connect"),
    ),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open (y-websocket protocol)"),
        (status = 400, description = "An invalid document name (JSON), or not a WebSocket upgrade request (plain text)",
            content((ErrorBody = "application/json"), (String = "text/plain"))),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The `Origin` is not allowed (`--allowed-origins`), or the token does not cover this document", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = String, content_type = "text/plain"),
        (status = 429, description = "This client was closed for a size or rate violation moments ago and reconnects too soon", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The server's or the document's connection limit is reached \
            (`--max-connections`, `--max-connections-per-doc`), or the database is down and the server \
            holds as many unsaved edits as it may (`--max-pending-updates`, with `Retry-After`; read-only \
            tokens may still connect)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait (the unsaved-edits refusal only)"))),
    )
)]
pub async fn websocket(
    State(state): State<AppState>,
    // Before the upgrade's own checks, so a bad name gets its reason even from a plain HTTP client.
    DocPath(name): DocPath,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    linger: Option<Extension<Linger>>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    if !origin_allowed(&state.config.allowed_origins, &headers) {
        info!(doc = %name, origin = ?headers.get(header::ORIGIN), "websocket origin refused");
        return Err(AppError::OriginNotAllowed);
    }
    let access = authorize(&state, &headers, &uri, &name)?;
    let peer = state.config.trusted_proxies.client_ip(peer.ip(), &headers);
    if let Some(wait) = state.penalties.remaining(peer, name.as_str()) {
        return Err(AppError::Penalized(wait.as_secs().max(1)));
    }
    let read_only = access.as_ref().is_some_and(|a| !a.mode.can_write());
    // A read-only token cannot add to the backlog, so it may still open the document.
    if !read_only && state.writer.is_full() {
        return Err(AppError::Backlog);
    }
    if state.connections.load(Ordering::Acquire) >= state.config.max_connections {
        return Err(AppError::TooManyConnections(
            "server connection limit reached; retry later",
        ));
    }
    if state.registry.attached(&name) >= state.config.max_connections_per_doc {
        return Err(AppError::TooManyConnections(
            "document connection limit reached; retry later",
        ));
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let params = ConnParams {
        read_only,
        expires_at: access.as_ref().map(|a| a.expires_at),
        access,
        peer,
        linger: linger.map(|Extension(linger)| linger),
    };
    // One frame above the limit is refused with 4413 by the connection.
    let limit = state.config.max_message_size;
    // Boxed: axum's upgrade task keeps the callback's captures for the connection's whole life
    // (168 bytes of them unboxed); the box is emptied when the callback runs.
    let conn = Box::new((state, name, params, peer));
    Ok(ws
        // tungstenite's defaults (128 KiB each) dominate an idle connection's memory; most
        // frames are tiny, and both buffers still grow for a large one.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let (state, name, params, peer) = *conn;
            // A debug span: see `document::spawn`. At the default level the connection's events
            // carry the document and peer themselves (about 0.5 KB less per connection).
            let span = debug_span!("conn", doc = %name, peer = %peer);
            connection::serve(socket, state, name, params).instrument(span)
        }))
}

/// Checks the request's token when authentication is on. `Ok(None)`: authentication is off.
pub(crate) fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    name: &DocName,
) -> Result<Option<Access>, AppError> {
    let Some(auth) = &state.auth else {
        return Ok(None);
    };
    let token = token_from_request(headers, uri.query()).ok_or(AuthError::Missing)?;
    let access = auth
        .verify(&token, name.as_str())
        .and_then(|access| state.revocations.check(&access).map(|()| access))
        .inspect_err(|e| {
            info!(doc = %name, reason = e.reason(), "access refused");
        })?;
    Ok(Some(access))
}

/// Like [`authorize`], for an HTTP request that changes the document. Returns who makes the
/// change, as the log records it (see `document::author`).
pub(crate) fn authorize_write(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    name: &DocName,
) -> Result<std::sync::Arc<str>, AppError> {
    let subject = authorize_writer(state, headers, uri, name)?;
    Ok(crate::document::author(subject.as_deref(), "http"))
}

/// [`authorize`] for a change to `name`: the token (if authentication is on) must allow
/// writing. Returns its subject, for what records who asked (`created_by`, authors).
pub(crate) fn authorize_writer(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    name: &DocName,
) -> Result<Option<String>, AppError> {
    let access = authorize(state, headers, uri, name)?;
    if let Some(access) = &access {
        access.require_write(name.as_str())?;
    }
    Ok(access.and_then(|a| a.subject))
}

/// With authentication on: a valid token whose scope is `*` (and write mode if `write`).
pub(crate) fn authorize_admin(
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
    state.revocations.check_claims(&claims)?;
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

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness: the process is up and serving",
    responses((status = 200, description = "Always `ok`", body = String, content_type = "text/plain", example = "ok")),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`'s body: what the server's readiness depends on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`, or `unreachable` when the database did not answer a ping within 2 s.
    #[schema(example = "ok")]
    database: &'static str,
    /// `ok`, or `retrying` while the writer fails to store what it holds.
    #[schema(example = "ok")]
    writer: &'static str,
    /// Updates applied in memory and not yet stored (the writer's queue), plus those documents
    /// hold back behind other nodes' updates.
    pending_updates: usize,
    /// False once `--max-pending-updates` is reached: edits are refused until the backlog drains.
    accepting_edits: bool,
    /// PostgreSQL only: the nodes sharing the database that this one hears from.
    #[serde(skip_serializing_if = "Option::is_none")]
    other_nodes: Option<usize>,
}

/// `GET /readyz`: the database answers and nothing is stuck waiting to be written.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness: the database answers and nothing is stuck waiting to be written",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready (the database does not answer, the writer is \
            retrying, or the server is shutting down); the body says which", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    let db_ok = matches!(ping, Ok(Ok(())));
    let writer_ok = state.writer.is_healthy();
    let body = Readiness {
        database: if db_ok { "ok" } else { "unreachable" },
        writer: if writer_ok { "ok" } else { "retrying" },
        pending_updates: state.writer.pending(),
        accepting_edits: !state.writer.is_full(),
        other_nodes: state.registry.other_nodes(),
    };
    let status = if db_ok && writer_ok && !state.shutdown.is_cancelled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, json_body(&body)).into_response()
}
