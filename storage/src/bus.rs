//! How the nodes sharing a database talk to each other: a narrow interface of its own, apart
//! from persistence ([`crate::DocStore`]).
//!
//! The words they exchange are `plait-cluster`'s; this is only the carrier. PostgreSQL carries
//! them as `LISTEN`/`NOTIFY` ([`crate::pg_bus::PgBus`]). SQLite is single-node and has no such
//! channel: its bus only hears what other programs append to the file
//! ([`crate::sqlite_bus::SqliteBus`]). A server without a bus is alone.

use plait_cluster::{Broadcast, NodeEvent};
use plait_protocol::name::DocName;

use crate::error::StorageError;

/// Which documents a node holds (loaded, or being loaded): the rows the other nodes commit to
/// any other document need not be read.
pub type Holds<'a> = dyn Fn(&DocName) -> bool + Send + Sync + 'a;

/// What a node says to the others, and where it hears them.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Opens the connection that hears the other nodes.
    async fn listen(&self) -> Result<Box<dyn Feed>, StorageError>;
    /// Tells the other nodes, at once and before they are stored, of updates this node is
    /// relaying to its clients and of its own clients' presence. Best effort: an update too large
    /// for one notification goes in parts, one over
    /// [`plait_cluster::parts::MAX_BROADCAST_UPDATE`] is skipped (the commit's own notification
    /// brings every update anyway), and presence pieces are cut to fit beforehand (see
    /// [`plait_cluster::payload::broadcast_capacity`]).
    async fn broadcast(&self, items: &[Broadcast]) -> Result<(), StorageError>;
    /// Tells the others that this node is running; with `asks`, that they should answer with
    /// what they have open.
    async fn announce(&self, asks: bool) -> Result<(), StorageError>;
    /// Tells the others that this node has `docs` open (`open`) or no longer has them, so that
    /// they broadcast those only.
    async fn announce_docs(&self, open: bool, docs: &[DocName]) -> Result<(), StorageError>;
    /// Whether other nodes can be on the other end (PostgreSQL), or only other programs
    /// writing to the database (SQLite): then nothing is broadcast.
    fn carries_nodes(&self) -> bool {
        true
    }
}

/// What the other nodes say, as this node hears it.
#[async_trait::async_trait]
pub trait Feed: Send {
    /// Waits for the next event. Committed rows are read only for the documents `holds` says
    /// the node holds (and for documents the feed does not know yet). After an error the feed is
    /// still usable: the next call reconnects and reports [`NodeEvent::Lost`].
    async fn next(&mut self, holds: &Holds<'_>) -> Result<NodeEvent, StorageError>;
}
