//! A joined connection's loop: frames from the socket go to the document, what the document
//! queues goes to the socket, and one timer keeps the keepalive, the silence timeout and the
//! token's expiry.

use std::net::IpAddr;

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use plait_protocol::codes;
use plait_protocol::frame::{decode_frame_at_most, Limits};
use plait_protocol::name::DocName;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::deadlines::{Deadlines, Due};
use crate::document::{CloseReason, Command, ConnId, Outbound, OutboundReceiver};
use crate::linger::Linger;
use crate::rate::TokenBucket;
use crate::registry::Attached;
use crate::state::AppState;

/// Queue entries written per flush at most, so a long queue still yields to the runtime.
const ENTRIES_PER_FLUSH: usize = 64;

/// What starts a write: an entry of the outbound queue, or a keepalive ping.
enum Write {
    Queued(Outbound),
    Ping,
}

/// Why the connection stops: `Some` with the reason the server closes it, `None` when the peer
/// is gone or the document dropped it without a reason.
type Stop = Option<CloseReason>;

/// Resolves when the connection must stop whatever it is doing: the document asks it to close
/// (or dropped it), or the server is shutting down.
async fn told_to_stop(close: &flume::Receiver<CloseReason>, state: &AppState) -> Stop {
    tokio::select! {
        biased;
        reason = close.recv_async() => reason.ok(),
        _ = state.shutdown.cancelled() => {
            Some(CloseReason::new(codes::GOING_AWAY, "server shutting down"))
        }
    }
}

fn document_closed() -> Stop {
    Some(CloseReason::new(codes::GOING_AWAY, "document closed"))
}

/// A joined connection: its socket and the document's queues for it.
pub(super) struct Connection<'a> {
    pub(super) socket: &'a mut WebSocket,
    pub(super) state: &'a AppState,
    pub(super) attached: &'a Attached,
    /// The document and the client's address, for the log (and the penalty box).
    pub(super) doc: &'a DocName,
    pub(super) peer: IpAddr,
    pub(super) linger: Option<&'a Linger>,
    pub(super) conn_id: ConnId,
    /// Frames the document task queued for this socket.
    pub(super) outbound: OutboundReceiver,
    /// The document task asks the connection to close (slow consumer, rejected update, ...).
    pub(super) close: flume::Receiver<CloseReason>,
}

