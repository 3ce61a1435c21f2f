//! The document task itself: what it owns, and its loop over commands, the presence tick,
//! other nodes' confirmations and the idle unload.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::coalesce::Batch;
use plait_protocol::codes;
use plait_protocol::session::DocState;
use plait_storage::store::Seq;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info};
use yrs::block::ClientID;

use super::context::DocContext;
use super::durable::{DocShared, Durable};
use super::handle::{CloseReason, Command, Conn};
use super::outbound::ConnId;
use super::settle::Unprojected;
use super::unconfirmed::{ForeignId, Unconfirmed};

/// Commands handled in one drain before the fan-out: bounds the latency a burst adds.
const DRAIN_LIMIT: usize = 1024;

pub(super) struct DocTask {
    pub state: DocState,
    pub ctx: DocContext,
    pub conns: HashMap<ConnId, Conn>,
    pub next_conn: ConnId,
    /// Updates handed to the writer whose commit has not been confirmed yet. The document is never
    /// unloaded while this is non-zero: a reload would read SQL without them.
    pub pending_durable: usize,
    /// Updates applied during the current drain of the queue, fanned out together when it ends.
    pub drain: Batch<Bytes>,
    /// HTTP posts of the current drain, told the log position once it is committed.
    pub drain_notify: Vec<oneshot::Sender<Seq>>,
    /// Who wrote the current drain's updates (see `handle::author`), each once.
    pub drain_authors: Vec<Arc<str>>,
    /// Other nodes' updates applied before they were known stored, and the acknowledgements of
    /// this node's drains held behind them (see `unconfirmed`). Boxed and only while something
    /// waits: most documents are never edited on two nodes at once.
    pub unconfirmed: Option<Box<Unconfirmed<Durable>>>,
    /// The number of the last other node's update applied live (see `unconfirmed`).
    pub foreign_ids: ForeignId,
    /// Awareness clients whose state changed since the last announcement: announced together in
    /// one frame at most every presence tick.
    pub awareness_changed: HashSet<ClientID>,
    /// When the pending awareness changes are due to go out.
    pub awareness_due: Option<Instant>,
    /// Since when nobody has been connected and nothing has been waiting for the database: the
    /// idle delay runs from here. Reads (`GET /api/docs/...`) do not move it, so a dashboard that
    /// polls a document's figures does not keep it in memory.
    pub idle_since: Option<Instant>,
    /// The writer's callbacks wake the task with [`Command::Committed`] through this. Weak, so
    /// that the queue still disconnects when every handle is gone.
    pub wake: flume::WeakSender<Command>,
    pub shared: Arc<DocShared>,
    /// Changes not rendered into the projection table yet (see `projection`).
    pub unprojected: Option<Unprojected>,
    /// The document was deleted: the task stops after this drain.
    pub deleted: bool,
}

impl DocTask {
    pub(super) fn new(
        state: DocState,
        ctx: DocContext,
        wake: flume::WeakSender<Command>,
        shared: Arc<DocShared>,
    ) -> DocTask {
        DocTask {
            state,
            ctx,
            conns: HashMap::new(),
            next_conn: 1,
            pending_durable: 0,
            drain: Batch::new(),
            drain_notify: Vec::new(),
            drain_authors: Vec::new(),
            unconfirmed: None,
            foreign_ids: 0,
            awareness_changed: HashSet::new(),
            awareness_due: None,
            idle_since: None,
            wake,
            shared,
            unprojected: None,
            deleted: false,
        }
    }

    /// The task's future. `run` borrows what this one owns: an `async fn` taking them by value
    /// would hold a second copy of its arguments (rustc keeps them apart from the locals they
    /// are moved into), about 420 bytes more for every loaded document (0.65 KB of anonymous RSS
    /// per idle document in `plait-bench idle`). Hence no `async fn` here either.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn task_future(
        mut self,
        rx: flume::Receiver<Command>,
    ) -> impl std::future::Future<Output = ()> {
        async move { self.run(&rx).await }
    }

    /// When a document nobody is connected to, and with nothing waiting, unloads: `idle_unload`
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
        // One timer for the presence tick, the other nodes' confirmations and the idle unload,
        // re-armed each turn: a `Sleep` is ~100 bytes of every loaded document's task.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        loop {
            let unload_at = self.unload_at(Instant::now());
            let confirm_due = self.unconfirmed.as_ref().and_then(|u| u.due());
            let deadline = [
                self.awareness_due,
                unload_at,
                confirm_due,
                self.projection_due(),
            ]
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
                        self.drain_queue(command, rx).await;
                        if self.deleted {
                            self.stop_deleted(rx);
                            return;
                        }
                    }
                    Err(_) => break,
                },
                _ = &mut timer, if deadline.is_some() => {
                    let now = Instant::now();
                    if confirm_due.is_some_and(|due| due <= now) {
                        self.store_unconfirmed(now, false);
                    }
                    self.project_if_due(now);
                    if self.awareness_due.is_some_and(|due| due <= now) {
                        self.awareness_due = None;
                        self.flush_awareness();
                    }
                    if unload_at.is_some_and(|at| at <= now) && self.unload(now, rx) {
                        return;
                    }
                }
            }
        }
        // Shutdown: `run_with_store` requests a compaction of every loaded document before the
        // writer's final flush, so nothing more is needed here.
    }

    /// Handles `first` and everything queued behind it, then fans the drain out.
    async fn drain_queue(&mut self, first: Command, rx: &flume::Receiver<Command>) {
        self.on_command(first);
        // Let every connection whose frame is already readable run first (the yield lasts until
        // the runtime has polled its sockets), so that updates that arrived together leave
        // together: one frame per recipient.
        tokio::task::yield_now().await;
        for _ in 0..DRAIN_LIMIT {
            match rx.try_recv() {
                Ok(command) => self.on_command(command),
                Err(_) => break,
            }
        }
        self.fan_out();
        // Commits whose wake-up did not fit in a full queue, and any that came during the drain.
        self.on_committed();
        self.schedule_awareness();
    }

    /// The idle delay is over: unloads, unless a connection is on its way in. True if unloaded.
    fn unload(&mut self, now: Instant, rx: &flume::Receiver<Command>) -> bool {
        if self.shared.attached.load(Ordering::Acquire) != 0 || !(self.ctx.unregister)() {
            // A connection is on its way in: wait a whole delay again rather than wake up at once.
            self.idle_since = Some(now);
            return false;
        }
        // Nobody can reach us any more except commands already queued: refuse them (their
        // senders look the document up again and load it fresh from SQL, which holds everything
        // since pending_durable is zero).
        while let Ok(command) = rx.try_recv() {
            drop(command);
        }
        if self.unprojected.is_some() {
            self.project_now();
        }
        self.ctx.writer.release(self.ctx.name.as_str());
        info!(doc = %self.ctx.name, "document unloaded after idle delay");
        true
    }

    /// The document was deleted: every connection is closed with 4410, what waits for the
    /// database goes to the writer (the trash keeps it), and the task leaves the registry. A
    /// command still queued is dropped: its sender looks the document up again and finds it
    /// deleted.
    fn stop_deleted(&mut self, rx: &flume::Receiver<Command>) {
        self.close_all(CloseReason::new(codes::DELETED, "document deleted"));
        self.store_unconfirmed(Instant::now(), true);
        (self.ctx.unregister)();
        while let Ok(command) = rx.try_recv() {
            drop(command);
        }
        self.ctx.writer.release(self.ctx.name.as_str());
        info!(doc = %self.ctx.name, "document deleted: connections closed, unloaded");
    }
}
