//! The durable echo's bridge: from the writer's commit back to the document task, which then
//! echoes each sender its own updates (its client's "saved") and answers HTTP posts.
//!
//! The writer's callback must never wait or fail, and a channel of its own kept memory in every
//! idle document, so commits are put on a list shared with the handles (`durable`) and the task
//! is woken with one [`Command::Committed`] for the first of them.

use bytes::Bytes;
use plait_protocol::fan_out::Pick;
use tokio::time::Instant;
use tracing::info;

use super::durable::Durable;
use super::handle::{Acks, Command};
use super::outbound::Outbound;
use super::task::DocTask;

impl DocTask {
    /// Hands a drain's log rows to the writer; `durable` is acted on once the last is committed
    /// (the writer commits in submission order).
    pub(super) fn store(&mut self, rows: Vec<Bytes>, durable: Durable) {
        let last = rows.len().saturating_sub(1);
        let authors = durable.authors.clone();
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
                .submit_by(self.ctx.name.as_str(), row, authors.clone(), on_durable);
        }
    }

    /// Stores what waited long enough for another node's commit (everything with `all`): the
    /// acknowledgements held behind it leave once this node's copy is committed.
    pub(super) fn store_unconfirmed(&mut self, now: Instant, all: bool) {
        let Some(unconfirmed) = self.unconfirmed.as_mut() else {
            return;
        };
        let foreign = unconfirmed.expire(now, all);
        if !foreign.is_empty() {
            info!(
                doc = %self.ctx.name,
                updates = foreign.len(),
                "another node's updates were not confirmed stored in time; storing them here"
            );
        }
        for (id, update) in foreign {
            self.pending_durable += 1;
            self.store(vec![update], Durable::foreign(id));
        }
    }

    /// Acknowledges what another node's row (or this node's copy of it) released.
    pub(super) fn acknowledge_released(&mut self, released: Vec<Durable>) {
        for durable in released {
            self.acknowledge_stored(durable);
        }
        if self.unconfirmed.as_ref().is_some_and(|u| u.is_empty()) {
            self.unconfirmed = None;
        }
    }

    /// Acts on every commit the writer reported so far.
    pub(super) fn on_committed(&mut self) {
        for durable in self.shared.take_committed() {
            self.on_durable(durable);
        }
    }

    fn on_durable(&mut self, durable: Durable) {
        self.pending_durable = self.pending_durable.saturating_sub(durable.updates);
        let Some(unconfirmed) = self.unconfirmed.as_mut() else {
            self.acknowledge_stored(durable);
            return;
        };
        if let Some(id) = durable.stores_foreign {
            let released = unconfirmed.stored_here(id);
            self.acknowledge_released(released);
            return;
        }
        if let Some(durable) = unconfirmed.committed(durable.after, durable) {
            self.acknowledge_stored(durable);
        }
    }

    /// The drain's updates and everything they may depend on are stored: tells the senders and
    /// the HTTP posts.
    fn acknowledge_stored(&mut self, durable: Durable) {
        for notify in durable.notify {
            let _ = notify.send(durable.seq);
        }
        for (sender, count) in durable.senders {
            let Some(conn) = self.conns.get(&sender) else {
                continue;
            };
            let entry = match conn.link.acks {
                Acks::SyncStatus => Outbound::Status {
                    applied: true,
                    count,
                },
                Acks::Echo => match &durable.frames {
                    Some(frames) => Outbound::Drain {
                        frames: frames.clone(),
                        pick: Pick::Only(sender),
                    },
                    None => continue,
                },
            };
            self.send_to(sender, entry);
        }
    }
}
