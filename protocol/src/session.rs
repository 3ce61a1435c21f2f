//! Per-connection protocol logic: what to do with each decoded message.
//!
//! Everything here is pure: the server decodes a frame with [`crate::frame::decode_frame`], calls
//! [`handle`] for each message in the task that owns the document, and routes the returned
//! [`Outgoing`] frames. Nothing here touches a socket, a task or a database.

mod doc_state;
mod integrity;
pub mod presence;
mod replay;

pub use doc_state::{DocLimits, DocState, Integrated};
pub use presence::Presence;
pub use replay::{replay, Position, Refused, Replayed};

use crate::error::ProtocolError;
use crate::frame::{decode_awareness, encode_awareness, encode_awareness_pieces};
use bytes::Bytes;
use std::collections::HashSet;
use std::time::Instant;
use yrs::block::ClientID;
use yrs::sync::awareness::AwarenessUpdateSummary;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};

/// Per-connection protocol state.
///
/// It exists because a connection that drops without saying goodbye leaves its awareness states
/// (cursors, names) behind; remembering which client ids this connection introduced lets
/// [`close`] remove exactly those, as the y-websocket server does.
#[derive(Debug, Default)]
pub struct Session {
    /// Updates from a read-only connection are dropped (not an error: the client keeps working
    /// locally and its awareness still reaches others).
    read_only: bool,
    /// Awareness client ids this connection set to a non-null state and has not removed since.
    clients: HashSet<ClientID>,
    /// The document's [`DocState::version`] when this connection's last sync step 1 was
    /// answered. A step 1 repeated before the document changes gets an empty step 2: the first
    /// answer and the updates relayed since gave it everything, and one frame of thousands of
    /// step 1s would otherwise queue the whole document thousands of times.
    answered_at: Option<u64>,
}

impl Session {
    /// A new connection; `read_only` connections may read and send awareness but not edit.
    pub fn new(read_only: bool) -> Self {
        Session {
            read_only,
            clients: HashSet::new(),
            answered_at: None,
        }
    }

    /// The awareness client ids this connection introduced and has not removed.
    pub fn awareness_clients(&self) -> impl Iterator<Item = ClientID> + '_ {
        self.clients.iter().copied()
    }

    fn track(&mut self, summary: &AwarenessUpdateSummary) {
        self.clients.extend(summary.added.iter().copied());
        self.clients.extend(summary.updated.iter().copied());
        for id in &summary.removed {
            self.clients.remove(id);
        }
    }
}

/// What to send after handling one message.
///
/// It exists so the sans-IO core can say *to whom* a frame goes without knowing about sockets
/// or broadcast channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A frame for the sender only (step2 answer, awareness query answer). Shared: the answer
    /// to a joiner with an empty state may be the document's cached full state.
    Reply(Bytes),
    /// The v1 update that was integrated (not a frame): relay to the others now, persist it,
    /// and echo it to the sender once durable.
    Update(Vec<u8>),
    /// Part of the sender's update depended on content the document lacks and was dropped:
    /// close the sender with [`crate::codes::RESYNC`] so it reconnects and resends it with its
    /// dependencies (its sync step 2 carries both).
    Resync,
    /// The awareness states of these clients changed: send [`DocState::awareness_frame`] of
    /// them to every connection INCLUDING the sender (y-websocket's 30 s message timeout relies
    /// on the echo of its own 15 s renewal). Ids rather than a frame, so the server can announce
    /// everything that changed during one drain of its queue in a single frame.
    AwarenessChanged(Vec<ClientID>),
}

/// A sync step 2 carrying the empty update: the answer to a step 1 repeated while the document
/// has not changed.
const EMPTY_STEP2: &[u8] = &[0, 1, 2, 0, 0];

