//! The write-behind task: waits for work and for its turn, appends a batch in one transaction,
//! retries with backoff, and compacts the documents that are due.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use super::config::WriterConfig;
use super::plan::{next_batch, LogGrowth};
use super::shared::{Queued, Shared};
use crate::backoff::Backoff;
use crate::error::StorageError;
use crate::metrics::{COMMIT_ROWS, COMMIT_SECONDS, DATABASE_ERRORS};
use crate::store::{DocStore, NewUpdate, Seq};

/// Durable callbacks run between two yields to the runtime. Each callback wakes a document task,
/// which wakes its senders' connections to echo: one commit's callbacks all at once queued a
/// burst of wake-ups (a hundred documents, a few hundred echoes) in front of every update that
/// arrived meanwhile, the largest part of the low-load delivery tail (BENCHMARKS.md, row 1).
/// Tokio runs a yielded task again only after polling the sockets, so what arrived meanwhile
/// waits behind one slice, not the whole commit. Slices of 32 kept only part of the gain; slices
/// of 2 cost the same CPU as 8 (measured in BENCHMARKS.md).
const CALLBACKS_PER_TURN: usize = 8;

/// The write-behind task.
pub(super) async fn run(
    shared: Arc<Shared>,
    store: Arc<dyn DocStore>,
    config: WriterConfig,
) -> Result<(), StorageError> {
    let batch_limit = config.max_batch_updates.max(1);
    let backoff = Backoff::new(config.flush_interval, config.max_backoff);
    let mut task = Task {
        shared,
        store,
        config,
        last_flush_start: None,
        backoff,
        backlog: false,
        batch_limit,
        log_growth: HashMap::new(),
        snapshot_bytes: HashMap::new(),
        compaction_due: HashSet::new(),
        compaction_backlog: false,
        releasing: HashSet::new(),
    };
    let result = task.run().await;
    task.shared.progress.send_modify(|p| p.stopped = true);
    result
}

struct Task {
    shared: Arc<Shared>,
    store: Arc<dyn DocStore>,
    config: WriterConfig,
    last_flush_start: Option<Instant>,
    /// The wait before the next try while appends fail.
    backoff: Backoff,
    /// The last batch was cut at the batch limits: the rest of the backlog follows at once
    /// instead of an interval later.
    backlog: bool,
    /// Most updates in the next transaction: [`WriterConfig::max_batch_updates`], halved each
    /// time the database refuses a batch, until the queue has been emptied.
    batch_limit: usize,
    /// What each document's log gained since its last compaction by this node.
    log_growth: HashMap<String, LogGrowth>,
    /// Each document's snapshot size after its last compaction by this node.
    snapshot_bytes: HashMap<String, u64>,
    /// Documents to compact after the next successful flush (threshold reached, requested, or
    /// a previous compaction failed).
    compaction_due: HashSet<String>,
    /// The last turn left due documents it did not try (see `compact_due`): the next turn comes
    /// without new work.
    compaction_backlog: bool,
    /// Released documents among `compaction_due`: forgotten once compacted.
    releasing: HashSet<String>,
}

impl Task {
    async fn run(&mut self) -> Result<(), StorageError> {
        loop {
            self.wait_for_work().await;
            self.wait_for_turn().await;

            let (batch, attempt, deadline) = {
                let mut state = self.shared.lock();
                state.flush_requested = false;
                let requested = std::mem::take(&mut state.compaction_requests);
                self.compaction_due.extend(requested);
                self.releasing.extend(std::mem::take(&mut state.releases));
                if state.queue.is_empty() {
                    self.batch_limit = self.config.max_batch_updates.max(1);
                }
                let batch = next_batch(
                    state
                        .queue
                        .iter()
                        .map(|q| (q.doc.as_str(), &q.data, &q.authors)),
                    self.batch_limit,
                    self.config.max_batch_bytes,
                );
                self.backlog = batch.len() < state.queue.len();
                if !batch.is_empty() {
                    state.attempts_started += 1;
                }
                (batch, state.attempts_started, state.shutdown_deadline)
            };

            let flushed = batch.is_empty() || self.append(batch, attempt).await;
            if flushed {
                self.compact_due(deadline).await;
            }

            if let Some(deadline) = deadline {
                let pending = self.shared.pending.load(Ordering::SeqCst);
                if pending == 0 && flushed {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    tracing::error!(pending, "shutdown deadline reached with updates unwritten");
                    let last_error = self.shared.progress.borrow().last_error.clone();
                    return Err(StorageError::Unwritten {
                        pending,
                        last_error: Box::new(last_error.unwrap_or(StorageError::WriterStopped)),
                    });
                }
            }
        }
    }

