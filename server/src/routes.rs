//! HTTP handlers: the WebSocket upgrade, health probes and the document API. Handlers stay thin:
//! they validate input and call the registry, the store or the connection module.

pub mod changes;
pub mod hocuspocus;

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
use plait_storage::store::rebuild_blocking;
use serde_json::json;
use tracing::{debug_span, info, Instrument};

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

/// `GET /ws/{doc}`: the y-websocket endpoint. Everything that can be refused is refused here,
/// before the upgrade, with an HTTP status and a reason: a refused upgrade also makes stock
/// providers back off, which a closed WebSocket does not always do.
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
        expires_at: access.map(|a| a.expires_at),
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
    let access = auth.verify(&token, name.as_str()).inspect_err(|e| {
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
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers and nothing is stuck waiting to be written.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    let db_ok = matches!(ping, Ok(Ok(())));
    let writer_ok = state.writer.is_healthy();
    let mut body = json!({
        "database": if db_ok { "ok" } else { "unreachable" },
        "writer": if writer_ok { "ok" } else { "retrying" },
        // The writer's queue, and what documents hold back behind other nodes' updates.
        "pending_updates": state.writer.pending() + state.registry.held(),
        // False once `--max-pending-updates` is reached: edits are refused until the backlog
        // drains.
        "accepting_edits": !state.writer.is_full(),
    });
    if let Some(nodes) = state.registry.other_nodes() {
        // PostgreSQL only: the nodes sharing the database that this one hears from.
        body["other_nodes"] = json!(nodes);
    }
    let status = if db_ok && writer_ok && !state.shutdown.is_cancelled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /api/docs/{doc}/update`: the full state as one Yjs v1 update.
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

/// `POST /api/docs/{doc}/update`: apply a Yjs v1 update from the body; connected clients get it.
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
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({
                "error": "the update depends on content this document does not have; \
                          apply its dependencies first",
                "applied": outcome.durable.is_some(),
            })),
        )
            .into_response());
    }
    let response = match outcome.durable {
        None => (
            StatusCode::OK,
            Json(json!({ "applied": false, "durable": true })),
        ),
        Some(durable) => match tokio::time::timeout(DURABLE_WAIT, durable).await {
            Ok(Ok(seq)) => (
                StatusCode::OK,
                Json(json!({ "applied": true, "durable": true, "seq": seq })),
            ),
            // Applied in memory and queued; the writer keeps retrying until it is in SQL.
            _ => (
                StatusCode::ACCEPTED,
                Json(json!({ "applied": true, "durable": false })),
            ),
        },
    };
    Ok(response.into_response())
}

/// `GET /api/docs/{doc}`: how the document is stored (for the demo's storage panel). A document
/// never written answers 200 with `"stored": false` and zero figures, so a page can poll it
/// from the first keystroke without error responses.
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
    let mut body = match stats.map(serde_json::to_value) {
        Some(Ok(value)) => value,
        _ => json!({
            "name": name.as_str(), "log_updates": 0, "log_bytes": 0, "snapshot_bytes": 0,
            "snapshot_seq": 0, "last_seq": 0, "created_at": null, "last_write_at": null,
            "quarantined": 0,
        }),
    };
    if let Some(object) = body.as_object_mut() {
        object.insert("stored".into(), json!(stored));
        object.insert("loaded".into(), json!(figures.is_some()));
        object.insert(
            "connections".into(),
            json!(figures.map_or(0, |f| f.connections)),
        );
        object.insert("pending".into(), json!(figures.map_or(0, |f| f.pending)));
        if let Some(nodes) = state.registry.open_elsewhere(&name) {
            // PostgreSQL only: the other nodes that have the document open.
            object.insert("other_nodes".into(), json!(nodes));
        }
    }
    Ok(Json(body).into_response())
}
