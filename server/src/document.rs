//! The live document: one tokio task per loaded document owns its CRDT and its connections.
//!
//! Why a task (an actor) instead of a `Mutex<Doc>`: every change to a document is ordered by one
//! queue, no lock is ever held across an `.await`, and the task is the natural place to batch
//! work per drain of its queue. Connections talk to it through [`DocHandle`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::coalesce::Batch;
use plait_protocol::codes;
use plait_protocol::error::ProtocolError;
use plait_protocol::frame::encode_update;
use plait_protocol::name::DocName;
use plait_protocol::session::{self, DocState, Outgoing, Session};
use plait_storage::store::Seq;
use plait_storage::writer::Writer;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, debug_span, info, warn, Instrument};

use crate::peers::LiveSender;

mod outbound;
mod unconfirmed;
pub use outbound::{
    outbound_queue, ConnId, DrainFrames, Outbound, OutboundReceiver, OutboundSender, Pick,
};
use unconfirmed::Unconfirmed;
use yrs::block::ClientID;
use yrs::sync::Message;

/// Commands handled in one drain before the relay is flushed: bounds the latency a burst adds.
const DRAIN_LIMIT: usize = 1024;

/// Presence (cursors, names) is batched per tick: in a busy room every client renews its state
/// about once a second, and one frame per change per recipient would cost O(clients²) sends per
/// second. Per tick it is one frame per recipient, so the tick grows with the room to keep a
/// document's presence near 10 000 frames/s at most: 30 ms up to 300 connections, 50 ms at 500,
/// 100 ms from 1000 on. A cursor that much late is still invisible.
fn awareness_tick(connections: usize) -> Duration {
    const MIN: Duration = Duration::from_millis(30);
    const MAX: Duration = Duration::from_millis(100);
    const PER_CONNECTION: Duration = Duration::from_micros(100);
    let connections = u32::try_from(connections).unwrap_or(u32::MAX);
    PER_CONNECTION.saturating_mul(connections).clamp(MIN, MAX)
}

/// Why the server closes a connection: sent as the WebSocket close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

impl CloseReason {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseReason {
            code,
            reason: reason.into(),
        }
    }
}

/// What the document task needs to talk to one connection.
pub struct ConnLink {
    /// Frames for the socket. Bounded in entries and bytes: a client that cannot keep up fills
    /// it and is disconnected (it reconnects and resyncs) instead of growing memory or silently
    /// missing updates.
    pub outbound: OutboundSender,
    /// Asks the connection to close with a reason (capacity 1: the first reason wins).
    pub close: flume::Sender<CloseReason>,
    /// Read-only connections receive everything but their updates are dropped.
    pub read_only: bool,
}

/// The answer to a join: the id the connection uses in later commands.
pub struct Joined {
    pub conn_id: ConnId,
}

/// Result of an update posted over HTTP.
#[derive(Debug)]
pub struct PostOutcome {
    /// `None`: the update changed nothing (already known or empty). Otherwise it was applied and
    /// relayed, and the receiver resolves with the log position once it is in SQL.
    pub durable: Option<oneshot::Receiver<Seq>>,
    /// Part of the update depended on content the document does not have and was dropped.
    pub incomplete: bool,
}

/// Live figures of a loaded document, for the stats endpoint.
#[derive(Debug, Clone, Copy)]
pub struct LiveInfo {
    pub connections: usize,
    /// Updates applied in memory but not yet confirmed in SQL.
    pub pending: usize,
}

