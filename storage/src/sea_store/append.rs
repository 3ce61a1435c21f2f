//! One group commit: every update of a batch in one transaction, the documents' rows created as
//! needed, multi-row INSERTs. The database's own triggers do the rest in the same transaction
//! (the notification naming the rows on PostgreSQL, the webhook outbox): see the migration
//! `m20261206_000002_change_triggers`.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend,
    DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Statement,
};

use super::projections::Sql;
use super::{SeaStore, MAX_NAME_BYTES, SNAPSHOT_FORMAT_V1};
use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::{NewUpdate, Seq};

/// Updates per INSERT statement at most: 3 bind parameters each stays far below SQLite's
/// (32 766) and PostgreSQL's (65 535) limits.
const INSERT_CHUNK: usize = 1000;
/// Update bytes per INSERT statement at most: the statement copies its data a few times while
/// it is built, and those copies are the server's peak memory when many documents flush at once.
const INSERT_CHUNK_BYTES: usize = 64 * 1024;
impl SeaStore {
    pub(super) async fn append_batch(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(update) = batch.iter().find(|u| u.doc.len() > MAX_NAME_BYTES) {
            return Err(StorageError::NameTooLong(update.doc.len()));
        }
        // Lock documents in name order so two nodes appending overlapping batches cannot
        // deadlock on each other's row locks.
        let mut names: Vec<&str> = batch.iter().map(|u| u.doc.as_str()).collect();
        names.sort_unstable();
        names.dedup();

        let now = Utc::now();
        let txn = self.begin_write().await?;
        if self.backend() == DatabaseBackend::Postgres {
            // The log's trigger names the writer in its notification, so this node's own feed
            // skips what it wrote (a setting local to this transaction).
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT set_config('plait.node', $1, true)",
                [self.node.as_str().into()],
            ))
            .await?;
        }
        let ids = self.document_ids(&txn, &names, now).await?;
        self.touch_documents(&txn, ids.values().copied(), now)
            .await?;

        let mut seqs = Vec::with_capacity(batch.len());
        // One multi-row INSERT per chunk instead of one statement per update: with SQLite every
        // statement is a round trip to sqlx's database thread, which dominated the cost of a
        // busy document.
        for chunk in insert_chunks(batch) {
            let mut rows = Vec::with_capacity(chunk.len());
            for update in chunk {
                let document_id = ids.get(update.doc.as_str()).copied().ok_or_else(|| {
                    StorageError::from(sea_orm::DbErr::Custom(format!(
                        "no document id resolved for {:?}",
                        update.doc
                    )))
                })?;
                rows.push(document_update::ActiveModel {
                    seq: NotSet,
                    document_id: Set(document_id),
                    data: Set(update.data.to_vec()),
                    created_at: Set(now),
                    kind: NotSet,
                    authors: Set(update.authors.as_deref().map(str::to_owned)),
                });
            }
            let mut keys = document_update::Entity::insert_many(rows)
                .exec_with_returning_keys(&txn)
                .await?;
            if keys.len() != chunk.len() {
                return Err(StorageError::from(sea_orm::DbErr::Custom(format!(
                    "inserted {} updates but the database returned {} positions",
                    chunk.len(),
                    keys.len()
                ))));
            }
            // Positions are assigned in VALUES order; RETURNING's row order is not promised.
            keys.sort_unstable();
            seqs.extend(keys);
        }
        // Told before the commit: the SQLite watcher must never take this node's own rows for
        // another program's (it may see them the moment they commit). A failed commit leaves
        // positions that no row will ever have.
        self.own_writes.wrote(&seqs);
        txn.commit().await?;
        self.head.advanced(seqs.last().copied());
        self.cache_ids(ids);
        Ok(seqs)
    }

    /// Creates the documents row if missing and returns its id. INSERT .. ON CONFLICT DO NOTHING
    /// then SELECT, because another node may create the same row at the same moment.
    async fn ensure_document(
        &self,
        txn: &DatabaseTransaction,
        name: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        let row = document::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            snapshot: Set(None),
            snapshot_seq: Set(0),
            snapshot_format: Set(SNAPSHOT_FORMAT_V1),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: NotSet,
        };
        document::Entity::insert(row)
            .on_conflict_do_nothing_on([document::Column::Name])
            .exec_without_returning(txn)
            .await?;
        let id: Option<i64> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .filter(document::Column::Name.eq(name))
            .into_tuple()
            .one(txn)
            .await?;
        id.ok_or_else(|| {
            StorageError::from(sea_orm::DbErr::RecordNotFound(format!(
                "documents row for {name:?} vanished right after insert"
            )))
        })
    }

    /// The `documents` row id of every name (in name order), the missing rows created. The
    /// ids this process cached are checked in one statement: a row deleted behind our back
    /// (the trash's purge on another node) is created again rather than appended to by a
    /// stale id.
    async fn document_ids(
        &self,
        txn: &DatabaseTransaction,
        names: &[&str],
        now: chrono::DateTime<Utc>,
    ) -> Result<HashMap<String, i64>, StorageError> {
        let cached: Vec<Option<i64>> = names.iter().map(|name| self.cached_id(name)).collect();
        let known: Vec<i64> = cached.iter().flatten().copied().collect();
        let present: HashSet<i64> = if known.is_empty() {
            HashSet::new()
        } else {
            document::Entity::find()
                .select_only()
                .column(document::Column::Id)
                .filter(document::Column::Id.is_in(padded(known)))
                .into_tuple::<i64>()
                .all(txn)
                .await?
                .into_iter()
                .collect()
        };
        let mut ids = HashMap::with_capacity(names.len());
        for (&name, cached) in names.iter().zip(cached) {
            let id = match cached {
                Some(id) if present.contains(&id) => id,
                cached => {
                    if cached.is_some() {
                        // The row was deleted behind our back; the cached id is stale.
                        self.forget_id(name);
                    }
                    self.ensure_document(txn, name, now).await?
                }
            };
            ids.insert(name.to_owned(), id);
        }
        Ok(ids)
    }

    /// Bumps `updated_at` of the rows `ids`, in one statement. On PostgreSQL the rows are
    /// locked in id order first (two nodes appending to the same documents never deadlock);
    /// the lock also orders this append against a concurrent `compact` of the same document,
    /// so a compaction never computes P while a smaller seq is still uncommitted. One
    /// statement, not one per document: three nodes appending to the same 100 documents waited
    /// on each other's row locks for the length of 100 round trips each (BENCHMARKS.md, row 4).
    async fn touch_documents(
        &self,
        txn: &DatabaseTransaction,
        ids: impl Iterator<Item = i64>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut ids: Vec<i64> = ids.collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        let ids = padded(ids);
        let mut sql = Sql::new("UPDATE documents SET updated_at = ");
        sql.bind(now).push(" WHERE id IN (");
        let in_list = |sql: &mut Sql| {
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(*id);
            }
        };
        if self.backend() == DatabaseBackend::Postgres {
            sql.push("SELECT id FROM documents WHERE id IN (");
            in_list(&mut sql);
            sql.push(") ORDER BY id FOR NO KEY UPDATE)");
        } else {
            in_list(&mut sql);
            sql.push(")");
        }
        txn.execute_raw(sql.build(self.backend())).await?;
        Ok(())
    }
}

