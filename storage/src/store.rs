//! The narrow persistence interface the server depends on, and the values it exchanges.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use plait_protocol::session::{replay, DocLimits, Refused, Replayed};

use crate::catalog::Catalog;
use crate::changes::ChangeLog;
use crate::error::StorageError;
use crate::history::History;

/// Database-assigned log position (`document_updates.seq`, an autoincrement primary key).
///
/// The database, not a node, assigns it so several server nodes can append to one document's log
/// and a change-data-capture reader can ask for "everything after P".
pub type Seq = i64;

/// One Yjs v1 update to append to a document's log.
///
/// A batch of these is what one group commit writes; `data` is `Bytes` so the writer can keep
/// it queued for retries without copying.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewUpdate {
    /// Document name (already validated by the caller, at most 255 bytes).
    pub doc: String,
    /// Raw Yjs v1 update.
    pub data: Bytes,
    /// Who wrote it, as stored in `document_updates.authors` (a JSON array); `None`: unknown.
    pub authors: Option<Arc<str>>,
}

/// What the database holds for one document: the compacted snapshot plus the log tail.
///
/// Kept as raw bytes (not a `yrs::Doc`) so a node can inspect, forward or count it without paying
/// for integration; [`StoredDoc::replay`] rebuilds the document when one is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDoc {
    /// Latest compacted state as a Yjs v1 update, if a compaction ever ran.
    pub snapshot: Option<Vec<u8>>,
    /// Log position the snapshot covers (0 = no snapshot).
    pub snapshot_seq: Seq,
    /// Log rows with `seq > snapshot_seq`, ascending.
    pub updates: Vec<(Seq, Vec<u8>)>,
    /// Rows (or the snapshot) whose columns could not even be read as bytes (a value of another
    /// type written into the table by hand): reported like refused rows, so they are moved out
    /// of the way instead of making the whole document unreadable.
    pub unreadable: Vec<Refused>,
    /// When the document went to the trash (`None`: it is served). A deleted document keeps its
    /// log until it is purged, but no node serves it.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// How long a row whose dependency no stored row holds may be waiting for it. A node stores its
/// own updates at once, but its clients may build on another node's update before that node's
/// commit (the server's `document::unconfirmed`): for a moment the log holds a row whose
/// dependency is still on its way, stored by its node within its flush interval, or by the node
/// that depends on it after 1 s. A row incomplete for longer is not waiting for anything: it
/// goes to quarantine.
pub const IN_FLIGHT: Duration = Duration::from_secs(30);

/// The whole document rebuilt from storage, as one Yjs v1 update, with what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The full state: a compacted snapshot, or the answer for a client.
    pub state: Vec<u8>,
    /// Rows that could not be applied (see [`StoredDoc::replay`]).
    pub refused: Vec<Refused>,
    /// Rows whose dependencies no row supplies.
    pub incomplete: Vec<Seq>,
}

impl Rebuilt {
    /// Whether some stored row could not be (fully) applied: such rows go to quarantine before
    /// anything is folded over them.
    pub fn has_rejects(&self) -> bool {
        !self.refused.is_empty() || !self.incomplete.is_empty()
    }
}

impl StoredDoc {
    /// A base state at `base_seq` (`None`: empty) and the rows after it, replayed like a load:
    /// a document at a point of its past (`history::Past::State`), or a history being pruned.
    pub fn from_base(base: Option<Vec<u8>>, base_seq: Seq, rows: Vec<(Seq, Vec<u8>)>) -> StoredDoc {
        StoredDoc {
            snapshot: base,
            snapshot_seq: base_seq,
            updates: rows,
            ..StoredDoc::default()
        }
    }

    /// The highest log position it holds: its last row's, or the snapshot's.
    pub fn last_seq(&self) -> Seq {
        self.updates
            .last()
            .map_or(0, |(seq, _)| *seq)
            .max(self.snapshot_seq)
    }

    /// Rebuilds the document: snapshot first, then each log row in order, every one checked as a
    /// client's update would be (see [`plait_protocol::session::replay`]). A snapshot or row
    /// that does not decode, or fails the checks, is skipped and reported; nothing panics and
    /// one bad row never makes the rest of the document unreadable.
    ///
    /// CPU work in proportion to the log: call it on the blocking pool ([`replay_blocking`]).
    pub fn replay(self, limits: DocLimits) -> Replayed {
        let mut replayed = replay(
            self.snapshot.as_deref(),
            self.snapshot_seq,
            &self.updates,
            limits,
        );
        let mut refused = self.unreadable;
        refused.append(&mut replayed.refused);
        replayed.refused = refused;
        replayed
    }

    /// The whole document as one Yjs v1 update (what [`StoredDoc::replay`] rebuilt, encoded),
    /// with what was refused.
    pub fn rebuild(self) -> Rebuilt {
        let replayed = self.replay(DocLimits::default());
        Rebuilt {
            state: replayed.state.encode_state(),
            refused: replayed.refused,
            incomplete: replayed.incomplete,
        }
    }
}

/// [`StoredDoc::replay`] on the blocking pool: replaying a long log is CPU work that would hold
/// up every document sharing the async worker. The result holds a `DocState`, freed like any
/// value when a caller gives up waiting (a dropped HTTP request).
pub async fn replay_blocking(
    stored: StoredDoc,
    limits: DocLimits,
) -> Result<Replayed, StorageError> {
    tokio::task::spawn_blocking(move || stored.replay(limits))
        .await
        .map_err(|e| StorageError::Snapshot(format!("replay task failed: {e}")))
}