/// Messages to the document task.
pub enum Command {
    Join {
        link: ConnLink,
        reply: oneshot::Sender<Joined>,
    },
    Messages {
        conn_id: ConnId,
        messages: Vec<Message>,
    },
    Leave {
        conn_id: ConnId,
    },
    PostUpdate {
        update: Bytes,
        reply: oneshot::Sender<Result<PostOutcome, ProtocolError>>,
    },
    GetState {
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    Info {
        reply: oneshot::Sender<LiveInfo>,
    },
    /// The writer reported commits (see [`DocShared::committed`]): act on them. Only a wake-up:
    /// when the queue is full the task is busy anyway and looks after its drain.
    Committed,
    /// An update of another node (see [`crate::peers`]): apply it and relay it to every
    /// connection, but do not store it again. If it depends on content this node never heard
    /// of, the document's name goes to `catch_up`, to be read whole from storage.
    Peer {
        update: Bytes,
        /// Whether it is known stored (a committed row, or read from storage) rather than relayed
        /// live before its commit (see `unconfirmed`).
        stored: bool,
        catch_up: flume::Sender<DocName>,
    },
    /// Another node's clients' presence changed (an awareness update): apply it, and announce it
    /// with this node's next presence tick.
    PeerPresence {
        update: Bytes,
    },
    /// Another node opened this document: tell it who of this node's clients is present.
    SharePresence,
}

/// How often, while other nodes' clients are present, the document looks for those that were
/// not renewed in time (see [`plait_protocol::session::presence::REMOTE_TIMEOUT`]).
const PEER_PRESENCE_SWEEP: Duration = Duration::from_secs(5);

/// A message from the write-behind task: one drain's updates are now in SQL (one log row).
struct Durable {
    seq: Seq,
    /// How many applied updates the row holds.
    updates: usize,
    /// The drain's frames, for the echo to each sender.
    frames: Option<DrainFrames>,
    senders: Vec<ConnId>,
    /// HTTP posts waiting for the commit.
    notify: Vec<oneshot::Sender<Seq>>,
}

/// A drain as the writer takes it: its log rows, and what to do once they are committed.
type StoredDrain = (Vec<Bytes>, Durable);

/// A cloneable handle to a running document task.
#[derive(Clone)]
pub struct DocHandle {
    /// Bounded: a flood of incoming messages pushes back on the sockets that send them.
    commands: flume::Sender<Command>,
    shared: Arc<DocShared>,
}

/// What a document's handles share with its task besides the command queue.
#[derive(Default)]
struct DocShared {
    /// Connections attached or attaching, counted by the connections themselves so the registry
    /// can tell an idle document from one about to be joined.
    attached: AtomicUsize,
    /// Commits the writer reported (one per drain's log row) that the task has not acted on yet,
    /// in commit order. Not a channel of their own: the writer's callback must never wait or fail,
    /// and a channel keeps what it once allocated (its grown queue, a waiting receiver's hook) in
    /// every idle document, about 0.6 KB. The task takes the whole list at once, so an idle
    /// document holds none of it.
    committed: Mutex<Vec<Durable>>,
}

impl DocShared {
    /// The list, even if a holder panicked: a push or a take cannot leave it half-changed.
    fn committed(&self) -> MutexGuard<'_, Vec<Durable>> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a commit; true if it is the first since the task last took them.
    fn push_committed(&self, durable: Durable) -> bool {
        let mut committed = self.committed();
        committed.push(durable);
        committed.len() == 1
    }

    fn take_committed(&self) -> Vec<Durable> {
        std::mem::take(&mut *self.committed())
    }
}

/// Returned when the document task is gone (it unloaded or the server is stopping): the caller
/// looks the document up again.
#[derive(Debug, thiserror::Error)]
#[error("document task has stopped")]
pub struct Gone;

impl DocHandle {
    /// Connections attached or attaching (see [`crate::registry::Attached`]).
    pub(crate) fn attached(&self) -> &AtomicUsize {
        &self.shared.attached
    }

    /// True once the task has stopped (unloaded, or died): the handle must not be used again.
    pub fn is_closed(&self) -> bool {
        self.commands.is_disconnected()
    }

    /// Queues a command if there is room, without waiting.
    pub fn try_send(&self, command: Command) -> Result<(), flume::TrySendError<Command>> {
        self.commands.try_send(command)
    }

