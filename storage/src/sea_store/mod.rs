//! `SeaStore`: the SQL `DocStore` (SQLite and PostgreSQL through one SeaORM code path).
//!
//! # Layout
//! - this module: the store, its transactions and the document id cache;
//! - `connect`: connecting (SQLite's pragmas, the pool) and migrating, one node at a time;
//! - `append`: one group commit (the database's triggers notify and fill the webhook outbox);
//! - `changes`: the change feed's pages;
//! - `compact`: folding the log into the snapshot, and what cannot be folded into quarantine;
//! - `read`: loads, figures and pages of the log;
//! - `tolerant`: reading rows whose values may not have the schema's types;
//! - `quarantine`: moving stored updates that cannot be applied out of the log.
//! - `outbox`: the webhook outbox's queries (close, claim, retry, prune).
//! - `open`: opening an existing database to read it only (no file created, no migration);
//! - `cut`: the whole database read in one consistent transaction (backups, checks);
//! - `projections`, `search`, `trash`: documents as data (see [`crate::catalog`]);
//! - `versions`: the documents' versions (see [`crate::history`]);
//! - `past`: the rows compaction folds, kept as history and pruned past the retention window;
//! - `at`: a document rebuilt as it was at a position or an instant.

mod append;
mod at;
mod changes;
pub(crate) mod compact;
mod connect;
pub mod cut;
pub mod open;
pub mod outbox;
mod past;
mod projections;
mod quarantine;
mod read;
pub mod revocations;
mod search;
mod sqlite_nice;
pub(crate) mod tolerant;
mod trash;
mod versions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use plait_cluster::NodeKey;
use plait_protocol::session::Refused;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::bus::Bus;
use crate::catalog::{Catalog, Listed, Projection, SearchHit, Trashed};
use crate::changes::{Change, ChangeLog, NameFilter};
use crate::error::StorageError;
use crate::history::{At, History, LogEntry, NewVersion, Past, Pruned, Version};
use crate::log_head::LogHead;
use crate::own_writes::OwnWrites;
use crate::pg_bus::PgBus;
use crate::sqlite_bus::SqliteBus;
use crate::store::{DocStats, DocStore, NewUpdate, Seq, StoredDoc};

/// `documents.name` is a VARCHAR(255); PostgreSQL counts characters, we promise bytes.
const MAX_NAME_BYTES: usize = 255;
/// Snapshot encoding written by this version (Yjs v1 update).
const SNAPSHOT_FORMAT_V1: i32 = 1;

/// The SQL implementation of `DocStore`.
///
/// Exists so the same server binary runs on a single SQLite file or a shared PostgreSQL that
/// several nodes append to; every query is written once with SeaORM.
pub struct SeaStore {
    db: DatabaseConnection,
    /// The URL connected to, kept for the bus's own listening connection (PostgreSQL).
    url: String,
    /// This process among the nodes sharing the database: its commits' notifications name it,
    /// so that its own feed skips them (see [`crate::pg_bus`]).
    node: String,
    /// name -> documents.id, filled only after the transaction that saw the id committed (an id
    /// from a rolled-back insert would not exist). Saves one SELECT per document per batch.
    /// Emptied of a document when it leaves memory ([`DocStore::forget`]).
    ids: Mutex<HashMap<String, i64>>,
    /// What this process appended, for the SQLite watcher (off on PostgreSQL).
    own_writes: Arc<OwnWrites>,
    /// The highest committed position known (see [`LogHead`]).
    head: Arc<LogHead>,
    /// Whether compaction moves the rows it folds to the history (`past`) rather than deleting
    /// them: false with `--history-retention 0`.
    keep_history: AtomicBool,
    /// How much nicer than the runtime SQLite's connection threads run (see [`sqlite_nice`]);
    /// shared with the pool's after-connect hook.
    sqlite_nice: Arc<sqlite_nice::SqliteNice>,
}

impl SeaStore {
    /// How this node hears what others write to the database: on PostgreSQL, where several
    /// nodes may run, the other nodes and other programs ([`PgBus`]; broadcasts are signed with
    /// `key`, and only those signed with it are heard, see [`plait_cluster::NodeKey`]); on a
    /// SQLite file, other programs ([`SqliteBus`]). `None` for an in-memory SQLite database.
    pub fn bus(&self, key: Option<NodeKey>) -> Option<Arc<dyn Bus>> {
        match self.backend() {
            DatabaseBackend::Postgres => Some(Arc::new(PgBus::new(
                self.db.clone(),
                self.url.clone(),
                self.node.clone(),
                key,
                self.head.clone(),
            ))),
            // Only a SQLite file has other programs to hear (and its own writes told apart).
            _ if !self.own_writes.is_enabled() => None,
            _ => Some(Arc::new(SqliteBus::new(
                self.db.clone(),
                self.url.clone(),
                self.own_writes.clone(),
                self.head.clone(),
            ))),
        }
    }

    /// Whether compactions keep the rows they fold as history (default) or delete them
    /// (`--history-retention 0`: only the current state is kept).
    pub fn keep_history(&self, keep: bool) {
        self.keep_history.store(keep, Ordering::Relaxed);
    }

    /// Runs SQLite's connection threads `nice` steps nicer than the calling thread (0–19; 0
    /// leaves them as they are): the ones open now and every one opened later. A commit's burst
    /// of CPU then gives way to the runtime's worker on a shared core (see [`sqlite_nice`]).
    /// Nothing on PostgreSQL, whose work runs in its own processes, or outside Linux.
    pub fn sqlite_nice(&self, nice: u8) {
        self.sqlite_nice.set(i32::from(nice));
        self.sqlite_nice.lower();
    }

