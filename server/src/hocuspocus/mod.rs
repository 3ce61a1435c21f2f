//! Tiptap's provider: the Hocuspocus protocol at `/hocuspocus`, on the same documents as `/ws`.
//!
//! One socket carries several documents, each named in every frame (`plait_protocol::hocuspocus`
//! has the framing). Each document the provider names is joined like a y-websocket connection
//! of its own, with [`Acks::SyncStatus`](crate::document::Acks): the document task treats it as
//! any other connection (the same log, snapshots, limits, presence and relay between nodes) and
//! only its acknowledgement differs. `SyncStatus(1)` goes out once the update is committed to
//! SQL, so a provider's `hasUnsyncedChanges` turning false means the edit is stored.
//!
//! # Layout
//! - this module: serving one upgraded socket, and leaving its documents when it ends;
//! - `socket`: the loop: frames to documents, documents' frames to the socket, the clocks;
//! - `auth`: a document's first token (Authenticated or PermissionDenied) and its renewals;
//! - `from_docs`: what the documents queue (frames, acknowledgements, closes) and joins;
//! - `docs`: the socket's documents, and the bounded buffer for those not joined yet;
//! - `events`: joining a document, and its queue as a stream of events.

mod auth;
mod docs;
mod events;
mod from_docs;
mod socket;

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocket;
use futures_util::stream::{FuturesUnordered, SelectAll};
use tokio::time::Instant;
use tracing::debug;

use crate::connection::close_socket;
use crate::linger::Linger;
use crate::state::AppState;
use docs::Docs;
use socket::HpSocket;

/// Counts the socket in `AppState::connections` for as long as it lives.
struct Counted(AppState);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one upgraded Hocuspocus socket until either side closes it.
pub async fn serve(socket: WebSocket, state: AppState, peer: IpAddr, linger: Option<Linger>) {
    state.connections.fetch_add(1, Ordering::AcqRel);
    let _counted = Counted(state.clone());
    let _open = crate::metrics::connection_opened(crate::metrics::Protocol::Hocuspocus);
    let config = &state.config;
    let docs = Docs::new(config.max_documents_per_socket, config.max_message_size);
    let mut hp = HpSocket {
        socket,
        state: state.clone(),
        peer,
        linger,
        docs,
        events: SelectAll::new(),
        joins: FuturesUnordered::new(),
        revoked: flume::bounded(1),
        pings: false,
        next_app_ping: Instant::now(),
    };
    debug!("Hocuspocus connection opened");
    let reason = hp.run().await;
    let slots: Vec<u64> = hp.docs.joined.keys().copied().collect();
    for slot in slots {
        if let Some(joined) = hp.docs.remove_joined(slot) {
            socket::leave(&joined).await;
        }
    }
    if let Some(reason) = &reason {
        debug!(code = reason.code, reason = %reason.reason, "closing Hocuspocus connection");
        if matches!(
            reason.code,
            plait_protocol::codes::MESSAGE_TOO_LARGE | plait_protocol::codes::RATE_LIMITED
        ) {
            state.penalties.strike(peer, PENALTY_KEY);
        }
    }
    close_socket(&mut hp.socket, reason, hp.linger.as_ref()).await;
}

/// The penalty box's key for a Hocuspocus socket closed for its size or rate (it may carry any
/// document, so the upgrade is refused for a while whichever it names).
pub const PENALTY_KEY: &str = "/hocuspocus";
