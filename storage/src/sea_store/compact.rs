//! Compaction: the snapshot and the log rows up to P folded into a new snapshot at P, in one
//! transaction, from what is in SQL; what cannot be folded is moved to quarantine first, and the
//! folded rows move to the history (`past`) unless `--history-retention` is 0.

use chrono::Utc;
use plait_protocol::session::Refused;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait,
};

use super::{past, quarantine, tolerant, SeaStore, SNAPSHOT_FORMAT_V1};
use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::migration::m20261206_000006_documents_as_data::KIND_UPDATE;
use crate::store::{rebuild_blocking, Seq, StoredDoc, IN_FLIGHT};

impl SeaStore {
    pub(super) async fn compact_doc(&self, doc: &str) -> Result<u64, StorageError> {
        let txn = self.begin_write().await?;
        // FOR UPDATE: waits for in-flight appends to this document (they hold the row lock from
        // touch_documents) and keeps a second compaction from reading a stale snapshot.
        let Some(head) = tolerant::head(&txn, doc, true).await? else {
            txn.commit().await?;
            return Ok(0);
        };
        let snapshot_bytes = head.snapshot.as_ref().map_or(0, |s| s.len() as u64);
        if head.deleted_at.is_some() {
            // The trash keeps a document as it was deleted: its log and its marker row in the
            // change feed, until an undelete or the purge.
            txn.commit().await?;
            return Ok(snapshot_bytes);
        }
        // The position folded to is the last *update* row's: the trash's marker rows stay in the
        // log (see below), so no snapshot shares a position with one.
        let Some(last_update) = last_update(&txn, head.id, head.snapshot_seq).await? else {
            txn.commit().await?;
            return Ok(snapshot_bytes);
        };
        let mut up_to = last_update;
        let mut tries = 0;
        // Moved into the first pass's rebuild; a retry (rare) reads it again.
        let mut snapshot = head.snapshot;
        let (upto, rebuilt) = loop {
            let (rows, mut unreadable) =
                tolerant::log_rows(&txn, head.id, head.snapshot_seq, Some(up_to), None).await?;
            let last = rows.last().map(|r| r.0);
            let last_unreadable = unreadable.iter().map(|r| r.seq).max();
            let Some(upto) = last.max(last_unreadable) else {
                txn.commit().await?;
                return Ok(snapshot_bytes);
            };
            unreadable.extend(head.unreadable.iter().cloned());
            let snapshot = match snapshot.take() {
                Some(snapshot) => Some(snapshot),
                None if tries > 0 => snapshot_again(&txn, doc).await?,
                None => None,
            };
            let stored = StoredDoc {
                snapshot,
                snapshot_seq: head.snapshot_seq,
                updates: rows,
                unreadable,
                deleted_at: head.deleted_at,
            };
            // Tens of milliseconds of CPU for a large document: off the async threads, so the
            // documents' tasks keep relaying meanwhile.
            let rebuilt = rebuild_blocking(stored).await?;
            // A row whose dependency is still on its way to another node's commit is not
            // folded, nor anything after it (see `IN_FLIGHT`).
            let waiting = in_flight(&txn, doc, &rebuilt.incomplete).await?;
            match waiting.first() {
                None => break (upto, rebuilt),
                Some(&first) if tries < FOLD_TRIES && first > head.snapshot_seq + 1 => {
                    tries += 1;
                    up_to = first - 1;
                }
                Some(_) => {
                    txn.commit().await?;
                    return Ok(snapshot_bytes);
                }
            }
        };
        let keep = self.keeps_history();
        // The replaced snapshot becomes the history's base when rows before it are gone and
        // the history holds nothing yet (see `past::keep_folded`).
        let base = if keep && head.snapshot_seq > 0 && !past::has_history(&txn, head.id).await? {
            snapshot_again(&txn, doc).await?
        } else {
            None
        };
        let after = head.snapshot_seq;
        if rebuilt.has_rejects() {
            // Kept, not folded away: what the snapshot cannot hold goes to quarantine first.
            let rejects = rejects(&rebuilt.refused, &rebuilt.incomplete);
            quarantine::move_to_quarantine(&txn, head.id, doc, &rejects, Utc::now()).await?;
        }
        let bytes = rebuilt.state.len() as u64;
        document::Entity::update_many()
            .col_expr(document::Column::Snapshot, Expr::value(rebuilt.state))
            .col_expr(document::Column::SnapshotSeq, Expr::value(upto))
            .col_expr(
                document::Column::SnapshotFormat,
                Expr::value(SNAPSHOT_FORMAT_V1),
            )
            .filter(document::Column::Id.eq(head.id))
            .exec(&txn)
            .await?;
        if keep {
            past::keep_folded(&txn, head.id, after, upto, base).await?;
        } else {
            past::forget(&txn, head.id).await?;
        }
        // Only rows this transaction read (seq <= P) go: rows other nodes append later survive.
        // The trash's marker rows stay: they are the change feed's record of a deletion and an
        // undeletion, which no snapshot holds (an empty update each; a load skips them).
        document_update::Entity::delete_many()
            .filter(document_update::Column::DocumentId.eq(head.id))
            .filter(document_update::Column::Seq.lte(upto))
            .filter(document_update::Column::Kind.eq(KIND_UPDATE))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(bytes)
    }
}

