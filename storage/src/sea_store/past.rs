//! The history kept past compaction (`document_history`, see migration
//! `m20261206_000008_history_retention`): the rows a compaction folds into the snapshot are moved
//! there in its transaction, with their authors and dates, instead of being deleted; a prune
//! folds those older than `--history-retention` into the document's *base* (its whole state at
//! the highest pruned position) and deletes them.
//!
//! Why a table of its own rather than keeping the rows in the log: every reader of the log
//! (loads, the change feed, `plait check`, backups, the other nodes' catch-up) relies on the log
//! holding nothing at or below the snapshot's position. Moving the rows keeps that invariant,
//! and the history's readers (`GET .../history`, `?at=`, versions' authors) read both tables.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use super::projections::{optional_date, Sql};
use super::{tolerant, SeaStore};
use crate::error::StorageError;
use crate::history::Pruned;
use crate::migration::m20261206_000006_documents_as_data::KIND_UPDATE;
use crate::migration::m20261206_000008_history_retention::{HISTORY_BASE, HISTORY_UPDATE};
use crate::store::{rebuild_blocking, Seq, StoredDoc};

/// Whether document `id` holds any history row (moved rows or a base).
pub(super) async fn has_history(txn: &DatabaseTransaction, id: i64) -> Result<bool, StorageError> {
    let mut sql = Sql::new("SELECT 1 AS one FROM document_history WHERE document_id = ");
    sql.bind(id).push(" LIMIT 1");
    Ok(txn
        .query_one_raw(sql.build(txn.get_database_backend()))
        .await?
        .is_some())
}

/// Moves document `id`'s update rows in `(after, upto]` from the log to the history, in the
/// compaction's transaction. `base`: the snapshot being replaced, when the history has nothing
/// yet and rows at or below `after` are gone (compacted before the history existed, or while
/// retention was 0): it becomes the base, so that every position from `after` on can be rebuilt.
pub(super) async fn keep_folded(
    txn: &DatabaseTransaction,
    id: i64,
    after: Seq,
    upto: Seq,
    base: Option<Vec<u8>>,
) -> Result<(), StorageError> {
    let backend = txn.get_database_backend();
    if let Some(base) = base {
        insert_base(txn, id, after, base).await?;
    }
    let mut sql = Sql::new(
        "INSERT INTO document_history (document_id, seq, kind, data, authors, created_at) \
         SELECT document_id, seq, ",
    );
    sql.bind(HISTORY_UPDATE)
        .push(", data, authors, created_at FROM document_updates WHERE document_id = ")
        .bind(id)
        .push(" AND seq > ")
        .bind(after)
        .push(" AND seq <= ")
        .bind(upto)
        .push(" AND kind = ")
        .bind(KIND_UPDATE);
    txn.execute_raw(sql.build(backend)).await?;
    Ok(())
}

/// Document `id`'s base: the position and the whole state below which its history was pruned.
pub(super) async fn base(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(Seq, Vec<u8>)>, StorageError> {
    let mut sql = Sql::new("SELECT seq, data FROM document_history WHERE document_id = ");
    sql.bind(id).push(" AND kind = ").bind(HISTORY_BASE);
    let Some(row) = conn
        .query_one_raw(sql.build(conn.get_database_backend()))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((row.try_get("", "seq")?, row.try_get("", "data")?)))
}

/// Stores `state` as document `id`'s base at `seq` (its history holds none at that moment).
async fn insert_base(
    txn: &DatabaseTransaction,
    id: i64,
    seq: Seq,
    state: Vec<u8>,
) -> Result<(), StorageError> {
    let mut sql = Sql::new(
        "INSERT INTO document_history (document_id, seq, kind, data, authors, created_at) \
         VALUES (",
    );
    sql.bind(id)
        .push(", ")
        .bind(seq)
        .push(", ")
        .bind(HISTORY_BASE)
        .push(", ")
        .bind(state)
        .push(", NULL, ")
        .bind(Utc::now())
        .push(")");
    txn.execute_raw(sql.build(txn.get_database_backend()))
        .await?;
    Ok(())
}

/// Deletes document `id`'s whole history (retention 0 keeps only the current state).
pub(super) async fn forget(txn: &DatabaseTransaction, id: i64) -> Result<u64, StorageError> {
    let mut sql = Sql::new("DELETE FROM document_history WHERE document_id = ");
    sql.bind(id);
    Ok(txn
        .execute_raw(sql.build(txn.get_database_backend()))
        .await?
        .rows_affected())
}

