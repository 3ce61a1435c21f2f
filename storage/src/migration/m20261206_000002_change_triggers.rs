//! The database as the integration point: what any program's write to the update log sets off.
//!
//! - `webhook_outbox`: one row per event to deliver, written by triggers in the transaction that
//!   appended the rows, so no commit's event is lost to a crash between the commit and delivery.
//!   A document's `document.changed` event stays *open* (one row, its range widened by every
//!   append) until the webhook task closes it after the debounce; `document.created` is written
//!   when the documents row is.
//! - PostgreSQL only: a statement-level `BEFORE INSERT` trigger on the log takes one transaction
//!   advisory lock, so positions are assigned in commit order (the change feed never skips a row
//!   that commits late); a statement-level `AFTER INSERT` trigger `pg_notify`s the positions and
//!   documents the statement wrote, whoever wrote them; and `plait_write(doc_name, update)`, the
//!   function other programs call to append.
//! - SQLite has no notifications: the server watches `PRAGMA data_version` instead
//!   (`sqlite_bus`); its triggers only write the outbox, one row at a time (SQLite has no
//!   statement-level triggers).

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, boolean, string_len, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookOutbox {
    Table,
    Id,
    DocumentId,
    DocName,
    Kind,
    FirstSeq,
    LastSeq,
    Updates,
    FirstMs,
    LastMs,
    IsOpen,
    Attempts,
    NextAttemptMs,
    DeliveredMs,
    FailedMs,
    LastError,
}

/// The key of the advisory lock that orders appends ("plait" and 1 in ASCII; the migration lock
/// is "plait").
pub const APPEND_LOCK_KEY: i64 = 0x706c_6169_7401;

/// Milliseconds since the epoch, as each database says them in SQL (SQLite's 3.40 command line
/// runs the triggers too, so nothing newer than its functions).
pub const PG_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
pub const SQLITE_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// The PostgreSQL function behind the log's `AFTER INSERT` trigger. `outbox_filter` is a
/// `WHERE` on the new rows for the outbox (the trash's marker rows write events of their own,
/// see `m20261206_000006_documents_as_data`).
pub(super) fn log_appended_function(outbox_filter: &str) -> String {
    let now = PG_NOW_MS;
    format!(
        "CREATE OR REPLACE FUNCTION plait_log_appended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  first_seq bigint;
  last_seq bigint;
  ids text;
  node text;
BEGIN
  SELECT min(seq), max(seq), string_agg(DISTINCT document_id::text, ' ')
    INTO first_seq, last_seq, ids FROM plait_new_rows;
  IF last_seq IS NULL THEN
    RETURN NULL;
  END IF;
  -- Plait's own transactions name their node, so that its feed skips them; '-' is any other
  -- program. Past what one notification holds, '*' stands for every document.
  node := coalesce(nullif(current_setting('plait.node', true), ''), '-');
  IF length(ids) > 6000 THEN
    ids := '*';
  END IF;
  PERFORM pg_notify('plait_updates', node || ' stored ' || first_seq || ' ' || last_seq || ' ' || ids);
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    SELECT r.document_id, d.name, 'document.changed', min(r.seq), max(r.seq), count(*),
           {now}, {now}, true, 0, 0
      FROM plait_new_rows r JOIN documents d ON d.id = r.document_id
    {outbox_filter}
     GROUP BY r.document_id, d.name
    ON CONFLICT (document_id) WHERE is_open DO UPDATE
      SET last_seq = greatest(webhook_outbox.last_seq, excluded.last_seq),
          first_seq = least(webhook_outbox.first_seq, excluded.first_seq),
          updates = webhook_outbox.updates + excluded.updates,
          last_ms = excluded.last_ms;
  RETURN NULL;
END $$"
    )
}

/// `plait_write(doc_name, update)`, the function other programs call to append. `deleted_check`
/// is PL/pgSQL run after the arguments are checked (the trash refuses writes to a deleted
/// document, see `m20261206_000006_documents_as_data`).
pub(super) fn plait_write_function(deleted_check: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION plait_write(doc_name text, \"update\" bytea) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  doc_id bigint;
  position bigint;
BEGIN
  IF doc_name IS NULL OR octet_length(doc_name) = 0 OR octet_length(doc_name) > 255 THEN
    RAISE EXCEPTION 'plait_write: a document name is 1 to 255 bytes';
  END IF;
  IF \"update\" IS NULL OR octet_length(\"update\") = 0 THEN
    RAISE EXCEPTION 'plait_write: the update is empty';
  END IF;
{deleted_check}  INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at)
    VALUES (doc_name, 0, 1, now(), now()) ON CONFLICT (name) DO NOTHING;
  UPDATE documents SET updated_at = now() WHERE name = doc_name RETURNING id INTO doc_id;
  INSERT INTO document_updates (document_id, data, created_at)
    VALUES (doc_id, \"update\", now()) RETURNING seq INTO position;
  RETURN position;
END $$"
    )
}

