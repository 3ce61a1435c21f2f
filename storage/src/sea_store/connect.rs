//! Connecting to the database and bringing its schema up to date.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plait_cluster::event::node_id;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use super::sqlite_nice::{self, SqliteNice};
use super::SeaStore;
use crate::backoff::Backoff;
use crate::error::StorageError;
use crate::migration::Migrator;
use crate::own_writes::OwnWrites;

/// How long a SQLite connection waits for another writer (another pool or process) to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL lets readers run beside the single writer, so a few connections help loads.
const SQLITE_FILE_POOL: u32 = 4;
/// SQLite page cache per connection, in KiB (a negative `cache_size` means KiB). Small on purpose:
/// the log is appended at the B-tree's right edge and a load reads each row once, so a larger
/// cache mostly duplicated the OS page cache (256 KiB cost 1.4 KB per idle document in the
/// 500-document benchmark, with no difference in throughput or restart time).
const SQLITE_CACHE_KIB: &str = "-64";

impl SeaStore {
    /// Connects to any SeaORM URL (`sqlite:...`, `postgres://...`) and runs the migrations.
    ///
    /// SQLite: the file is created if absent, WAL journal, `synchronous=NORMAL`, 5 s busy timeout;
    /// an in-memory database gets exactly one long-lived connection (each connection would
    /// otherwise see its own empty database).
    pub async fn connect(url: &str) -> Result<SeaStore, StorageError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false);
        let nice = Arc::new(SqliteNice::default());
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
                    .thread_name(sqlite_nice::thread_name)
            });
            let hook = nice.clone();
            options.map_sqlx_sqlite_pool_opts(move |pool| {
                let hook = hook.clone();
                pool.after_connect(move |_, _| {
                    // The new connection's thread exists now.
                    hook.lower();
                    Box::pin(std::future::ready(Ok(())))
                })
            });
        }
        let db = connect_and_migrate(url, options).await?;
        // Only a SQLite file has a watcher to read what this process appended.
        let own_writes = if url.starts_with("sqlite:") && !is_sqlite_memory(url) {
            OwnWrites::enabled()
        } else {
            OwnWrites::default()
        };
        Ok(SeaStore {
            db,
            url: url.to_owned(),
            node: this_node(),
            ids: Mutex::new(HashMap::new()),
            own_writes: Arc::new(own_writes),
            head: Arc::default(),
            keep_history: AtomicBool::new(true),
            sqlite_nice: nice,
        })
    }
}

/// How long nodes starting together on one new SQLite file keep retrying each other's locks.
const SQLITE_START_PATIENCE: Duration = Duration::from_secs(10);

/// Opens the pool and migrates. On SQLite, retried while another process holds the file's lock
/// at a moment the busy timeout does not cover: the first connection to a new file switches it
/// to WAL, and a connection opened meanwhile gets "database is locked" (SQLITE_BUSY) at once,
/// without waiting (four nodes started together hit it in CI).
async fn connect_and_migrate(
    url: &str,
    options: ConnectOptions,
) -> Result<DatabaseConnection, StorageError> {
    let started = std::time::Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    loop {
        let attempt = async {
            let db = Database::connect(options.clone()).await?;
            migrate(&db).await?;
            Ok::<_, StorageError>(db)
        };
        match attempt.await {
            Err(error)
                if url.starts_with("sqlite:")
                    && is_sqlite_busy(&error)
                    && started.elapsed() < SQLITE_START_PATIENCE =>
            {
                tokio::time::sleep(backoff.failed()).await;
            }
            result => return result,
        }
    }
}

/// Whether SQLite refused for a lock another connection holds (codes 5 and 6, and their
/// extended forms).
fn is_sqlite_busy(error: &StorageError) -> bool {
    let StorageError::Database(error) = error else {
        return false;
    };
    let text = error.to_string();
    text.contains("database is locked") || text.contains("database table is locked")
}

/// A name for this process among the nodes: process id and start time.
fn this_node() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    node_id(std::process::id(), nanos)
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
