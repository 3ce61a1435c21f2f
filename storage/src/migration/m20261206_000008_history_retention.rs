//! History within the retention window: `document_history` keeps the log rows a compaction
//! folded into the snapshot (moved there in the compaction's transaction, authors and dates
//! with them), and one *base* row per document, the whole state at the position below which
//! rows were pruned (`--history-retention`). The base and the rows after it rebuild the document
//! as it was at any position inside the window. `document_versions.authors`: who wrote the rows
//! between a version and the one before it, kept with the version since those rows may be
//! pruned before it is.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

/// `document_history.kind` of a row moved from the log (a Yjs update, its authors, its date).
pub const HISTORY_UPDATE: i16 = 0;
/// `document_history.kind` of the base: the document's whole state at its `seq`.
pub const HISTORY_BASE: i16 = 3;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn up_sql(backend: DatabaseBackend) -> Vec<&'static str> {
    match backend {
        DatabaseBackend::Postgres => vec![
            "CREATE TABLE IF NOT EXISTS document_history (
                document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                kind SMALLINT NOT NULL DEFAULT 0,
                data BYTEA NOT NULL,
                authors TEXT,
                created_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (document_id, seq)
            )",
            "ALTER TABLE document_versions ADD COLUMN IF NOT EXISTS authors TEXT",
        ],
        _ => vec![
            "CREATE TABLE IF NOT EXISTS document_history (
                document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                kind INTEGER NOT NULL DEFAULT 0,
                data BLOB NOT NULL,
                authors TEXT,
                created_at TEXT NOT NULL,
                PRIMARY KEY (document_id, seq)
            )",
            "ALTER TABLE document_versions ADD COLUMN authors TEXT",
        ],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in up_sql(db.get_database_backend()) {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS document_history")
            .await?;
        db.execute_unprepared("ALTER TABLE document_versions DROP COLUMN authors")
            .await?;
        Ok(())
    }
}
