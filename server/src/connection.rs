//! One WebSocket connection: reads frames, decodes them (protocol crate), hands them to the
//! document task, and writes what the document task queues for it.
//!
//! The socket is split in two halves so that a client that stops reading (its TCP window full)
//! blocks only its own writer half; the reader half, the keepalive and the close signal go on.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use plait_protocol::codes;
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::name::DocName;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::document::{truncate_reason, CloseReason, Command, ConnLink};
use crate::error::LoadError;
use crate::state::AppState;

/// How many times a connection looks its document up again when the document unloaded between
/// the lookup and the join.
const JOIN_ATTEMPTS: usize = 3;

/// Serves one upgraded WebSocket until either side closes it.
pub async fn serve(socket: WebSocket, state: AppState, name: DocName, read_only: bool) {
    let (mut sink, mut stream) = socket.split();
    let (outbound_tx, mut outbound_rx) = mpsc::channel::<Bytes>(state.config.outbound_queue);
    let (close_tx, mut close_rx) = mpsc::channel::<CloseReason>(1);

    let joined = join(&state, &name, &outbound_tx, &close_tx, read_only).await;
    let (attached, conn_id) = match joined {
        Ok(joined) => joined,
        Err(error) => {
            let code = match error {
                LoadError::ShuttingDown => codes::GOING_AWAY,
                LoadError::Storage(_) => codes::TRY_AGAIN_LATER,
            };
            let reason = truncate_reason(&error.to_string());
            let _ = sink
                .send(WsMessage::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
            return;
        }
    };
    // Only the document task keeps senders now, so the writer half ends when it drops us.
    drop(outbound_tx);
    debug!(conn_id, "connected");

    let done = CancellationToken::new();
    let ping_interval = state.config.ping_interval;
    let writer_done = done.clone();
    let shutdown = state.shutdown.clone();
    let writer = tokio::spawn(async move {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
        let close = loop {
            tokio::select! {
                biased;
                reason = close_rx.recv() => break reason,
                _ = shutdown.cancelled() => break Some(CloseReason::new(codes::GOING_AWAY, "server shutting down")),
                _ = writer_done.cancelled() => break None,
                frame = outbound_rx.recv() => match frame {
                    Some(frame) => {
                        if sink.send(WsMessage::Binary(frame)).await.is_err() {
                            break None;
                        }
                    }
                    None => break None,
                },
                _ = ping.tick() => {
                    if sink.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                        break None;
                    }
                }
            }
        };
        if let Some(CloseReason { code, reason }) = close {
            debug!(code, %reason, "closing connection");
            // Bounded: a peer that never reads must not keep this task alive.
            let frame = WsMessage::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = tokio::time::timeout(Duration::from_secs(5), sink.send(frame)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        writer_done.cancel();
    });

    let limits = Limits {
        max_message_size: state.config.max_message_size,
    };
    let silence_limit = ping_interval * 2;
    loop {
        let next = tokio::select! {
            _ = done.cancelled() => break,
            next = tokio::time::timeout(silence_limit, stream.next()) => next,
        };
        let reason = match next {
            Err(_) => Some(CloseReason::new(
                codes::IDLE_TIMEOUT,
                "no message or pong within the keepalive window",
            )),
            Ok(None) | Ok(Some(Ok(WsMessage::Close(_)))) => None,
            Ok(Some(Ok(WsMessage::Binary(data)))) => match decode_frame(&data, &limits) {
                Ok(messages) if messages.is_empty() => continue,
                Ok(messages) => {
                    let command = Command::Messages { conn_id, messages };
                    if attached.handle.send(command).await.is_err() {
                        Some(CloseReason::new(codes::GOING_AWAY, "document closed"))
                    } else {
                        continue;
                    }
                }
                Err(error) => {
                    info!(conn_id, %error, len = data.len(), "malformed frame; closing connection");
                    Some(CloseReason::new(
                        error.close_code(),
                        truncate_reason(&error.to_string()),
                    ))
                }
            },
            Ok(Some(Ok(WsMessage::Text(_)))) => {
                info!(conn_id, "text frame; closing connection");
                Some(CloseReason::new(
                    codes::UNSUPPORTED_DATA,
                    "text frames are not part of the y-websocket protocol",
                ))
            }
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            Ok(Some(Err(error))) => {
                let text = error.to_string();
                info!(conn_id, error = %text, "websocket error; closing connection");
                let code = if text.contains("too long")
                    || text.contains("Space limit")
                    || text.contains("size")
                {
                    codes::MESSAGE_TOO_BIG
                } else {
                    codes::PROTOCOL_ERROR
                };
                Some(CloseReason::new(code, truncate_reason(&text)))
            }
        };
        if let Some(reason) = reason {
            let _ = close_tx.try_send(reason);
        }
        break;
    }
    let _ = attached.handle.send(Command::Leave { conn_id }).await;
    done.cancel();
    if writer.await.is_err() {
        warn!(conn_id, "connection writer task failed");
    }
    debug!(conn_id, "disconnected");
}

/// Attaches to the document and joins its task, looking it up again if it unloaded meanwhile.
async fn join(
    state: &AppState,
    name: &DocName,
    outbound: &mpsc::Sender<Bytes>,
    close: &mpsc::Sender<CloseReason>,
    read_only: bool,
) -> Result<(crate::registry::Attached, u64), LoadError> {
    for _ in 0..JOIN_ATTEMPTS {
        let attached = state.registry.attach(name).await?;
        let link = ConnLink {
            outbound: outbound.clone(),
            close: close.clone(),
            read_only,
        };
        if let Ok(joined) = attached.handle.join(link).await {
            return Ok((attached, joined.conn_id));
        }
    }
    Err(LoadError::Storage(
        "document kept unloading while joining".into(),
    ))
}
