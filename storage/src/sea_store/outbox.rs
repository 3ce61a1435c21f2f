//! The webhook outbox's queries: close the events whose debounce is over, claim the due ones for
//! one node, record what each receiver accepted, schedule retries, give up, prune.
//!
//! The rows are written by the database's own triggers in the transaction of every append (see
//! `m20261206_000002_change_triggers`); nothing here writes an event, so none can be lost
//! between a commit and its delivery.
//!
//! Every time is the **database's** clock in milliseconds ([`PG_NOW_MS`] / [`SQLITE_NOW_MS`]):
//! the triggers stamp the rows with it, and nodes whose clocks differ still agree on what is due.
//!
//! One node at a time: [`Outbox::claim`] moves a due event's `next_attempt_ms` a *lease* into the
//! future and increments `attempts`, in one statement (on PostgreSQL over rows locked with
//! `FOR UPDATE SKIP LOCKED`, so two nodes claiming at once take different rows). No transaction
//! stays open during the HTTP calls; a node that dies holding a claim loses it when the lease
//! ends and another node retries the event under the same id. The claimed `attempts` is the
//! claim's fencing token: marking an event delivered or scheduling its retry only happens while
//! `attempts` still has that value, so a node whose lease ran out cannot undo the next claim.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait, Value,
};

use crate::entities::{webhook_delivery, webhook_outbox};
use crate::error::StorageError;
use crate::migration::m20261206_000002_change_triggers::{PG_NOW_MS, SQLITE_NOW_MS};

pub use crate::entities::webhook_outbox::Model as OutboxEvent;

/// `kind` of the event written when a document's row is created.
pub const DOCUMENT_CREATED: &str = "document.created";
/// `kind` of the event covering a run of appends to one document.
pub const DOCUMENT_CHANGED: &str = "document.changed";

/// An open `document.changed` event is closed this long after its first append at the latest,
/// however often the document keeps changing (the "at most 10 s under continuous typing").
pub const MAX_OPEN_MS: i64 = 10_000;

/// The longest `last_error` kept: a receiver's error page must not fill the table.
const MAX_ERROR_CHARS: usize = 500;

/// What became of a failed attempt ([`Outbox::retry_or_fail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again from `next_attempt_ms` on.
    Retry { next_attempt_ms: i64 },
    /// The retry window is over: kept as failed, visible to the admin endpoint.
    Failed,
    /// The claim had already passed to another node (its lease ran out); nothing was changed.
    LostClaim,
}

/// The outbox of one SQL database. Cheap to clone (the pool is reference-counted).
#[derive(Clone, Debug)]
pub struct Outbox {
    db: DatabaseConnection,
}

impl Outbox {
    /// The outbox in the database behind `db` (migrated by `SeaStore::connect`).
    pub fn new(db: DatabaseConnection) -> Self {
        Outbox { db }
    }

    fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// `sql` with `{now}` replaced by this database's clock in milliseconds.
    fn sql(&self, sql: &str) -> String {
        let now = match self.backend() {
            DatabaseBackend::Postgres => PG_NOW_MS,
            _ => SQLITE_NOW_MS,
        };
        sql.replace("{now}", now)
    }

    /// A statement whose only bound value is a string (`$1` in `sql`; SQLite spells it `?`).
    /// Every other value in these queries is an integer this module formats itself.
    fn with_text(&self, sql: &str, text: String) -> Statement {
        let sql = self.sql(sql);
        let sql = match self.backend() {
            DatabaseBackend::Postgres => sql,
            _ => sql.replace("$1", "?"),
        };
        Statement::from_sql_and_values(self.backend(), sql, [Value::from(text)])
    }

    /// The database's clock, in milliseconds since the epoch.
    pub async fn now_ms(&self) -> Result<i64, StorageError> {
        let sql = self.sql("SELECT {now} AS now_ms");
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?;
        let row = row.ok_or_else(|| sea_orm::DbErr::RecordNotFound("the clock".into()))?;
        Ok(row.try_get::<i64>("", "now_ms")?)
    }