    pub async fn send(&self, command: Command) -> Result<(), Gone> {
        self.commands.send_async(command).await.map_err(|_| Gone)
    }

    pub async fn join(&self, link: ConnLink) -> Result<Joined, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Join { link, reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn post_update(
        &self,
        update: Bytes,
    ) -> Result<Result<PostOutcome, ProtocolError>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::PostUpdate { update, reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    /// The full state, or None if the document has no content.
    pub async fn state(&self) -> Result<Option<Vec<u8>>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::GetState { reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn info(&self) -> Result<LiveInfo, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Info { reply }).await?;
        rx.await.map_err(|_| Gone)
    }
}

/// What the document task needs from its surroundings.
pub struct DocContext {
    pub name: DocName,
    pub writer: Writer,
    pub idle_unload: Duration,
    /// Cancelled when the server stops: close every connection.
    pub shutdown: CancellationToken,
    /// Other nodes share the database: tell them of each drain's updates as they are relayed.
    pub live: Option<LiveSender>,
    /// Called once the task decided to unload; removes the registry entry. Returns false if the
    /// entry must stay (someone attached meanwhile).
    pub unregister: Box<dyn Fn() -> bool + Send + Sync>,
}

/// One connection as the document task sees it.
struct Conn {
    session: Session,
    link: ConnLink,
}

/// Starts the task of a freshly loaded document.
pub fn spawn(state: DocState, ctx: DocContext, queue: usize, tasks: &TaskTracker) -> DocHandle {
    let (commands, rx) = flume::bounded(queue);
    let shared = Arc::new(DocShared::default());
    let handle = DocHandle {
        commands: commands.clone(),
        shared: shared.clone(),
    };
    // A debug span: an open span costs the log subscriber about 0.8 KB for as long as the
    // document stays loaded, so at the default level the events name the document themselves.
    let span = debug_span!("doc", name = %ctx.name);
    let task = DocTask {
        state,
        ctx,
        conns: HashMap::new(),
        next_conn: 1,
        pending_durable: 0,
        relay: Batch::new(),
        relay_notify: Vec::new(),
        unconfirmed: None,
        awareness_changed: HashSet::new(),
        awareness_due: None,
        idle_since: None,
        wake: commands.downgrade(),
        shared,
    };
    tasks.spawn(task.task_future(rx).instrument(span));
    handle
}

struct DocTask {
    state: DocState,
    ctx: DocContext,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    /// Updates handed to the writer whose commit has not been confirmed yet. The document is never
    /// unloaded while this is non-zero: a reload would read SQL without them.
    pending_durable: usize,
    /// Updates applied during the current drain of the queue, relayed together when it ends.
    relay: Batch<Bytes>,
    /// HTTP posts of the current drain, told the log position once it is committed.
    relay_notify: Vec<oneshot::Sender<Seq>>,
    /// Other nodes' updates applied before they were known stored, and this node's drains held
    /// behind them (see `unconfirmed`). Boxed and only while something waits: most documents
    /// are never edited on two nodes at once.
    unconfirmed: Option<Box<Unconfirmed<StoredDrain>>>,
    /// Awareness clients whose state changed since the last announcement: announced together in
    /// one frame at most every [`awareness_tick`].
    awareness_changed: HashSet<ClientID>,
    /// When the pending awareness changes are due to go out.
    awareness_due: Option<Instant>,
    /// Since when nobody has been connected and nothing has been waiting for the database: the
    /// idle delay runs from here. Reads (`GET /api/docs/...`) do not move it, so a dashboard that
    /// polls a document's figures does not keep it in memory.
    idle_since: Option<Instant>,
    /// The writer's callbacks wake the task with [`Command::Committed`] through this. Weak, so
    /// that the queue still disconnects when every handle is gone.
    wake: flume::WeakSender<Command>,
    shared: Arc<DocShared>,
}

impl DocTask {
    /// The task's future. `run` borrows what this one owns: an `async fn` taking them by value
    /// would hold a second copy of its arguments (rustc keeps them apart from the locals they
    /// are moved into), about 420 bytes more for every loaded document (0.65 KB of anonymous RSS
    /// per idle document in `plait-bench idle`). Hence no `async fn` here either.
    #[allow(clippy::manual_async_fn)]
    fn task_future(
        mut self,
        rx: flume::Receiver<Command>,
    ) -> impl std::future::Future<Output = ()> {
        async move {
            self.run(&rx).await;
            self.drop_document();
        }
    }

