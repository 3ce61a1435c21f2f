//! `SeaStore`: the SQL `DocStore` (SQLite and PostgreSQL through one SeaORM code path).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectOptions,
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IsolationLevel, QueryFilter, QuerySelect, QueryTrait, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::migration::Migrator;
use crate::peers::{self, PeerFeed, PeerKey, PgPeerFeed};
use crate::store::{rebuild_blocking, DocStats, DocStore, NewUpdate, Seq, StoredDoc};
use plait_protocol::session::Refused;

mod quarantine;
pub(crate) mod tolerant;

/// `documents.name` is a VARCHAR(255); PostgreSQL counts characters, we promise bytes.
const MAX_NAME_BYTES: usize = 255;
/// How long a SQLite connection waits for another writer (another pool or process) to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL lets readers run beside the single writer, so a few connections help loads.
const SQLITE_FILE_POOL: u32 = 4;
/// Snapshot encoding written by this version (Yjs v1 update).
const SNAPSHOT_FORMAT_V1: i32 = 1;

/// Updates per INSERT statement at most: 3 bind parameters each stays far below SQLite's
/// (32 766) and PostgreSQL's (65 535) limits.
const INSERT_CHUNK: usize = 1000;
/// Update bytes per INSERT statement at most: the statement copies its data a few times while
/// it is built, and those copies are the server's peak memory when many documents flush at once.
const INSERT_CHUNK_BYTES: usize = 64 * 1024;
/// SQLite page cache per connection, in KiB (a negative `cache_size` means KiB). Small on purpose:
/// the log is appended at the B-tree's right edge and a load reads each row once, so a larger
/// cache mostly duplicated the OS page cache (256 KiB cost 1.4 KB per idle document in the
/// 500-document benchmark, with no difference in throughput or restart time).
const SQLITE_CACHE_KIB: &str = "-64";

/// The SQL implementation of `DocStore`.
///
/// Exists so the same server binary runs on a single SQLite file or a shared PostgreSQL that
/// several nodes append to; every query is written once with SeaORM.
pub struct SeaStore {
    db: DatabaseConnection,
    /// The URL connected to, kept for the peer feed's own connection (PostgreSQL).
    url: String,
    /// This process among the nodes sharing the database (see [`crate::peers`]).
    node: String,
    /// Signs and checks live payloads (see [`PeerKey`]); `None` with authentication off.
    peer_key: Option<PeerKey>,
    /// Numbers this node's updates sent live in parts (see [`peers::live_payloads`]).
    part_ids: std::sync::atomic::AtomicU64,
    /// name -> documents.id, filled only after the transaction that saw the id committed (an id
    /// from a rolled-back insert would not exist). Saves one SELECT per document per batch.
    /// Emptied of a document when it leaves memory ([`DocStore::forget`]).
    ids: Mutex<HashMap<String, i64>>,
}