    fn keeps_history(&self) -> bool {
        self.keep_history.load(Ordering::Relaxed)
    }

    /// The underlying connection (for the server's own health checks or admin queries).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// A transaction that will write. On SQLite it takes the write lock up front (IMMEDIATE):
    /// a deferred transaction that reads first and writes later fails with SQLITE_BUSY instead of
    /// waiting when another connection wrote in between.
    async fn begin_write(&self) -> Result<DatabaseTransaction, StorageError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// A read-only transaction with one consistent view, so `load` never pairs an old snapshot
    /// with a log that a concurrent compaction already trimmed. SQLite's deferred transaction
    /// already reads from one WAL snapshot; PostgreSQL needs REPEATABLE READ for that.
    async fn begin_read(&self) -> Result<DatabaseTransaction, StorageError> {
        let options = match self.backend() {
            DatabaseBackend::Postgres => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions::default(),
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    fn cached_id(&self, name: &str) -> Option<i64> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.get(name).copied()
    }

    fn cache_ids(&self, found: HashMap<String, i64>) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.extend(found);
    }

    fn forget_id(&self, name: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.remove(name);
    }
}

#[async_trait::async_trait]
impl DocStore for SeaStore {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        self.load_doc(doc).await
    }

    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        self.append_batch(batch).await
    }

    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        self.compact_doc(doc).await
    }

    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        self.doc_stats(doc).await
    }

    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        self.log_page(doc, after, limit).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let backend = self.backend();
        self.db
            .execute_raw(Statement::from_string(backend, "SELECT 1"))
            .await?;
        Ok(())
    }

    async fn checkpoint(&self) -> Result<(), StorageError> {
        if self.backend() == DatabaseBackend::Sqlite {
            self.db
                .execute_raw(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                ))
                .await?;
        }
        Ok(())
    }

    async fn quarantine(&self, doc: &str, refused: &[Refused]) -> Result<(), StorageError> {
        if refused.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        if let Some(head) = tolerant::head(&txn, doc, true).await? {
            quarantine::move_to_quarantine(&txn, head.id, doc, refused, Utc::now()).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    fn forget(&self, doc: &str) {
        self.forget_id(doc);
    }

    fn outbox(&self) -> Option<outbox::Outbox> {
        Some(outbox::Outbox::new(self.db.clone()))
    }

    fn revocation_log(&self) -> Option<revocations::RevocationLog> {
        Some(revocations::RevocationLog::new(self.db.clone()))
    }

    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(self)
    }

    fn catalog(&self) -> Option<&dyn Catalog> {
        Some(self)
    }

    fn history(&self) -> Option<&dyn History> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl History for SeaStore {
    async fn log(&self, doc: &str, after: Seq, limit: u64) -> Result<Vec<LogEntry>, StorageError> {
        self.log_entries(doc, after, limit).await
    }

    async fn cut(&self, doc: &str, version: &NewVersion) -> Result<Option<Version>, StorageError> {
        self.cut_version(doc, version).await
    }

    async fn versions(&self, doc: &str) -> Result<Vec<Version>, StorageError> {
        self.version_list(doc).await
    }

    async fn version(
        &self,
        doc: &str,
        id: i64,
    ) -> Result<Option<(Version, Vec<u8>)>, StorageError> {
        self.version_row(doc, id).await
    }

    async fn delete_version(&self, doc: &str, id: i64) -> Result<bool, StorageError> {
        self.delete_version_row(doc, id).await
    }

    async fn due_for_version(
        &self,
        cut_before: chrono::DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        self.documents_due_for_version(cut_before, limit).await
    }

    async fn past(&self, doc: &str, at: At) -> Result<Option<Past>, StorageError> {
        self.state_at(doc, at).await
    }

    async fn prune(
        &self,
        doc: &str,
        before: chrono::DateTime<Utc>,
    ) -> Result<Pruned, StorageError> {
        self.prune_history(doc, before).await
    }

    async fn due_for_pruning(
        &self,
        before: chrono::DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        self.documents_due_for_pruning(before, limit).await
    }
}

#[async_trait::async_trait]
impl Catalog for SeaStore {
    async fn write_projection(&self, projection: &Projection) -> Result<bool, StorageError> {
        self.write_projection_row(projection).await
    }

    async fn last_position(&self) -> Result<Seq, StorageError> {
        self.last_log_position().await
    }

    async fn stale_projections(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        self.stale_projection_names(after, limit).await
    }

    async fn projection(&self, doc: &str) -> Result<Option<Projection>, StorageError> {
        self.projection_row(doc).await
    }

    async fn search(
        &self,
        query: &str,
        names: &NameFilter,
        limit: u64,
    ) -> Result<Vec<SearchHit>, StorageError> {
        self.search_projections(query, names, limit).await
    }

    async fn list(
        &self,
        names: &NameFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Listed>, StorageError> {
        self.list_documents(names, after, limit).await
    }

    async fn delete(&self, doc: &str) -> Result<Trashed, StorageError> {
        self.trash(doc, true).await
    }

    async fn undelete(&self, doc: &str) -> Result<Trashed, StorageError> {
        self.trash(doc, false).await
    }

    async fn purge(
        &self,
        deleted_before: chrono::DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        self.purge_trash(deleted_before).await
    }
}

#[async_trait::async_trait]
impl ChangeLog for SeaStore {
    async fn changes(
        &self,
        after: Seq,
        limit: u64,
        names: &NameFilter,
    ) -> Result<Vec<Change>, StorageError> {
        self.change_page(after, limit, names).await
    }

    fn head(&self) -> tokio::sync::watch::Receiver<Seq> {
        self.head.subscribe()
    }
}
