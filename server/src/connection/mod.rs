//! One WebSocket connection: reads frames, decodes them (protocol crate), hands them to the
//! document task, and writes what the document task queues for it.
//!
//! One task does both directions: an idle connection is one task cell and one socket, not two of
//! each, which is most of what a connection costs. Neither direction can starve the other: a
//! write in progress still gives way to a close request, and a full document queue on the way in
//! keeps the writes on the way out going (see `Connection::deliver_when_room`).
//!
//! # Layout
//! - this module: joining the document, and closing the socket;
//! - `socket`: the connection's loop, both directions;
//! - `deadlines`: its three clocks (ping, silence, token expiry) behind one timer.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use axum::extract::ws::WebSocket;
use plait_protocol::codes;
use plait_protocol::name::DocName;
use tokio::time::Instant;
use tracing::debug;

use crate::auth::Access;
use crate::document::{outbound_queue, Acks, CloseReason, ConnId, ConnLink, OutboundSender};
use crate::error::LoadError;
use crate::linger::Linger;
use crate::registry::Attached;
use crate::state::AppState;
pub(crate) use socket::close_socket;
use socket::Connection;

pub(crate) mod deadlines;
mod socket;

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
    /// The token's grant (authentication on): a revocation of its subject closes the connection.
    pub access: Option<Access>,
    /// For the penalty box.
    pub peer: IpAddr,
    /// Marks the socket to be read to its end once the server closed it (see `crate::linger`).
    pub linger: Option<Linger>,
}

/// Counts the connection in `AppState::connections` for as long as it lives.
struct Counted<'a>(&'a AppState);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one upgraded WebSocket until either side closes it.
///
/// This future is most of what an idle connection costs, so what runs once (joining, closing)
/// is boxed and lives only while it runs. Not an `async fn`: rustc keeps an async fn's arguments
/// apart from the locals they move into, so the socket (368 bytes) and the rest of the arguments
/// were held twice, about 500 bytes more in every connection's task. The `async move` block below
/// uses what it captured in place.
#[allow(clippy::manual_async_fn)]
pub fn serve(
    mut socket: WebSocket,
    state: AppState,
    name: DocName,
    params: ConnParams,
) -> impl std::future::Future<Output = ()> {
    async move {
        state.connections.fetch_add(1, Ordering::AcqRel);
        let _counted = Counted(&state);
        let _open = crate::metrics::connection_opened(crate::metrics::Protocol::YWebsocket);
        let (outbound_tx, outbound) = outbound_queue(
            state.config.outbound_queue,
            state.config.outbound_queue_bytes,
        );
        let (close_tx, close) = flume::bounded::<CloseReason>(1);

        let joined = Box::pin(join(
            &state,
            &name,
            &outbound_tx,
            &close_tx,
            params.read_only,
            Acks::Echo,
            crate::document::author(
                params.access.as_ref().and_then(|a| a.subject.as_deref()),
                "ws",
            ),
        ))
        .await;
        // A revocation of the token's subject closes it through the same channel as the
        // document does. (The document's queue still disconnects when it drops us.)
        let _watched = match (&joined, &params.access) {
            (Ok(_), Some(access)) => state.revocations.watch(access, close_tx.clone()),
            _ => None,
        };
        // Only the document task keeps senders now, so both queues disconnect when it drops us.
        drop((outbound_tx, close_tx));
        let (attached, conn_id) = match joined {
            Ok(joined) => joined,
            Err(error) => {
                let code = match error {
                    LoadError::ShuttingDown => codes::GOING_AWAY,
                    LoadError::Deleted => codes::DELETED,
                    LoadError::Storage(_) | LoadError::KeptUnloading => codes::TRY_AGAIN_LATER,
                };
                let reason = CloseReason::new(code, error.to_string());
                Box::pin(close_socket(
                    &mut socket,
                    Some(reason),
                    params.linger.as_ref(),
                ))
                .await;
                return;
            }
        };
        debug!(conn_id, read_only = params.read_only, "connected");

        let mut conn = Connection {
            socket: &mut socket,
            state: &state,
            attached: &attached,
            doc: &name,
            peer: params.peer,
            linger: params.linger.as_ref(),
            conn_id,
            outbound,
            close,
        };
        let reason = conn.run(params.expires_at.map(deadline_from)).await;
        Box::pin(conn.leave(reason)).await;
        debug!(conn_id, "disconnected");
    }
}

/// A wall-clock expiry as a tokio deadline (already past: now).
pub(crate) fn deadline_from(at: SystemTime) -> Instant {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

/// Attaches to the document and joins its task, looking it up again if it unloaded meanwhile.
pub(crate) async fn join(
    state: &AppState,
    name: &DocName,
    outbound: &OutboundSender,
    close: &flume::Sender<CloseReason>,
    read_only: bool,
    acks: Acks,
    author: std::sync::Arc<str>,
) -> Result<(Attached, ConnId), LoadError> {
    for _ in 0..JOIN_ATTEMPTS {
        let attached = state.registry.attach(name).await?;
        let link = ConnLink {
            outbound: outbound.clone(),
            close: close.clone(),
            read_only,
            acks,
            author: author.clone(),
        };
        if let Ok(joined) = attached.handle.join(link).await {
            return Ok((attached, joined.conn_id));
        }
    }
    Err(LoadError::KeptUnloading)
}