/// `ids` repeated at the end up to a power of two, for an `IN` list: the statement's text
/// depends on the list's length, and the driver keeps every distinct text prepared (see
/// [`insert_chunks`]); a repeated id changes nothing in `IN`.
fn padded(mut ids: Vec<i64>) -> Vec<i64> {
    if let Some(&last) = ids.last() {
        ids.resize(ids.len().next_power_of_two(), last);
    }
    ids
}

/// Splits a batch into INSERT statements of at most [`INSERT_CHUNK`] rows and, unless a single
/// row is larger, [`INSERT_CHUNK_BYTES`] of data, each a power of two rows long. A multi-row
/// INSERT's SQL depends on its row count, and the driver keeps every distinct statement prepared
/// on each connection (up to 100, 5–10 KB each in SQLite): with arbitrary counts a busy node's
/// cache filled with statements used once, ~4 MB that stayed for the life of the process. Powers
/// of two leave at most ten, for at most ten statements per chunk where there was one.
fn insert_chunks(batch: &[NewUpdate]) -> impl Iterator<Item = &[NewUpdate]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut len: usize = 0;
        for update in rest.iter().take(INSERT_CHUNK) {
            if len > 0 && bytes + update.data.len() > INSERT_CHUNK_BYTES {
                break;
            }
            bytes += update.data.len();
            len += 1;
        }
        // len >= 1: the first row is always taken.
        let len = 1_usize << len.ilog2();
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn updates(sizes: &[usize]) -> Vec<NewUpdate> {
        sizes
            .iter()
            .map(|&n| NewUpdate {
                doc: "d".into(),
                data: Bytes::from(vec![0; n]),
                authors: None,
            })
            .collect()
    }

    #[test]
    fn in_lists_are_padded_to_a_power_of_two_with_the_last_id() {
        assert_eq!(padded(vec![]), Vec::<i64>::new());
        assert_eq!(padded(vec![7]), vec![7]);
        assert_eq!(padded(vec![1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded((1..=5).collect()), vec![1, 2, 3, 4, 5, 5, 5, 5]);
    }

    #[test]
    fn inserts_are_chunked_by_rows_and_bytes_and_keep_every_update_in_order() {
        let chunk_sizes = |sizes: &[usize]| -> Vec<usize> {
            insert_chunks(&updates(sizes)).map(|c| c.len()).collect()
        };
        assert_eq!(chunk_sizes(&[]), Vec::<usize>::new());
        assert_eq!(
            chunk_sizes(&[10; 2500]),
            vec![512, 512, 512, 512, 256, 128, 64, 4],
            "powers of two, the largest first"
        );
        assert_eq!(chunk_sizes(&[10; 7]), vec![4, 2, 1]);
        let half = INSERT_CHUNK_BYTES / 2;
        assert_eq!(chunk_sizes(&[half, half, half]), vec![2, 1]);
        assert_eq!(
            chunk_sizes(&[INSERT_CHUNK_BYTES * 3, 1, 1]),
            vec![1, 2],
            "a row larger than the byte bound goes alone"
        );
    }
}
