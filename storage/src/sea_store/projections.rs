//! The projection's queries (see [`crate::catalog`]): writing one, reading one, and finding the
//! documents whose log moved past theirs.
//!
//! Raw SQL with `$n` placeholders, numbered in the order they appear and each used once: SQLite
//! reads `$1` as a named parameter bound by its first appearance, PostgreSQL by its number, so
//! the same text binds the same way on both.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use super::SeaStore;
use crate::catalog::Projection;
use crate::changes::NameFilter;
use crate::error::StorageError;
use crate::migration::m20261206_000006_documents_as_data::KIND_UPDATE;
use crate::store::Seq;

/// A statement's text and its values, placeholders numbered as values are added.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    pub values: Vec<Value>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends `text` (no placeholders in it).
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        self.text.push_str(&format!("${}", self.values.len()));
        self
    }

    /// `AND` the names `names` covers, on the column `column`. The prefix is compared with
    /// `substr` rather than LIKE (see `changes::name_filter`).
    pub fn names(&mut self, column: &str, names: &NameFilter) -> &mut Sql {
        if !names.prefix.is_empty() {
            let chars = i32::try_from(names.prefix.chars().count()).unwrap_or(i32::MAX);
            self.push(&format!(" AND substr({column}, 1, "))
                .bind(chars)
                .push(") = ")
                .bind(names.prefix.clone());
        }
        if let Some(exact) = &names.exact {
            self.push(&format!(" AND {column} = ")).bind(exact.clone());
        }
        self
    }

    pub fn build(self, backend: DatabaseBackend) -> Statement {
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

impl SeaStore {
    pub(super) async fn write_projection_row(
        &self,
        projection: &Projection,
    ) -> Result<bool, StorageError> {
        // Unchanged content at an unchanged position is not written again: a node re-renders
        // a document it holds whenever asked, and the table's readers (and the WAL) need not
        // see the same row twice.
        let mut sql = Sql::new(
            "INSERT INTO document_projections \
             (document_id, name, seq, content, plain_text, updated_at) \
             SELECT id, name, ",
        );
        sql.bind(projection.seq)
            .push(", ")
            .bind(projection.content.clone())
            .push(", ")
            .bind(projection.text.clone())
            .push(", ")
            .bind(Utc::now())
            .push(" FROM documents WHERE deleted_at IS NULL AND name = ")
            .bind(projection.doc.clone())
            // A newer row (another node's) proposes nothing: PostgreSQL computes the
            // generated search column of a proposed row before it finds the conflict, and
            // that column was the largest part of a three-node database's CPU (BENCHMARKS.md,
            // row 4).
            .push(
                " AND NOT EXISTS (SELECT 1 FROM document_projections newer \
                 WHERE newer.document_id = documents.id AND newer.seq > ",
            )
            .bind(projection.seq)
            .push(")")
            .push(
                " ON CONFLICT (document_id) DO UPDATE SET seq = excluded.seq, \
                 content = excluded.content, plain_text = excluded.plain_text, \
                 updated_at = excluded.updated_at \
                 WHERE excluded.seq >= document_projections.seq \
                 AND (excluded.seq > document_projections.seq \
                      OR excluded.plain_text <> document_projections.plain_text \
                      OR excluded.content <> document_projections.content)",
            );
        let statement = sql.build(self.backend());
        let result = match self.db.execute_raw(statement.clone()).await {
            // Two nodes wrote a document's first projection at once. PostgreSQL settles `ON
            // CONFLICT` on its arbiter index only; the other unique index (the name) raised
            // instead, once the first row committed. That row exists now, so the same statement
            // takes the update path. Without this the projector took it for an outage and held
            // every row of its batch for a second.
            Err(error)
                if matches!(
                    error.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                self.db.execute_raw(statement).await?
            }
            result => result?,
        };
        Ok(result.rows_affected() > 0)
    }

    pub(super) async fn last_log_position(&self) -> Result<Seq, StorageError> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.backend(),
                "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM document_updates",
            ))
            .await?;
        Ok(row.and_then(|r| r.try_get("", "seq").ok()).unwrap_or(0))
    }

    pub(super) async fn stale_projection_names(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        let mut sql = Sql::new(&format!(
            "SELECT d.name AS name FROM documents d \
             LEFT JOIN document_projections p ON p.document_id = d.id \
             WHERE d.deleted_at IS NULL AND (p.seq IS NULL OR d.snapshot_seq > p.seq \
               OR EXISTS (SELECT 1 FROM document_updates u WHERE u.document_id = d.id \
                          AND u.seq > p.seq AND u.kind = {KIND_UPDATE}))"
        ));
        if let Some(after) = after {
            sql.push(" AND d.name > ").bind(after.to_owned());
        }
        sql.push(" ORDER BY d.name LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get::<String>("", "name").ok())
            .collect())
    }

    pub(super) async fn projection_row(
        &self,
        doc: &str,
    ) -> Result<Option<Projection>, StorageError> {
        let mut sql = Sql::new(
            "SELECT p.seq AS seq, p.content AS content, p.plain_text AS plain_text \
             FROM document_projections p JOIN documents d ON d.id = p.document_id \
             WHERE d.deleted_at IS NULL AND p.name = ",
        );
        sql.bind(doc.to_owned());
        let Some(row) = self.db.query_one_raw(sql.build(self.backend())).await? else {
            return Ok(None);
        };
        let seq: Seq = row.try_get("", "seq")?;
        let content = match self.backend() {
            DatabaseBackend::Postgres => row.try_get::<serde_json::Value>("", "content")?,
            // JSON text on SQLite; a row someone wrote by hand may not be JSON.
            _ => {
                let text: String = row.try_get("", "content")?;
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
            }
        };
        Ok(Some(Projection {
            doc: doc.to_owned(),
            seq,
            content,
            text: row.try_get("", "plain_text")?,
        }))
    }
}

/// A date column that may be NULL or not a date: `None` then.
pub(super) fn optional_date(row: &sea_orm::QueryResult, column: &str) -> Option<DateTime<Utc>> {
    row.try_get::<Option<DateTime<Utc>>>("", column)
        .ok()
        .flatten()
}