impl Connection<'_> {
    /// Serves the connection until it must stop; returns why.
    pub(super) async fn run(&mut self, expires_at: Option<Instant>) -> Stop {
        let state = self.state;
        let config = &state.config;
        let limits = Limits {
            max_message_size: config.max_message_size,
        };
        let mut bucket = TokenBucket::new(config.message_rate, config.message_burst);
        let mut deadlines = Deadlines::new(
            Instant::now(),
            config.ping_interval,
            config.handshake_timeout,
            config.idle_timeout,
            expires_at,
        );
        let timer = tokio::time::sleep_until(deadlines.next());
        tokio::pin!(timer);
        loop {
            // Not biased: under load both the outbound queue and the socket are always ready, and
            // a fixed order would starve one direction.
            tokio::select! {
                stop = told_to_stop(&self.close, state) => return stop,
                entry = self.outbound.recv_async() => {
                    let Ok(entry) = entry else { return self.dropped() };
                    // Boxed: the write's future is large and only alive while writing, and an
                    // idle connection's task would otherwise carry it.
                    if let Err(stop) = Box::pin(self.write(Write::Queued(entry))).await {
                        return stop;
                    }
                }
                _ = &mut timer => {
                    match deadlines.due(Instant::now()) {
                        Due::Expired => {
                            return Some(CloseReason::new(codes::UNAUTHORIZED, "access token expired"));
                        }
                        Due::Silent(code) => {
                            return Some(CloseReason::new(code, "no message within the timeout"));
                        }
                        Due::Ping => {
                            if let Err(stop) = Box::pin(self.write(Write::Ping)).await {
                                return stop;
                            }
                        }
                        Due::Nothing => {}
                    }
                    timer.as_mut().reset(deadlines.next());
                }
                next = self.socket.recv() => {
                    let now = Instant::now();
                    deadlines.heard(now);
                    let data = match self.binary_payload(next) {
                        Ok(Some(data)) => {
                            metrics::counter!(crate::metrics::BYTES_RECEIVED, "protocol" => "y-websocket")
                                .increment(data.len() as u64);
                            data
                        }
                        // A ping or pong costs a token too: a flood of them was answered
                        // without limit (3 million in 6.7 s, a core's worth).
                        Ok(None) if bucket.take(now) => continue,
                        Ok(None) => return Some(self.rate_limited()),
                        Err(stop) => return stop,
                    };
                    // Every message in the frame takes a token, not the frame: one frame of
                    // 40 000 updates was one "message" and was applied whole.
                    let budget = bucket.take_up_to(now, usize::MAX);
                    if budget == 0 {
                        return Some(self.rate_limited());
                    }
                    match decode_frame_at_most(&data, &limits, budget) {
                        Ok(decoded) => {
                            bucket.give_back(budget - decoded.messages.len());
                            if !decoded.messages.is_empty() {
                                let messages = decoded.messages;
                                let command = Command::Messages { conn_id: self.conn_id, messages };
                                if let Err(stop) = self.deliver(command).await {
                                    return stop;
                                }
                            }
                            // What the frame holds past the budget is neither decoded nor applied.
                            if decoded.more {
                                return Some(self.rate_limited());
                            }
                        }
                        Err(error) => {
                            info!(doc = %self.doc, peer = %self.peer, conn_id = self.conn_id, %error, len = data.len(), "malformed frame; closing connection");
                            return Some(CloseReason::new(
                                error.close_code(),
                                error.to_string(),
                            ));
                        }
                    }
                }
            }
        }
    }

    /// The connection sent more messages than its rate allows: closed with 4429.
    fn rate_limited(&self) -> CloseReason {
        crate::metrics::refused("rate");
        warn!(doc = %self.doc, peer = %self.peer, conn_id = self.conn_id, "message rate limit exceeded; closing connection");
        CloseReason::new(codes::RATE_LIMITED, "message rate limit exceeded")
    }

    /// The payload of a binary message: `Ok(None)` for control frames, `Err` when the connection
    /// ends (the peer closed it, or sent something the server closes it for).
    fn binary_payload(
        &self,
        next: Option<Result<WsMessage, axum::Error>>,
    ) -> Result<Option<Bytes>, Stop> {
        match next {
            None | Some(Ok(WsMessage::Close(_))) => Err(None),
            Some(Ok(WsMessage::Binary(data))) => Ok(Some(data)),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Ok(None),
            Some(Ok(WsMessage::Text(_))) => {
                info!(doc = %self.doc, peer = %self.peer, conn_id = self.conn_id, "text frame; closing connection");
                Err(Some(CloseReason::new(
                    codes::UNSUPPORTED_DATA,
                    "text frames are not part of the y-websocket protocol",
                )))
            }
            Some(Err(error)) => {
                let text = error.to_string();
                info!(doc = %self.doc, peer = %self.peer, conn_id = self.conn_id, error = %text, "websocket error; closing connection");
                let code = if text.contains("too long") || text.contains("Space limit") {
                    codes::MESSAGE_TOO_LARGE
                } else {
                    codes::PROTOCOL_ERROR
                };
                Err(Some(CloseReason::new(code, text)))
            }
        }
    }

    /// The document dropped this connection (its queue is disconnected): with the reason it
    /// gave, if any. The reason is sent before the queue is dropped, but an unbiased `select!`
    /// may see the disconnect first.
    fn dropped(&self) -> Stop {
        self.close.try_recv().ok()
    }

    /// Leaves the document (first, so it stops queuing for us and removes our presence at once),
    /// then closes the socket.
    pub(super) async fn leave(self, reason: Stop) {
        let conn_id = self.conn_id;
        let _ = self.attached.handle.send(Command::Leave { conn_id }).await;
        if let Some(reason) = &reason {
            debug!(code = reason.code, reason = %reason.reason, "closing connection");
            if matches!(
                reason.code,
                codes::MESSAGE_TOO_LARGE | codes::DOCUMENT_TOO_LARGE | codes::RATE_LIMITED
            ) {
                self.state.penalties.strike(self.peer, self.doc.as_str());
            }
        }
        close_socket(self.socket, reason, self.linger).await;
    }

    /// Hands a command to the document.
    async fn deliver(&mut self, command: Command) -> Result<(), Stop> {
        match self.attached.handle.try_send(command) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Disconnected(_)) => Err(document_closed()),
            // Boxed: waiting is rare, and its future would otherwise enlarge every connection's
            // task, idle ones included.
            Err(flume::TrySendError::Full(command)) => {
                Box::pin(self.deliver_when_room(command)).await
            }
        }
    }

    /// Waits for room in the document's queue, and meanwhile keeps writing what the document
    /// queues for this connection: back-pressure on the way in must not make this connection
    /// look like a slow consumer on the way out.
    async fn deliver_when_room(&mut self, command: Command) -> Result<(), Stop> {
        let attached = self.attached;
        let send = attached.handle.send(command);
        tokio::pin!(send);
        loop {
            tokio::select! {
                biased;
                sent = &mut send => return sent.map_err(|_| document_closed()),
                stop = told_to_stop(&self.close, self.state) => return Err(stop),
                entry = self.outbound.recv_async() => {
                    let Ok(entry) = entry else { return Err(self.dropped()) };
                    self.write(Write::Queued(entry)).await?;
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued, then flushes once: under load one syscall
    /// carries many frames instead of one each. Gives way to a close request or shutdown, so a
    /// peer that stopped reading cannot hold the connection in a write forever.
    async fn write(&mut self, first: Write) -> Result<(), Stop> {
        let written = write_queued(self.socket, first, &self.outbound);
        tokio::select! {
            biased;
            stop = told_to_stop(&self.close, self.state) => Err(stop),
            result = written => result.map_err(|_| None),
        }
    }
}

async fn write_queued(
    socket: &mut WebSocket,
    first: Write,
    queue: &OutboundReceiver,
) -> Result<(), axum::Error> {
    let mut entry = match first {
        Write::Ping => {
            socket.feed(WsMessage::Ping(Bytes::new())).await?;
            queue.try_recv().ok()
        }
        Write::Queued(entry) => Some(entry),
    };
    let mut written = 0;
    let mut bytes = 0;
    while let Some(current) = entry.take() {
        for frame in current.frames() {
            bytes += frame.len();
            socket.feed(WsMessage::Binary(frame.clone())).await?;
        }
        queue.written(&current);
        written += 1;
        if written < ENTRIES_PER_FLUSH {
            entry = queue.try_recv().ok();
        }
    }
    metrics::counter!(crate::metrics::BYTES_SENT, "protocol" => "y-websocket")
        .increment(bytes as u64);
    socket.flush().await
}

/// How long the close frame may take to leave, and then the closing handshake: a peer that never
/// reads must not keep the task alive.
const CLOSE_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends the close frame (if the server is the one closing) and completes the closing
/// handshake, each bounded in time.
pub(crate) async fn close_socket(
    socket: &mut WebSocket,
    reason: Option<CloseReason>,
    linger: Option<&Linger>,
) {
    crate::metrics::closed(reason.as_ref().map(|r| r.code));
    if let Some(CloseReason { code, reason }) = reason {
        // The client may still be sending: its socket is read to the end once dropped, or the
        // close frame would be lost to a reset (see `crate::linger`).
        if let Some(linger) = linger {
            linger.close_after_draining();
        }
        let frame = WsMessage::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_FRAME_TIMEOUT, socket.send(frame)).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
}
