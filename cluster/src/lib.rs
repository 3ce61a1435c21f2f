//! The protocol Plait nodes speak to each other through the database they share, as plain
//! functions and values.
//!
//! Several nodes on one PostgreSQL database hold the same documents; each relays what its own
//! clients do to the others as notifications on one channel (`LISTEN`/`NOTIFY`), and learns from
//! them which documents the others have open. This crate knows the words of that channel and
//! nothing about where they travel: no database, no tasks, no sockets. The time is passed in.
//! `plait-storage` carries the payloads (`pg_bus`), the server acts on them (`cluster`).
//!
//! # Layout
//!
//! - [`event`]: what a node hears ([`event::NodeEvent`]) and what it broadcasts
//!   ([`event::Broadcast`]), with documents named by [`plait_protocol::name::DocName`].
//! - [`payload`]: the text wire format of one notification (at most 7 000 bytes), both ways.
//! - [`signing`]: [`signing::NodeKey`], the MAC that makes a role that can only `NOTIFY` unable to
//!   put content into documents.
//! - [`parts`]: an update too large for one notification travels in numbered parts, joined again
//!   here.
//! - [`membership`]: which other nodes are alive and which documents each has open, so that a node
//!   broadcasts only what another node wants.
//!
//! Architecture Invariant: this crate is sans-IO. It depends on neither tokio nor axum nor
//! sea-orm; everything is a pure function of its inputs, tested (and fuzzed) without a database.

pub mod event;
pub mod membership;
pub mod parts;
pub mod payload;
pub mod signing;

pub use event::{Broadcast, BroadcastKind, NodeEvent, StoredRow};
pub use membership::Membership;
pub use signing::NodeKey;
