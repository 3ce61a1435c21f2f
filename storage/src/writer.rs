//! `Writer`: write-behind group commit, retries with backoff, and snapshot scheduling.
//!
//! The server applies an update in memory, relays it, and hands it to `submit`; one background
//! task turns everything that arrived during a flush interval into ONE `append` transaction
//! (up to [`WriterConfig::max_batch_updates`] / [`WriterConfig::max_batch_bytes`]; a longer
//! backlog goes out as several transactions back to back). Nothing is dropped: a failed batch
//! stays at the head of the queue and is retried.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use crate::error::StorageError;
use crate::store::{DocStore, NewUpdate, Seq};

/// Tuning of the write-behind task.
///
/// A struct rather than constructor arguments so the server maps its CLI flags onto it by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// At most one append transaction per interval; everything submitted meanwhile shares it.
    pub flush_interval: Duration,
    /// Compact a document once this many rows were appended to it since its last compaction
    /// (and their bytes reach half its snapshot's size; see `LogGrowth::compaction_pays`).
    pub snapshot_threshold: u64,
    /// Upper bound of the retry backoff while the store is failing.
    pub max_backoff: Duration,
    /// Most updates in one append transaction. After an outage the queue holds everything since
    /// it began; written as one transaction it would hold locks, and the driver's copy of every
    /// row, in proportion to the outage, and one failure would redo all of it.
    pub max_batch_updates: usize,
    /// Most update bytes in one append transaction (a single larger update still goes alone).
    pub max_batch_bytes: usize,
    /// Uncommitted updates at which [`Writer::is_full`] turns true (0: never). The writer still
    /// takes whatever it is given; the bound tells the server to stop taking edits while the
    /// store is down, so the queue (the only copy of those edits) cannot grow until the process
    /// runs out of memory and loses all of it.
    pub max_pending: usize,
    /// Uncommitted update bytes at which [`Writer::is_full`] turns true as well (0: never): the
    /// count alone does not bound memory when the updates are large.
    pub max_pending_bytes: usize,
    /// An append still running after this long marks the writer unhealthy (it keeps waiting for
    /// it). A database that stops answering without refusing, a cut network, holds the attempt
    /// in the driver's acquire timeout (30 s) or longer, and the readiness check should say so.
    pub stall_after: Duration,
}

/// [`WriterConfig::max_pending`]'s default: about 570 MB held at the ~570 bytes per queued update
/// measured during an outage (BENCHMARKS.md), or half an hour of 50 people typing.
pub const DEFAULT_MAX_PENDING: usize = 1_000_000;

/// [`WriterConfig::max_pending_bytes`]'s default: the updates' own bytes, on top of the ~570
/// bytes each that the count bounds.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 512 << 20;

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            flush_interval: Duration::from_millis(100),
            snapshot_threshold: 500,
            max_backoff: Duration::from_secs(5),
            max_batch_updates: 4096,
            max_batch_bytes: 16 << 20,
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            stall_after: Duration::from_secs(5),
        }
    }
}

/// Called with the update's seq once the transaction holding it committed (the server uses it to
/// echo the update to its sender as an acknowledgement of durability).
pub type OnDurable = Box<dyn FnOnce(Seq) + Send + 'static>;

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

/// State shared by the handles and the task.
struct Shared {
    /// Queue and requests. A std mutex: every critical section is short and never awaits.
    state: Mutex<State>,
    /// Wakes the task on new work, a flush request or shutdown. `notify_one` keeps a permit when
    /// the task is not waiting yet, so a wake-up between its check and its await is not lost.
    wake: Notify,
    /// Progress for `flush` callers: a watch, because they only need the latest counters.
    progress: watch::Sender<Progress>,
    healthy: AtomicBool,
    /// Mirror of the queue length so `pending()` needs no lock.
    pending: AtomicUsize,
    /// Bytes of the uncommitted updates, for [`WriterConfig::max_pending_bytes`].
    pending_bytes: AtomicUsize,
    /// [`WriterConfig::max_pending`].
    max_pending: usize,
    /// [`WriterConfig::max_pending_bytes`].
    max_pending_bytes: usize,
}

struct State {
    /// Not yet committed, in submission order; the head is the batch being tried.
    queue: VecDeque<Queued>,
    /// Updates ever submitted; `flush` waits until `Progress::committed` reaches this.
    submitted: u64,
    /// Append attempts started; lets `flush` ignore failures of attempts older than its call.
    attempts_started: u64,
    /// `flush` wants an attempt now, without waiting out the interval or the backoff.
    flush_requested: bool,
    compaction_requests: HashSet<String>,
    /// Documents that left memory (see [`Writer::release`]); each is also in
    /// `compaction_requests`.
    releases: HashSet<String>,
    /// Set by `shutdown` (or the last handle's drop): finish by this instant.
    shutdown_deadline: Option<Instant>,
}

