//! `quarantined_updates`: where stored updates that cannot be applied are moved (see the entity).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_pk_auto, blob_null, boolean, string_len, text, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuarantinedUpdates {
    Table,
    Id,
    DocumentName,
    Seq,
    IsSnapshot,
    Data,
    Reason,
    QuarantinedAt,
}

const BY_DOCUMENT_INDEX: &str = "idx_quarantined_updates_document_name";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuarantinedUpdates::Table)
                    .if_not_exists()
                    .col(big_pk_auto(QuarantinedUpdates::Id))
                    .col(string_len(QuarantinedUpdates::DocumentName, 255))
                    .col(big_integer(QuarantinedUpdates::Seq))
                    .col(boolean(QuarantinedUpdates::IsSnapshot).default(false))
                    .col(blob_null(QuarantinedUpdates::Data))
                    .col(text(QuarantinedUpdates::Reason))
                    .col(timestamp_with_time_zone(QuarantinedUpdates::QuarantinedAt))
                    .to_owned(),
            )
            .await?;
        // The document's figures count its quarantined rows.
        manager
            .create_index(
                Index::create()
                    .name(BY_DOCUMENT_INDEX)
                    .table(QuarantinedUpdates::Table)
                    .col(QuarantinedUpdates::DocumentName)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QuarantinedUpdates::Table).to_owned())
            .await
    }
}