impl SeaStore {
    pub(super) async fn prune_history(
        &self,
        doc: &str,
        before: DateTime<Utc>,
    ) -> Result<Pruned, StorageError> {
        let txn = self.begin_write().await?;
        // FOR UPDATE: a compaction of the same document moves rows in meanwhile otherwise.
        let Some(head) = tolerant::head(&txn, doc, true).await? else {
            txn.commit().await?;
            return Ok(Pruned::default());
        };
        let backend = self.backend();
        let rows = if self.keeps_history() {
            fold_old_rows(&txn, head.id, before).await?
        } else {
            forget(&txn, head.id).await?
        };
        let mut sql = Sql::new("DELETE FROM document_versions WHERE document_id = ");
        sql.bind(head.id)
            .push(" AND kind IN ('auto', 'restore') AND created_at < ")
            .bind(before);
        let versions = txn.execute_raw(sql.build(backend)).await?.rows_affected();
        txn.commit().await?;
        Ok(Pruned { rows, versions })
    }

    pub(super) async fn documents_due_for_pruning(
        &self,
        before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        // Each document's oldest history row, its date compared here (another program's log
        // rows, moved here, may hold dates SQL would compare as text); and the versions, which
        // only this server writes, compared in SQL.
        let mut sql = Sql::new(
            "SELECT d.name AS name, h.created_at AS created_at FROM document_history h \
             JOIN documents d ON d.id = h.document_id WHERE h.kind = ",
        );
        sql.bind(HISTORY_UPDATE).push(
            " AND h.seq = (SELECT MIN(o.seq) FROM document_history o \
             WHERE o.document_id = h.document_id AND o.kind = ",
        );
        sql.bind(HISTORY_UPDATE).push(") ORDER BY d.id");
        let oldest = self.db.query_all_raw(sql.build(self.backend())).await?;
        let mut due: Vec<String> = oldest
            .iter()
            .filter(|row| optional_date(row, "created_at").is_none_or(|at| at < before))
            .filter_map(|row| row.try_get::<String>("", "name").ok())
            .collect();
        let mut sql = Sql::new(
            "SELECT DISTINCT d.name AS name FROM document_versions v \
             JOIN documents d ON d.id = v.document_id \
             WHERE v.kind IN ('auto', 'restore') AND v.created_at < ",
        );
        sql.bind(before);
        let versions = self.db.query_all_raw(sql.build(self.backend())).await?;
        for name in versions.iter().filter_map(name) {
            if !due.contains(&name) {
                due.push(name);
            }
        }
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due)
    }
}

fn name(row: &QueryResult) -> Option<String> {
    row.try_get("", "name").ok()
}

/// Folds document `id`'s oldest history rows stored before `before` (the longest such run, in
/// position order: a row kept must not depend on one folded past it) into a new base at the
/// last of them. Returns how many rows were folded.
async fn fold_old_rows(
    txn: &DatabaseTransaction,
    id: i64,
    before: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let backend = txn.get_database_backend();
    let mut sql =
        Sql::new("SELECT seq, kind, created_at FROM document_history WHERE document_id = ");
    sql.bind(id).push(" ORDER BY seq");
    let rows = txn.query_all_raw(sql.build(backend)).await?;
    let mut base_seq = 0;
    let mut upto = None;
    let mut folded = 0;
    for row in &rows {
        let Ok(seq) = row.try_get::<i64>("", "seq") else {
            continue;
        };
        if row.try_get::<i16>("", "kind").unwrap_or(HISTORY_UPDATE) == HISTORY_BASE {
            base_seq = seq;
            continue;
        }
        // A date that cannot be read cannot be inside the window either.
        if optional_date(row, "created_at").is_some_and(|at| at >= before) {
            break;
        }
        upto = Some(seq);
        folded += 1;
    }
    let Some(upto) = upto else {
        return Ok(0);
    };
    let base = base(txn, id).await?.map(|(_, state)| state);
    let mut sql = Sql::new("SELECT seq, data FROM document_history WHERE document_id = ");
    sql.bind(id)
        .push(" AND kind = ")
        .bind(HISTORY_UPDATE)
        .push(" AND seq <= ")
        .bind(upto)
        .push(" ORDER BY seq");
    let rows = txn.query_all_raw(sql.build(backend)).await?;
    let (updates, unreadable) = tolerant::split_rows(&rows);
    if !unreadable.is_empty() {
        tracing::warn!(document_id = id, rows = ?unreadable, "history rows that are not bytes are dropped by the prune");
    }
    let stored = StoredDoc::from_base(base, base_seq, updates);
    // What the document's own snapshot already refused needs no second report here.
    let rebuilt = rebuild_blocking(stored).await?;
    let mut sql = Sql::new("DELETE FROM document_history WHERE document_id = ");
    sql.bind(id).push(" AND seq <= ").bind(upto);
    txn.execute_raw(sql.build(backend)).await?;
    insert_base(txn, id, upto, rebuilt.state).await?;
    Ok(folded)
}
