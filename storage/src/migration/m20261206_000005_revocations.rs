//! `revocations`: subjects (a token's `sub`) whose tokens issued before `revoked_at_ms` are
//! refused, and whose open connections are closed, on every node. Any program may add a row
//! (`INSERT INTO revocations (subject, reason) VALUES ('alice', 'left the team')`): the time
//! defaults to the database's clock.
//!
//! On PostgreSQL a row trigger notifies the channel every node listens on
//! (`<node> revoked <base64 subject> <revoked_at_ms>`, see `plait_cluster::payload`); on SQLite
//! the nodes' `data_version` watch (`sqlite_bus`) reads the new rows.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use super::m20261206_000002_change_triggers::{PG_NOW_MS, SQLITE_NOW_MS};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The longest subject: a notification carries it in base64 below PostgreSQL's 8000 bytes.
pub const MAX_SUBJECT_BYTES: usize = 1024;

fn up_sql(backend: DatabaseBackend) -> Vec<String> {
    match backend {
        DatabaseBackend::Postgres => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS revocations (
                    id BIGSERIAL PRIMARY KEY,
                    subject TEXT NOT NULL
                        CHECK (octet_length(subject) BETWEEN 1 AND {MAX_SUBJECT_BYTES}),
                    revoked_at_ms BIGINT NOT NULL DEFAULT {PG_NOW_MS},
                    reason TEXT
                )"
            ),
            "CREATE INDEX IF NOT EXISTS idx_revocations_subject ON revocations (subject)".into(),
            "CREATE OR REPLACE FUNCTION plait_revocation_added() RETURNS trigger AS $$
             BEGIN
               PERFORM pg_notify('plait_updates',
                 coalesce(nullif(current_setting('plait.node', true), ''), '-') || ' revoked ' ||
                 translate(encode(convert_to(NEW.subject, 'UTF8'), 'base64'), E'\\n', '') ||
                 ' ' || NEW.revoked_at_ms);
               RETURN NULL;
             END $$ LANGUAGE plpgsql"
                .into(),
            "DROP TRIGGER IF EXISTS plait_revocation_added ON revocations".into(),
            "CREATE TRIGGER plait_revocation_added AFTER INSERT ON revocations
             FOR EACH ROW EXECUTE FUNCTION plait_revocation_added()"
                .into(),
        ],
        _ => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS revocations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    subject TEXT NOT NULL
                        CHECK (length(CAST(subject AS BLOB)) BETWEEN 1 AND {MAX_SUBJECT_BYTES}),
                    revoked_at_ms INTEGER NOT NULL DEFAULT ({SQLITE_NOW_MS}),
                    reason TEXT
                )"
            ),
            "CREATE INDEX IF NOT EXISTS idx_revocations_subject ON revocations (subject)".into(),
        ],
    }
}

fn down_sql(backend: DatabaseBackend) -> Vec<&'static str> {
    let mut sql = Vec::new();
    if backend == DatabaseBackend::Postgres {
        sql.push("DROP TRIGGER IF EXISTS plait_revocation_added ON revocations");
        sql.push("DROP FUNCTION IF EXISTS plait_revocation_added()");
    }
    sql.push("DROP TABLE IF EXISTS revocations");
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in up_sql(db.get_database_backend()) {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in down_sql(db.get_database_backend()) {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