/// How many times a compaction moves its end back before a row in flight (a row before it may
/// depend on one after it), then leaves the log as it is until the next compaction.
const FOLD_TRIES: usize = 3;

/// The rows of `incomplete` (of document `doc`) younger than [`IN_FLIGHT`], ascending. A row
/// whose date cannot be read counts as old.
async fn in_flight(
    txn: &DatabaseTransaction,
    doc: &str,
    incomplete: &[Seq],
) -> Result<Vec<Seq>, StorageError> {
    if incomplete.is_empty() {
        return Ok(Vec::new());
    }
    let rows = document_update::Entity::find()
        .select_only()
        .column(document_update::Column::Seq)
        .column(document_update::Column::CreatedAt)
        .filter(document_update::Column::Seq.is_in(incomplete.iter().copied()))
        .build(txn.get_database_backend());
    let rows = txn.query_all_raw(rows).await?;
    let since = Utc::now() - IN_FLIGHT;
    let mut young: Vec<Seq> = rows
        .iter()
        .filter_map(|row| {
            let seq = row.try_get::<i64>("", "seq").ok()?;
            let created = tolerant::date(row, "created_at", doc)?;
            (created > since).then_some(seq)
        })
        .collect();
    young.sort_unstable();
    Ok(young)
}

/// The document's snapshot read again in the compaction's transaction (the first read was moved
/// into a rebuild): the row is locked, so it is the same value.
async fn snapshot_again(
    txn: &DatabaseTransaction,
    doc: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(tolerant::head(txn, doc, false)
        .await?
        .and_then(|head| head.snapshot))
}

/// The highest position of an update row (not a trash marker) of document `id` after `after`.
async fn last_update(
    txn: &DatabaseTransaction,
    id: i64,
    after: Seq,
) -> Result<Option<Seq>, StorageError> {
    let last: Option<Option<Seq>> = document_update::Entity::find()
        .select_only()
        .column_as(document_update::Column::Seq.max(), "last")
        .filter(document_update::Column::DocumentId.eq(id))
        .filter(document_update::Column::Seq.gt(after))
        .filter(document_update::Column::Kind.eq(KIND_UPDATE))
        .into_tuple()
        .one(txn)
        .await?;
    Ok(last.flatten())
}

/// The rows a rebuild could not apply, with those left incomplete, as one list to quarantine.
pub(crate) fn rejects(refused: &[Refused], incomplete: &[Seq]) -> Vec<Refused> {
    let mut all = refused.to_vec();
    all.extend(incomplete.iter().map(|&seq| Refused {
        seq,
        snapshot: false,
        reason: "depends on content that no stored update holds".to_owned(),
    }));
    all
}
