//! A consistent cut: the whole database read in one transaction, document by document, for
//! backups (`plait export`) and checks (`plait check`) that run beside a live server.
//!
//! One transaction for everything, not one per document: every document is then read as of
//! the same instant, so an export holds either both of two edits made one after the other in
//! two documents or only the first, never only the second. SQLite's read transaction reads one
//! WAL snapshot (the server's writer goes on meanwhile); PostgreSQL's is `REPEATABLE READ`, `READ
//! ONLY`. Only one document's rows are in memory at a time.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, QueryTrait, Statement,
};
use sea_orm_migration::SchemaManager;

use super::{tolerant, SeaStore};
use crate::entities::{document, document_update, quarantined_update};
use crate::error::StorageError;
use crate::store::{Seq, StoredDoc};

/// The whole database as of one instant (see the module's comment). Dropping it without
/// [`Cut::finish`] rolls the read transaction back, which is harmless: nothing was written.
pub struct Cut {
    txn: DatabaseTransaction,
}

/// One `documents` row as listed by [`Cut::documents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `documents.id`.
    pub id: i64,
    /// The name; `Err` with the reason when the stored value is not text (SQLite keeps any
    /// value in any column): such a document cannot be named, so it cannot be read or served.
    pub name: Result<String, String>,
    /// `documents.snapshot_format`, if it is an integer (1 is the only format there is).
    pub snapshot_format: Option<i64>,
}

/// One document as the cut saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutDoc {
    /// Its snapshot and log rows, exactly what [`crate::DocStore::load`] would have returned.
    pub stored: StoredDoc,
    /// The highest position it holds: its last log row's, or its snapshot's.
    pub last_seq: Seq,
}

/// A log row whose document no `documents` row names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Its position.
    pub seq: Seq,
    /// The `document_id` it names, if that value is an integer.
    pub document_id: Option<i64>,
}

impl SeaStore {
    /// Starts a consistent read of the whole database (see [`Cut`]).
    pub async fn cut(&self) -> Result<Cut, StorageError> {
        Ok(Cut {
            txn: self.begin_read().await?,
        })
    }
}

impl Cut {
    /// The highest log position the database has handed out and still shows: its last log
    /// row's, or the highest snapshot's (compaction deletes the rows it folds). 0 when empty.
    pub async fn position(&self) -> Result<Seq, StorageError> {
        let log = document_update::Entity::find()
            .select_only()
            .column_as(document_update::Column::Seq.max(), "last");
        let snapshots = document::Entity::find()
            .select_only()
            .column_as(document::Column::SnapshotSeq.max(), "last");
        let backend = self.txn.get_database_backend();
        let mut last = 0;
        for query in [log.build(backend), snapshots.build(backend)] {
            if let Some(row) = self.txn.query_one_raw(query).await? {
                // NULL for an empty table; a position that is not an integer cannot be the last.
                last = last.max(
                    row.try_get::<Option<i64>>("", "last")
                        .ok()
                        .flatten()
                        .unwrap_or(0),
                );
            }
        }
        Ok(last)
    }

    /// Every document, in `id` order, each value read on its own.
    pub async fn documents(&self) -> Result<Vec<Listed>, StorageError> {
        let query = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .column(document::Column::Name)
            .column(document::Column::SnapshotFormat)
            .order_by_asc(document::Column::Id)
            .build(self.txn.get_database_backend());
        let rows = self.txn.query_all_raw(query).await?;
        Ok(rows.iter().filter_map(listed).collect())
    }

    /// One document's snapshot and log rows, read value by value as a load reads them;
    /// `None` if it has no `documents` row (under that name) in this cut.
    pub async fn read(&self, name: &str) -> Result<Option<CutDoc>, StorageError> {
        let Some(head) = tolerant::head(&self.txn, name, false).await? else {
            return Ok(None);
        };
        let (updates, mut unreadable) =
            tolerant::log_rows(&self.txn, head.id, head.snapshot_seq, None, None).await?;
        unreadable.extend(head.unreadable);
        let last_row = updates
            .iter()
            .map(|r| r.0)
            .chain(unreadable.iter().map(|r| r.seq))
            .max();
        Ok(Some(CutDoc {
            last_seq: last_row.unwrap_or(0).max(head.snapshot_seq),
            stored: StoredDoc {
                snapshot: head.snapshot,
                snapshot_seq: head.snapshot_seq,
                updates,
                unreadable,
                deleted_at: head.deleted_at,
            },
        }))
    }

    /// Positions of document `id`'s log rows at or below `snapshot_seq`: compaction deletes
    /// those in the transaction that writes the snapshot, so any still there were written by
    /// hand, and no load ever reads them.
    pub async fn shadowed_rows(
        &self,
        id: i64,
        snapshot_seq: Seq,
    ) -> Result<Vec<Seq>, StorageError> {
        let query = document_update::Entity::find()
            .select_only()
            .column(document_update::Column::Seq)
            .filter(document_update::Column::DocumentId.eq(id))
            .filter(document_update::Column::Seq.lte(snapshot_seq))
            .order_by_asc(document_update::Column::Seq)
            .build(self.txn.get_database_backend());
        let rows = self.txn.query_all_raw(query).await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get("", "seq").ok())
            .collect())
    }

    /// Log rows whose `document_id` names no document. The foreign key forbids them, but SQLite
    /// enforces it only on connections that ask (the `sqlite3` shell does not): such a row is
    /// part of no document, and no load ever reads it.
    pub async fn orphans(&self) -> Result<Vec<Orphan>, StorageError> {
        let backend = self.txn.get_database_backend();
        let sql = "SELECT u.seq AS seq, u.document_id AS document_id FROM document_updates u \
                   WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = u.document_id) \
                   ORDER BY u.seq";
        let rows = self
            .txn
            .query_all_raw(Statement::from_string(backend, sql))
            .await?;
        Ok(rows.iter().filter_map(orphan).collect())
    }

    /// How many stored updates were moved to quarantine (of every document); `None` when the
    /// database predates the quarantine table (its migration still pending).
    pub async fn quarantined(&self) -> Result<Option<u64>, StorageError> {
        if !SchemaManager::new(&self.txn)
            .has_table("quarantined_updates")
            .await?
        {
            return Ok(None);
        }
        Ok(Some(
            quarantined_update::Entity::find().count(&self.txn).await?,
        ))
    }

    /// Ends the read transaction.
    pub async fn finish(self) -> Result<(), StorageError> {
        // A read-only transaction: commit and rollback are the same, commit reports errors.
        self.txn.commit().await?;
        Ok(())
    }
}

/// One listed row; `None` only when the id itself is unreadable (it is the integer primary
/// key, so never in practice).
fn listed(row: &QueryResult) -> Option<Listed> {
    let id: i64 = row.try_get("", "id").ok()?;
    let name = row
        .try_get::<String>("", "name")
        .map_err(|e| format!("the stored name is not text: {e}"));
    // An INTEGER (int4 on PostgreSQL, which sqlx will not read as an i64).
    let snapshot_format = row
        .try_get::<i32>("", "snapshot_format")
        .ok()
        .map(i64::from);
    Some(Listed {
        id,
        name,
        snapshot_format,
    })
}

fn orphan(row: &QueryResult) -> Option<Orphan> {
    Some(Orphan {
        seq: row.try_get("", "seq").ok()?,
        document_id: row.try_get("", "document_id").ok(),
    })
}
