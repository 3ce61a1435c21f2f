//! Moving stored updates that cannot be applied out of the log, into `quarantined_updates`.
//!
//! Moved in SQL (`INSERT .. SELECT`, then `DELETE`), not read and written back: a value that is
//! not bytes (the reason it may be here) is kept exactly as it was, whatever its type.

use chrono::{DateTime, Utc};
use plait_protocol::session::Refused;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entities::{document, document_update, quarantined_update};
use crate::error::StorageError;

/// Moves each of `refused` (rows of document `id`, named `name`; or its snapshot) to quarantine
/// with its reason, inside the caller's transaction. A row already gone is skipped.
pub(crate) async fn move_to_quarantine(
    txn: &impl ConnectionTrait,
    id: i64,
    name: &str,
    refused: &[Refused],
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    use quarantined_update::Column as Q;
    let backend = txn.get_database_backend();
    for entry in refused {
        tracing::warn!(
            doc = name,
            seq = entry.seq,
            snapshot = entry.snapshot,
            reason = %entry.reason,
            "moving a stored update that cannot be applied to quarantined_updates"
        );
        let source = if entry.snapshot {
            Query::select()
                .expr(Expr::val(name))
                .expr(Expr::col(document::Column::SnapshotSeq))
                .expr(Expr::val(true))
                .expr(Expr::col(document::Column::Snapshot))
                .expr(Expr::val(entry.reason.as_str()))
                .expr(Expr::val(now))
                .from(document::Entity)
                .and_where(document::Column::Id.eq(id))
                .and_where(document::Column::Snapshot.is_not_null())
                .to_owned()
        } else {
            Query::select()
                .expr(Expr::val(name))
                .expr(Expr::col(document_update::Column::Seq))
                .expr(Expr::val(false))
                .expr(Expr::col(document_update::Column::Data))
                .expr(Expr::val(entry.reason.as_str()))
                .expr(Expr::val(now))
                .from(document_update::Entity)
                .and_where(document_update::Column::DocumentId.eq(id))
                .and_where(document_update::Column::Seq.eq(entry.seq))
                .to_owned()
        };
        let insert = Query::insert()
            .into_table(quarantined_update::Entity)
            .columns([
                Q::DocumentName,
                Q::Seq,
                Q::IsSnapshot,
                Q::Data,
                Q::Reason,
                Q::QuarantinedAt,
            ])
            .select_from(source)
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?
            .to_owned();
        txn.execute_raw(backend.build(&insert)).await?;
        if entry.snapshot {
            document::Entity::update_many()
                .col_expr(document::Column::Snapshot, Expr::value(None::<Vec<u8>>))
                .filter(document::Column::Id.eq(id))
                .exec(txn)
                .await?;
        } else {
            document_update::Entity::delete_many()
                .filter(document_update::Column::DocumentId.eq(id))
                .filter(document_update::Column::Seq.eq(entry.seq))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// How many updates of `name` are in quarantine.
pub(crate) async fn count(conn: &impl ConnectionTrait, name: &str) -> Result<u64, StorageError> {
    use sea_orm::PaginatorTrait;
    Ok(quarantined_update::Entity::find()
        .filter(quarantined_update::Column::DocumentName.eq(name))
        .count(conn)
        .await?)
}
