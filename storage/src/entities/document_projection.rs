//! `document_projections`: each document as readable data, for SQL readers and search.

use sea_orm::entity::prelude::*;

/// One document's projection: what its log holds, rendered as JSON and plain text.
///
/// Written by the node holding the document a moment after edits settle (see the server's
/// `projection` module); the application's own SQL reads it. The search index (PostgreSQL's
/// generated `search` column, SQLite's `document_search` FTS5 table) follows it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_projections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: i64,
    /// The document's name (as `documents.name`), so a reader needs no join.
    pub name: String,
    /// The log position the projection reflects: every row up to it is in `content`.
    pub seq: i64,
    /// Every root type by name: text as a string, maps as objects, arrays as arrays, XML
    /// fragments as ProseMirror JSON (`jsonb` on PostgreSQL, JSON text on SQLite).
    pub content: Json,
    /// The text of the text and XML roots, blocks on lines of their own.
    pub plain_text: String,
    pub updated_at: DateTimeUtc,
}

/// Links to the document.
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