    /// Frees the document, on a blocking thread when that is slow (one with subdocuments is
    /// cleared first, see `plait_protocol::subdocs`), so the other documents' tasks on this
    /// worker do not wait for it.
    fn drop_document(self) {
        if self.state.slow_to_drop() {
            let state = self.state;
            tokio::task::spawn_blocking(move || drop(state));
        }
    }

    /// When a document nobody is connected to, and with nothing pending, unloads: `idle_unload`
    /// after it became so.
    fn unload_at(&mut self, now: Instant) -> Option<Instant> {
        let idle = self.conns.is_empty() && self.pending_durable == 0 && self.unconfirmed.is_none();
        if !idle {
            self.idle_since = None;
            return None;
        }
        Some(*self.idle_since.get_or_insert(now) + self.ctx.idle_unload)
    }

    async fn run(&mut self, rx: &flume::Receiver<Command>) {
        debug!("document loaded");
        // One timer for the presence tick and the idle unload, re-armed each turn: a `Sleep` is
        // ~100 bytes of every loaded document's task, and the select used to hold two.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        loop {
            let unload_at = self.unload_at(Instant::now());
            let confirm_due = self.unconfirmed.as_ref().and_then(|u| u.due());
            let deadline = [self.awareness_due, unload_at, confirm_due]
                .into_iter()
                .flatten()
                .min();
            if let Some(deadline) = deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                biased;
                _ = self.ctx.shutdown.cancelled() => {
                    self.close_all(CloseReason::new(codes::GOING_AWAY, "server shutting down"));
                    // The writer's last flush takes what is held: nothing waits any longer.
                    self.store_unconfirmed(Instant::now(), true);
                    break;
                }
                command = rx.recv_async() => match command {
                    Ok(command) => {
                        self.on_command(command);
                        // Let every connection whose frame is already readable run first (the
                        // yield lasts until the runtime has polled its sockets), so that updates
                        // that arrived together leave together: one frame per recipient.
                        tokio::task::yield_now().await;
                        for _ in 0..DRAIN_LIMIT {
                            match rx.try_recv() {
                                Ok(command) => self.on_command(command),
                                Err(_) => break,
                            }
                        }
                        self.flush_relay();
                        // Commits whose wake-up did not fit in a full queue, and any that came
                        // during the drain.
                        self.on_committed();
                        if !self.awareness_changed.is_empty() {
                            // Sooner than a pending sweep for other nodes' silent clients.
                            let tick = Instant::now() + awareness_tick(self.conns.len());
                            self.awareness_due =
                                Some(self.awareness_due.map_or(tick, |due| due.min(tick)));
                        }
                    }
                    Err(_) => break,
                },
                _ = &mut timer, if deadline.is_some() => {
                    let now = Instant::now();
                    if confirm_due.is_some_and(|due| due <= now) {
                        self.store_unconfirmed(now, false);
                    }
                    if self.awareness_due.is_some_and(|due| due <= now) {
                        self.awareness_due = None;
                        self.flush_awareness();
                    }
                    if unload_at.is_some_and(|at| at <= now) {
                        if self.shared.attached.load(Ordering::Acquire) != 0
                            || !(self.ctx.unregister)()
                        {
                            // A connection is on its way in: wait a whole delay again rather
                            // than wake up at once.
                            self.idle_since = Some(now);
                        } else {
                            // Nobody can reach us any more except commands already queued: refuse
                            // them (their senders look the document up again and load it fresh
                            // from SQL, which holds everything since pending_durable is zero).
                            while let Ok(command) = rx.try_recv() {
                                drop(command);
                            }
                            self.ctx.writer.release(self.ctx.name.as_str());
                            info!(doc = %self.ctx.name, "document unloaded after idle delay");
                            return;
                        }
                    }
                }
            }
        }
        // Shutdown: `run_with_store` requests a compaction of every loaded document before the
        // writer's final flush, so nothing more is needed here.
    }

