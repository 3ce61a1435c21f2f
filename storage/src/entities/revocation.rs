//! `revocations`: subjects whose earlier tokens no longer count.

use sea_orm::entity::prelude::*;

/// One revocation: tokens of `subject` issued before `revoked_at_ms` are refused from then on.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revocations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A token's `sub`.
    pub subject: String,
    /// Milliseconds since the Unix epoch, by the database's clock unless the writer gave one.
    pub revoked_at_ms: i64,
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
