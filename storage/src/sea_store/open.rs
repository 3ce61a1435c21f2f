//! Opening an existing database only to read it (`plait export`, `plait check`): no file is
//! created, no migration runs, and every statement is a read.
//!
//! [`SeaStore::connect`] is the wrong door for these tools: it creates a missing SQLite file,
//! switches it to WAL and migrates the schema, so pointing a backup at a mistyped path would
//! make an empty database, and checking an older database would upgrade it behind the
//! operator's back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use super::SeaStore;
use crate::error::StorageError;
use crate::migration::Migrator;

/// The first migration: without it the database holds no Plait table at all.
const FIRST_MIGRATION: &str = "m20261126_000001_create_tables";

/// Why an existing database could not be opened for reading.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A SQLite URL naming a file that does not exist (read-only opening never creates one).
    #[error("no database file at {0}")]
    NoFile(PathBuf),
    /// The database answers but holds no Plait schema.
    #[error("no Plait tables in this database (no server has stored anything in it)")]
    NotPlait,
    /// The schema was migrated by a version of Plait this one does not know.
    #[error("this database's schema is unknown to this version of plait ({0}); use the version that last served it")]
    UnknownSchema(String),
    /// Connecting or the schema query failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl SeaStore {
    /// Opens an existing database to read it only. SQLite is opened read-only (a file that does
    /// not exist is an error, not a new database); on PostgreSQL every transaction this store
    /// reads in is `READ ONLY`. The schema is not migrated: pending migrations of a database an
    /// older Plait wrote are left for `plait serve`, since the tables read here (`documents`,
    /// `document_updates`) are those of the first one.
    ///
    /// Only the reading methods are meant for such a store (the consistent cut, loads): it has
    /// no bus, and an append would fail on SQLite.
    pub async fn open_existing(url: &str) -> Result<SeaStore, OpenError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false).max_connections(2);
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            options.map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
                // No journal mode is set: opening must not change the file, whichever mode it
                // is in. A read-only connection still reads a WAL file's recent commits.
                opts.read_only(true)
                    .create_if_missing(false)
                    .busy_timeout(std::time::Duration::from_secs(5))
            });
        }
        let db = match Database::connect(options).await {
            Ok(db) => db,
            Err(error) => {
                return Err(missing_file(url)
                    .map(OpenError::NoFile)
                    .unwrap_or_else(|| StorageError::from(error).into()))
            }
        };
        check_schema(&db).await?;
        Ok(SeaStore {
            db,
            url: url.to_owned(),
            node: "reader".to_owned(),
            ids: Mutex::new(HashMap::new()),
            own_writes: Arc::default(),
            head: Arc::default(),
            keep_history: std::sync::atomic::AtomicBool::new(true),
            // The tools that open a database read-only run nothing beside it.
            sqlite_nice: Arc::default(),
        })
    }
}

/// The file a SQLite URL names, if the URL is a file's and no such file exists.
fn missing_file(url: &str) -> Option<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.exists()).then(|| path.to_path_buf())
}

/// Refuses a database without Plait's tables, or one migrated by a newer Plait, reading the
/// migration table without creating it.
async fn check_schema(db: &DatabaseConnection) -> Result<(), OpenError> {
    let migrations = Migrator::get_migration_with_status_read_only(db)
        .await
        .map_err(|e| match e {
            // The only custom error there: a migration applied that this binary does not have.
            sea_orm::DbErr::Custom(message) => OpenError::UnknownSchema(message),
            other => StorageError::from(other).into(),
        })?;
    let created = migrations
        .iter()
        .any(|m| m.name() == FIRST_MIGRATION && m.status() == MigrationStatus::Applied);
    if created {
        Ok(())
    } else {
        Err(OpenError::NotPlait)
    }
}