/// Handles one decoded client message against the document. Never panics.
pub fn handle(
    state: &mut DocState,
    session: &mut Session,
    msg: Message,
) -> Result<Vec<Outgoing>, ProtocolError> {
    match msg {
        Message::Sync(SyncMessage::SyncStep1(sv)) => {
            if session.answered_at == Some(state.version()) {
                return Ok(vec![Outgoing::Reply(Bytes::from_static(EMPTY_STEP2))]);
            }
            let frame = state.step2_for(&sv)?;
            session.answered_at = Some(state.version());
            Ok(vec![Outgoing::Reply(frame)])
        }
        Message::Sync(SyncMessage::SyncStep2(update) | SyncMessage::Update(update)) => {
            if session.read_only {
                return Ok(Vec::new());
            }
            let integrated = state.integrate(&update)?;
            let mut out = Vec::new();
            if let Some(delta) = integrated.delta {
                out.push(Outgoing::Update(delta));
            }
            if integrated.incomplete {
                out.push(Outgoing::Resync);
            }
            Ok(out)
        }
        Message::Awareness(update) => handle_awareness(state, session, update),
        Message::AwarenessQuery => {
            // Answer even when nobody is present: the client asked and waits for a reply.
            let update = state.presence().everyone();
            Ok(vec![Outgoing::Reply(Bytes::from(encode_awareness(
                &update,
            )))])
        }
        // Authentication happens at the HTTP upgrade; a client's auth message carries nothing
        // the server acts on.
        Message::Auth(_) => Ok(Vec::new()),
        Message::Custom(tag, _) => Err(ProtocolError::UnknownType(u64::from(tag))),
    }
}

/// How many awareness states one connection may hold. A browser tab holds one; the bound keeps a
/// hostile connection from filling every peer's presence list (and the server's memory) with
/// thousands of fake users in a single message.
pub const MAX_AWARENESS_STATES_PER_CONNECTION: usize = 16;

fn handle_awareness(
    state: &mut DocState,
    session: &mut Session,
    update: AwarenessUpdate,
) -> Result<Vec<Outgoing>, ProtocolError> {
    // Only entries that would be taken count: a y-websocket client sends back every presence
    // change it applies, so each message of a client in a busy room also carries the states of
    // everyone else, with the clocks the server already has.
    let introduced = update
        .clients
        .iter()
        .filter(|(id, entry)| {
            &*entry.json != "null"
                && !session.clients.contains(id)
                && state.presence().accepts(**id, entry.clock)
        })
        .count();
    if session.clients.len() + introduced > MAX_AWARENESS_STATES_PER_CONNECTION {
        return Err(ProtocolError::TooManyAwarenessStates {
            limit: MAX_AWARENESS_STATES_PER_CONNECTION,
        });
    }
    // Nothing changed (every entry was stale): like y-protocols, announce nothing.
    let Some(summary) = state.presence_mut().apply(update) else {
        return Ok(Vec::new());
    };
    session.track(&summary);
    Ok(vec![Outgoing::AwarenessChanged(summary.all_changes())])
}

/// Removes every awareness state `session` introduced and returns the frame announcing the
/// removal to the remaining connections, or `None` if there is nothing to announce.
pub fn close(state: &mut DocState, session: &mut Session) -> Option<Vec<u8>> {
    if session.clients.is_empty() {
        return None;
    }
    let removed = state.presence_mut().remove(session.clients.drain());
    if removed.is_empty() {
        return None;
    }
    state.awareness_frame(&removed)
}

/// Applies the presence another node relayed for its own clients: `payload` is one of the pieces
/// [`presence_for_nodes`] made there. Returns the clients that changed, to announce to this
/// node's connections. Never panics.
pub fn apply_node_presence(
    state: &mut DocState,
    payload: &[u8],
    now: Instant,
) -> Result<Vec<ClientID>, ProtocolError> {
    let update = decode_awareness(payload)?;
    let summary = state.presence_mut().apply_remote(update, now);
    Ok(summary.map(|s| s.all_changes()).unwrap_or_default())
}

/// Removes the other nodes' clients that were not renewed in time (see
/// [`presence::REMOTE_TIMEOUT`]): their ids, whose removal this node announces, and whether any
/// other node's clients remain.
pub fn expire_node_presence(state: &mut DocState, now: Instant) -> presence::Swept {
    state.presence_mut().expire(now)
}

/// What to tell the other nodes of this node's own clients: the entries of those among `changed`
/// (all present ones with `None`, for a node that just opened the document), as awareness
/// payloads of at most `max` bytes each. The second value counts states too large to relay.
pub fn presence_for_nodes(
    state: &DocState,
    changed: Option<&HashSet<ClientID>>,
    max: usize,
) -> (Vec<Vec<u8>>, usize) {
    let presence = state.presence();
    let update = match changed {
        Some(changed) => presence.own_update_for(changed.iter().copied()),
        None => presence.own_everyone(),
    };
    match update {
        Some(update) => encode_awareness_pieces(update, max),
        None => (Vec::new(), 0),
    }
}
