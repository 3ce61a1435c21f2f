//! What the [`super::Writer`] handles and the task share: the queue, requests and counters.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::config::OnDurable;
use crate::error::StorageError;

/// State shared by the handles and the task.
pub(super) struct Shared {
    /// Queue and requests. A std mutex: every critical section is short and never awaits.
    pub state: Mutex<State>,
    /// Wakes the task on new work, a flush request or shutdown. `notify_one` keeps a permit when
    /// the task is not waiting yet, so a wake-up between its check and its await is not lost.
    pub wake: Notify,
    /// Progress for `flush` callers: a watch, because they only need the latest counters.
    pub progress: watch::Sender<Progress>,
    pub healthy: AtomicBool,
    /// Mirror of the queue length so `pending()` needs no lock.
    pub pending: AtomicUsize,
    /// Bytes of the uncommitted updates, for [`WriterConfig::max_pending_bytes`].
    pub pending_bytes: AtomicUsize,
    /// [`WriterConfig::max_pending`].
    pub max_pending: usize,
    /// [`WriterConfig::max_pending_bytes`].
    pub max_pending_bytes: usize,
}

pub(super) struct State {
    /// Not yet committed, in submission order; the head is the batch being tried.
    pub queue: VecDeque<Queued>,
    /// Updates ever submitted; `flush` waits until `Progress::committed` reaches this.
    pub submitted: u64,
    /// Append attempts started; lets `flush` ignore failures of attempts older than its call.
    pub attempts_started: u64,
    /// `flush` wants an attempt now, without waiting out the interval or the backoff.
    pub flush_requested: bool,
    pub compaction_requests: HashSet<String>,
    /// Documents that left memory (see [`Writer::release`]); each is also in
    /// `compaction_requests`.
    pub releases: HashSet<String>,
    /// Set by `shutdown` (or the last handle's drop): finish by this instant.
    pub shutdown_deadline: Option<Instant>,
}

pub(super) struct Queued {
    pub doc: String,
    pub data: Bytes,
    /// Who wrote it (`document_updates.authors`).
    pub authors: Option<std::sync::Arc<str>>,
    pub on_durable: Option<OnDurable>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    /// Updates committed since spawn (a prefix of the submission order).
    pub committed: u64,
    /// Id of the latest failed attempt (0 = none yet) and its error.
    pub failed_attempt: u64,
    pub last_error: Option<StorageError>,
    /// The task has exited.
    pub stopped: bool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections only push/pop/flip flags, so the state stays consistent on poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