struct Queued {
    doc: String,
    data: Bytes,
    on_durable: Option<OnDurable>,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    /// Updates committed since spawn (a prefix of the submission order).
    committed: u64,
    /// Id of the latest failed attempt (0 = none yet) and its error.
    failed_attempt: u64,
    last_error: Option<StorageError>,
    /// The task has exited.
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections only push/pop/flip flags, so the state stays consistent on poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
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
        let task = tokio::spawn(run(Arc::clone(&shared), store, config));
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
        let shared = self.shared();
        let len = data.len();
        {
            let mut state = shared.lock();
            state.queue.push_back(Queued {
                doc: doc.to_owned(),
                data,
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

/// The write-behind task.
async fn run(
    shared: Arc<Shared>,
    store: Arc<dyn DocStore>,
    config: WriterConfig,
) -> Result<(), StorageError> {
    let batch_limit = config.max_batch_updates.max(1);
    let mut task = Task {
        shared,
        store,
        config,
        last_flush_start: None,
        backoff: None,
        backlog: false,
        batch_limit,
        log_growth: HashMap::new(),
        snapshot_bytes: HashMap::new(),
        compaction_due: HashSet::new(),
        releasing: HashSet::new(),
    };
    let result = task.run().await;
    task.shared.progress.send_modify(|p| p.stopped = true);
    result
}

/// Growth of one document's log since its last compaction.
#[derive(Debug, Default)]
struct LogGrowth {
    rows: u64,
    bytes: u64,
}

impl LogGrowth {
    /// A compaction rewrites the whole snapshot, so it waits until the log holds at least
    /// `threshold` rows AND half the snapshot's size: compacting a large, busy document every few
    /// hundred rows would rewrite megabytes for kilobytes of change (quadratic in its size),
    /// while this way the rewriting stays proportional to what was written and a load still
    /// reads at most 1.5 × the snapshot.
    fn compaction_pays(&self, threshold: u64, snapshot_bytes: u64) -> bool {
        self.rows >= threshold && self.bytes.saturating_mul(2) >= snapshot_bytes
    }
}

struct Task {
    shared: Arc<Shared>,
    store: Arc<dyn DocStore>,
    config: WriterConfig,
    last_flush_start: Option<Instant>,
    /// Current retry delay while failing; None while healthy.
    backoff: Option<Duration>,
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
                let batch = self.next_batch(&state.queue);
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

    /// The head of the queue, up to the batch limits (always at least one update, however big).
    fn next_batch(&self, queue: &VecDeque<Queued>) -> Vec<NewUpdate> {
        let mut bytes = 0usize;
        queue
            .iter()
            .take(self.batch_limit.max(1))
            .take_while(|q| {
                let first = bytes == 0;
                bytes = bytes.saturating_add(q.data.len().max(1));
                first || bytes <= self.config.max_batch_bytes
            })
            .map(|q| NewUpdate {
                doc: q.doc.clone(),
                data: q.data.clone(),
            })
            .collect()
    }

    /// Sleeps until there is something to do.
    async fn wait_for_work(&self) {
        loop {
            {
                let state = self.shared.lock();
                if !state.queue.is_empty()
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
        if self.backlog && self.backoff.is_none() {
            return;
        }
        let due = last + self.backoff.unwrap_or(self.config.flush_interval);
        loop {
            let due = {
                let state = self.shared.lock();
                if state.flush_requested {
                    return;
                }
                match state.shutdown_deadline {
                    Some(_) if self.backoff.is_none() => return,
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
        self.last_flush_start = Some(Instant::now());
        let count = batch.len();
        match self.append_watched(&batch).await {
            Ok(seqs) => {
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
                if self.backoff.take().is_some() {
                    tracing::info!(written = count, "storage recovered");
                    // A long outage (a full disk) can leave SQLite's write-ahead log large.
                    if let Err(error) = self.store.checkpoint().await {
                        tracing::warn!(%error, "could not checkpoint the database after recovery");
                    }
                }
                self.shared.healthy.store(true, Ordering::SeqCst);
                for (item, seq) in committed.into_iter().zip(seqs) {
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
                let next = match self.backoff {
                    None => self.config.flush_interval,
                    Some(current) => current.saturating_mul(2).min(self.config.max_backoff),
                };
                self.backoff = Some(next);
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
    async fn compact_due(&mut self, deadline: Option<Instant>) {
        let due: Vec<String> = self.compaction_due.iter().cloned().collect();
        for doc in due {
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
                    tracing::warn!(doc = %doc, %error, "compaction failed; will retry later");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogGrowth;

    #[test]
    fn a_large_snapshot_waits_until_the_log_reaches_half_its_size() {
        let grown = LogGrowth {
            rows: 500,
            bytes: 1000,
        };
        assert!(
            grown.compaction_pays(500, 0),
            "no snapshot yet: rows decide"
        );
        assert!(grown.compaction_pays(500, 2000));
        assert!(
            !grown.compaction_pays(500, 2001),
            "log under half the snapshot"
        );
        let few = LogGrowth {
            rows: 499,
            bytes: 1_000_000,
        };
        assert!(!few.compaction_pays(500, 0), "under the row threshold");
    }
}
