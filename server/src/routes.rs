//! HTTP handlers: the WebSocket upgrade, health probes and the document API. Handlers stay thin:
//! they validate input and call the registry, the store or the connection module.

pub mod changes;
pub mod hocuspocus;
pub mod metrics;
pub mod revocations;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use plait_protocol::name::DocName;
use plait_storage::store::{rebuild_blocking, DocStats, Seq};
use serde::{Deserialize, Serialize};
use tracing::{debug_span, info, Instrument};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::ToSchema;

use crate::auth::{origin_allowed, token_from_request, Access, AuthError};
use crate::connection::{self, ConnParams};
use crate::error::{AppError, LoadError};
use crate::linger::Linger;
use crate::state::AppState;

/// WebSocket read buffer per connection, and the most read per syscall beyond the frame being
/// read: sync messages are mostly tens of bytes, and a larger frame reserves its whole length
/// anyway. At 4 KiB this buffer was a third of an idle connection's memory.
pub(crate) const READ_BUFFER: usize = 512;

/// Frames are written to the socket once this many bytes are buffered or at a flush; the
/// connection flushes after each run of queued frames, so several go out in one syscall.
pub(crate) const WRITE_BUFFER: usize = 16 * 1024;

/// How long `POST .../update` waits for the update to reach SQL before answering 202 instead of 200.
const DURABLE_WAIT: Duration = Duration::from_secs(10);

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
fn authorize(
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

/// Like [`authorize`], for an HTTP request that changes the document.
pub(crate) fn authorize_write(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    name: &DocName,
) -> Result<(), AppError> {
    if let Some(access) = authorize(state, headers, uri, name)? {
        access.require_write(name.as_str())?;
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
        pending_updates: state.writer.pending() + state.registry.held(),
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

/// `GET /api/docs/{doc}/update`: the full state as one Yjs v1 update.
#[utoipa::path(
    get,
    path = "/api/docs/{doc}/update",
    operation_id = "getDocumentUpdate",
    tag = "documents",
    summary = "Read a document as one Yjs update",
    description = "The document's whole state as one Yjs v1 update \
        (`Y.applyUpdate(ydoc, new Uint8Array(body))`), with what connected clients have sent \
        and the database may not have stored yet.",
    params(DocPath),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The state as a Yjs v1 update", content(("application/octet-stream"))),
        (status = 400, description = "An invalid document name", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document", body = ErrorBody),
        (status = 404, description = "The document was never written", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn get_update(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    authorize(&state, &headers, &uri, &name)?;
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

async fn stored_state(state: &AppState, name: &DocName) -> Result<Option<Vec<u8>>, AppError> {
    let Some(stored) = state.store.load(name.as_str()).await? else {
        return Ok(None);
    };
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
    authorize_write(&state, &headers, &uri, &name)?;
    if state.writer.is_full() {
        return Err(AppError::Backlog);
    }
    let attached = state.registry.attach(&name).await?;
    let outcome = attached
        .handle
        .post_update(body)
        .await
        .map_err(|_| AppError::Unavailable(LoadError::ShuttingDown))??;
    if outcome.incomplete {
        // What could be integrated was (and is being stored); the rest needs content first.
        let body = UpdateIncomplete {
            error: "the update depends on content this document does not have; \
                    apply its dependencies first",
            applied: outcome.durable.is_some(),
        };
        return Ok((StatusCode::CONFLICT, json_body(&body)).into_response());
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
    Ok((status, json_body(&body)).into_response())
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
