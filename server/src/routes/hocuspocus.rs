//! `GET /hocuspocus` (the Hocuspocus protocol's upgrade) and `POST /api/docs/{doc}/stateless`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use plait_cluster::payload::broadcast_capacity;
use serde::Serialize;
use tracing::{debug_span, info, Instrument};
use utoipa::ToSchema;

use super::{authorize_write, json_body, DocPath, ErrorBody, READ_BUFFER, WRITE_BUFFER};
use crate::auth::origin_allowed;
use crate::document::Command;
use crate::error::AppError;
use crate::hocuspocus::{self, PENALTY_KEY};
use crate::linger::Linger;
use crate::state::AppState;

/// `GET /hocuspocus`: the Hocuspocus endpoint. No document in the path: the provider names them
/// in its frames, and sends each document's token in them too, so only what concerns the
/// socket is refused here (origin, the connection limit, a recent size or rate violation).
#[utoipa::path(
    get,
    path = "/hocuspocus",
    operation_id = "openHocuspocus",
    tag = "websocket",
    summary = "Open a WebSocket in the Hocuspocus protocol",
    description = "The endpoint of a stock `HocuspocusProvider` (or Tiptap's collaboration \
        extension): `url: 'ws://host:1234/hocuspocus'`. No document in the path: the provider \
        names its documents in its frames, and sends each document's token in them too \
        (refused per document with a permission-denied message), so only what concerns the \
        socket is refused here: the origin, the connection limit, a recent size or rate \
        violation. Several documents may share one socket.",
    params(
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Connection" = String, Header, description = "`Upgrade`"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`"),
        ("Sec-WebSocket-Key" = String, Header, description = "The client's handshake key"),
        ("Origin" = Option<String>, Header, description = "A browser's origin: with \
            `--allowed-origins` set, only those origins may connect"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open (Hocuspocus protocol)"),
        (status = 400, description = "Not a WebSocket upgrade request", body = String, content_type = "text/plain"),
        (status = 403, description = "The `Origin` is not allowed (`--allowed-origins`)", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = String, content_type = "text/plain"),
        (status = 429, description = "This client was closed for a size or rate violation moments ago and reconnects too soon", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The server's connection limit is reached (`--max-connections`)", body = ErrorBody),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    linger: Option<Extension<Linger>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    if !origin_allowed(&state.config.allowed_origins, &headers) {
        info!(origin = ?headers.get(header::ORIGIN), "Hocuspocus origin refused");
        return Err(AppError::OriginNotAllowed);
    }
    let peer = state.config.trusted_proxies.client_ip(peer.ip(), &headers);
    if let Some(wait) = state.penalties.remaining(peer, PENALTY_KEY) {
        return Err(AppError::Penalized(wait.as_secs().max(1)));
    }
    if state.connections.load(Ordering::Acquire) >= state.config.max_connections {
        return Err(AppError::TooManyConnections(
            "server connection limit reached; retry later",
        ));
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let limit = state.config.max_message_size;
    let linger = linger.map(|Extension(linger)| linger);
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let span = debug_span!("hocuspocus", peer = %peer);
            hocuspocus::serve(socket, state, peer, linger).instrument(span)
        }))
}

/// `POST /api/docs/{doc}/stateless`: the body (UTF-8 text, as is) goes to every Hocuspocus
/// provider of the document, on this node and on the others (`onStateless`). 202: sent to the
/// documents' connections as they are now; a provider that is not connected does not get it.
#[utoipa::path(
    post,
    path = "/api/docs/{doc}/stateless",
    operation_id = "sendStateless",
    tag = "documents",
    summary = "Send a stateless message to a document's Hocuspocus providers",
    description = "The body (UTF-8 text, as is) goes as a stateless message to every Hocuspocus \
        provider of the document, on this node and on the others (`onStateless`). Accepted: sent \
        to the document's connections as they are now; a provider that is not connected does not \
        get it.",
    params(DocPath),
    request_body(description = "UTF-8 text, at most `--max-message-size` bytes (with several \
        nodes, at most what one cluster message holds)", content = String, content_type = "text/plain"),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 202, description = "Sent to the document's connections on every node", body = StatelessSent),
        (status = 400, description = "An invalid document name, a body that is not UTF-8, or (with \
            several nodes) a body larger than one cluster message holds", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 403, description = "The token does not cover this document, or is read-only", body = ErrorBody),
        (status = 413, description = "The body is over `--max-message-size`", body = String, content_type = "text/plain"),
    )
)]
pub async fn post_stateless(
    State(state): State<AppState>,
    DocPath(name): DocPath,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    authorize_write(&state, &headers, &uri, &name)?;
    let payload = std::str::from_utf8(&body)
        .map_err(|_| AppError::BadQuery("the stateless payload must be UTF-8 text".into()))?;
    let broadcaster = state.registry.broadcaster();
    // A payload another node could not be told of is refused rather than half delivered.
    let capacity = broadcast_capacity(name.as_str().len());
    if broadcaster.is_some() && payload.len() > capacity {
        return Err(AppError::BadQuery(format!(
            "a stateless payload holds at most {capacity} bytes with several nodes"
        )));
    }
    let payload: Arc<str> = Arc::from(payload);
    let here = match state.registry.running(&name) {
        Some(handle) => {
            let payload = payload.clone();
            handle.send(Command::Stateless { payload }).await.is_ok()
        }
        None => false,
    };
    if let Some(broadcaster) = broadcaster {
        broadcaster.stateless(&name, &payload);
    }
    let body = StatelessSent {
        doc: name.as_str(),
        bytes: payload.len(),
        loaded_here: here,
    };
    Ok((StatusCode::ACCEPTED, json_body(&body)).into_response())
}

/// `POST /api/docs/{doc}/stateless`'s body.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatelessSent<'a> {
    /// The document's name.
    #[schema(value_type = String)]
    doc: &'a str,
    /// The payload's length in bytes.
    bytes: usize,
    /// Whether the document is loaded on this node (its providers here got the message).
    loaded_here: bool,
}
