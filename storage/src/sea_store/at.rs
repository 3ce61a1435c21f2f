//! A document as it was at a position or an instant (`GET .../update?at=`): the nearest state
//! kept at or before the point (a version, the history's base, the snapshot, or nothing) and the
//! update rows after it up to the point, from the history and the log.
//!
//! The *floor* is the lowest position the rows rebuild from: the base's, when the history was
//! pruned; 0 when the history holds the document's rows from its first; else the snapshot's
//! (rows before it were deleted before the history existed, or with retention 0). Below the
//! floor only a version cut exactly there can answer.

use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::projections::{optional_date, Sql};
use super::{past, tolerant, SeaStore};
use crate::error::StorageError;
use crate::history::{At, Past};
use crate::migration::m20261206_000006_documents_as_data::KIND_UPDATE;
use crate::migration::m20261206_000008_history_retention::HISTORY_UPDATE;
use crate::store::Seq;

/// Where a rebuild starts: a whole state (`None`: empty) at a position.
struct Base {
    seq: Seq,
    state: Option<Vec<u8>>,
}

impl SeaStore {
    pub(super) async fn state_at(&self, doc: &str, at: At) -> Result<Option<Past>, StorageError> {
        let txn = self.begin_read().await?;
        let Some(head) = tolerant::head(&txn, doc, false).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        if head.deleted_at.is_some() {
            txn.commit().await?;
            return Ok(Some(Past::Deleted));
        }
        let history_base = past::base(&txn, head.id).await?;
        let floor_base = match history_base {
            Some((seq, state)) => Base {
                seq,
                state: Some(state),
            },
            None if past::has_history(&txn, head.id).await? => Base {
                seq: 0,
                state: None,
            },
            None => Base {
                seq: head.snapshot_seq,
                state: head.snapshot.clone(),
            },
        };
        let seq = match at {
            At::Position(seq) => seq,
            At::Time(time) => {
                // The last row stored by then; none: the floor (what was before is folded).
                // Compared in milliseconds: the history shows a row's time to the millisecond,
                // and that time must include the row (the stored one has more digits).
                let stamps = row_times(&txn, head.id).await?;
                let time = time.timestamp_millis();
                stamps
                    .iter()
                    .filter(|(_, at)| at.is_some_and(|at| at.timestamp_millis() <= time))
                    .map(|(seq, _)| *seq)
                    .max()
                    .unwrap_or(floor_base.seq)
            }
        };
        let version = latest_version(&txn, head.id, seq).await?;
        let base = if seq < floor_base.seq {
            match version {
                Some(v) if v.seq == seq => v,
                _ => {
                    txn.commit().await?;
                    return Ok(Some(Past::Gone {
                        seq,
                        floor: floor_base.seq,
                    }));
                }
            }
        } else {
            // The nearest state at or before the point: fewer rows to apply.
            let mut best = floor_base;
            if head.snapshot_seq <= seq && head.snapshot_seq > best.seq {
                best = Base {
                    seq: head.snapshot_seq,
                    state: head.snapshot,
                };
            }
            match version {
                Some(v) if v.seq > best.seq => v,
                _ => best,
            }
        };
        let rows = rows_between(&txn, head.id, base.seq, seq).await?;
        txn.commit().await?;
        Ok(Some(Past::State {
            seq,
            base: base.state,
            base_seq: base.seq,
            rows,
        }))
    }
}

/// The latest version of document `id` at or before `seq`, with its state.
async fn latest_version(
    txn: &DatabaseTransaction,
    id: i64,
    seq: Seq,
) -> Result<Option<Base>, StorageError> {
    let mut sql = Sql::new("SELECT seq, state FROM document_versions WHERE document_id = ");
    sql.bind(id)
        .push(" AND seq <= ")
        .bind(seq)
        .push(" ORDER BY seq DESC, id DESC LIMIT 1");
    let Some(row) = txn
        .query_one_raw(sql.build(txn.get_database_backend()))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Base {
        seq: row.try_get("", "seq")?,
        state: Some(row.try_get("", "state")?),
    }))
}

/// Every update row of document `id` kept (history and log) with its date.
async fn row_times(
    txn: &DatabaseTransaction,
    id: i64,
) -> Result<Vec<(Seq, Option<chrono::DateTime<chrono::Utc>>)>, StorageError> {
    let mut sql = Sql::new("SELECT seq, created_at FROM document_history WHERE document_id = ");
    sql.bind(id)
        .push(" AND kind = ")
        .bind(HISTORY_UPDATE)
        .push(" UNION ALL SELECT seq, created_at FROM document_updates WHERE document_id = ")
        .bind(id);
    let rows = txn
        .query_all_raw(sql.build(txn.get_database_backend()))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let seq = row.try_get::<i64>("", "seq").ok()?;
            Some((seq, optional_date(row, "created_at")))
        })
        .collect())
}

/// Document `id`'s update rows in `(after, upto]`, from the history and the log, in order.
async fn rows_between(
    txn: &DatabaseTransaction,
    id: i64,
    after: Seq,
    upto: Seq,
) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
    let mut rows = Vec::new();
    for (table, kind) in [
        ("document_history", HISTORY_UPDATE),
        ("document_updates", KIND_UPDATE),
    ] {
        let mut sql = Sql::new(&format!(
            "SELECT seq, data FROM {table} WHERE document_id = "
        ));
        sql.bind(id)
            .push(" AND kind = ")
            .bind(kind)
            .push(" AND seq > ")
            .bind(after)
            .push(" AND seq <= ")
            .bind(upto)
            .push(" ORDER BY seq");
        let found = txn
            .query_all_raw(sql.build(txn.get_database_backend()))
            .await?;
        let (read, unreadable) = tolerant::split_rows(&found);
        if !unreadable.is_empty() {
            tracing::warn!(document_id = id, rows = ?unreadable, "rows that are not bytes are left out of a past state");
        }
        rows.extend(read);
    }
    rows.sort_by_key(|(seq, _)| *seq);
    rows.dedup_by_key(|(seq, _)| *seq);
    Ok(rows)
}
