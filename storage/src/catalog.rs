//! Documents as data: what an application reads without a CRDT library (the projection, search,
//! the list of documents) and the trash.
//!
//! The projection (`document_projections`) holds each document rendered as JSON and plain text
//! with the log position it reflects. The server renders it (storage knows nothing of Yjs
//! types beyond bytes) and writes it here; [`Catalog::stale_projections`] names the documents
//! whose log moved past their projection, so that a reader of the table never waits for a
//! document nobody has open.
//!
//! The trash: a deleted document keeps its rows until it is purged, is served by no node, and
//! is in neither the list nor search nor the projection. Deleting and undeleting append a marker
//! row to the log (an empty update, `kind` 1 or 2), so the change feed shows both at a position
//! of their own.

use chrono::{DateTime, Utc};

use crate::changes::NameFilter;
use crate::error::StorageError;
// The same i64 as `store::Seq`; taken from below because `store` names this module's trait.
use plait_cluster::event::Seq;

/// One document rendered for readers.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub doc: String,
    /// The log position it reflects: every row up to it is rendered.
    pub seq: Seq,
    /// Every root type by name.
    pub content: serde_json::Value,
    /// The plain text of its text and XML roots.
    pub text: String,
}

/// A document the search matched.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub doc: String,
    /// Some text around the matches, each match between `**` and `**`.
    pub snippet: String,
    /// The log position the searched text reflects.
    pub seq: Seq,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A document in the list, with its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub doc: String,
    /// Snapshot bytes plus log bytes.
    pub bytes: u64,
    pub snapshot_bytes: u64,
    pub log_bytes: u64,
    /// Log rows not yet folded into the snapshot.
    pub log_updates: u64,
    pub snapshot_seq: Seq,
    /// The highest log position written for it.
    pub last_seq: Seq,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a deletion or an undeletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trashed {
    /// No such document (never written, or purged).
    NotFound,
    /// It was already in that state: nothing changed. For a deletion, when it was deleted.
    Unchanged { deleted_at: Option<DateTime<Utc>> },
    /// Done, with the marker row's log position. For a deletion, when it was deleted.
    Done {
        seq: Seq,
        deleted_at: Option<DateTime<Utc>>,
    },
}

/// The documents of one database as data. Implemented by the SQL store.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync {
    /// Writes `projection` unless the stored one reflects a later position (two nodes holding
    /// the document both write), or the document is deleted or unknown. True if written.
    async fn write_projection(&self, projection: &Projection) -> Result<bool, StorageError>;

    /// The highest position in the log, read from the database (whoever wrote it): while it
    /// stays, no projection can have gone stale.
    async fn last_position(&self) -> Result<Seq, StorageError>;

    /// At most `limit` documents (not deleted) whose log holds rows after their projection, or
    /// that have none, in name order after `after`.
    async fn stale_projections(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError>;

    /// The stored projection of `doc` (not deleted), if any.
    async fn projection(&self, doc: &str) -> Result<Option<Projection>, StorageError>;

    /// Full-text search over the projections with the database's own engine (PostgreSQL
    /// `tsvector`, SQLite FTS5): documents whose text holds every word of `query`, best first.
    async fn search(
        &self,
        query: &str,
        names: &NameFilter,
        limit: u64,
    ) -> Result<Vec<SearchHit>, StorageError>;

    /// Documents (not deleted) in name order after `after`, at most `limit`.
    async fn list(
        &self,
        names: &NameFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Listed>, StorageError>;

    /// Moves `doc` to the trash (see the module's doc).
    async fn delete(&self, doc: &str) -> Result<Trashed, StorageError>;

    /// Takes `doc` out of the trash.
    async fn undelete(&self, doc: &str) -> Result<Trashed, StorageError>;

    /// Removes for good the documents deleted before `deleted_before`: their log, snapshot,
    /// projection and quarantined rows. Returns their names.
    async fn purge(&self, deleted_before: DateTime<Utc>) -> Result<Vec<String>, StorageError>;
}

/// Words of a search query, each at most 100 characters, at most 32 of them: what both
/// databases' queries are built from (never the query text itself, whose operators each engine
/// reads differently).
pub fn query_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| w.chars().take(100).collect::<String>().to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::query_words;

    #[test]
    fn query_words_drop_operators_and_punctuation() {
        assert_eq!(
            query_words(r#"  "Hello" -world OR café*  NEAR(a b) "#),
            ["hello", "world", "or", "café", "near", "a", "b"]
        );
        assert!(query_words("  ** ?? ").is_empty());
        assert_eq!(query_words("日本語 テキスト"), ["日本語", "テキスト"]);
    }
}
