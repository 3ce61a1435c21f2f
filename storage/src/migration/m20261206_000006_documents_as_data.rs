//! Documents as data: a readable projection of every document next to its log, full-text search
//! over it with the database's own engine, and the trash.
//!
//! - `document_projections`: one row per document (`document_id` is the primary key), the log
//!   position it reflects (`seq`), every root type as JSON (`content`: `jsonb` on PostgreSQL,
//!   JSON text on SQLite), the plain text (`plain_text`) and `updated_at`. Written by the node
//!   that holds the document (see the server's `projection` module), read by anyone's SQL.
//! - Search: on PostgreSQL a generated `tsvector` column (`search`, the `simple` configuration:
//!   no stemming, any language) with a GIN index; on SQLite an FTS5 table (`document_search`)
//!   over the projection's text, kept by triggers. Both index the first
//!   [`SEARCH_CHARS`] characters of a document: a `tsvector` is at most 1 MB.
//! - The trash: `documents.deleted_at` (NULL: served). Deleting and undeleting append a *marker
//!   row* to the log (`document_updates.kind` 1 or 2, an empty Yjs update), so the change feed
//!   shows them at a position of their own, gap-free like any row; the webhook outbox gets
//!   `document.deleted` / `document.undeleted` from a trigger on `deleted_at`, and the log's
//!   outbox trigger leaves marker rows out of `document.changed`. `plait_write` refuses a
//!   deleted document.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use super::m20261206_000002_change_triggers::{
    log_appended_function, log_appended_trigger, plait_write_function, postgres_up, sqlite_up,
    PG_NOW_MS, SQLITE_NOW_MS,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Characters of a document's plain text the search index covers.
pub const SEARCH_CHARS: usize = 250_000;

/// `document_updates.kind` of an ordinary row (a Yjs update).
pub const KIND_UPDATE: i16 = 0;
/// `document_updates.kind` of the marker row a deletion appends.
pub const KIND_DELETE: i16 = 1;
/// `document_updates.kind` of the marker row an undeletion appends.
pub const KIND_UNDELETE: i16 = 2;

const PG_REFUSE_DELETED: &str = "  IF EXISTS (SELECT 1 FROM documents WHERE name = doc_name AND deleted_at IS NOT NULL) THEN
    RAISE EXCEPTION 'plait_write: document % is deleted (POST /api/docs/{doc}/undelete restores it)', doc_name;
  END IF;
";

fn postgres(up: bool) -> Vec<String> {
    if !up {
        let mut down: Vec<String> = [
            "DROP TRIGGER IF EXISTS plait_document_trashed ON documents",
            "DROP FUNCTION IF EXISTS plait_document_trashed()",
            "DROP TABLE IF EXISTS document_projections",
            "ALTER TABLE document_updates DROP COLUMN IF EXISTS kind",
            "ALTER TABLE documents DROP COLUMN IF EXISTS deleted_at",
        ]
        .map(String::from)
        .to_vec();
        // The log's function and plait_write as the earlier migration made them.
        down.extend(postgres_up());
        return down;
    }
    let now = PG_NOW_MS;
    vec![
        "ALTER TABLE documents ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ".into(),
        "CREATE INDEX IF NOT EXISTS idx_documents_deleted_at ON documents (deleted_at) \
         WHERE deleted_at IS NOT NULL"
            .into(),
        format!("ALTER TABLE document_updates ADD COLUMN IF NOT EXISTS kind SMALLINT NOT NULL DEFAULT {KIND_UPDATE}"),
        format!(
            "CREATE TABLE IF NOT EXISTS document_projections (
                document_id BIGINT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
                name VARCHAR(255) NOT NULL,
                seq BIGINT NOT NULL,
                content JSONB NOT NULL,
                plain_text TEXT NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                search TSVECTOR GENERATED ALWAYS AS
                    (to_tsvector('simple', left(plain_text, {SEARCH_CHARS}))) STORED
            )"
        ),
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_document_projections_name \
         ON document_projections (name)"
            .into(),
        "CREATE INDEX IF NOT EXISTS idx_document_projections_search \
         ON document_projections USING GIN (search)"
            .into(),
        log_appended_function(&format!("     WHERE r.kind = {KIND_UPDATE}")),
        plait_write_function(PG_REFUSE_DELETED),
        format!(
            "CREATE OR REPLACE FUNCTION plait_document_trashed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    VALUES (NEW.id, NEW.name,
            CASE WHEN NEW.deleted_at IS NULL THEN 'document.undeleted' ELSE 'document.deleted' END,
            0, 0, 0, {now}, {now}, false, 0, 0);
  RETURN NULL;
END $$"
        ),
        "CREATE OR REPLACE TRIGGER plait_document_trashed AFTER UPDATE OF deleted_at ON documents \
         FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) \
         EXECUTE FUNCTION plait_document_trashed()"
            .into(),
    ]
}

