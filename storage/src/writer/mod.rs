//! `Writer`: write-behind group commit, retries with backoff, and snapshot scheduling.
//!
//! The server applies an update in memory, relays it, and hands it to `submit`; one background
//! task turns everything that arrived during a flush interval into ONE `append` transaction
//! (up to [`WriterConfig::max_batch_updates`] / [`WriterConfig::max_batch_bytes`]; a longer
//! backlog goes out as several transactions back to back). Nothing is dropped: a failed batch
//! stays at the head of the queue and is retried.
//!
//! # Layout
//! - this module: the [`Writer`] handle; `config`: [`WriterConfig`];
//! - `shared`: what the handles and the task share (the queue, the counters);
//! - `task`: the task (batching, retries, compactions);
//! - `plan`: the pure decisions: what goes in the next transaction, when a compaction pays.

mod config;
mod plan;
mod shared;
mod task;

pub use config::{OnDurable, WriterConfig, DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_BYTES};

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use crate::error::StorageError;
use crate::store::{DocStore, NewUpdate};
use shared::{Progress, Queued, Shared, State};

/// Handle to the write-behind task (Clone).
///
/// Updates are held in memory until a transaction stores them; on failure they stay queued and
/// the task retries with exponential backoff. Nothing is ever dropped. When the last handle is
/// dropped without `shutdown`, the task still drains the queue (bounded by a grace period).
#[derive(Clone)]
pub struct Writer {
    guard: Arc<TaskGuard>,
}

/// Owns the task; its `Drop` (the last `Writer` clone going away) asks the task to finish.
struct TaskGuard {
    shared: Arc<Shared>,
    /// Taken by the first `shutdown` call, which waits for the task's result.
    task: Mutex<Option<JoinHandle<Result<(), StorageError>>>>,
    /// How long an implicit (drop) shutdown may keep retrying.
    drop_grace: Duration,
}

