//! What travels from the writer's commit back to the document task (see `echo`): what a commit
//! means for the task, and the list the writer's callbacks put commits on.

use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use plait_storage::store::Seq;
use tokio::sync::oneshot;

use super::outbound::{ConnId, DrainFrames};
use super::unconfirmed::ForeignId;

/// One drain's updates are now in SQL (one log row): what to do about it.
pub(super) struct Durable {
    pub seq: Seq,
    /// How many applied updates the row holds.
    pub updates: usize,
    /// Who wrote them (`document_updates.authors`), if known.
    pub authors: Option<std::sync::Arc<str>>,
    /// The drain's frames, for the echo to each sender.
    pub frames: Option<DrainFrames>,
    /// The connections whose updates the drain holds, and how many of them each sent.
    pub senders: Vec<(ConnId, u32)>,
    /// HTTP posts waiting for the commit.
    pub notify: Vec<oneshot::Sender<Seq>>,
    /// The last other node's update applied before the drain that was not known stored then:
    /// the acknowledgement waits for it too (see `unconfirmed`).
    pub after: Option<ForeignId>,
    /// The row is this node's copy of another node's update `id` (see `unconfirmed`).
    pub stores_foreign: Option<ForeignId>,
}

impl Durable {
    /// A row stored for nobody waiting: this node's copy of another node's update `id`.
    pub fn foreign(id: ForeignId) -> Durable {
        Durable {
            seq: 0,
            updates: 1,
            authors: None,
            frames: None,
            senders: Vec::new(),
            notify: Vec::new(),
            after: None,
            stores_foreign: Some(id),
        }
    }
}

/// What a document's handles share with its task besides the command queue.
#[derive(Default)]
pub(crate) struct DocShared {
    /// Connections attached or attaching, counted by the connections themselves so the registry
    /// can tell an idle document from one about to be joined.
    pub attached: AtomicUsize,
    /// Commits the writer reported (one per drain's log row) that the task has not acted on yet,
    /// in commit order. The task takes the whole list at once, so an idle document holds none
    /// of it (a channel kept ~0.6 KB in every idle document).
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
    pub(super) fn push_committed(&self, durable: Durable) -> bool {
        let mut committed = self.committed();
        committed.push(durable);
        committed.len() == 1
    }

    pub(super) fn take_committed(&self) -> Vec<Durable> {
        std::mem::take(&mut *self.committed())
    }
}
