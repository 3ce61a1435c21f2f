//! One Hocuspocus socket's loop: frames from the provider go to the documents they name, what
//! the documents queue goes back under the address it was asked for, and one timer keeps the
//! keepalives, the silence timeout and every document's token.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use bytes::Bytes;
use futures_util::stream::{BoxStream, FuturesUnordered, SelectAll};
use futures_util::{SinkExt, StreamExt};
use plait_protocol::codes;
use plait_protocol::frame::Limits;
use plait_protocol::hocuspocus::{self, Body, Frame};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::docs::{Docs, HoldError, Waiting};
use super::events::{DocEvent, JoinResult};
use crate::connection::deadlines::{Deadlines, Due};
use crate::document::{CloseReason, Command};
use crate::linger::Linger;
use crate::rate::TokenBucket;
use crate::state::AppState;

/// Why the socket stops: `Some` with the reason the server closes it, `None` when the peer left.
pub(super) type Stop = Option<CloseReason>;

/// How often a 4.x provider is sent an application-level ping: it reconnects after 30 s without
/// any message, and a browser does not count WebSocket pings.
const APP_PING: Duration = Duration::from_secs(10);

/// How long writing one run of frames may take before the peer counts as gone.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// A token is renewed this long before it expires at most (half its remaining life if shorter).
const REFRESH_AHEAD: Duration = Duration::from_secs(30);

pub(super) struct HpSocket {
    pub socket: WebSocket,
    pub state: AppState,
    pub peer: IpAddr,
    pub linger: Option<Linger>,
    pub docs: Docs,
    pub events: SelectAll<BoxStream<'static, (u64, DocEvent)>>,
    pub joins: FuturesUnordered<futures_util::future::BoxFuture<'static, JoinResult>>,
    /// A revocation of a subject whose token opened one of this socket's documents closes the
    /// socket (4401) through this channel.
    pub revoked: (flume::Sender<CloseReason>, flume::Receiver<CloseReason>),
    /// A provider that sent its version (4.x) answers application pings.
    pub pings: bool,
    pub next_app_ping: Instant,
}

impl HpSocket {
    /// Serves the socket until it must stop; returns why.
    pub(super) async fn run(&mut self) -> Stop {
        match self.serve().await {
            Ok(()) => None,
            Err(stop) => stop,
        }
    }

