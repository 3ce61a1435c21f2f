//! The values a node exchanges with the others: what it broadcasts, and what it hears.

use plait_protocol::name::DocName;

/// Log position, as assigned by the database (`document_updates.seq`).
pub type Seq = i64;

/// What a broadcast carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastKind {
    /// A Yjs v1 update the node is relaying to its own clients (before it is stored).
    Update,
    /// Its own clients' presence states: a y-protocols awareness update (the body of an
    /// awareness message).
    Presence,
    /// A Hocuspocus stateless message for the document's providers (UTF-8 text).
    Stateless,
    /// The document went to the trash: close its connections and stop serving it. The data is
    /// the log position of its deletion (8 bytes, big-endian).
    Deleted,
}

/// One thing a node tells the others at once, not stored.
#[derive(Debug, Clone)]
pub struct Broadcast {
    pub doc: DocName,
    pub kind: BroadcastKind,
    /// The update, or the awareness update.
    pub data: bytes::Bytes,
}

/// What a node hears from the others.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Another node relayed an update to its clients; it is not stored yet (a `Stored` event
    /// follows once it is).
    Update {
        node: String,
        doc: DocName,
        update: Vec<u8>,
    },
    /// Another node's clients' presence changed (see [`BroadcastKind::Presence`]).
    Presence {
        node: String,
        doc: DocName,
        update: Vec<u8>,
    },
    /// A stateless message for the document's Hocuspocus providers on every node.
    Stateless {
        node: String,
        doc: DocName,
        payload: String,
    },
    /// The document was deleted (by a node, through `DELETE /api/docs/{doc}`).
    Deleted { node: String, doc: DocName },
    /// Another node announced itself: every few seconds while it runs, and asking the others to
    /// answer with what they have open when it starts or has lost what it knew of them.
    Hello { node: String, asks: bool },
    /// Another node loaded (`open: true`) or unloaded documents.
    Interest {
        node: String,
        open: bool,
        docs: Vec<DocName>,
    },
    /// Rows were committed to the log: by another node, or by another program (`plait_write`,
    /// a raw INSERT, on PostgreSQL or SQLite).
    Stored {
        /// The node that wrote them; `None` for another program.
        node: Option<String>,
        /// The rows, in log order.
        rows: Vec<StoredRow>,
        /// Documents some of whose rows were gone before they could be read (a compaction folded
        /// them into the snapshot): read these documents whole.
        reload: Vec<DocName>,
    },
    /// A subject's tokens issued before `at_ms` (milliseconds since the Unix epoch) were revoked,
    /// by any node or program (a row in `revocations`).
    Revoked { subject: String, at_ms: i64 },
    /// The connection that hears the others was lost and made again: what was said in between
    /// is unknown, so every document in memory must catch up from storage.
    Lost,
}

impl NodeEvent {
    /// The node it comes from (`None` for [`NodeEvent::Lost`] and rows another program wrote).
    pub fn node(&self) -> Option<&str> {
        match self {
            NodeEvent::Update { node, .. }
            | NodeEvent::Presence { node, .. }
            | NodeEvent::Stateless { node, .. }
            | NodeEvent::Deleted { node, .. }
            | NodeEvent::Hello { node, .. }
            | NodeEvent::Interest { node, .. } => Some(node),
            NodeEvent::Stored { node, .. } => node.as_deref(),
            NodeEvent::Lost | NodeEvent::Revoked { .. } => None,
        }
    }
}

/// One row another node appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub doc: DocName,
    /// The row's log position.
    pub seq: Seq,
    /// The Yjs v1 update.
    pub data: Vec<u8>,
}

/// A name for this process among the nodes sharing a database, so that a node skips its own
/// notifications. Unique enough: the process id and the start time in nanoseconds, in hex.
pub fn node_id(process: u32, start_nanos: u128) -> String {
    format!("{process:x}-{start_nanos:x}")
}
