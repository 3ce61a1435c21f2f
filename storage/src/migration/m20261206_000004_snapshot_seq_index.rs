//! An index on `documents.snapshot_seq`: the change feed asks every page for the documents
//! compacted after its cursor (their snapshots stand in for the folded rows), and a node's feed
//! asks the same after a notification that names every document. Without it each such page read
//! every documents row. `snapshot_seq` changes only when a document is compacted, so appends
//! (which touch `updated_at`) do not maintain it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    SnapshotSeq,
}

const INDEX: &str = "idx_documents_snapshot_seq";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Documents::Table)
                    .col(Documents::SnapshotSeq)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Documents::Table).to_owned())
            .await
    }
}