    /// Sleeps until there is something to do.
    async fn wait_for_work(&self) {
        loop {
            {
                let state = self.shared.lock();
                if self.compaction_backlog
                    || !state.queue.is_empty()
                    || state.flush_requested
                    || state.shutdown_deadline.is_some()
                    || !state.compaction_requests.is_empty()
                {
                    return;
                }
            }
            self.shared.wake.notified().await;
        }
    }

    /// Waits until a flush interval (or, while failing, the backoff) has passed since the last
    /// attempt began, so there is at most one transaction per interval. A flush request and the
    /// rest of a backlog skip the wait; shutdown skips it while healthy and caps it by the
    /// deadline while failing.
    async fn wait_for_turn(&self) {
        let Some(last) = self.last_flush_start else {
            return;
        };
        let failing = self.backoff.failing();
        if self.backlog && failing.is_none() {
            return;
        }
        let due = last + failing.unwrap_or(self.config.flush_interval);
        loop {
            let due = {
                let state = self.shared.lock();
                if state.flush_requested {
                    return;
                }
                match state.shutdown_deadline {
                    Some(_) if failing.is_none() => return,
                    Some(deadline) => due.min(deadline),
                    None => due,
                }
            };
            if Instant::now() >= due {
                return;
            }
            tokio::select! {
                _ = sleep_until(due) => return,
                _ = self.shared.wake.notified() => {}
            }
        }
    }