    async fn serve(&mut self) -> Result<(), Stop> {
        let config = self.state.config.clone();
        let limits = Limits {
            max_message_size: config.max_message_size,
        };
        let mut bucket = TokenBucket::new(config.message_rate, config.message_burst);
        let mut deadlines = Deadlines::new(
            Instant::now(),
            config.ping_interval,
            config.handshake_timeout,
            config.idle_timeout,
            None,
        );
        loop {
            let timer = tokio::time::sleep_until(self.next_deadline(&deadlines));
            tokio::select! {
                _ = self.state.shutdown.cancelled() => {
                    return Err(Some(CloseReason::new(codes::GOING_AWAY, "server shutting down")));
                }
                reason = self.revoked.1.recv_async() => return Err(reason.ok()),
                Some((slot, event)) = self.events.next(), if !self.events.is_empty() => {
                    self.on_doc_event(slot, event).await?;
                }
                Some(joined) = self.joins.next(), if !self.joins.is_empty() => {
                    self.on_joined(joined).await?;
                }
                _ = timer => {
                    let now = Instant::now();
                    match deadlines.due(now) {
                        Due::Silent(code) => {
                            return Err(Some(CloseReason::new(code, "no message within the timeout")));
                        }
                        Due::Ping => self.write(vec![WsMessage::Ping(Bytes::new())]).await?,
                        Due::Expired | Due::Nothing => {}
                    }
                    self.on_clock(now).await?;
                }
                next = self.socket.recv() => {
                    let now = Instant::now();
                    deadlines.heard(now);
                    let data = match next {
                        None | Some(Ok(WsMessage::Close(_))) => return Err(None),
                        Some(Ok(WsMessage::Binary(data))) => {
                            metrics::counter!(crate::metrics::BYTES_RECEIVED, "protocol" => "hocuspocus")
                                .increment(data.len() as u64);
                            data
                        }
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                            if bucket.take(now) {
                                continue;
                            }
                            return Err(Some(self.rate_limited()));
                        }
                        Some(Ok(WsMessage::Text(_))) => {
                            return Err(Some(CloseReason::new(
                                codes::UNSUPPORTED_DATA,
                                "text frames are not part of the Hocuspocus protocol",
                            )));
                        }
                        Some(Err(error)) => {
                            let text = error.to_string();
                            info!(peer = %self.peer, error = %text, "websocket error; closing connection");
                            let code = if text.contains("too long") || text.contains("Space limit") {
                                codes::MESSAGE_TOO_LARGE
                            } else {
                                codes::PROTOCOL_ERROR
                            };
                            return Err(Some(CloseReason::new(code, text)));
                        }
                    };
                    // One message per frame: every frame takes a token.
                    if !bucket.take(now) {
                        return Err(Some(self.rate_limited()));
                    }
                    match hocuspocus::decode(&data, &limits) {
                        Ok(Frame::Pong) => {}
                        Ok(Frame::Addressed { address, body }) => {
                            self.on_message(address, body, data.len()).await?;
                        }
                        Err(error) => {
                            info!(peer = %self.peer, %error, len = data.len(), "malformed Hocuspocus frame; closing connection");
                            return Err(Some(CloseReason::new(error.close_code(), error.to_string())));
                        }
                    }
                }
            }
        }
    }

    fn rate_limited(&self) -> CloseReason {
        crate::metrics::refused("rate");
        warn!(peer = %self.peer, "message rate limit exceeded; closing Hocuspocus connection");
        CloseReason::new(codes::RATE_LIMITED, "message rate limit exceeded")
    }

    /// The earliest of the socket's clocks and every document's token clock.
    fn next_deadline(&self, deadlines: &Deadlines) -> Instant {
        let mut next = deadlines.next();
        if self.pings {
            next = next.min(self.next_app_ping);
        }
        for joined in self.docs.joined.values() {
            if let Some(at) = joined.refresh_at {
                next = next.min(at);
            }
            if let Some(at) = joined.expires_at {
                next = next.min(crate::connection::deadline_from(at));
            }
        }
        next
    }

    /// Application pings, token renewals and expiries that are due.
    async fn on_clock(&mut self, now: Instant) -> Result<(), Stop> {
        let mut out = Vec::new();
        if self.pings && now >= self.next_app_ping {
            out.push(WsMessage::Binary(Bytes::from_static(hocuspocus::PING)));
            self.next_app_ping = now + APP_PING;
        }
        let wall = std::time::SystemTime::now();
        let mut expired = Vec::new();
        for (&slot, joined) in &mut self.docs.joined {
            if joined.expires_at.is_some_and(|at| at <= wall) {
                expired.push(slot);
            } else if joined.refresh_at.is_some_and(|at| at <= now) {
                joined.refresh_at = None;
                out.push(binary(hocuspocus::token_request(&joined.address)));
            }
        }
        for slot in expired {
            if let Some(joined) = self.docs.remove_joined(slot) {
                info!(doc = %joined.name, "access token expired; the provider did not renew it");
                out.push(binary(hocuspocus::permission_denied(
                    &joined.address,
                    "access token expired",
                )));
                out.push(binary(hocuspocus::close(
                    &joined.address,
                    "access token expired",
                )));
                leave(&joined).await;
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        self.write(out).await
    }

    /// A message for `address`: to its document, held until it is joined, or its token.
    async fn on_message(&mut self, address: &str, body: Body, size: usize) -> Result<(), Stop> {
        if let Some(slot) = self.docs.slot_of(address) {
            return self.for_joined(slot, body).await;
        }
        let waiting_token = matches!(self.docs.waiting.get(address), Some(Waiting::Token { .. }));
        match body {
            Body::Token { token, version }
                if waiting_token || !self.docs.waiting.contains_key(address) =>
            {
                self.pings |= version.is_some();
                self.authenticate(address, &token).await
            }
            // The provider detached before its document was joined.
            Body::Close => {
                self.docs.take_waiting(address);
                Ok(())
            }
            body => match self.docs.hold(address, body, size) {
                Ok(()) => Ok(()),
                Err(HoldError::Full) => Err(Some(CloseReason::new(
                    codes::MESSAGE_TOO_LARGE,
                    "too much sent for documents not yet authenticated",
                ))),
                Err(HoldError::TooManyDocuments) => {
                    let reason = format!(
                        "at most {} documents on one connection",
                        self.docs.max_documents()
                    );
                    self.write(vec![binary(hocuspocus::permission_denied(
                        address, &reason,
                    ))])
                    .await
                }
            },
        }
    }

    /// A message for a joined document.
    pub(super) async fn for_joined(&mut self, slot: u64, body: Body) -> Result<(), Stop> {
        match body {
            Body::Doc(message) => {
                let Some(joined) = self.docs.joined.get(&slot) else {
                    return Ok(());
                };
                let handle = joined.attached.handle.clone();
                let command = Command::Messages {
                    conn_id: joined.conn_id,
                    messages: vec![message],
                };
                self.deliver(&handle, command).await
            }
            Body::Token { token, version } => {
                self.pings |= version.is_some();
                self.renew(slot, &token).await
            }
            Body::Stateless(payload) => {
                debug!(
                    len = payload.len(),
                    "stateless message from a provider; dropped"
                );
                Ok(())
            }
            Body::Close => {
                if let Some(joined) = self.docs.remove_joined(slot) {
                    leave(&joined).await;
                }
                Ok(())
            }
        }
    }

    /// Hands a command to a document, writing what the documents queue meanwhile if its queue
    /// is full (back-pressure on the way in must not look like a slow consumer on the way out).
    async fn deliver(
        &mut self,
        handle: &crate::document::DocHandle,
        command: Command,
    ) -> Result<(), Stop> {
        let command = match handle.try_send(command) {
            Ok(()) => return Ok(()),
            Err(flume::TrySendError::Disconnected(_)) => return Err(document_closed()),
            Err(flume::TrySendError::Full(command)) => command,
        };
        let send = handle.send(command);
        tokio::pin!(send);
        loop {
            tokio::select! {
                biased;
                sent = &mut send => return sent.map_err(|_| document_closed()),
                _ = self.state.shutdown.cancelled() => {
                    return Err(Some(CloseReason::new(codes::GOING_AWAY, "server shutting down")));
                }
                Some((slot, event)) = self.events.next(), if !self.events.is_empty() => {
                    self.on_doc_event(slot, event).await?;
                }
            }
        }
    }

    /// Writes `frames` and flushes, giving way to shutdown, and at most [`WRITE_STALL`].
    pub(super) async fn write(&mut self, frames: Vec<WsMessage>) -> Result<(), Stop> {
        if frames.is_empty() {
            return Ok(());
        }
        let bytes: usize = frames
            .iter()
            .map(|frame| match frame {
                WsMessage::Binary(data) => data.len(),
                _ => 0,
            })
            .sum();
        metrics::counter!(crate::metrics::BYTES_SENT, "protocol" => "hocuspocus")
            .increment(bytes as u64);
        let socket = &mut self.socket;
        let written = async move {
            for frame in frames {
                socket.feed(frame).await?;
            }
            socket.flush().await
        };
        tokio::select! {
            biased;
            _ = self.state.shutdown.cancelled() => {
                Err(Some(CloseReason::new(codes::GOING_AWAY, "server shutting down")))
            }
            result = tokio::time::timeout(WRITE_STALL, written) => match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) | Err(_) => Err(None),
            }
        }
    }
}

/// Leaves a document this socket no longer serves.
pub(super) async fn leave(joined: &super::docs::Joined) {
    let conn_id = joined.conn_id;
    let _ = joined
        .attached
        .handle
        .send(Command::Leave { conn_id })
        .await;
}

pub(super) fn binary(frame: Vec<u8>) -> WsMessage {
    WsMessage::Binary(Bytes::from(frame))
}

pub(super) fn document_closed() -> Stop {
    Some(CloseReason::new(codes::GOING_AWAY, "document closed"))
}

/// When to ask for a fresh token expiring at `at`: [`REFRESH_AHEAD`] before, or halfway there.
pub(super) fn refresh_at(at: std::time::SystemTime) -> Instant {
    let now = Instant::now();
    let expires = crate::connection::deadline_from(at);
    let left = expires.saturating_duration_since(now);
    expires - REFRESH_AHEAD.min(left / 2)
}