impl SeaStore {
    /// Connects to any SeaORM URL (`sqlite:...`, `postgres://...`) and runs the migrations.
    ///
    /// SQLite: the file is created if absent, WAL journal, `synchronous=NORMAL`, 5 s busy timeout;
    /// an in-memory database gets exactly one long-lived connection (each connection would
    /// otherwise see its own empty database).
    pub async fn connect(url: &str) -> Result<SeaStore, StorageError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false);
        if url.starts_with("sqlite:") {
            if is_sqlite_memory(url) {
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            } else {
                options.max_connections(SQLITE_FILE_POOL);
            }
            options.map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    // The OS page cache already holds the file; SQLite's own default (2 MB per
                    // connection) duplicated it inside the server's memory.
                    .pragma("cache_size", SQLITE_CACHE_KIB)
            });
        }
        let db = Database::connect(options).await?;
        migrate(&db).await?;
        Ok(SeaStore {
            db,
            url: url.to_owned(),
            node: peers::node_id(),
            peer_key: None,
            part_ids: std::sync::atomic::AtomicU64::new(0),
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// Signs the live updates this node sends other nodes with `key`, and reads only those
    /// signed with it (see [`PeerKey`]).
    pub fn with_peer_key(mut self, key: Option<PeerKey>) -> SeaStore {
        self.peer_key = key;
        self
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

    /// Creates the documents row if missing and returns its id. INSERT .. ON CONFLICT DO NOTHING
    /// then SELECT, because another node may create the same row at the same moment.
    async fn ensure_document(
        &self,
        txn: &DatabaseTransaction,
        name: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        let row = document::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            snapshot: Set(None),
            snapshot_seq: Set(0),
            snapshot_format: Set(SNAPSHOT_FORMAT_V1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        document::Entity::insert(row)
            .on_conflict_do_nothing_on([document::Column::Name])
            .exec_without_returning(txn)
            .await?;
        let id: Option<i64> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .filter(document::Column::Name.eq(name))
            .into_tuple()
            .one(txn)
            .await?;
        id.ok_or_else(|| {
            StorageError::from(sea_orm::DbErr::RecordNotFound(format!(
                "documents row for {name:?} vanished right after insert"
            )))
        })
    }

    /// Bumps `updated_at`; returns false if the row does not exist. The UPDATE also takes the
    /// row lock that orders this append against a concurrent `compact` of the same document
    /// (PostgreSQL), so a compaction never computes P while a smaller seq is still uncommitted.
    async fn touch_document(
        &self,
        txn: &DatabaseTransaction,
        id: i64,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let result = document::Entity::update_many()
            .col_expr(document::Column::UpdatedAt, Expr::value(now))
            .filter(document::Column::Id.eq(id))
            .exec(txn)
            .await?;
        Ok(result.rows_affected > 0)
    }
}

/// Notifications per statement: up to ~450 KB of payload in one round trip.
const NOTIFY_PER_STATEMENT: usize = 64;

/// Sends `payloads` on [`peers::CHANNEL`] through `conn` (PostgreSQL; inside a transaction they
/// are delivered only if it commits), many per round trip:
/// `SELECT pg_notify($1, $2), pg_notify($1, $3), ...`.
async fn notify_all(conn: &impl ConnectionTrait, payloads: &[String]) -> Result<(), StorageError> {
    for chunk in payloads.chunks(NOTIFY_PER_STATEMENT) {
        let calls: Vec<String> = (0..chunk.len())
            .map(|i| format!("pg_notify($1, ${})", i + 2))
            .collect();
        let mut values: Vec<sea_orm::Value> = vec![peers::CHANNEL.into()];
        values.extend(chunk.iter().map(|payload| payload.as_str().into()));
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("SELECT {}", calls.join(", ")),
            values,
        ))
        .await?;
    }
    Ok(())
}

/// The advisory lock nodes take to migrate one at a time ("plait" in ASCII).
const MIGRATION_LOCK: i64 = 0x70_6c_61_69_74;

/// Runs the migrations in one transaction that excludes every other node's: on SQLite an
/// IMMEDIATE transaction (the write lock), on PostgreSQL an advisory lock held until it ends.
/// Nodes started together against a fresh database would otherwise race to create the schema:
/// PostgreSQL fails a concurrent `CREATE TABLE IF NOT EXISTS` with a duplicate key in `pg_type`
/// instead of skipping it, and both backends with one in `seaql_migrations`.
async fn migrate(db: &DatabaseConnection) -> Result<(), StorageError> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let txn = db.begin_with_options(options).await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [MIGRATION_LOCK.into()],
        ))
        .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    Ok(())
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[async_trait::async_trait]
impl DocStore for SeaStore {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        let txn = self.begin_read().await?;
        let Some(head) = tolerant::head(&txn, doc, false).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let (updates, mut unreadable) =
            tolerant::log_rows(&txn, head.id, head.snapshot_seq, None, None).await?;
        txn.commit().await?;
        unreadable.extend(head.unreadable);
        Ok(Some(StoredDoc {
            snapshot: head.snapshot,
            snapshot_seq: head.snapshot_seq,
            updates,
            unreadable,
        }))
    }

    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(update) = batch.iter().find(|u| u.doc.len() > MAX_NAME_BYTES) {
            return Err(StorageError::NameTooLong(update.doc.len()));
        }
        // Lock documents in name order so two nodes appending overlapping batches cannot
        // deadlock on each other's row locks.
        let mut names: Vec<&str> = batch.iter().map(|u| u.doc.as_str()).collect();
        names.sort_unstable();
        names.dedup();

        let now = Utc::now();
        let txn = self.begin_write().await?;
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(names.len());
        for name in names {
            let id = match self.cached_id(name) {
                Some(id) if self.touch_document(&txn, id, now).await? => id,
                cached => {
                    if cached.is_some() {
                        // The row was deleted behind our back; the cached id is stale.
                        self.forget_id(name);
                    }
                    let id = self.ensure_document(&txn, name, now).await?;
                    self.touch_document(&txn, id, now).await?;
                    id
                }
            };
            ids.insert(name.to_owned(), id);
        }

        let mut seqs = Vec::with_capacity(batch.len());
        let mut announced: Vec<(i64, Seq)> = Vec::new();
        // One multi-row INSERT per chunk instead of one statement per update: with SQLite every
        // statement is a round trip to sqlx's database thread, which dominated the cost of a
        // busy document.
        for chunk in insert_chunks(batch) {
            let mut rows = Vec::with_capacity(chunk.len());
            for update in chunk {
                let document_id = ids.get(update.doc.as_str()).copied().ok_or_else(|| {
                    StorageError::from(sea_orm::DbErr::Custom(format!(
                        "no document id resolved for {:?}",
                        update.doc
                    )))
                })?;
                rows.push(document_update::ActiveModel {
                    seq: NotSet,
                    document_id: Set(document_id),
                    data: Set(update.data.to_vec()),
                    created_at: Set(now),
                });
            }
            let mut keys = document_update::Entity::insert_many(rows)
                .exec_with_returning_keys(&txn)
                .await?;
            if keys.len() != chunk.len() {
                return Err(StorageError::from(sea_orm::DbErr::Custom(format!(
                    "inserted {} updates but the database returned {} positions",
                    chunk.len(),
                    keys.len()
                ))));
            }
            // Positions are assigned in VALUES order; RETURNING's row order is not promised.
            keys.sort_unstable();
            if self.backend() == DatabaseBackend::Postgres {
                for (update, &seq) in chunk.iter().zip(&keys) {
                    if let Some(&id) = ids.get(update.doc.as_str()) {
                        announced.push((id, seq));
                    }
                }
            }
            seqs.extend(keys);
        }
        // Delivered to the other nodes only if this transaction commits, in commit order.
        notify_all(&txn, &peers::stored_payloads(&self.node, &announced)).await?;
        txn.commit().await?;
        self.cache_ids(ids);
        Ok(seqs)
    }

    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        let txn = self.begin_write().await?;
        // FOR UPDATE: waits for in-flight appends to this document (they hold the row lock from
        // touch_document) and keeps a second compaction from reading a stale snapshot.
        let Some(head) = tolerant::head(&txn, doc, true).await? else {
            txn.commit().await?;
            return Ok(0);
        };
        let (rows, mut unreadable) =
            tolerant::log_rows(&txn, head.id, head.snapshot_seq, None, None).await?;
        let last = rows.last().map(|r| r.0);
        let last_unreadable = unreadable.iter().map(|r| r.seq).max();
        let Some(upto) = last.max(last_unreadable) else {
            txn.commit().await?;
            return Ok(head.snapshot.as_ref().map_or(0, |s| s.len() as u64));
        };
        unreadable.extend(head.unreadable);
        let stored = StoredDoc {
            snapshot: head.snapshot,
            snapshot_seq: head.snapshot_seq,
            updates: rows,
            unreadable,
        };
        // Tens of milliseconds of CPU for a large document: off the async threads, so the
        // documents' tasks keep relaying meanwhile.
        let rebuilt = rebuild_blocking(stored).await?;
        if rebuilt.has_rejects() {
            // Kept, not folded away: what the snapshot cannot hold goes to quarantine first.
            let rejects = rejects(&rebuilt.refused, &rebuilt.incomplete);
            quarantine::move_to_quarantine(&txn, head.id, doc, &rejects, Utc::now()).await?;
        }
        let bytes = rebuilt.state.len() as u64;
        document::Entity::update_many()
            .col_expr(document::Column::Snapshot, Expr::value(rebuilt.state))
            .col_expr(document::Column::SnapshotSeq, Expr::value(upto))
            .col_expr(
                document::Column::SnapshotFormat,
                Expr::value(SNAPSHOT_FORMAT_V1),
            )
            .filter(document::Column::Id.eq(head.id))
            .exec(&txn)
            .await?;
        // Only rows this transaction read (seq <= P) go: rows other nodes append later survive.
        document_update::Entity::delete_many()
            .filter(document_update::Column::DocumentId.eq(head.id))
            .filter(document_update::Column::Seq.lte(upto))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(bytes)
    }

    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        let txn = self.begin_read().await?;
        let query = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .column(document::Column::SnapshotSeq)
            .column_as(
                Expr::cust("CAST(COALESCE(LENGTH(snapshot), 0) AS BIGINT)"),
                "snapshot_bytes",
            )
            .column(document::Column::CreatedAt)
            .column(document::Column::UpdatedAt)
            .filter(document::Column::Name.eq(doc));
        let Some(head) = txn.query_one_raw(query.build(self.backend())).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let id: i64 = head.try_get("", "id")?;
        let snapshot_seq: i64 = head.try_get("", "snapshot_seq").unwrap_or(0);
        let snapshot_bytes: i64 = head.try_get("", "snapshot_bytes").unwrap_or(0);
        let created_at = tolerant::date(&head, "created_at", doc);
        let updated_at = tolerant::date(&head, "updated_at", doc);
        let log: Option<(i64, i64, Option<i64>)> = document_update::Entity::find()
            .select_only()
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "log_updates")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT)"),
                "log_bytes",
            )
            .column_as(document_update::Column::Seq.max(), "last_seq")
            .filter(document_update::Column::DocumentId.eq(id))
            .filter(document_update::Column::Seq.gt(snapshot_seq))
            .into_tuple()
            .one(&txn)
            .await?;
        let quarantined = quarantine::count(&txn, doc).await?;
        txn.commit().await?;
        let (log_updates, log_bytes, last_log_seq) = log.unwrap_or((0, 0, None));
        let last_seq = last_log_seq.unwrap_or(0).max(snapshot_seq);
        Ok(Some(DocStats {
            name: doc.to_owned(),
            log_updates: u64::try_from(log_updates).unwrap_or(0),
            log_bytes: u64::try_from(log_bytes).unwrap_or(0),
            snapshot_bytes: u64::try_from(snapshot_bytes).unwrap_or(0),
            snapshot_seq,
            last_seq,
            created_at,
            // The row only exists because something was appended, so updated_at is a write time.
            last_write_at: updated_at.filter(|_| last_seq > 0),
            quarantined,
        }))
    }

    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        let txn = self.begin_read().await?;
        let Some(head) = tolerant::head(&txn, doc, false).await? else {
            txn.commit().await?;
            return Ok(Vec::new());
        };
        let (rows, _) = tolerant::log_rows(&txn, head.id, after, None, Some(limit)).await?;
        txn.commit().await?;
        Ok(rows)
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

    async fn peer_feed(&self) -> Result<Option<Box<dyn PeerFeed>>, StorageError> {
        if self.backend() != DatabaseBackend::Postgres {
            return Ok(None);
        }
        let feed = PgPeerFeed::connect(
            &self.url,
            self.db.clone(),
            self.node.clone(),
            self.peer_key.clone(),
        )
        .await?;
        Ok(Some(Box::new(feed)))
    }

    async fn publish_live(&self, items: &[crate::peers::LiveItem]) -> Result<(), StorageError> {
        if self.backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let key = self.peer_key.as_ref();
        let payloads: Vec<String> = items
            .iter()
            .flat_map(|item| peers::live_payloads(&self.node, item, key, &self.part_ids))
            .collect();
        notify_all(&self.db, &payloads).await
    }

    async fn announce_docs(&self, open: bool, docs: &[String]) -> Result<(), StorageError> {
        if self.backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        notify_all(&self.db, &peers::interest_payloads(&self.node, open, docs)).await
    }

    async fn announce(&self, asks: bool) -> Result<(), StorageError> {
        if self.backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        notify_all(&self.db, &[peers::hello_payload(&self.node, asks)]).await
    }
}

