//! How the write-behind task is tuned, and what it calls back.

use std::time::Duration;

use crate::store::Seq;

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
