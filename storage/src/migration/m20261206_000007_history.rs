//! History: who wrote each log row (`document_updates.authors`: a JSON array of
//! `{"sub": ..., "via": ...}`, every client whose updates the row merges), and versions: a
//! document's whole state at a log position, kept apart from the log and its compaction
//! (`document_versions`), cut automatically when a document changed and `--version-interval`
//! passed, before every restore, and on request with a name.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn up_sql(backend: DatabaseBackend) -> Vec<&'static str> {
    match backend {
        DatabaseBackend::Postgres => vec![
            "ALTER TABLE document_updates ADD COLUMN IF NOT EXISTS authors TEXT",
            "CREATE TABLE IF NOT EXISTS document_versions (
                id BIGSERIAL PRIMARY KEY,
                document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL,
                name TEXT,
                seq BIGINT NOT NULL,
                state BYTEA NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                created_by TEXT
            )",
            "CREATE INDEX IF NOT EXISTS idx_document_versions_document \
             ON document_versions (document_id, id)",
        ],
        _ => vec![
            "ALTER TABLE document_updates ADD COLUMN authors TEXT",
            "CREATE TABLE IF NOT EXISTS document_versions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                name TEXT,
                seq INTEGER NOT NULL,
                state BLOB NOT NULL,
                created_at TEXT NOT NULL,
                created_by TEXT
            )",
            "CREATE INDEX IF NOT EXISTS idx_document_versions_document \
             ON document_versions (document_id, id)",
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
        db.execute_unprepared("DROP INDEX IF EXISTS idx_document_versions_document")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS document_versions")
            .await?;
        db.execute_unprepared("ALTER TABLE document_updates DROP COLUMN authors")
            .await?;
        Ok(())
    }
}