/// [`StoredDoc::rebuild`] on the blocking pool (see [`replay_blocking`]).
pub async fn rebuild_blocking(stored: StoredDoc) -> Result<Rebuilt, StorageError> {
    tokio::task::spawn_blocking(move || stored.rebuild())
        .await
        .map_err(|e| StorageError::Snapshot(format!("replay task failed: {e}")))
}

/// Size and position of one document's storage, for the admin/metrics endpoint.
///
/// Exists so operators can see when compaction is falling behind (large `log_updates`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DocStats {
    /// Document name.
    pub name: String,
    /// Log rows not yet folded into the snapshot.
    pub log_updates: u64,
    /// Total payload bytes of those rows.
    pub log_bytes: u64,
    /// Size of the compacted snapshot (0 if none).
    pub snapshot_bytes: u64,
    /// Log position the snapshot covers.
    pub snapshot_seq: Seq,
    /// Highest log position written for this document (covered by the snapshot or in the log).
    pub last_seq: Seq,
    /// When the document was first written (`None` if the stored value is not a date).
    pub created_at: Option<DateTime<Utc>>,
    /// When the document was last appended to, if ever.
    pub last_write_at: Option<DateTime<Utc>>,
    /// Stored updates moved out of the log because they could not be applied (see
    /// [`DocStore::quarantine`]).
    pub quarantined: u64,
}

/// Persistence for documents: an append-only update log plus compacted snapshots.
///
/// The server sees only this trait, so it runs unchanged on SQL (`SeaStore`), in memory
/// (`MemoryStore`) or under injected faults (`FaultyStore`).
#[async_trait::async_trait]
pub trait DocStore: Send + Sync + 'static {
    /// Snapshot plus log tail; `None` if the document was never written.
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError>;
    /// Appends the whole batch in ONE transaction and returns the seq of each update, in batch
    /// order. Creates missing document rows (several nodes may race to create one).
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError>;
    /// Folds the snapshot and every row up to the current maximum seq P into a new snapshot at P
    /// and deletes those rows, in one transaction, from what is in storage (not a node's memory).
    /// Returns the snapshot's size in bytes (0 for a document never written).
    async fn compact(&self, doc: &str) -> Result<u64, StorageError>;
    /// Storage statistics; `None` if the document was never written.
    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError>;
    /// Log rows with `seq > after`, ascending, at most `limit` (change-data-capture feed).
    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError>;
    /// Cheap liveness probe for health checks.
    async fn ping(&self) -> Result<(), StorageError>;
    /// Moves the `refused` rows of `doc` (and its snapshot, if it is among them) out of the log
    /// into quarantine, with their reasons: kept for an operator, never applied, never folded
    /// into a snapshot, and not met again by the next load. Rows already moved are skipped.
    async fn quarantine(&self, doc: &str, refused: &[Refused]) -> Result<(), StorageError>;
    /// Hands the database's write-ahead log back to the main file and shrinks it (SQLite's
    /// `wal_checkpoint(TRUNCATE)`), after the writer recovered from failing appends: a long
    /// outage (a full disk) can leave it large. The default does nothing.
    async fn checkpoint(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// `doc` has left this node's memory: drops whatever the store caches about it, so that a
    /// long-running node's memory does not grow with every document it ever wrote. Only a cache
    /// goes: the next call naming `doc` refills it. The default caches nothing.
    fn forget(&self, _doc: &str) {}

    /// The change feed over this store's log, if it keeps one (the SQL store does; the memory
    /// store does not).
    fn change_log(&self) -> Option<&dyn ChangeLog> {
        None
    }
    /// The documents as data (projection, search, list, trash), if this store keeps them (the
    /// SQL store does; the memory store does not).
    fn catalog(&self) -> Option<&dyn Catalog> {
        None
    }
    /// The documents' versions, if this store keeps them (the SQL store does).
    fn history(&self) -> Option<&dyn History> {
        None
    }
    /// The webhook outbox in the same database, written by the database's own triggers in the
    /// transaction of every append; `None` for stores without one (memory): no webhooks there.
    fn outbox(&self) -> Option<crate::sea_store::outbox::Outbox> {
        None
    }
    /// The revocations table in the same database; `None` for stores without one (memory:
    /// revocations then live in the process only).
    fn revocation_log(&self) -> Option<crate::sea_store::revocations::RevocationLog> {
        None
    }
}

#[async_trait::async_trait]
impl<T: DocStore + ?Sized> DocStore for Arc<T> {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        (**self).load(doc).await
    }
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        (**self).append(batch).await
    }
    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        (**self).compact(doc).await
    }
    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        (**self).stats(doc).await
    }
    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        (**self).updates_after(doc, after, limit).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        (**self).ping().await
    }
    async fn quarantine(&self, doc: &str, refused: &[Refused]) -> Result<(), StorageError> {
        (**self).quarantine(doc, refused).await
    }
    async fn checkpoint(&self) -> Result<(), StorageError> {
        (**self).checkpoint().await
    }
    fn forget(&self, doc: &str) {
        (**self).forget(doc)
    }

    fn change_log(&self) -> Option<&dyn ChangeLog> {
        (**self).change_log()
    }
    fn catalog(&self) -> Option<&dyn Catalog> {
        (**self).catalog()
    }
    fn history(&self) -> Option<&dyn History> {
        (**self).history()
    }
    fn outbox(&self) -> Option<crate::sea_store::outbox::Outbox> {
        (**self).outbox()
    }
    fn revocation_log(&self) -> Option<crate::sea_store::revocations::RevocationLog> {
        (**self).revocation_log()
    }
}