    /// One group commit. Returns true on success.
    async fn append(&mut self, batch: Vec<NewUpdate>, attempt: u64) -> bool {
        let started = Instant::now();
        self.last_flush_start = Some(started);
        let count = batch.len();
        let appended = self.append_watched(&batch).await;
        metrics::histogram!(COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        match appended {
            Ok(seqs) => {
                metrics::histogram!(COMMIT_ROWS).record(count as f64);
                if seqs.len() != count {
                    tracing::error!(
                        expected = count,
                        got = seqs.len(),
                        "store returned a wrong number of seqs"
                    );
                }
                let committed: Vec<Queued> = {
                    let mut state = self.shared.lock();
                    let n = count.min(state.queue.len());
                    state.queue.drain(..n).collect()
                };
                self.shared
                    .pending
                    .fetch_sub(committed.len(), Ordering::SeqCst);
                let bytes = committed.iter().map(|q| q.data.len()).sum();
                self.shared.pending_bytes.fetch_sub(bytes, Ordering::SeqCst);
                if self.backoff.succeeded() {
                    tracing::info!(written = count, "storage recovered");
                    // A long outage (a full disk) can leave SQLite's write-ahead log large.
                    if let Err(error) = self.store.checkpoint().await {
                        tracing::warn!(%error, "could not checkpoint the database after recovery");
                    }
                }
                self.shared.healthy.store(true, Ordering::SeqCst);
                for (i, (item, seq)) in committed.into_iter().zip(seqs).enumerate() {
                    if i > 0 && i % CALLBACKS_PER_TURN == 0 {
                        tokio::task::yield_now().await;
                    }
                    let growth = self.log_growth.entry(item.doc.clone()).or_default();
                    growth.rows += 1;
                    growth.bytes += item.data.len() as u64;
                    let snapshot = self.snapshot_bytes.get(&item.doc).copied().unwrap_or(0);
                    if growth.compaction_pays(self.config.snapshot_threshold, snapshot) {
                        self.compaction_due.insert(item.doc.clone());
                    }
                    if let Some(callback) = item.on_durable {
                        // A panicking callback must not kill the task that owns everyone's data.
                        if catch_unwind(AssertUnwindSafe(|| callback(seq))).is_err() {
                            tracing::error!(doc = %item.doc, seq, "on_durable callback panicked");
                        }
                    }
                }
                self.shared
                    .progress
                    .send_modify(|p| p.committed += count as u64);
                true
            }
            Err(error) => {
                // A batch the database refused (rather than one it could not be asked) is retried
                // in halves: a full disk may take a smaller transaction once some space is freed,
                // where the same large one would keep failing. The rest of that backlog goes out
                // at the smaller size; the next backlog starts whole again.
                if error.is_refusal() {
                    self.batch_limit = (count / 2).max(1);
                }
                metrics::counter!(DATABASE_ERRORS, "operation" => "append").increment(1);
                let next = self.backoff.failed();
                self.shared.healthy.store(false, Ordering::SeqCst);
                let pending = self.shared.pending.load(Ordering::SeqCst);
                tracing::warn!(%error, pending, retry_in = ?next, "append failed; keeping updates queued");
                self.shared.progress.send_modify(|p| {
                    p.failed_attempt = attempt;
                    p.last_error = Some(error);
                });
                false
            }
        }
    }

    /// `store.append`, marking the writer unhealthy if it runs past `stall_after`. Not cancelled
    /// then: its commit may already be on the way, and the retry would store the batch twice.
    async fn append_watched(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        let append = self.store.append(batch);
        tokio::pin!(append);
        tokio::select! {
            result = &mut append => result,
            _ = sleep(self.config.stall_after) => {
                self.shared.healthy.store(false, Ordering::SeqCst);
                tracing::warn!(
                    pending = self.shared.pending.load(Ordering::SeqCst),
                    waited = ?self.config.stall_after,
                    "an append has not finished; the database may be unreachable (still waiting)"
                );
                append.await
            }
        }
    }

    /// Compacts the due documents; a failure is logged and retried after a later flush.
    ///
    /// Outside shutdown, no compaction but a turn's first starts after half a flush interval: the
    /// next append waits for this loop, and a crowd of documents unloading at once (each released
    /// document is compacted) held every other document's commit, and its durable echo, for
    /// seconds. The rest waits for the next turn (`compaction_backlog`).
    async fn compact_due(&mut self, deadline: Option<Instant>) {
        let due: Vec<String> = self.compaction_due.iter().cloned().collect();
        let stop_after = Instant::now() + self.config.flush_interval / 2;
        self.compaction_backlog = false;
        for (tried, doc) in due.into_iter().enumerate() {
            // At least one per turn, so a zero interval still makes progress.
            if tried > 0 && deadline.is_none() && Instant::now() >= stop_after {
                self.compaction_backlog = true;
                return;
            }
            let outcome = match deadline {
                Some(deadline) => match timeout_at(deadline, self.store.compact(&doc)).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        tracing::warn!(doc = %doc, "compaction skipped: shutdown deadline reached");
                        return;
                    }
                },
                None => self.store.compact(&doc).await,
            };
            match outcome {
                Ok(snapshot_bytes) => {
                    self.compaction_due.remove(&doc);
                    self.log_growth.remove(&doc);
                    if self.releasing.remove(&doc) {
                        self.snapshot_bytes.remove(&doc);
                        self.store.forget(&doc);
                    } else {
                        self.snapshot_bytes.insert(doc, snapshot_bytes);
                    }
                }
                Err(error) => {
                    metrics::counter!(DATABASE_ERRORS, "operation" => "compact").increment(1);
                    tracing::warn!(doc = %doc, %error, "compaction failed; will retry later");
                }
            }
        }
    }
}