pub(super) fn postgres_up() -> Vec<String> {
    let now = PG_NOW_MS;
    vec![
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_webhook_outbox_open ON webhook_outbox (document_id) \
         WHERE is_open"
            .into(),
        format!(
            "CREATE OR REPLACE FUNCTION plait_log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Positions come from a sequence, handed out in the order statements ask, not the order
  -- their transactions commit. Holding this lock to the commit makes the two orders one.
  PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
  RETURN NULL;
END $$"
        ),
        "CREATE OR REPLACE TRIGGER plait_log_order BEFORE INSERT ON document_updates \
         FOR EACH STATEMENT EXECUTE FUNCTION plait_log_order()"
            .into(),
        log_appended_function(""),
        "CREATE OR REPLACE TRIGGER plait_log_appended AFTER INSERT ON document_updates \
         REFERENCING NEW TABLE AS plait_new_rows \
         FOR EACH STATEMENT EXECUTE FUNCTION plait_log_appended()"
            .into(),
        format!(
            "CREATE OR REPLACE FUNCTION plait_document_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    VALUES (NEW.id, NEW.name, 'document.created', 0, 0, 0, {now}, {now}, false, 0, 0);
  RETURN NULL;
END $$"
        ),
        "CREATE OR REPLACE TRIGGER plait_document_created AFTER INSERT ON documents \
         FOR EACH ROW EXECUTE FUNCTION plait_document_created()"
            .into(),
        plait_write_function(""),
    ]
}

/// The SQLite trigger that writes the outbox for each appended row; `when` is its `WHEN` clause
/// (see [`log_appended_function`]).
pub(super) fn log_appended_trigger(when: &str) -> String {
    let now = SQLITE_NOW_MS;
    format!(
        "CREATE TRIGGER IF NOT EXISTS plait_log_appended AFTER INSERT ON document_updates
FOR EACH ROW {when} BEGIN
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    SELECT NEW.document_id, name, 'document.changed', NEW.seq, NEW.seq, 1, {now}, {now}, 1, 0, 0
      FROM documents WHERE id = NEW.document_id
    ON CONFLICT (document_id) WHERE is_open DO UPDATE
      SET last_seq = max(last_seq, excluded.last_seq),
          first_seq = min(first_seq, excluded.first_seq),
          updates = updates + 1,
          last_ms = excluded.last_ms;
END"
    )
}

pub(super) fn sqlite_up() -> Vec<String> {
    let now = SQLITE_NOW_MS;
    vec![
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_webhook_outbox_open ON webhook_outbox (document_id) \
         WHERE is_open"
            .into(),
        // `WHERE true`-like filter on the SELECT: SQLite needs one before ON CONFLICT.
        log_appended_trigger(""),
        format!(
            "CREATE TRIGGER IF NOT EXISTS plait_document_created AFTER INSERT ON documents
FOR EACH ROW BEGIN
  INSERT INTO webhook_outbox (document_id, doc_name, kind, first_seq, last_seq, updates,
                              first_ms, last_ms, is_open, attempts, next_attempt_ms)
    VALUES (NEW.id, NEW.name, 'document.created', 0, 0, 0, {now}, {now}, 0, 0, 0);
END"
        ),
    ]
}

const POSTGRES_DOWN: &[&str] = &[
    "DROP FUNCTION IF EXISTS plait_write(text, bytea)",
    "DROP TRIGGER IF EXISTS plait_document_created ON documents",
    "DROP FUNCTION IF EXISTS plait_document_created()",
    "DROP TRIGGER IF EXISTS plait_log_appended ON document_updates",
    "DROP FUNCTION IF EXISTS plait_log_appended()",
    "DROP TRIGGER IF EXISTS plait_log_order ON document_updates",
    "DROP FUNCTION IF EXISTS plait_log_order()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS plait_document_created",
    "DROP TRIGGER IF EXISTS plait_log_appended",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookOutbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookOutbox::Id))
                    .col(big_integer(WebhookOutbox::DocumentId))
                    .col(string_len(WebhookOutbox::DocName, 255))
                    .col(string_len(WebhookOutbox::Kind, 32))
                    .col(big_integer(WebhookOutbox::FirstSeq))
                    .col(big_integer(WebhookOutbox::LastSeq))
                    .col(big_integer(WebhookOutbox::Updates))
                    .col(big_integer(WebhookOutbox::FirstMs))
                    .col(big_integer(WebhookOutbox::LastMs))
                    .col(boolean(WebhookOutbox::IsOpen))
                    .col(big_integer(WebhookOutbox::Attempts).default(0))
                    .col(big_integer(WebhookOutbox::NextAttemptMs).default(0))
                    .col(big_integer(WebhookOutbox::DeliveredMs).null())
                    .col(big_integer(WebhookOutbox::FailedMs).null())
                    .col(text_null(WebhookOutbox::LastError))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DatabaseBackend::Postgres => postgres_up(),
            _ => sqlite_up(),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        manager
            .drop_table(Table::drop().table(WebhookOutbox::Table).to_owned())
            .await
    }
}
