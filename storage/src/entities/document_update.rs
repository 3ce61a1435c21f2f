//! `document_updates`: the append-only log of Yjs updates.

use sea_orm::entity::prelude::*;

/// One appended Yjs v1 update.
///
/// `seq` is assigned by the database so nodes sharing a database never collide and a CDC reader
/// can resume from any position.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_updates")]
pub struct Model {
    /// Log position (autoincrement; never reused, even after compaction deletes rows).
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub document_id: i64,
    /// Raw Yjs v1 update.
    pub data: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// 0: a Yjs update; 1 and 2: the marker rows of a deletion and an undeletion (an empty
    /// update, so a replay passes over them), which give the trash a position in the change
    /// feed (migration `m20261206_000006_documents_as_data`).
    pub kind: i16,
    /// Who wrote it: a JSON array of `{"sub": ..., "via": ...}`, one per client whose updates
    /// the row merges (NULL: not known, e.g. another program's row).
    pub authors: Option<String>,
}

/// Links to the owning document.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::document::Entity",
        from = "Column::DocumentId",
        to = "super::document::Column::Id",
        on_delete = "Cascade"
    )]
    Document,
}

impl Related<super::document::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Document.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
