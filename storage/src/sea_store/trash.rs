//! The trash (see [`crate::catalog`]): deleting and undeleting a document, each with a marker
//! row in the log, and purging what stayed deleted past the retention.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement};

use super::projections::{optional_date, Sql};
use super::SeaStore;
use crate::catalog::Trashed;
use crate::error::StorageError;
use crate::migration::m20261206_000006_documents_as_data::{KIND_DELETE, KIND_UNDELETE};
use crate::store::Seq;

/// The empty Yjs v1 update (no structs, an empty delete set): what a marker row holds, so that
/// a replay or a change-feed consumer applying it changes nothing.
const EMPTY_UPDATE: [u8; 2] = [0, 0];

impl SeaStore {
    /// Deletes (`delete`) or undeletes `doc` in one transaction: `deleted_at`, the marker row,
    /// and on deletion the projection row (the database's trigger writes the outbox event).
    pub(super) async fn trash(&self, doc: &str, delete: bool) -> Result<Trashed, StorageError> {
        let txn = self.begin_write().await?;
        if self.backend() == DatabaseBackend::Postgres {
            // As an append: the log's trigger names this node, whose own feed then skips it.
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT set_config('plait.node', $1, true)",
                [self.node.as_str().into()],
            ))
            .await?;
        }
        let mut sql = Sql::new("SELECT id, deleted_at FROM documents WHERE name = ");
        sql.bind(doc.to_owned());
        if self.backend() == DatabaseBackend::Postgres {
            sql.push(" FOR UPDATE");
        }
        let Some(row) = txn.query_one_raw(sql.build(self.backend())).await? else {
            txn.commit().await?;
            return Ok(Trashed::NotFound);
        };
        let id: i64 = row.try_get("", "id")?;
        let deleted_at = optional_date(&row, "deleted_at");
        if deleted_at.is_some() == delete {
            txn.commit().await?;
            return Ok(Trashed::Unchanged { deleted_at });
        }
        let now = Utc::now();
        let deleted_at = delete.then_some(now);
        let mut sql = Sql::new("UPDATE documents SET deleted_at = ");
        sql.bind(deleted_at).push(" WHERE id = ").bind(id);
        txn.execute_raw(sql.build(self.backend())).await?;
        let kind = if delete { KIND_DELETE } else { KIND_UNDELETE };
        let seq = self.marker_row(&txn, id, kind, now).await?;
        if delete {
            let mut sql = Sql::new("DELETE FROM document_projections WHERE document_id = ");
            sql.bind(id);
            txn.execute_raw(sql.build(self.backend())).await?;
        }
        // As `append_batch`: the SQLite watcher must not take this row for another program's.
        self.own_writes.wrote(&[seq]);
        txn.commit().await?;
        self.head.advanced(Some(seq));
        Ok(Trashed::Done { seq, deleted_at })
    }

    async fn marker_row(
        &self,
        txn: &DatabaseTransaction,
        id: i64,
        kind: i16,
        now: DateTime<Utc>,
    ) -> Result<Seq, StorageError> {
        let mut sql =
            Sql::new("INSERT INTO document_updates (document_id, data, created_at, kind) VALUES (");
        sql.bind(id)
            .push(", ")
            .bind(EMPTY_UPDATE.to_vec())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(kind)
            .push(") RETURNING seq");
        let row = txn
            .query_one_raw(sql.build(self.backend()))
            .await?
            .ok_or_else(|| sea_orm::DbErr::Custom("the marker row returned no position".into()))?;
        Ok(row.try_get("", "seq")?)
    }

    pub(super) async fn purge_trash(
        &self,
        deleted_before: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        // The trash is small (an index on deleted_at covers it): the dates are compared here,
        // not in SQL, where SQLite would compare them as text.
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.backend(),
                "SELECT id, name, deleted_at FROM documents WHERE deleted_at IS NOT NULL",
            ))
            .await?;
        let mut purged = Vec::new();
        for row in rows {
            let (Ok(id), Ok(name)) = (
                row.try_get::<i64>("", "id"),
                row.try_get::<String>("", "name"),
            ) else {
                continue;
            };
            if optional_date(&row, "deleted_at").is_none_or(|at| at >= deleted_before) {
                continue;
            }
            let txn = self.begin_write().await?;
            // Still deleted (an undelete may have come in between): else nothing is removed.
            let mut sql = Sql::new("DELETE FROM documents WHERE deleted_at IS NOT NULL AND id = ");
            sql.bind(id);
            let gone = txn
                .execute_raw(sql.build(self.backend()))
                .await?
                .rows_affected();
            if gone == 1 {
                for table in [
                    "document_updates",
                    "document_projections",
                    "document_versions",
                    "document_history",
                ] {
                    let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE document_id = "));
                    sql.bind(id);
                    txn.execute_raw(sql.build(self.backend())).await?;
                }
                let mut sql = Sql::new("DELETE FROM quarantined_updates WHERE document_name = ");
                sql.bind(name.clone());
                txn.execute_raw(sql.build(self.backend())).await?;
            }
            txn.commit().await?;
            if gone == 1 {
                self.forget_id(&name);
                purged.push(name);
            }
        }
        Ok(purged)
    }
}
