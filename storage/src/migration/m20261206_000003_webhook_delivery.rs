//! What the webhook delivery task needs beside the outbox the triggers write
//! (`m20261206_000002_change_triggers`):
//!
//! - `webhook_outbox.first_attempt_ms`: when delivery was first tried, so the retry window
//!   (24 h by default) counts from there, not from the edit (a server down for a day still
//!   retries the events written just before it went down);
//! - `webhook_deliveries`: which receivers have accepted which event, so that with several
//!   `--webhook-url`s a retry goes only to those that have not (one row per event and receiver,
//!   the receiver named by a hash of its URL: a URL may be long and may carry a credential);
//! - two indexes: the due events in the order they are claimed, and each document's events in
//!   order (an event waits for its document's earlier ones).

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string_len};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookOutbox {
    Table,
    FirstAttemptMs,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    EventId,
    Target,
    DeliveredMs,
}

/// Partial indexes, written in SQL both databases take.
const UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_webhook_outbox_due ON webhook_outbox (next_attempt_ms, id) \
     WHERE delivered_ms IS NULL AND failed_ms IS NULL",
    "CREATE INDEX IF NOT EXISTS idx_webhook_outbox_document ON webhook_outbox (document_id, id) \
     WHERE delivered_ms IS NULL AND failed_ms IS NULL",
    "CREATE INDEX IF NOT EXISTS idx_webhook_outbox_delivered ON webhook_outbox (delivered_ms) \
     WHERE delivered_ms IS NOT NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_webhook_outbox_delivered",
    "DROP INDEX IF EXISTS idx_webhook_outbox_document",
    "DROP INDEX IF EXISTS idx_webhook_outbox_due",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager
            .has_column("webhook_outbox", "first_attempt_ms")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookOutbox::Table)
                        .add_column(big_integer_null(WebhookOutbox::FirstAttemptMs))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(big_integer(WebhookDeliveries::EventId))
                    .col(string_len(WebhookDeliveries::Target, 64))
                    .col(big_integer(WebhookDeliveries::DeliveredMs))
                    .primary_key(
                        Index::create()
                            .col(WebhookDeliveries::EventId)
                            .col(WebhookDeliveries::Target),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in DOWN {
            db.execute_unprepared(sql).await?;
        }
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookOutbox::Table)
                    .drop_column(WebhookOutbox::FirstAttemptMs)
                    .to_owned(),
            )
            .await
    }
}
