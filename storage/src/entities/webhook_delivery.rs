//! `webhook_deliveries`: which webhook receivers have accepted which event.

use sea_orm::entity::prelude::*;

/// One receiver's acceptance of one event. With several `--webhook-url`s an event is delivered
/// once every receiver has accepted it, and a retry goes only to those without a row here.
/// The rows of an event go when it is marked delivered.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// `webhook_outbox.id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: i64,
    /// The receiver: a hash of its URL (the server's `webhooks::config::target_key`), never
    /// the URL itself, which may carry a credential.
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    /// When it accepted (milliseconds since the epoch, the database's clock).
    pub delivered_ms: i64,
}

/// No relations: rows are deleted with their event by the outbox queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
