//! Plait persistence: an append-only log of Yjs updates plus compacted snapshots, stored with
//! SeaORM on SQLite or PostgreSQL, and a write-behind writer that group-commits updates.
//!
//! # Layout
//!
//! - [`store`]: the narrow [`DocStore`] trait the server depends on, and the values it exchanges
//!   ([`StoredDoc`], [`DocStats`], [`NewUpdate`], [`Seq`]). `StoredDoc::replay` (and
//!   [`store::replay_blocking`] off the async workers) rebuilds a document, quarantining what it
//!   refuses instead of failing the document.
//! - [`sea_store`]: [`SeaStore`], the SQL implementation (one code path for both databases).
//! - [`entities`]: SeaORM entities, one per table (`documents`, `document_updates`,
//!   `quarantined_updates`).
//! - [`migration`]: the schema, as sea-orm-migration migrations with `up` and `down`.
//! - [`memory`]: [`MemoryStore`], the same semantics in memory for fast tests.
//! - [`faulty`]: [`FaultyStore`], a wrapper that fails on demand to simulate outages.
//! - [`writer`]: [`Writer`], the write-behind task: batching, retry with backoff, compaction.
//! - [`bus`]: [`Bus`] and [`Feed`], how the nodes sharing a database talk (the words are
//!   `plait-cluster`'s); [`pg_bus`]: [`PgBus`], the PostgreSQL carrier (`NOTIFY`/`LISTEN`, the
//!   log's trigger naming every INSERT); [`sqlite_bus`]: other programs' appends to a SQLite
//!   file, seen through `PRAGMA data_version` ([`own_writes`] tells this process's own apart);
//!   `stored_rows`: reading the rows they name.
//! - [`log_head`]: the highest committed position known, which the change feed waits on.
//! - [`catalog`]: documents as data: the projection (JSON and text in SQL), search, the list,
//!   the trash.
//! - [`history`]: versions of a document (its whole state at a position, kept apart from the
//!   log).
//! - [`changes`]: the change feed over the log (`ChangeLog`), with snapshots where rows were
//!   compacted.
//! - [`check`]: `plait check`'s diagnosis, from a consistent cut (`sea_store::cut`), read-only.
//! - [`unsaved`]: the local file that keeps what shutdown could not store until the next start.
//! - [`error`]: [`StorageError`], the one error type.
//! - [`backoff`]: [`backoff::Backoff`], the doubling wait between retries (the writer, the
//!   server's feed of the other nodes).
//!
//! Architecture Invariant: log positions (`Seq`) are assigned by the database and compaction
//! only folds rows it read from the database, so several nodes can share one database without
//! losing each other's updates.
//!
//! Architecture Invariant: this crate knows nothing about sockets or HTTP.

pub mod backoff;
pub mod bus;
pub mod catalog;
pub mod changes;
pub mod check;
pub mod entities;
pub mod error;
pub mod faulty;
pub mod history;
pub mod log_head;
pub mod memory;
pub mod metrics;
pub mod migration;
pub mod own_writes;
pub mod pg_bus;
pub mod sea_store;
pub mod sqlite_bus;
pub mod store;
mod stored_rows;
pub mod unsaved;
pub mod writer;

pub use bus::{Bus, Feed, Holds};
pub use error::StorageError;
pub use faulty::FaultyStore;
pub use memory::MemoryStore;
pub use pg_bus::PgBus;
pub use sea_store::SeaStore;
pub use store::{DocStats, DocStore, NewUpdate, Seq, StoredDoc};
pub use writer::{OnDurable, Writer, WriterConfig};
