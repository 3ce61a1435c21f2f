//! `webhook_outbox`: the events to deliver to the webhook receivers, written by the database's
//! own triggers in the transaction that appended to the log (see the migration
//! `m20261206_000002_change_triggers`).

use sea_orm::entity::prelude::*;

/// One event. `document.changed` rows stay open (`is_open`, at most one per document) while
/// appends widen their range; the webhook task closes them after the debounce and delivers them.
/// Times are milliseconds since the epoch, as the database's clock says them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_outbox")]
pub struct Model {
    /// Also the event's stable `webhook-id` (`evt_<id>`) across retries.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_id: i64,
    pub doc_name: String,
    /// `document.changed` or `document.created`.
    pub kind: String,
    /// The log positions the event covers (0 for `document.created`).
    pub first_seq: i64,
    pub last_seq: i64,
    /// How many log rows it covers.
    pub updates: i64,
    /// When the first and the latest of its appends happened.
    pub first_ms: i64,
    pub last_ms: i64,
    /// Still taking appends (not yet due for delivery).
    pub is_open: bool,
    /// Delivery attempts claimed so far. Also the claim's fencing token: a node acts on its
    /// claim only while `attempts` is still the value its claim set (see `sea_store::outbox`).
    pub attempts: i64,
    /// Due from this time on; while claimed, when the claim's lease ends.
    pub next_attempt_ms: i64,
    pub delivered_ms: Option<i64>,
    /// Given up on (after the retry window); kept to be seen.
    pub failed_ms: Option<i64>,
    pub last_error: Option<String>,
    /// When delivery was first tried: the retry window counts from here (added by
    /// `m20261206_000003_webhook_delivery`).
    pub first_attempt_ms: Option<i64>,
}

/// No relations: the name is copied so an event outlives its document.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