    fn on_command(&mut self, command: Command) {
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
                    let _ = link.close.try_send(CloseReason::new(
                        codes::SLOW_CONSUMER,
                        "outbound queue full",
                    ));
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
            Command::PostUpdate { update, reply } => {
                let outcome = self.state.integrate(&update).map(|integrated| {
                    let durable = integrated.delta.map(|delta| {
                        let (tx, rx) = oneshot::channel();
                        self.publish_update(None, Bytes::from(delta), Some(tx));
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
            Command::Info { reply } => {
                let _ = reply.send(LiveInfo {
                    connections: self.conns.len(),
                    // This drain's updates are applied but not handed to the writer yet.
                    pending: self.pending_durable + self.relay.len(),
                });
            }
            Command::Committed => self.on_committed(),
            Command::Peer {
                update,
                stored,
                catch_up,
            } => self.on_peer(update, stored, &catch_up),
            Command::PeerPresence { update } => {
                let now = Instant::now().into_std();
                match session::apply_peer_presence(&mut self.state, &update, now) {
                    Ok(changed) => self.awareness_changed.extend(changed),
                    Err(error) => {
                        warn!(doc = %self.ctx.name, %error, "could not apply another node's presence");
                    }
                }
            }
            Command::SharePresence => self.tell_peers_presence(None),
        }
    }

    /// Applies another node's update. Sent at once, not with this drain's relay: it is already
    /// stored, or will be by its node (or by this one, see `unconfirmed`), so it needs no row
    /// of this drain and no echo, and nothing this drain holds can depend on it.
    fn on_peer(&mut self, update: Bytes, stored: bool, catch_up: &flume::Sender<DocName>) {
        match self.state.integrate_stored(&update) {
            Ok(integrated) => {
                if let Some(delta) = integrated.delta {
                    let delta = Bytes::from(delta);
                    self.broadcast(Bytes::from(encode_update(&delta)));
                    if !stored {
                        let now = Instant::now();
                        let unconfirmed = self.unconfirmed.get_or_insert_with(Box::default);
                        unconfirmed.applied_live(update.clone(), delta, now);
                    }
                }
                if integrated.incomplete {
                    debug!(doc = %self.ctx.name, "another node's update has missing dependencies");
                    let _ = catch_up.send(self.ctx.name.clone());
                }
            }
            Err(error) => {
                // Another node accepted what this one cannot decode: nothing to relay.
                warn!(doc = %self.ctx.name, %error, "could not apply another node's update");
            }
        }
        if stored {
            let released = match self.unconfirmed.as_mut() {
                Some(unconfirmed) => unconfirmed.stored(&update),
                None => Vec::new(),
            };
            for (rows, durable) in released {
                self.store(rows, durable);
            }
        }
    }

    /// Stores what waited long enough for another node's commit (everything with `all`): the
    /// other nodes' updates first, as this node holds them, then the drains held behind them.
    fn store_unconfirmed(&mut self, now: Instant, all: bool) {
        let Some(unconfirmed) = self.unconfirmed.as_mut() else {
            return;
        };
        let (foreign, released) = unconfirmed.expire(now, all);
        if !foreign.is_empty() {
            info!(
                doc = %self.ctx.name,
                updates = foreign.len(),
                "another node's updates were not confirmed stored in time; storing them here"
            );
        }
        for update in foreign {
            self.pending_durable += 1;
            let durable = Durable {
                seq: 0,
                updates: 1,
                frames: None,
                senders: Vec::new(),
                notify: Vec::new(),
            };
            self.store(vec![update], durable);
        }
        for (rows, durable) in released {
            self.store(rows, durable);
        }
        if self.unconfirmed.as_ref().is_some_and(|u| u.is_empty()) {
            self.unconfirmed = None;
        }
    }

    /// Handles one message of a connection; returns false if the connection was closed.
    fn on_message(&mut self, conn_id: ConnId, message: Message) -> bool {
        let Some(conn) = self.conns.get_mut(&conn_id) else {
            return false;
        };
        match session::handle(&mut self.state, &mut conn.session, message) {
            Ok(outgoing) => {
                let mut changed = false;
                for out in outgoing {
                    match out {
                        Outgoing::Reply(frame) => {
                            if !self.send_to(conn_id, Outbound::Frame(frame)) {
                                return false;
                            }
                        }
                        Outgoing::Update(update) => {
                            changed = true;
                            self.publish_update(Some(conn_id), Bytes::from(update), None)
                        }
                        Outgoing::AwarenessChanged(ids) => self.awareness_changed.extend(ids),
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
                if changed && self.ctx.writer.is_full() {
                    // This change is kept; the client keeps the ones it makes next and sends
                    // them when it reconnects, which the upgrade refuses until the backlog drains.
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
            Err(error) => {
                warn!(doc = %self.ctx.name, conn_id, %error, "rejected message; closing connection");
                let reason =
                    CloseReason::new(error.close_code(), truncate_reason(&error.to_string()));
                self.kill(conn_id, reason);
                false
            }
        }
    }

    /// Queues an applied update for relay and storage at the end of this drain of the queue.
    fn publish_update(
        &mut self,
        from: Option<ConnId>,
        update: Bytes,
        notify: Option<oneshot::Sender<Seq>>,
    ) {
        self.relay.push(from, update);
        self.relay_notify.extend(notify);
    }

    /// Relays and stores the updates applied during this drain. Connections that sent none of
    /// them get one merged frame; each sender gets every other update as its own frame, written
    /// in one flush (merging once per sender would cost O(senders²)), and its own updates back
    /// only once the log row holding the drain is committed (the durable acknowledgement).
    fn flush_relay(&mut self) {
        if self.relay.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.relay);
        let notify = std::mem::take(&mut self.relay_notify);
        let senders = batch.senders();
        let merged = batch.merged();
        if merged.is_none() {
            // Cannot happen for updates the document applied; never leave anyone behind.
            warn!(
                doc = %self.ctx.name,
                "could not merge a batch of applied updates; relaying and storing one by one"
            );
        }
        let frames: Option<DrainFrames> = (!senders.is_empty() || merged.is_none()).then(|| {
            batch
                .iter()
                .map(|(from, update)| (from, Bytes::from(encode_update(update))))
                .collect()
        });
        let merged_frame = match &merged {
            Some(update) if senders.len() < self.conns.len() => {
                Some(Bytes::from(encode_update(update)))
            }
            _ => None,
        };
        self.send_each(|id| {
            let sender = senders.binary_search(&id).is_ok();
            match &merged_frame {
                Some(frame) if !sender => Some(Outbound::Frame(frame.clone())),
                _ => {
                    let pick = if sender { Pick::AllBut(id) } else { Pick::All };
                    let frames = frames.as_ref()?;
                    (frames.len() > 1 || !sender).then(|| Outbound::Drain {
                        frames: frames.clone(),
                        pick,
                    })
                }
            }
        });
        self.pending_durable += batch.len();
        let durable = Durable {
            seq: 0,
            updates: batch.len(),
            frames,
            senders,
            notify,
        };
        let rows: Vec<Bytes> = match merged {
            Some(update) => vec![update],
            None => batch.iter().map(|(_, update)| update.clone()).collect(),
        };
        if let Some(live) = &self.ctx.live {
            for row in &rows {
                live.send(&self.ctx.name, row.clone());
            }
        }
        // Not before the other nodes' updates it may depend on are stored (see `unconfirmed`).
        let drain = match self.unconfirmed.as_mut() {
            Some(unconfirmed) => unconfirmed.pass((rows, durable)),
            None => Some((rows, durable)),
        };
        if let Some((rows, durable)) = drain {
            self.store(rows, durable);
        }
    }

    /// Hands a drain's log rows to the writer; `durable` is acted on once the last is committed
    /// (the writer commits in submission order).
    fn store(&mut self, rows: Vec<Bytes>, durable: Durable) {
        let last = rows.len().saturating_sub(1);
        let mut durable = Some(durable);
        for (i, row) in rows.into_iter().enumerate() {
            let on_durable = if i == last { durable.take() } else { None };
            let on_durable = on_durable.map(|mut durable| {
                let shared = self.shared.clone();
                let wake = self.wake.clone();
                Box::new(move |seq| {
                    durable.seq = seq;
                    // Only the first commit since the task last looked needs a wake-up: it takes
                    // them all. A full queue needs none (the task looks after its drain), and a
                    // gone task (shutdown, unload) leaves nobody waiting for the echo.
                    if shared.push_committed(durable) {
                        if let Some(wake) = wake.upgrade() {
                            let _ = wake.try_send(Command::Committed);
                        }
                    }
                }) as plait_storage::OnDurable
            });
            self.ctx
                .writer
                .submit(self.ctx.name.as_str(), row, on_durable);
        }
    }

    /// Announces every awareness change since the last tick to every connection, in one frame,
    /// and those of this node's own clients to the other nodes that have the document open.
    /// Other nodes' clients that were not renewed in time leave here.
    fn flush_awareness(&mut self) {
        let now = Instant::now();
        let swept = session::expire_peer_presence(&mut self.state, now.into_std());
        self.awareness_changed.extend(swept.expired);
        if swept.others_present {
            self.awareness_due = Some(now + PEER_PRESENCE_SWEEP);
        }
        if self.awareness_changed.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut self.awareness_changed);
        if let Some(frame) = self.state.awareness_frame(&changed) {
            self.broadcast(Bytes::from(frame));
        }
        self.tell_peers_presence(Some(&changed));
    }

    /// Tells the other nodes that have the document open of this node's own clients among
    /// `changed` (all present ones with `None`).
    fn tell_peers_presence(&self, changed: Option<&HashSet<ClientID>>) {
        let Some(live) = self.ctx.live.as_ref().filter(|l| l.wanted(&self.ctx.name)) else {
            return;
        };
        let capacity = LiveSender::presence_capacity(&self.ctx.name);
        let (pieces, left_out) = session::presence_for_peers(&self.state, changed, capacity);
        if left_out > 0 {
            debug!(
                doc = %self.ctx.name,
                left_out,
                "presence states too large to tell the other nodes of"
            );
        }
        live.send_presence(&self.ctx.name, pieces);
    }

    /// Acts on every commit the writer reported so far.
    fn on_committed(&mut self) {
        for durable in self.shared.take_committed() {
            self.on_durable(durable);
        }
    }

    fn on_durable(&mut self, durable: Durable) {
        self.pending_durable = self.pending_durable.saturating_sub(durable.updates);
        for notify in durable.notify {
            let _ = notify.send(durable.seq);
        }
        let Some(frames) = durable.frames else {
            return;
        };
        for sender in durable.senders {
            let echo = Outbound::Drain {
                frames: frames.clone(),
                pick: Pick::Only(sender),
            };
            self.send_to(sender, echo);
        }
    }

    /// Sends a frame to every connection.
    fn broadcast(&mut self, frame: Bytes) {
        self.send_each(|_| Some(Outbound::Frame(frame.clone())));
    }

    /// Queues `frame_for(id)` to each connection it returns a frame for, then disconnects those
    /// whose queue was full.
    fn send_each(&mut self, frame_for: impl Fn(ConnId) -> Option<Outbound>) {
        let mut failed = Vec::new();
        for (&id, conn) in &self.conns {
            let Some(frame) = frame_for(id) else {
                continue;
            };
            if let Err(error) = conn.link.outbound.try_send(frame) {
                failed.push((id, error));
            }
        }
        for (id, error) in failed {
            self.send_failed(id, error);
        }
    }

    /// Sends a frame to one connection; returns false if it had to be dropped.
    fn send_to(&mut self, conn_id: ConnId, frame: Outbound) -> bool {
        let Some(conn) = self.conns.get(&conn_id) else {
            return false;
        };
        if let Err(error) = conn.link.outbound.try_send(frame) {
            self.send_failed(conn_id, error);
            return false;
        }
        true
    }

    /// A connection whose queue is full is closed rather than skipped: skipping would leave its
    /// client silently out of sync. One whose socket is already gone (its `Leave` is still on the
    /// way) is only removed: its client left, it did not fall behind.
    fn send_failed(&mut self, conn_id: ConnId, error: flume::TrySendError<Outbound>) {
        match error {
            flume::TrySendError::Full(_) => self.drop_slow(conn_id),
            flume::TrySendError::Disconnected(_) => {
                debug!(conn_id, "connection closed before its leave arrived");
                self.remove_conn(conn_id);
            }
        }
    }

    fn drop_slow(&mut self, conn_id: ConnId) {
        warn!(
            doc = %self.ctx.name,
            conn_id,
            "connection cannot keep up; disconnecting so it resyncs"
        );
        self.kill(
            conn_id,
            CloseReason::new(
                codes::SLOW_CONSUMER,
                "too slow to keep up; reconnect to resync",
            ),
        );
    }

    fn kill(&mut self, conn_id: ConnId, reason: CloseReason) {
        if let Some(conn) = self.conns.get(&conn_id) {
            let _ = conn.link.close.try_send(reason);
        }
        self.remove_conn(conn_id);
    }

    fn remove_conn(&mut self, conn_id: ConnId) {
        let Some(mut conn) = self.conns.remove(&conn_id) else {
            return;
        };
        debug!(conn_id, connections = self.conns.len(), "left");
        // Its clients, for the other nodes' removal; collected only if one has the document open.
        let shared = self
            .ctx
            .live
            .as_ref()
            .is_some_and(|l| l.wanted(&self.ctx.name));
        let clients: Option<HashSet<ClientID>> =
            shared.then(|| conn.session.awareness_clients().collect());
        if let Some(frame) = session::close(&mut self.state, &mut conn.session) {
            self.broadcast(Bytes::from(frame));
            if let Some(clients) = &clients {
                self.tell_peers_presence(Some(clients));
            }
        }
    }

    /// Closes every connection (the server is stopping). Their presence is not announced as
    /// removed to the other nodes: the clients reconnect, through the load balancer, to another
    /// node and re-send their state with the clock it already has there, which a removal would
    /// have turned into a tombstone, hiding them until their next renewal (up to 15 s). Those that
    /// do not come back leave the other nodes' lists within [`REMOTE_TIMEOUT`] and a sweep.
    ///
    /// [`REMOTE_TIMEOUT`]: plait_protocol::session::presence::REMOTE_TIMEOUT
    fn close_all(&mut self, reason: CloseReason) {
        for conn in self.conns.values() {
            let _ = conn.link.close.try_send(reason.clone());
        }
        self.conns.clear();
    }
}

/// WebSocket close reasons are limited to 123 bytes.
pub fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

#[cfg(test)]
mod tests;