impl Writer {
    /// Starts the write-behind task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn DocStore>, config: WriterConfig) -> Writer {
        let (progress, _) = watch::channel(Progress::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                submitted: 0,
                attempts_started: 0,
                flush_requested: false,
                compaction_requests: HashSet::new(),
                releases: HashSet::new(),
                shutdown_deadline: None,
            }),
            wake: Notify::new(),
            progress,
            healthy: AtomicBool::new(true),
            pending: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            max_pending: config.max_pending,
            max_pending_bytes: config.max_pending_bytes,
        });
        let drop_grace = config.max_backoff.saturating_mul(2);
        let task = tokio::spawn(task::run(Arc::clone(&shared), store, config));
        Writer {
            guard: Arc::new(TaskGuard {
                shared,
                task: Mutex::new(Some(task)),
                drop_grace,
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.guard.shared
    }

    /// Queues an update; never blocks and never drops. `on_durable` runs after the commit.
    pub fn submit(&self, doc: &str, data: Bytes, on_durable: Option<OnDurable>) {
        self.submit_by(doc, data, None, on_durable);
    }

    /// [`Writer::submit`], with who wrote it (`document_updates.authors`, a JSON array).
    pub fn submit_by(
        &self,
        doc: &str,
        data: Bytes,
        authors: Option<Arc<str>>,
        on_durable: Option<OnDurable>,
    ) {
        let shared = self.shared();
        let len = data.len();
        {
            let mut state = shared.lock();
            state.queue.push_back(Queued {
                doc: doc.to_owned(),
                data,
                authors,
                on_durable,
            });
            state.submitted += 1;
            shared.pending.fetch_add(1, Ordering::SeqCst);
            shared.pending_bytes.fetch_add(len, Ordering::SeqCst);
        }
        shared.wake.notify_one();
    }

    /// Resolves once everything submitted before the call is committed. If the attempt made
    /// for this flush fails, returns that error instead of waiting (the data stays queued and
    /// the task keeps retrying). Triggers an attempt immediately, skipping interval and backoff.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let shared = self.shared();
        let mut progress = shared.progress.subscribe();
        let (target, attempt_floor) = {
            let mut state = shared.lock();
            state.flush_requested = true;
            (state.submitted, state.attempts_started)
        };
        shared.wake.notify_one();
        loop {
            {
                let p = progress.borrow_and_update();
                if p.committed >= target {
                    return Ok(());
                }
                if p.failed_attempt > attempt_floor {
                    return Err(p.last_error.clone().unwrap_or(StorageError::WriterStopped));
                }
                if p.stopped {
                    return Err(StorageError::WriterStopped);
                }
            }
            if progress.changed().await.is_err() {
                return Err(StorageError::WriterStopped);
            }
        }
    }

    /// Asks for `doc` to be compacted after the next successful flush (e.g. when it unloads).
    pub fn request_compaction(&self, doc: &str) {
        let shared = self.shared();
        shared.lock().compaction_requests.insert(doc.to_owned());
        shared.wake.notify_one();
    }

    /// `doc` has left memory (it unloaded): compacts it after the next flush, as
    /// [`Writer::request_compaction`] does, then forgets it here and in the store's caches. A
    /// node that opens a million documents over its life would otherwise keep a few hundred
    /// bytes for each of them. If it is loaded again, its first compaction waits for the row
    /// threshold alone, as after a restart, until the writer has learned its snapshot size anew.
    pub fn release(&self, doc: &str) {
        self.shared().lock().releases.insert(doc.to_owned());
        self.request_compaction(doc);
    }

    /// False after a failed append until one succeeds (feeds the server's readiness check).
    pub fn is_healthy(&self) -> bool {
        self.shared().healthy.load(Ordering::SeqCst)
    }

    /// Updates submitted but not yet committed.
    pub fn pending(&self) -> usize {
        self.shared().pending.load(Ordering::SeqCst)
    }

    /// Bytes of the updates submitted but not yet committed.
    pub fn pending_bytes(&self) -> usize {
        self.shared().pending_bytes.load(Ordering::SeqCst)
    }

    /// True while [`Writer::pending`] is at [`WriterConfig::max_pending`] or above, or their
    /// bytes at [`WriterConfig::max_pending_bytes`]: only when the
    /// store has been failing long enough for the backlog to reach it.
    pub fn is_full(&self) -> bool {
        let shared = self.shared();
        let over = |max: usize, value: usize| max != 0 && value >= max;
        over(shared.max_pending, self.pending())
            || over(
                shared.max_pending_bytes,
                shared.pending_bytes.load(Ordering::SeqCst),
            )
    }

    /// Takes every update still queued, oldest first, so they can be kept elsewhere (the unsaved
    /// file) after [`Writer::shutdown`] failed. Their `on_durable` callbacks are dropped: nobody
    /// waits for an echo once the connections are closed. Call it only after the task stopped,
    /// or a running task would find its queue emptied under it.
    pub fn take_unwritten(&self) -> Vec<NewUpdate> {
        let shared = self.shared();
        let taken: Vec<Queued> = shared.lock().queue.drain(..).collect();
        shared.pending.fetch_sub(taken.len(), Ordering::SeqCst);
        let bytes = taken.iter().map(|q| q.data.len()).sum();
        shared.pending_bytes.fetch_sub(bytes, Ordering::SeqCst);
        taken
            .into_iter()
            .map(|q| NewUpdate {
                doc: q.doc,
                data: q.data,
                authors: q.authors,
            })
            .collect()
    }

    /// Flushes (retrying until `deadline` from now), runs the requested compactions and stops
    /// the task. Err if updates remain unwritten; their number is logged.
    pub async fn shutdown(self, deadline: Duration) -> Result<(), StorageError> {
        let until = Instant::now() + deadline;
        let shared = Arc::clone(&self.guard.shared);
        {
            let mut state = shared.lock();
            state.shutdown_deadline = Some(until);
        }
        shared.wake.notify_one();
        let task = {
            let mut task = self.guard.task.lock().unwrap_or_else(|p| p.into_inner());
            task.take()
        };
        let Some(mut task) = task else {
            // Another clone already shut the task down; report what it left behind.
            return match shared.pending.load(Ordering::SeqCst) {
                0 => Ok(()),
                _ => Err(StorageError::WriterStopped),
            };
        };
        // The task bounds itself by the deadline, but a single database call can hang longer
        // (e.g. a TCP connect to a dead PostgreSQL); give it a moment, then abort it.
        match timeout_at(until + Duration::from_millis(500), &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => {
                tracing::error!(error = %join_error, "writer task panicked");
                Err(StorageError::WriterStopped)
            }
            Err(_) => {
                task.abort();
                let pending = shared.pending.load(Ordering::SeqCst);
                tracing::error!(pending, "writer task missed the shutdown deadline");
                let last_error = shared.progress.borrow().last_error.clone();
                Err(StorageError::Unwritten {
                    pending,
                    last_error: Box::new(last_error.unwrap_or(StorageError::WriterStopped)),
                })
            }
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.shutdown_deadline.is_none() {
            state.shutdown_deadline = Some(Instant::now() + self.drop_grace);
        }
        drop(state);
        self.shared.wake.notify_one();
    }
}
