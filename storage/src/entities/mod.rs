//! SeaORM entities, one per table (see the migration for the authoritative schema).

pub mod document;
pub mod document_projection;
pub mod document_update;
pub mod quarantined_update;
pub mod revocation;
pub mod webhook_delivery;
pub mod webhook_outbox;
