//! The change feed's pages (see [`crate::changes`]): log rows and snapshots after a position,
//! merged in position order, read in one consistent view.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait,
};

use super::SeaStore;
use crate::changes::{Change, ChangeKind, NameFilter, MAX_PAGE_BYTES};
use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::migration::m20261206_000006_documents_as_data::{KIND_DELETE, KIND_UNDELETE};
use crate::store::Seq;

impl SeaStore {
    pub(super) async fn change_page(
        &self,
        after: Seq,
        limit: u64,
        names: &NameFilter,
    ) -> Result<Vec<Change>, StorageError> {
        let txn = self.begin_read().await?;
        let backend = txn.get_database_backend();
        let rows = document_update::Entity::find()
            .select_only()
            .column(document_update::Column::Seq)
            .column(document::Column::Name)
            .column(document_update::Column::CreatedAt)
            .column(document::Column::UpdatedAt)
            .column(document_update::Column::Data)
            .column(document_update::Column::Kind)
            .inner_join(document::Entity)
            .filter(document_update::Column::Seq.gt(after))
            .filter(name_filter(names))
            .order_by_asc(document_update::Column::Seq)
            .limit(limit)
            .build(backend);
        let rows = txn.query_all_raw(rows).await?;
        let snapshots = document::Entity::find()
            .select_only()
            .column_as(document::Column::SnapshotSeq, "seq")
            .column(document::Column::Name)
            .column(document::Column::UpdatedAt)
            .column_as(document::Column::Snapshot, "data")
            .filter(document::Column::SnapshotSeq.gt(after))
            .filter(document::Column::Snapshot.is_not_null())
            .filter(name_filter(names))
            .order_by_asc(document::Column::SnapshotSeq)
            .limit(limit)
            .build(backend);
        let snapshots = txn.query_all_raw(snapshots).await?;
        txn.commit().await?;

        let mut changes: Vec<Change> = rows
            .iter()
            .filter_map(|row| read_change(row, ChangeKind::Update))
            .chain(
                snapshots
                    .iter()
                    .filter_map(|row| read_change(row, ChangeKind::Snapshot)),
            )
            .collect();
        // A snapshot and a row never share a position: the update rows up to a snapshot's are
        // gone, and a snapshot's position is an update row's (the trash's marker rows, kept by
        // the compaction, are never folded).
        changes.sort_by_key(|c| c.seq);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut bytes = 0;
        let mut keep = 0;
        for change in changes.iter().take(limit) {
            if keep > 0 && bytes + change.update.len() > MAX_PAGE_BYTES {
                break;
            }
            bytes += change.update.len();
            keep += 1;
        }
        changes.truncate(keep);
        Ok(changes)
    }
}

/// `names` in SQL. The prefix is compared with `substr` rather than LIKE: SQLite's LIKE ignores
/// ASCII case, and `%` or `_` in a name would need escaping.
fn name_filter(names: &NameFilter) -> SimpleExpr {
    let mut filter = Expr::value(true);
    if !names.prefix.is_empty() {
        // An int4: PostgreSQL has no substr(text, int, bigint).
        let chars = i32::try_from(names.prefix.chars().count()).unwrap_or(i32::MAX);
        let head = Func::cust("substr")
            .arg(Expr::col((document::Entity, document::Column::Name)))
            .arg(1)
            .arg(chars);
        filter = filter.and(ExprTrait::eq(Expr::expr(head), names.prefix.clone()));
    }
    if let Some(exact) = &names.exact {
        filter = filter.and(document::Column::Name.eq(exact.clone()));
    }
    filter
}

/// One change, read value by value: a row whose update is not bytes is left out (the
/// document's next read quarantines it); a date that is not one falls back to the document's.
fn read_change(row: &QueryResult, kind: ChangeKind) -> Option<Change> {
    let seq: Seq = row.try_get("", "seq").ok()?;
    let doc: String = row.try_get("", "name").ok()?;
    let update: Vec<u8> = row.try_get("", "data").ok()?;
    let updated: Option<DateTime<Utc>> = row.try_get("", "updated_at").ok();
    let kind = match (kind, row.try_get::<i16>("", "kind")) {
        (ChangeKind::Update, Ok(KIND_DELETE)) => ChangeKind::Delete,
        (ChangeKind::Update, Ok(KIND_UNDELETE)) => ChangeKind::Undelete,
        (kind, _) => kind,
    };
    let at = match kind {
        ChangeKind::Snapshot => updated,
        _ => row.try_get("", "created_at").ok().or(updated),
    };
    Some(Change {
        seq,
        doc,
        at: at.unwrap_or_default(),
        kind,
        update,
    })
}
