//! History: versions of a document, its whole state at a log position, kept apart from the log
//! and its compaction (`document_versions`).
//!
//! A version is cut automatically when a document has changed and `--version-interval` has
//! passed since its last one, before every restore (so a restore is undone by restoring that
//! version), and on request with a name. The server decides when and computes the state; this
//! module stores and reads them.

use chrono::{DateTime, Utc};
// The same i64 as `store::Seq`; taken from below because `store` names this module's trait.
use plait_cluster::event::Seq;

use crate::error::StorageError;

/// Why a version was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKind {
    /// The document changed and the version interval passed.
    Auto,
    /// Someone asked for it, with a name (kept until deleted).
    Named,
    /// Cut just before a restore: restoring it undoes the restore.
    Restore,
}

impl VersionKind {
    /// The word stored and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Auto => "auto",
            VersionKind::Named => "named",
            VersionKind::Restore => "restore",
        }
    }

    /// The kind a stored word names (an unknown word reads as `Auto`).
    pub fn parse(word: &str) -> VersionKind {
        match word {
            "named" => VersionKind::Named,
            "restore" => VersionKind::Restore,
            _ => VersionKind::Auto,
        }
    }
}

/// A version to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub kind: VersionKind,
    pub name: Option<String>,
    /// The log position the state reflects.
    pub seq: Seq,
    /// The whole document as one Yjs v1 update.
    pub state: Vec<u8>,
    /// The token subject that asked for it (named and restore versions).
    pub created_by: Option<String>,
}

/// A stored version, without its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: i64,
    pub kind: VersionKind,
    pub name: Option<String>,
    pub seq: Seq,
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    /// Size of the state in bytes.
    pub bytes: u64,
    /// Who wrote the log rows between the version before it and this one: a JSON array of
    /// `{"sub": ..., "via": ...}` (`None`: not known, e.g. cut before attribution).
    pub authors: Option<String>,
}

/// A point in a document's past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Just after the log row at this position (a change-feed cursor's `seq`).
    Position(Seq),
    /// As it was at this instant: after every row stored by then.
    Time(DateTime<Utc>),
}

/// What [`History::past`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Past {
    /// What rebuilds the document at `seq`: a base state at `base_seq` (a version, the
    /// history's base or the snapshot; `None`: empty) and the rows after it up to `seq`.
    State {
        seq: Seq,
        base: Option<Vec<u8>>,
        base_seq: Seq,
        rows: Vec<(Seq, Vec<u8>)>,
    },
    /// The point is before what the history keeps: rows at or below `floor` were pruned.
    Gone { seq: Seq, floor: Seq },
    /// The document is in the trash.
    Deleted,
}

/// What [`History::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// History rows folded into the base.
    pub rows: u64,
    /// Automatic and restore versions deleted.
    pub versions: u64,
}

/// One row of a document's log, as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: Seq,
    pub at: Option<DateTime<Utc>>,
    /// Who wrote it: the JSON array `document_updates.authors` holds (`None`: not known).
    pub authors: Option<String>,
    /// Size of the update in bytes.
    pub bytes: u64,
    /// 0: an update; 1 and 2: the trash's deletion and undeletion.
    pub kind: i16,
}

/// The versions of the documents of one database. Implemented by the SQL store.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// At most `limit` rows of `doc`'s log after position `after`, in order: the rows a
    /// compaction folded into the snapshot too, until they leave the retention window.
    async fn log(&self, doc: &str, after: Seq, limit: u64) -> Result<Vec<LogEntry>, StorageError>;

    /// Stores a version of `doc`; `None` if the document was never written.
    async fn cut(&self, doc: &str, version: &NewVersion) -> Result<Option<Version>, StorageError>;

    /// The versions of `doc`, oldest first.
    async fn versions(&self, doc: &str) -> Result<Vec<Version>, StorageError>;

    /// One version of `doc` with its state.
    async fn version(&self, doc: &str, id: i64)
        -> Result<Option<(Version, Vec<u8>)>, StorageError>;

    /// Deletes one version of `doc`; false if there was none.
    async fn delete_version(&self, doc: &str, id: i64) -> Result<bool, StorageError>;

    /// At most `limit` documents (not deleted) written since their latest version, whose latest
    /// version is older than `cut_before` (or that have none): due for an automatic version.
    async fn due_for_version(
        &self,
        cut_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError>;

    /// `doc` as it was at `at`, from the nearest version (or base) and the rows after it;
    /// `None` if it was never written.
    async fn past(&self, doc: &str, at: At) -> Result<Option<Past>, StorageError>;

    /// Folds `doc`'s history rows stored before `before` into its base and deletes its automatic
    /// and restore versions cut before then (named versions stay until deleted).
    async fn prune(&self, doc: &str, before: DateTime<Utc>) -> Result<Pruned, StorageError>;

    /// At most `limit` documents holding history rows or automatic or restore versions from
    /// before `before`: due for [`History::prune`].
    async fn due_for_pruning(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError>;
}
