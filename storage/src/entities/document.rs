//! `documents`: one row per document name, holding the compacted snapshot.

use sea_orm::entity::prelude::*;

/// One document: its name and the latest compacted snapshot.
///
/// Separate from the log so compaction rewrites one row instead of the whole history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    /// Surrogate key the log rows reference (cheaper than repeating the name).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Document name, unique, at most 255 bytes.
    #[sea_orm(unique)]
    pub name: String,
    /// Latest compacted state as a Yjs v1 update.
    pub snapshot: Option<Vec<u8>>,
    /// Log position the snapshot covers (0 = none).
    pub snapshot_seq: i64,
    /// Encoding of `snapshot`; 1 = Yjs v1 update. Lets a later format coexist with old rows.
    pub snapshot_format: i32,
    pub created_at: DateTimeUtc,
    /// Bumped by every append (and the row lock it takes orders appends against compaction).
    pub updated_at: DateTimeUtc,
    /// When the document went to the trash (`DELETE /api/docs/{doc}`); NULL while it is served.
    pub deleted_at: Option<DateTimeUtc>,
}

/// Links to the log.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::document_update::Entity")]
    DocumentUpdate,
}

impl Related<super::document_update::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DocumentUpdate.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
