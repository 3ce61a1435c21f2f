//! One WebSocket connection: reads frames, decodes them (protocol crate), hands them to the
//! document task, and writes what the document task queues for it.
//!
//! The socket is split in two halves so that a client that stops reading (its TCP window full)
//! blocks only its own writer half; the reader half, the keepalive and the close signal go on.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use plait_protocol::codes;
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::name::DocName;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::document::{truncate_reason, CloseReason, Command, ConnLink, Outbound};
use crate::error::LoadError;
use crate::rate::TokenBucket;
use crate::registry::Attached;
use crate::state::AppState;

/// How many times a connection looks its document up again when the document unloaded between
/// the lookup and the join.
const JOIN_ATTEMPTS: usize = 3;

/// What the upgrade handler decided about this connection.
#[derive(Debug, Clone)]
pub struct ConnParams {
    /// Read-only connections receive everything; their updates are dropped.
    pub read_only: bool,
    /// When the access token expires (authentication on); the connection is closed then.
    pub expires_at: Option<SystemTime>,
    /// For the penalty box.
    pub peer: IpAddr,
}

/// Counts the connection in `AppState::connections` for as long as it lives.
struct Counted<'a>(&'a AppState);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one upgraded WebSocket until either side closes it.
pub async fn serve(socket: WebSocket, state: AppState, name: DocName, params: ConnParams) {
    state.connections.fetch_add(1, Ordering::AcqRel);
    let _counted = Counted(&state);
    let (mut sink, mut stream) = socket.split();
    let (outbound_tx, outbound_rx) = flume::bounded::<Outbound>(state.config.outbound_queue);
    let (close_tx, close_rx) = flume::bounded::<CloseReason>(1);

    let joined = join(&state, &name, &outbound_tx, &close_tx, params.read_only).await;
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
    debug!(conn_id, read_only = params.read_only, "connected");

    let done = CancellationToken::new();
    let ping_interval = state.config.ping_interval;
    let expires_at = params.expires_at.map(deadline_from);
    let writer_done = done.clone();
    let shutdown = state.shutdown.clone();
    let penalties = state.penalties.clone();
    let (peer, doc) = (params.peer, name.to_string());
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
        let expiry = async {
            match expires_at {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        let close = loop {
            tokio::select! {
                biased;
                reason = close_rx.recv_async() => break reason.ok(),
                _ = shutdown.cancelled() => break Some(CloseReason::new(codes::GOING_AWAY, "server shutting down")),
                _ = writer_done.cancelled() => break None,
                _ = &mut expiry => break Some(CloseReason::new(codes::UNAUTHORIZED, "access token expired")),
                frame = outbound_rx.recv_async() => match frame {
                    Ok(frame) => {
                        if write_queued(&mut sink, frame, &outbound_rx).await.is_err() {
                            break None;
                        }
                    }
                    Err(_) => break None,
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
            if matches!(
                code,
                codes::MESSAGE_TOO_LARGE | codes::DOCUMENT_TOO_LARGE | codes::RATE_LIMITED
            ) {
                penalties.strike(peer, &doc);
            }
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

    let reason = read_loop(&state, &mut stream, &attached, conn_id, &done).await;
    if let Some(reason) = reason {
        let _ = close_tx.try_send(reason);
    }
    let _ = attached.handle.send(Command::Leave { conn_id }).await;
    // Let the writer send the close frame (bounded inside), then stop it.
    if tokio::time::timeout(Duration::from_secs(6), done.cancelled())
        .await
        .is_err()
    {
        done.cancel();
    }
    if writer.await.is_err() {
        warn!(conn_id, "connection writer task failed");
    }
    debug!(conn_id, "disconnected");
}

/// Queue entries written per flush at most, so a long queue still yields to the runtime.
const ENTRIES_PER_FLUSH: usize = 64;

/// Writes `first` and whatever else is already queued, then flushes once: under load one
/// syscall carries many frames instead of one each.
async fn write_queued(
    sink: &mut SplitSink<WebSocket, WsMessage>,
    first: Outbound,
    queue: &flume::Receiver<Outbound>,
) -> Result<(), axum::Error> {
    let mut entry = first;
    for written in 1.. {
        for frame in entry.frames() {
            sink.feed(WsMessage::Binary(frame.clone())).await?;
        }
        if written == ENTRIES_PER_FLUSH {
            break;
        }
        match queue.try_recv() {
            Ok(next) => entry = next,
            Err(_) => break,
        }
    }
    sink.flush().await
}

/// Reads frames until the connection ends; returns why the server closes it, if it does.
async fn read_loop(
    state: &AppState,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    attached: &Attached,
    conn_id: u64,
    done: &CancellationToken,
) -> Option<CloseReason> {
    let limits = Limits {
        max_message_size: state.config.max_message_size,
    };
    let mut bucket = TokenBucket::new(state.config.message_rate, state.config.message_burst);
    // Until the client has said something, the shorter handshake timeout applies: a client that
    // upgrades and never speaks does not hold a connection for the whole idle timeout.
    let mut silence_limit = state.config.handshake_timeout;
    let mut silence_code = codes::HANDSHAKE_TIMEOUT;
    loop {
        let next = tokio::select! {
            _ = done.cancelled() => return None,
            next = tokio::time::timeout(silence_limit, stream.next()) => next,
        };
        let message = match next {
            Err(_) => {
                return Some(CloseReason::new(
                    silence_code,
                    "no message within the timeout",
                ));
            }
            Ok(None) | Ok(Some(Ok(WsMessage::Close(_)))) => return None,
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(error))) => {
                let text = error.to_string();
                info!(conn_id, error = %text, "websocket error; closing connection");
                let code = if text.contains("too long") || text.contains("Space limit") {
                    codes::MESSAGE_TOO_LARGE
                } else {
                    codes::PROTOCOL_ERROR
                };
                return Some(CloseReason::new(code, truncate_reason(&text)));
            }
        };
        silence_limit = state.config.idle_timeout;
        silence_code = codes::IDLE_TIMEOUT;
        let data = match message {
            WsMessage::Binary(data) => data,
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            WsMessage::Text(_) => {
                info!(conn_id, "text frame; closing connection");
                return Some(CloseReason::new(
                    codes::UNSUPPORTED_DATA,
                    "text frames are not part of the y-websocket protocol",
                ));
            }
            WsMessage::Close(_) => return None,
        };
        if !bucket.take(Instant::now()) {
            warn!(conn_id, "message rate limit exceeded; closing connection");
            return Some(CloseReason::new(
                codes::RATE_LIMITED,
                "message rate limit exceeded",
            ));
        }
        match decode_frame(&data, &limits) {
            Ok(messages) if messages.is_empty() => {}
            Ok(messages) => {
                let command = Command::Messages { conn_id, messages };
                if attached.handle.send(command).await.is_err() {
                    return Some(CloseReason::new(codes::GOING_AWAY, "document closed"));
                }
            }
            Err(error) => {
                info!(conn_id, %error, len = data.len(), "malformed frame; closing connection");
                return Some(CloseReason::new(
                    error.close_code(),
                    truncate_reason(&error.to_string()),
                ));
            }
        }
    }
}

/// A wall-clock expiry as a tokio deadline (already past: now).
fn deadline_from(at: SystemTime) -> Instant {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

/// Attaches to the document and joins its task, looking it up again if it unloaded meanwhile.
async fn join(
    state: &AppState,
    name: &DocName,
    outbound: &flume::Sender<Outbound>,
    close: &flume::Sender<CloseReason>,
    read_only: bool,
) -> Result<(Attached, u64), LoadError> {
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
