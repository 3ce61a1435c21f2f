//! Schema migrations (sea-orm-migration), applied by `SeaStore::connect`.

use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tables;
mod m20261206_000001_quarantine;
pub mod m20261206_000002_change_triggers;
mod m20261206_000003_webhook_delivery;
mod m20261206_000004_snapshot_seq_index;
pub mod m20261206_000005_revocations;
pub mod m20261206_000006_documents_as_data;
mod m20261206_000007_history;
pub mod m20261206_000008_history_retention;

/// The ordered list of schema migrations; exists so `connect` can bring any database up to date.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tables::Migration),
            Box::new(m20261206_000001_quarantine::Migration),
            Box::new(m20261206_000002_change_triggers::Migration),
            Box::new(m20261206_000003_webhook_delivery::Migration),
            Box::new(m20261206_000004_snapshot_seq_index::Migration),
            Box::new(m20261206_000005_revocations::Migration),
            Box::new(m20261206_000006_documents_as_data::Migration),
            Box::new(m20261206_000007_history::Migration),
            Box::new(m20261206_000008_history_retention::Migration),
        ]
    }
}
