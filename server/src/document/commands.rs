//! What the document task does with each command: joins and leaves, its connections' messages,
//! HTTP requests, and the other nodes' updates and presence.

use bytes::Bytes;
use plait_protocol::codes;
use plait_protocol::frame::{encode_step1, encode_update};
use plait_protocol::name::DocName;
use plait_protocol::session::{self, Outgoing, Session};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use yrs::sync::{Message, SyncMessage};
use yrs::{ReadTxn, Transact};

use super::handle::{Acks, CloseReason, Command, Conn, DocFigures, Joined, PostOutcome, Render};
use super::outbound::{ConnId, Outbound};
use super::task::DocTask;

impl DocTask {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Join { link, reply } => {
                let conn_id = self.next_conn;
                self.next_conn += 1;
                // The greeting goes through the same queue as later broadcasts, so nothing sent
                // after it can overtake it.
                let mut ok = true;
                for frame in self.state.greeting() {
                    if link
                        .outbound
                        .try_send(Outbound::Frame(Bytes::from(frame)))
                        .is_err()
                    {
                        ok = false;
                    }
                }
                if !ok {
                    let reason = CloseReason::new(codes::SLOW_CONSUMER, "outbound queue full");
                    let _ = link.close.try_send(reason);
                    return;
                }
                let session = Session::new(link.read_only);
                self.conns.insert(conn_id, Conn { session, link });
                debug!(conn_id, connections = self.conns.len(), "joined");
                let _ = reply.send(Joined { conn_id });
            }
            Command::Messages { conn_id, messages } => {
                for message in messages {
                    if !self.on_message(conn_id, message) {
                        break;
                    }
                }
            }
            Command::Leave { conn_id } => self.remove_conn(conn_id),
            Command::PostUpdate {
                update,
                author,
                reply,
            } => {
                let outcome = self.state.integrate(&update).map(|integrated| {
                    let durable = integrated.delta.map(|delta| {
                        let (tx, rx) = oneshot::channel();
                        self.publish_update(None, Bytes::from(delta), Some(author), Some(tx));
                        rx
                    });
                    PostOutcome {
                        durable,
                        incomplete: integrated.incomplete,
                    }
                });
                let _ = reply.send(outcome);
            }
            Command::GetState { reply } => {
                let state = (!self.state.is_empty()).then(|| self.state.encode_state());
                let _ = reply.send(state);
            }
            Command::Figures { reply } => {
                let _ = reply.send(DocFigures {
                    connections: self.conns.len(),
                    // This drain's updates are applied but not handed to the writer yet.
                    pending: self.pending_durable + self.drain.len(),
                });
            }
            Command::Committed => self.on_committed(),
            Command::FromNode {
                update,
                stored,
                catch_up,
            } => self.on_node_update(update, stored, &catch_up),
            Command::NodePresence { update } => {
                let now = Instant::now().into_std();
                match session::apply_node_presence(&mut self.state, &update, now) {
                    Ok(changed) => self.awareness_changed.extend(changed),
                    Err(error) => {
                        warn!(doc = %self.ctx.name, %error, "could not apply another node's presence");
                    }
                }
            }
            Command::SharePresence => self.tell_nodes_presence(None),
            Command::Project { when, reply } => {
                let projection = match when {
                    Render::UnlessDue if self.projection_due().is_some() => None,
                    _ => self.render(),
                };
                let _ = reply.send(projection);
            }
            Command::Delete => self.deleted = true,
            Command::Stateless { payload } => {
                let hocuspocus: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, conn)| conn.link.acks == Acks::SyncStatus)
                    .map(|(&id, _)| id)
                    .collect();
                for id in hocuspocus {
                    self.send_to(id, Outbound::Stateless(payload.clone()));
                }
            }
        }
    }

    /// Applies another node's update. Sent at once, not with this drain's fan-out: it is already
    /// stored, or will be by its node (or by this one, see `unconfirmed`), so it needs no row of
    /// this drain and no echo, and nothing this drain holds can depend on it.
    fn on_node_update(&mut self, update: Bytes, stored: bool, catch_up: &flume::Sender<DocName>) {
        match self.state.integrate_stored(&update) {
            Ok(integrated) => {
                if let Some(delta) = integrated.delta {
                    self.changed(Instant::now());
                    metrics::counter!(crate::metrics::NODE_UPDATES).increment(1);
                    let delta = Bytes::from(delta);
                    self.broadcast(Bytes::from(encode_update(&delta)));
                    if !stored {
                        let now = Instant::now();
                        self.foreign_ids += 1;
                        let id = self.foreign_ids;
                        let unconfirmed = self.unconfirmed.get_or_insert_with(Box::default);
                        unconfirmed.applied_live(id, update.clone(), delta, now);
                    }
                }
                if integrated.incomplete {
                    debug!(doc = %self.ctx.name, "another node's update has missing dependencies");
                    let _ = catch_up.send(self.ctx.name.clone());
                }
            }
            Err(error) => {
                // Nothing to relay. A committed row that cannot be applied (another program
                // wrote it, or another node's version accepted it) is left to the catch-up
                // read, which moves it to quarantine with its reason.
                warn!(doc = %self.ctx.name, %error, "could not apply a stored or relayed update");
                if stored {
                    let _ = catch_up.send(self.ctx.name.clone());
                }
            }
        }
        if stored {
            let released = match self.unconfirmed.as_mut() {
                Some(unconfirmed) => unconfirmed.stored(&update),
                None => Vec::new(),
            };
            self.acknowledge_released(released);
        }
    }

    /// Handles one message of a connection; returns false if the connection was closed.
    fn on_message(&mut self, conn_id: ConnId, message: Message) -> bool {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return false;
        };
        // What a Hocuspocus client is owed for this message: one SyncStatus per step 2 or update.
        let ack = (conn.link.acks == Acks::SyncStatus)
            .then(|| Ack::owed(&message, conn.link.read_only))
            .flatten();
        let outgoing = match session::handle(&mut self.state, &mut conn.session, message) {
            Ok(outgoing) => outgoing,
            Err(error) => {
                warn!(doc = %self.ctx.name, conn_id, %error, "rejected message; closing connection");
                let reason = CloseReason::new(error.close_code(), error.to_string());
                self.kill(conn_id, reason);
                return false;
            }
        };
        let mut changed = false;
        let mut resync = false;
        for out in outgoing {
            match out {
                Outgoing::Reply(frame) => {
                    if !self.send_to(conn_id, Outbound::Frame(frame)) {
                        return false;
                    }
                }
                Outgoing::Update(update) => {
                    changed = true;
                    let author = self.conns.get(&conn_id).map(|c| c.link.author.clone());
                    self.publish_update(Some(conn_id), Bytes::from(update), author, None)
                }
                Outgoing::AwarenessChanged(ids) => self.awareness_changed.extend(ids),
                Outgoing::Resync if ack.is_some() => resync = true,
                Outgoing::Resync => {
                    info!(
                        doc = %self.ctx.name,
                        conn_id,
                        "update had missing dependencies; asking the client to resync"
                    );
                    let reason = CloseReason::new(
                        codes::RESYNC,
                        "update depends on content the server lacks; reconnect to resync",
                    );
                    self.kill(conn_id, reason);
                    return false;
                }
            }
        }
        if let Some(ack) = ack {
            if !self.acknowledge(conn_id, ack, changed, resync) {
                return false;
            }
        }
        if changed && self.ctx.writer.is_full() {
            // This change is kept; the client keeps the ones it makes next and sends them when it
            // reconnects, which the upgrade refuses until the backlog drains.
            warn!(
                doc = %self.ctx.name,
                conn_id,
                pending = self.ctx.writer.pending(),
                "the database is not taking updates and the backlog is at \
                 --max-pending-updates; closing an editing connection"
            );
            let reason = CloseReason::new(
                codes::TRY_AGAIN_LATER,
                "the database is unavailable; reconnect later to send further edits",
            );
            self.kill(conn_id, reason);
            return false;
        }
        self.conns.contains_key(&conn_id)
    }
}