    /// Closes the open `document.changed` events that are due: quiet for `debounce_ms`, or open
    /// for [`MAX_OPEN_MS`]. A later append then opens a new event. Returns how many closed.
    pub async fn close_due(&self, debounce_ms: i64) -> Result<u64, StorageError> {
        let sql = self.sql(&format!(
            "UPDATE webhook_outbox SET is_open = {false_} \
             WHERE is_open AND (last_ms + {debounce_ms} <= {{now}} OR first_ms + {MAX_OPEN_MS} <= {{now}})",
            false_ = self.false_literal(),
        ));
        let done = self
            .db
            .execute_raw(Statement::from_string(self.backend(), sql))
            .await?;
        Ok(done.rows_affected())
    }

    /// SQLite before 3.23 has no `FALSE`; its booleans are integers anyway.
    fn false_literal(&self) -> &'static str {
        match self.backend() {
            DatabaseBackend::Postgres => "FALSE",
            _ => "0",
        }
    }

    /// Claims up to `limit` due events for this node for `lease_ms`, oldest first, and returns
    /// them with `attempts` already counting this attempt. An event is due when it is closed,
    /// neither delivered nor failed, its `next_attempt_ms` has come, and no earlier event of its
    /// document is still waiting: a document's events go out in order.
    pub async fn claim(&self, limit: u64, lease_ms: i64) -> Result<Vec<OutboxEvent>, StorageError> {
        // SKIP LOCKED: a row another node is claiming right now is left to it, not waited for.
        // Once that node commits, the row's `next_attempt_ms` is in the future, and PostgreSQL
        // re-checks the condition on the row's new version before this statement takes it.
        let lock = match self.backend() {
            DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let sql = self.sql(&format!(
            "UPDATE webhook_outbox \
                SET next_attempt_ms = {{now}} + {lease_ms}, attempts = attempts + 1, \
                    first_attempt_ms = COALESCE(first_attempt_ms, {{now}}) \
              WHERE id IN ( \
                SELECT o.id FROM webhook_outbox o \
                 WHERE NOT o.is_open AND o.delivered_ms IS NULL AND o.failed_ms IS NULL \
                   AND o.next_attempt_ms <= {{now}} \
                   AND NOT EXISTS (SELECT 1 FROM webhook_outbox e \
                                    WHERE e.document_id = o.document_id AND e.id < o.id \
                                      AND e.delivered_ms IS NULL AND e.failed_ms IS NULL) \
                 ORDER BY o.id LIMIT {limit} {lock}) \
              RETURNING *"
        ));
        let mut claimed = webhook_outbox::Entity::find()
            .from_raw_sql(Statement::from_string(self.backend(), sql))
            .all(&self.db)
            .await?;
        claimed.sort_by_key(|e| e.id);
        Ok(claimed)
    }

    /// The receivers (by key) that have already accepted `event_id`.
    pub async fn accepted_by(&self, event_id: i64) -> Result<Vec<String>, StorageError> {
        let rows = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::EventId.eq(event_id))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| r.target).collect())
    }

    /// Records that the receiver `target` accepted `event_id` (a fact, whoever holds the claim).
    pub async fn record_accepted(&self, event_id: i64, target: &str) -> Result<(), StorageError> {
        let sql = format!(
            "INSERT INTO webhook_deliveries (event_id, target, delivered_ms) \
             VALUES ({event_id}, $1, {{now}}) ON CONFLICT (event_id, target) DO NOTHING"
        );
        self.db
            .execute_raw(self.with_text(&sql, target.to_owned()))
            .await?;
        Ok(())
    }

    /// Marks the claimed `event` delivered (every receiver accepted it) and drops its
    /// per-receiver rows. Returns false if the claim had passed to another node meanwhile.
    pub async fn mark_delivered(&self, event: &OutboxEvent) -> Result<bool, StorageError> {
        let txn = self.db.begin().await?;
        let sql = self.sql(&format!(
            "UPDATE webhook_outbox SET delivered_ms = {{now}}, last_error = NULL \
              WHERE id = {id} AND attempts = {attempts} AND delivered_ms IS NULL",
            id = event.id,
            attempts = event.attempts,
        ));
        let done = txn
            .execute_raw(Statement::from_string(self.backend(), sql))
            .await?;
        if done.rows_affected() == 1 {
            webhook_delivery::Entity::delete_many()
                .filter(webhook_delivery::Column::EventId.eq(event.id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// After a failed attempt at the claimed `event`: due again `delay_ms` from now, or, once
    /// `window_ms` has passed since its first attempt, failed for good (kept, with `error`).
    pub async fn retry_or_fail(
        &self,
        event: &OutboxEvent,
        delay_ms: i64,
        window_ms: i64,
        error: &str,
    ) -> Result<AfterFailure, StorageError> {
        let sql = format!(
            "UPDATE webhook_outbox \
                SET last_error = $1, next_attempt_ms = {{now}} + {delay_ms}, \
                    failed_ms = CASE WHEN COALESCE(first_attempt_ms, {{now}}) + {window_ms} <= {{now}} \
                                     THEN {{now}} ELSE NULL END \
              WHERE id = {id} AND attempts = {attempts} \
                AND delivered_ms IS NULL AND failed_ms IS NULL \
              RETURNING next_attempt_ms, failed_ms",
            id = event.id,
            attempts = event.attempts,
        );
        let row = self
            .db
            .query_one_raw(self.with_text(&sql, truncate(error)))
            .await?;
        let Some(row) = row else {
            return Ok(AfterFailure::LostClaim);
        };
        if row.try_get::<Option<i64>>("", "failed_ms")?.is_some() {
            return Ok(AfterFailure::Failed);
        }
        Ok(AfterFailure::Retry {
            next_attempt_ms: row.try_get("", "next_attempt_ms")?,
        })
    }

    /// Deletes delivered events older than `keep_ms` (the table stays bounded; failed events are
    /// kept until an operator requeues them). Returns how many went.
    pub async fn prune_delivered(&self, keep_ms: i64) -> Result<u64, StorageError> {
        let sql = self.sql(&format!(
            "DELETE FROM webhook_outbox \
              WHERE delivered_ms IS NOT NULL AND delivered_ms + {keep_ms} <= {{now}}"
        ));
        let done = self
            .db
            .execute_raw(Statement::from_string(self.backend(), sql))
            .await?;
        Ok(done.rows_affected())
    }

    /// Events given up on, newest first.
    pub async fn failed(&self, limit: u64) -> Result<Vec<OutboxEvent>, StorageError> {
        Ok(webhook_outbox::Entity::find()
            .filter(webhook_outbox::Column::FailedMs.is_not_null())
            .order_by_desc(webhook_outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Events not yet delivered nor failed (open, waiting, or being retried), oldest first.
    pub async fn pending(&self, limit: u64) -> Result<Vec<OutboxEvent>, StorageError> {
        Ok(webhook_outbox::Entity::find()
            .filter(webhook_outbox::Column::DeliveredMs.is_null())
            .filter(webhook_outbox::Column::FailedMs.is_null())
            .order_by_asc(webhook_outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Puts a failed event back in the queue, due now, with a new retry window. Receivers that
    /// had accepted it are not called again. Returns false if no failed event has that id.
    pub async fn requeue(&self, id: i64) -> Result<bool, StorageError> {
        let sql = format!(
            "UPDATE webhook_outbox \
                SET failed_ms = NULL, first_attempt_ms = NULL, next_attempt_ms = 0 \
              WHERE id = {id} AND failed_ms IS NOT NULL"
        );
        let done = self
            .db
            .execute_raw(Statement::from_string(self.backend(), sql))
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// At most [`MAX_ERROR_CHARS`] characters of `error` (cut on a character boundary).
fn truncate(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &error[..at]),
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), 501);
        assert!(cut.ends_with('…'));
    }
}