fn sqlite(up: bool) -> Vec<String> {
    if !up {
        let mut down: Vec<String> = [
            "DROP TRIGGER IF EXISTS plait_document_trashed",
            "DROP TRIGGER IF EXISTS plait_projection_inserted",
            "DROP TRIGGER IF EXISTS plait_projection_updated",
            "DROP TRIGGER IF EXISTS plait_projection_deleted",
            "DROP TABLE IF EXISTS document_search",
            "DROP TABLE IF EXISTS document_projections",
            "DROP TRIGGER IF EXISTS plait_log_appended",
            "ALTER TABLE document_updates DROP COLUMN kind",
            "DROP INDEX IF EXISTS idx_documents_deleted_at",
            "ALTER TABLE documents DROP COLUMN deleted_at",
        ]
        .map(String::from)
        .to_vec();
        down.extend(sqlite_up());
        return down;
    }
    let now = SQLITE_NOW_MS;
    // The FTS5 table reads its text from the projection (external content): the triggers
    // must hand it the same values when a row goes as when it came.
    let indexed = |row: &str| format!("substr({row}.plain_text, 1, {SEARCH_CHARS})");
    let (new, old) = (indexed("NEW"), indexed("OLD"));
    vec![
        "ALTER TABLE documents ADD COLUMN deleted_at TEXT".into(),
        "CREATE INDEX IF NOT EXISTS idx_documents_deleted_at ON documents (deleted_at) \
         WHERE deleted_at IS NOT NULL"
            .into(),
        format!("ALTER TABLE document_updates ADD COLUMN kind INTEGER NOT NULL DEFAULT {KIND_UPDATE}"),
        "CREATE TABLE IF NOT EXISTS document_projections (
            document_id INTEGER PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            seq INTEGER NOT NULL,
            content TEXT NOT NULL,
            plain_text TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"
        .into(),
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_document_projections_name \
         ON document_projections (name)"
            .into(),
        "CREATE VIRTUAL TABLE IF NOT EXISTS document_search USING fts5(
            plain_text, content='document_projections', content_rowid='document_id',
            tokenize='unicode61 remove_diacritics 2')"
            .into(),
        format!(
            "CREATE TRIGGER IF NOT EXISTS plait_projection_inserted AFTER INSERT ON document_projections
BEGIN
  INSERT INTO document_search (rowid, plain_text) VALUES (NEW.document_id, {new});
END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS plait_projection_updated AFTER UPDATE ON document_projections
BEGIN
  INSERT INTO document_search (document_search, rowid, plain_text)
    VALUES ('delete', OLD.document_id, {old});
  INSERT INTO document_search (rowid, plain_text) VALUES (NEW.document_id, {new});
END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS plait_projection_deleted AFTER DELETE ON document_projections
BEGIN
  INSERT INTO document_search (document_search, rowid, plain_text)
    VALUES ('delete', OLD.document_id, {old});
END"
        ),
        "DROP TRIGGER IF EXISTS plait_log_appended".into(),
        log_appended_trigger(&format!("WHEN NEW.kind = {KIND_UPDATE}")),
        format!(
            "CREATE TRIGGER IF NOT EXISTS plait_document_trashed AFTER UPDATE OF deleted_at ON documents
FOR EACH ROW WHEN OLD.deleted_at IS NOT NEW.deleted_at BEGIN
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    VALUES (NEW.id, NEW.name,
            CASE WHEN NEW.deleted_at IS NULL THEN 'document.undeleted' ELSE 'document.deleted' END,
            0, 0, 0, {now}, {now}, 0, 0, 0);
END"
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DatabaseBackend::Postgres => postgres(true),
            _ => sqlite(true),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DatabaseBackend::Postgres => postgres(false),
            _ => sqlite(false),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}
