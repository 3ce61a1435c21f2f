//! `quarantined_updates`: stored updates that could not be applied, moved out of the log.

use sea_orm::entity::prelude::*;

/// One update (or snapshot) taken out of a document's log because it does not decode, fails
/// the checks every update passes, or depends on content no stored row holds.
///
/// Keyed by the document's *name*, not its id, and without a foreign key: what is kept here
/// outlives a document that is deleted, and an operator can read it without joining.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quarantined_updates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub document_name: String,
    /// The row's log position; for a snapshot, the position it covered.
    pub seq: i64,
    /// Whether it was the document's snapshot rather than a log row.
    pub is_snapshot: bool,
    /// The stored bytes, as they were (NULL if there were none).
    pub data: Option<Vec<u8>>,
    /// Why it was taken out.
    pub reason: String,
    pub quarantined_at: DateTimeUtc,
}

/// No relations: see the struct's documentation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