/// The acknowledgement a Hocuspocus client is owed for one message.
#[derive(Debug, Clone, Copy)]
enum Ack {
    /// A step 2 or update from a client that may write.
    Writer,
    /// From a read-only client: Hocuspocus acknowledges a step 2 that brings nothing new and
    /// refuses everything else.
    ReadOnly { brings_nothing: bool },
}

/// The v1 update with no structs and no deletions: a step 2 from a client with nothing new.
const EMPTY_UPDATE: &[u8] = &[0, 0];

impl Ack {
    fn owed(message: &Message, read_only: bool) -> Option<Ack> {
        let (update, step2) = match message {
            Message::Sync(SyncMessage::SyncStep2(update)) => (update, true),
            Message::Sync(SyncMessage::Update(update)) => (update, false),
            _ => return None,
        };
        Some(if read_only {
            Ack::ReadOnly {
                brings_nothing: step2 && update.as_slice() == EMPTY_UPDATE,
            }
        } else {
            Ack::Writer
        })
    }
}

impl DocTask {
    /// Acknowledges a Hocuspocus client's step 2 or update: an update that changed the document
    /// is acknowledged once committed (`echo`), so here only what changed nothing or was refused.
    /// One that lacked dependencies is not acknowledged: the client is sent the document's step 1
    /// and its answer (a step 2 with everything missing) is.
    fn acknowledge(&mut self, conn_id: ConnId, ack: Ack, changed: bool, resync: bool) -> bool {
        if resync {
            info!(
                doc = %self.ctx.name,
                conn_id,
                "update had missing dependencies; asking the Hocuspocus client for them"
            );
            let step1 = encode_step1(&self.state.doc().transact().state_vector());
            return self.send_to(conn_id, Outbound::Frame(Bytes::from(step1)));
        }
        let applied = match ack {
            Ack::Writer if changed => return true,
            Ack::Writer => true,
            Ack::ReadOnly { brings_nothing } => brings_nothing,
        };
        self.send_to(conn_id, Outbound::Status { applied, count: 1 })
    }
}
