//! The change feed: every committed update of the log in position order, readable from any
//! position a consumer was given, with snapshots standing in for rows a compaction folded away.
//!
//! A consumer that starts at the beginning (or at any cursor it was given) and applies every
//! change in order ends with each document equal to the server's: where rows after its cursor
//! were compacted, it gets the snapshot (the document's whole state at the snapshot's
//! position) at that position, then the later rows.
//!
//! Gap-free: positions are assigned in commit order (on PostgreSQL the log's trigger takes one
//! advisory lock per appending transaction; SQLite has one writer at a time), so a page that
//! saw position P also saw every committed position below it, and a consumer never skips a row
//! that committed "late". A page's rows and snapshots are read in one consistent view.

use chrono::{DateTime, Utc};
// The same i64 as `store::Seq`; taken from below because `store` names this module's trait.
use plait_cluster::event::Seq;
use tokio::sync::watch;

use crate::error::StorageError;

/// What a change carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// One log row: a Yjs v1 update.
    Update,
    /// The document's whole state at this position (rows up to it were compacted).
    Snapshot,
    /// The document went to the trash: no node serves it (its update is empty).
    Delete,
    /// The document came back from the trash (its update is empty).
    Undelete,
}

impl ChangeKind {
    /// The word the HTTP API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Update => "update",
            ChangeKind::Snapshot => "snapshot",
            ChangeKind::Delete => "delete",
            ChangeKind::Undelete => "undelete",
        }
    }
}

/// One change of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its log position (a snapshot's: the last position it covers).
    pub seq: Seq,
    pub doc: String,
    /// When it was committed (a snapshot: when its document last changed).
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
    /// A Yjs v1 update.
    pub update: Vec<u8>,
}

/// Which documents a page covers: names starting with `prefix`, and if `exact` is set, only
/// that name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    pub prefix: String,
    pub exact: Option<String>,
}

impl NameFilter {
    /// Whether `name` passes.
    pub fn covers(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) && self.exact.as_deref().is_none_or(|e| e == name)
    }
}

/// Pages of the change feed, and a way to wait for more.
#[async_trait::async_trait]
pub trait ChangeLog: Send + Sync {
    /// At most `limit` changes after position `after`, in position order (fewer if they would
    /// pass [`MAX_PAGE_BYTES`], never none when some exist).
    async fn changes(
        &self,
        after: Seq,
        limit: u64,
        names: &NameFilter,
    ) -> Result<Vec<Change>, StorageError>;

    /// Moves when rows are committed (by this process, another node or another program).
    fn head(&self) -> watch::Receiver<Seq>;
}

/// Update bytes one page holds at most (a page stops after the change that passes it).
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
