//! Reading a document's rows when their values may not have the types the schema says.
//!
//! The database is trusted, but not blindly: SQLite stores any value in any column, so a row
//! written by hand (`INSERT ... VALUES (.., 42, ..)`) can hold an integer where the update's bytes
//! belong, or text where a date does. Read with SeaORM's typed models, one such value fails the
//! whole query, and the document it belongs to could never be loaded again. Here each value is
//! taken on its own: an unreadable update or snapshot is reported (and later quarantined) with
//! its position, an unreadable date or position is logged and replaced, and the rest is served.

use chrono::{DateTime, Utc};
use plait_protocol::session::Refused;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait,
};

use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::Seq;

/// The `documents` row of one document, as far as it could be read.
#[derive(Debug)]
pub(crate) struct Head {
    pub id: i64,
    pub snapshot_seq: Seq,
    pub snapshot: Option<Vec<u8>>,
    /// The snapshot, if its value is not bytes.
    pub unreadable: Option<Refused>,
    /// When the document went to the trash (a value that is not a date reads as not deleted).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The `documents` row named `name`; `for_update` also locks it (PostgreSQL; SQLite's IMMEDIATE
/// transaction already excludes other writers).
pub(crate) async fn head(
    conn: &impl ConnectionTrait,
    name: &str,
    for_update: bool,
) -> Result<Option<Head>, StorageError> {
    let mut query = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::SnapshotSeq)
        .column(document::Column::Snapshot)
        .column(document::Column::DeletedAt)
        .filter(document::Column::Name.eq(name));
    if for_update {
        query = query.lock_exclusive();
    }
    let Some(row) = conn
        .query_one_raw(query.build(conn.get_database_backend()))
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get("", "id")?;
    // Every log row still present is after the real snapshot position, so 0 loses nothing.
    let snapshot_seq = row.try_get::<i64>("", "snapshot_seq").unwrap_or_else(|e| {
        tracing::warn!(doc = name, error = %e, "documents.snapshot_seq is not an integer; reading the whole log");
        0
    });
    let (snapshot, unreadable) = match row.try_get::<Option<Vec<u8>>>("", "snapshot") {
        Ok(snapshot) => (snapshot, None),
        Err(e) => {
            tracing::warn!(doc = name, seq = snapshot_seq, error = %e, "the snapshot's value is not bytes");
            let refused = Refused {
                seq: snapshot_seq,
                snapshot: true,
                reason: format!("the stored snapshot is not bytes: {e}"),
            };
            (None, Some(refused))
        }
    };
    let deleted_at = row
        .try_get::<Option<DateTime<Utc>>>("", "deleted_at")
        .unwrap_or_else(|e| {
            tracing::warn!(doc = name, error = %e, "documents.deleted_at is not a date; reading it as not deleted");
            None
        });
    Ok(Some(Head {
        id,
        snapshot_seq,
        snapshot,
        unreadable,
        deleted_at,
    }))
}

/// The log rows of document `id` with `after < seq (<= up_to)`, ascending, at most `limit`;
/// rows whose update is not bytes come back apart, as refused.
pub(crate) async fn log_rows(
    conn: &impl ConnectionTrait,
    id: i64,
    after: Seq,
    up_to: Option<Seq>,
    limit: Option<u64>,
) -> Result<(Vec<(Seq, Vec<u8>)>, Vec<Refused>), StorageError> {
    let mut query = document_update::Entity::find()
        .select_only()
        .column(document_update::Column::Seq)
        .column(document_update::Column::Data)
        .filter(document_update::Column::DocumentId.eq(id))
        .filter(document_update::Column::Seq.gt(after))
        .order_by_asc(document_update::Column::Seq);
    if let Some(up_to) = up_to {
        query = query.filter(document_update::Column::Seq.lte(up_to));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    let rows = conn
        .query_all_raw(query.build(conn.get_database_backend()))
        .await?;
    Ok(split_rows(&rows))
}

/// Rows of `(seq, data)`, each read on its own.
pub(crate) fn split_rows(rows: &[QueryResult]) -> (Vec<(Seq, Vec<u8>)>, Vec<Refused>) {
    let mut read = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        // `seq` is the primary key: an integer on both databases, whatever was inserted.
        let Ok(seq) = row.try_get::<i64>("", "seq") else {
            continue;
        };
        match row.try_get::<Vec<u8>>("", "data") {
            Ok(data) => read.push((seq, data)),
            Err(e) => unreadable.push(Refused {
                seq,
                snapshot: false,
                reason: format!("the stored update is not bytes: {e}"),
            }),
        }
    }
    (read, unreadable)
}

/// A date column read on its own: `None`, logged, if the value is not a date.
pub(crate) fn date(row: &QueryResult, column: &str, doc: &str) -> Option<DateTime<Utc>> {
    match row.try_get::<DateTime<Utc>>("", column) {
        Ok(date) => Some(date),
        Err(e) => {
            tracing::warn!(doc, column, error = %e, "a stored date is not a date");
            None
        }
    }
}