/// The rows a rebuild could not apply, with those left incomplete, as one list to quarantine.
pub(crate) fn rejects(refused: &[Refused], incomplete: &[Seq]) -> Vec<Refused> {
    let mut all = refused.to_vec();
    all.extend(incomplete.iter().map(|&seq| Refused {
        seq,
        snapshot: false,
        reason: "depends on content that no stored update holds".to_owned(),
    }));
    all
}

/// Splits a batch into INSERT statements of at most [`INSERT_CHUNK`] rows and, unless a single
/// row is larger, [`INSERT_CHUNK_BYTES`] of data, each a power of two rows long. A multi-row
/// INSERT's SQL depends on its row count, and the driver keeps every distinct statement prepared
/// on each connection (up to 100, 5–10 KB each in SQLite): with arbitrary counts a busy node's
/// cache filled with statements used once, ~4 MB that stayed for the life of the process. Powers
/// of two leave at most ten, for at most ten statements per chunk where there was one.
fn insert_chunks(batch: &[NewUpdate]) -> impl Iterator<Item = &[NewUpdate]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut len: usize = 0;
        for update in rest.iter().take(INSERT_CHUNK) {
            if len > 0 && bytes + update.data.len() > INSERT_CHUNK_BYTES {
                break;
            }
            bytes += update.data.len();
            len += 1;
        }
        // len >= 1: the first row is always taken.
        let len = 1_usize << len.ilog2();
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn updates(sizes: &[usize]) -> Vec<NewUpdate> {
        sizes
            .iter()
            .map(|&n| NewUpdate {
                doc: "d".into(),
                data: Bytes::from(vec![0; n]),
            })
            .collect()
    }

    #[test]
    fn inserts_are_chunked_by_rows_and_bytes_and_keep_every_update_in_order() {
        let chunk_sizes = |sizes: &[usize]| -> Vec<usize> {
            insert_chunks(&updates(sizes)).map(|c| c.len()).collect()
        };
        assert_eq!(chunk_sizes(&[]), Vec::<usize>::new());
        assert_eq!(
            chunk_sizes(&[10; 2500]),
            vec![512, 512, 512, 512, 256, 128, 64, 4],
            "powers of two, the largest first"
        );
        assert_eq!(chunk_sizes(&[10; 7]), vec![4, 2, 1]);
        let half = INSERT_CHUNK_BYTES / 2;
        assert_eq!(chunk_sizes(&[half, half, half]), vec![2, 1]);
        assert_eq!(
            chunk_sizes(&[INSERT_CHUNK_BYTES * 3, 1, 1]),
            vec![1, 2],
            "a row larger than the byte bound goes alone"
        );
    }
}
