//! Reading: a document's snapshot and log, its figures, and pages of its log.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use super::{quarantine, tolerant, SeaStore};
use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::{DocStats, Seq, StoredDoc};

impl SeaStore {
    pub(super) async fn load_doc(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        let txn = self.begin_read().await?;
        let Some(head) = tolerant::head(&txn, doc, false).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let (updates, mut unreadable) =
            tolerant::log_rows(&txn, head.id, head.snapshot_seq, None, None).await?;
        txn.commit().await?;
        unreadable.extend(head.unreadable);
        Ok(Some(StoredDoc {
            snapshot: head.snapshot,
            snapshot_seq: head.snapshot_seq,
            updates,
            unreadable,
            deleted_at: head.deleted_at,
        }))
    }

    pub(super) async fn doc_stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        let txn = self.begin_read().await?;
        let query = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .column(document::Column::SnapshotSeq)
            .column_as(
                Expr::cust("CAST(COALESCE(LENGTH(snapshot), 0) AS BIGINT)"),
                "snapshot_bytes",
            )
            .column(document::Column::CreatedAt)
            .column(document::Column::UpdatedAt)
            .filter(document::Column::Name.eq(doc));
        let Some(head) = txn.query_one_raw(query.build(self.backend())).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let id: i64 = head.try_get("", "id")?;
        let snapshot_seq: i64 = head.try_get("", "snapshot_seq").unwrap_or(0);
        let snapshot_bytes: i64 = head.try_get("", "snapshot_bytes").unwrap_or(0);
        let created_at = tolerant::date(&head, "created_at", doc);
        let updated_at = tolerant::date(&head, "updated_at", doc);
        let log: Option<(i64, i64, Option<i64>)> = document_update::Entity::find()
            .select_only()
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "log_updates")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT)"),
                "log_bytes",
            )
            .column_as(document_update::Column::Seq.max(), "last_seq")
            .filter(document_update::Column::DocumentId.eq(id))
            .filter(document_update::Column::Seq.gt(snapshot_seq))
            .into_tuple()
            .one(&txn)
            .await?;
        let quarantined = quarantine::count(&txn, doc).await?;
        txn.commit().await?;
        let (log_updates, log_bytes, last_log_seq) = log.unwrap_or((0, 0, None));
        let last_seq = last_log_seq.unwrap_or(0).max(snapshot_seq);
        Ok(Some(DocStats {
            name: doc.to_owned(),
            log_updates: u64::try_from(log_updates).unwrap_or(0),
            log_bytes: u64::try_from(log_bytes).unwrap_or(0),
            snapshot_bytes: u64::try_from(snapshot_bytes).unwrap_or(0),
            snapshot_seq,
            last_seq,
            created_at,
            // The row only exists because something was appended, so updated_at is a write time.
            last_write_at: updated_at.filter(|_| last_seq > 0),
            quarantined,
        }))
    }

    pub(super) async fn log_page(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        let txn = self.begin_read().await?;
        let Some(head) = tolerant::head(&txn, doc, false).await? else {
            txn.commit().await?;
            return Ok(Vec::new());
        };
        let (rows, _) = tolerant::log_rows(&txn, head.id, after, None, Some(limit)).await?;
        txn.commit().await?;
        Ok(rows)
    }
}
