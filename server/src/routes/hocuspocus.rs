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
use axum::{Extension, Json};
use plait_cluster::payload::broadcast_capacity;
use serde_json::json;
use tracing::{debug_span, info, Instrument};

use super::{authorize_write, DocPath, READ_BUFFER, WRITE_BUFFER};
use crate::auth::origin_allowed;
use crate::document::Command;
use crate::error::AppError;
use crate::hocuspocus::{self, PENALTY_KEY};
use crate::linger::Linger;
use crate::state::AppState;

/// `GET /hocuspocus`: the Hocuspocus endpoint. No document in the path: the provider names them
/// in its frames, and sends each document's token in them too, so only what concerns the
/// socket is refused here (origin, the connection limit, a recent size or rate violation).
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
    let body = json!({ "doc": name.as_str(), "bytes": payload.len(), "loaded_here": here });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
