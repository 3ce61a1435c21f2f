//! Reading committed log rows back for the documents a node holds: what the feeds (PostgreSQL's
//! notifications, SQLite's watcher) hand to the documents as [`StoredRow`]s.

use std::collections::HashMap;

use plait_cluster::StoredRow;
use plait_protocol::name::DocName;
use sea_orm::sea_query::{ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::Seq;

/// Positions per query at most (bind parameters stay far below both databases' limits).
const CHUNK: usize = 1000;

/// One row read, with its document's id.
pub(crate) struct Row {
    pub doc_id: i64,
    pub row: StoredRow,
}

/// The rows with positions in `first..=last`, of the documents `ids` (every document if `None`),
/// in log order. A row whose values are not what the schema says (written by hand) or whose
/// document's name is not valid is left out: a read of the whole document quarantines it.
pub(crate) async fn in_range(
    db: &DatabaseConnection,
    first: Seq,
    last: Seq,
    ids: Option<&[i64]>,
) -> Result<Vec<Row>, StorageError> {
    let range = document_update::Column::Seq
        .gte(first)
        .and(document_update::Column::Seq.lte(last));
    match ids {
        None => read(db, range).await,
        Some(ids) => {
            let mut rows = Vec::new();
            for chunk in ids.chunks(CHUNK) {
                let filter = range
                    .clone()
                    .and(document_update::Column::DocumentId.is_in(chunk.iter().copied()));
                rows.extend(read(db, filter).await?);
            }
            rows.sort_by_key(|r| r.row.seq);
            Ok(rows)
        }
    }
}

/// The rows at `seqs`, in log order.
pub(crate) async fn at(db: &DatabaseConnection, seqs: &[Seq]) -> Result<Vec<Row>, StorageError> {
    let mut rows = Vec::new();
    for chunk in seqs.chunks(CHUNK) {
        let filter = document_update::Column::Seq.is_in(chunk.iter().copied());
        rows.extend(read(db, filter).await?);
    }
    rows.sort_by_key(|r| r.row.seq);
    Ok(rows)
}

/// The names of the documents `ids` (those that exist and have a valid name).
pub(crate) async fn names(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, DocName>, StorageError> {
    let ids: Vec<i64> = ids.into_iter().collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let filter = document::Column::Id.is_in(chunk.iter().copied());
        out.extend(named(db, filter).await?);
    }
    Ok(out)
}

/// The documents compacted at or after `seq` (their snapshot covers positions from there on):
/// rows of theirs a notification named may be gone.
pub(crate) async fn compacted_since(
    db: &DatabaseConnection,
    seq: Seq,
) -> Result<HashMap<i64, DocName>, StorageError> {
    named(db, document::Column::SnapshotSeq.gte(seq)).await
}

/// Id and name of the documents `filter` selects, those with a valid name.
async fn named(
    db: &DatabaseConnection,
    filter: SimpleExpr,
) -> Result<HashMap<i64, DocName>, StorageError> {
    let named: Vec<(i64, String)> = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::Name)
        .filter(filter)
        .into_tuple()
        .all(db)
        .await?;
    Ok(named
        .into_iter()
        .filter_map(|(id, name)| Some((id, DocName::parse(&name).ok()?)))
        .collect())
}

async fn read(db: &DatabaseConnection, filter: SimpleExpr) -> Result<Vec<Row>, StorageError> {
    let query = document_update::Entity::find()
        .select_only()
        .column(document_update::Column::Seq)
        .column(document_update::Column::DocumentId)
        .column(document::Column::Name)
        .column(document_update::Column::Data)
        .inner_join(document::Entity)
        .filter(filter)
        .order_by_asc(document_update::Column::Seq);
    let raw = db
        .query_all_raw(query.build(db.get_database_backend()))
        .await?;
    // Each value read on its own: a row written by hand with a value of another type is skipped
    // here, not the whole read.
    Ok(raw
        .iter()
        .filter_map(|row| {
            let name: String = row.try_get("", "name").ok()?;
            Some(Row {
                doc_id: row.try_get("", "document_id").ok()?,
                row: StoredRow {
                    doc: DocName::parse(&name).ok()?,
                    seq: row.try_get("", "seq").ok()?,
                    data: row.try_get("", "data").ok()?,
                },
            })
        })
        .collect())
}
