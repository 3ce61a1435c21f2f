//! Initial schema: `documents` (snapshot per document) and `document_updates` (the log).
//!
//! No backend-specific branch is needed: the schema helpers map `big_pk_auto` to
//! `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite (AUTOINCREMENT matters: without it SQLite may
//! reuse the seq of a row compaction deleted, which would hide the new row behind the snapshot)
//! and to `bigserial` on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_pk_auto, blob, blob_null, integer, string_len_uniq, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    Name,
    Snapshot,
    SnapshotSeq,
    SnapshotFormat,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DocumentUpdates {
    Table,
    Seq,
    DocumentId,
    Data,
    CreatedAt,
}

const UPDATES_BY_DOC_INDEX: &str = "idx_document_updates_document_id_seq";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Documents::Id))
                    .col(string_len_uniq(Documents::Name, 255))
                    .col(blob_null(Documents::Snapshot))
                    .col(big_integer(Documents::SnapshotSeq).default(0))
                    .col(integer(Documents::SnapshotFormat).default(1))
                    .col(timestamp_with_time_zone(Documents::CreatedAt))
                    .col(timestamp_with_time_zone(Documents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DocumentUpdates::Table)
                    .if_not_exists()
                    .col(big_pk_auto(DocumentUpdates::Seq))
                    .col(big_integer(DocumentUpdates::DocumentId))
                    .col(blob(DocumentUpdates::Data))
                    .col(timestamp_with_time_zone(DocumentUpdates::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_document_updates_document_id")
                            .from(DocumentUpdates::Table, DocumentUpdates::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // load/compact/updates_after all ask for "this document's rows in seq order".
        manager
            .create_index(
                Index::create()
                    .name(UPDATES_BY_DOC_INDEX)
                    .table(DocumentUpdates::Table)
                    .col(DocumentUpdates::DocumentId)
                    .col(DocumentUpdates::Seq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(UPDATES_BY_DOC_INDEX)
                    .table(DocumentUpdates::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentUpdates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Documents::Table).to_owned())
            .await
    }
}
