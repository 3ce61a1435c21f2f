//! How the rest of the server talks to a document task: the commands, their replies, and the
//! cloneable [`DocHandle`] that carries them.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use bytes::Bytes;
use plait_protocol::error::ProtocolError;
use plait_protocol::name::DocName;
use plait_protocol::session::Session;
use plait_protocol::text::prefix;
use plait_storage::catalog::Projection;
use plait_storage::store::Seq;
use tokio::sync::oneshot;
use yrs::sync::Message;

use super::durable::DocShared;
use super::outbound::{ConnId, OutboundSender};

/// Why the server closes a connection: sent as the WebSocket close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

impl CloseReason {
    /// A close with `code` and `reason`, cut to 120 bytes: a close frame carries at most 123.
    pub fn new(code: u16, reason: impl AsRef<str>) -> Self {
        CloseReason {
            code,
            reason: prefix(reason.as_ref(), 120).to_owned(),
        }
    }
}

/// What the document task needs to talk to one connection.
pub struct ConnLink {
    /// Frames for the socket. Bounded in entries and bytes: a client that cannot keep up fills
    /// it and is disconnected (it reconnects and resyncs) instead of growing memory or silently
    /// missing updates.
    pub outbound: OutboundSender,
    /// Asks the connection to close with a reason (capacity 1: the first reason wins).
    pub close: flume::Sender<CloseReason>,
    /// Read-only connections receive everything but their updates are dropped.
    pub read_only: bool,
    /// How the client learns that its update is stored.
    pub acks: Acks,
    /// Who writes through it (see [`author`]): recorded with every log row holding its updates.
    pub author: Arc<str>,
}

/// An author as `document_updates.authors` records it: `{"sub":"alice","via":"ws"}`, the token's
/// subject (`anonymous` without one) and the protocol (`ws`, `hocuspocus`, `http`).
pub fn author(subject: Option<&str>, via: &str) -> Arc<str> {
    serde_json::json!({ "sub": subject.unwrap_or("anonymous"), "via": via })
        .to_string()
        .into()
}

/// How a connection's client learns that its update is in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// y-websocket: the update itself comes back once committed (the durable echo).
    Echo,
    /// Hocuspocus: one `SyncStatus` per sync step 2 or update the client sent, `applied` once
    /// committed (at once if it changed nothing), refused for a read-only client's changes.
    SyncStatus,
}

/// One connection as the document task sees it.
pub(super) struct Conn {
    pub session: Session,
    pub link: ConnLink,
}

/// The answer to a join: the id the connection uses in later commands.
pub struct Joined {
    pub conn_id: ConnId,
}

/// Result of an update posted over HTTP.
#[derive(Debug)]
pub struct PostOutcome {
    /// `None`: the update changed nothing (already known or empty). Otherwise it was applied and
    /// relayed, and the receiver resolves with the log position once it is in SQL.
    pub durable: Option<oneshot::Receiver<Seq>>,
    /// Part of the update depended on content the document does not have and was dropped.
    pub incomplete: bool,
}

/// The figures of a loaded document that only its task knows, for `GET /api/docs/{doc}`.
#[derive(Debug, Clone, Copy)]
pub struct DocFigures {
    pub connections: usize,
    /// Updates applied in memory but not yet confirmed in SQL.
    pub pending: usize,
}

/// Messages to the document task.
pub enum Command {
    Join {
        link: ConnLink,
        reply: oneshot::Sender<Joined>,
    },
    Messages {
        conn_id: ConnId,
        messages: Vec<Message>,
    },
    Leave {
        conn_id: ConnId,
    },
    PostUpdate {
        update: Bytes,
        /// Who posted it (see [`author`]).
        author: Arc<str>,
        reply: oneshot::Sender<Result<PostOutcome, ProtocolError>>,
    },
    GetState {
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    Figures {
        reply: oneshot::Sender<DocFigures>,
    },
    /// The writer reported commits (see `durable`): act on them. Only a wake-up: when the queue
    /// is full the task is busy anyway and looks after its drain.
    Committed,
    /// An update of another node (see `crate::cluster`): apply it and relay it to every
    /// connection, but do not store it again. If it depends on content this node never heard
    /// of, the document's name goes to `catch_up`, to be read whole from storage.
    FromNode {
        update: Bytes,
        /// Whether it is known stored (a committed row, or read from storage) rather than
        /// broadcast before its commit (see `unconfirmed`).
        stored: bool,
        catch_up: flume::Sender<DocName>,
    },
    /// Another node's clients' presence changed (an awareness update): apply it, and announce it
    /// with this node's next presence tick.
    NodePresence {
        update: Bytes,
    },
    /// Another node opened this document: tell it who of this node's clients is present.
    SharePresence,
    /// Render the document for the projection table (see [`crate::projection`]); `None` when
    /// `when` lets the task keep a rendering it already has due.
    Project {
        when: Render,
        reply: oneshot::Sender<Option<Projection>>,
    },
    /// The document went to the trash (here or on another node): close every connection with
    /// 4410 and stop; the next load finds it deleted.
    Delete,
    /// A stateless message for the document's Hocuspocus connections (`POST .../stateless`, or
    /// another node's).
    Stateless {
        payload: Arc<str>,
    },
}

/// When a document task asked for its projection renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// Now: a search is about to read the table.
    Now,
    /// Only if no rendering is due already: the background sweep, which need not write a
    /// row that the task writes itself within [`MAX_LAG`](crate::projection::MAX_LAG).
    UnlessDue,
}

/// A cloneable handle to a running document task.
#[derive(Clone)]
pub struct DocHandle {
    /// Bounded: a flood of incoming messages pushes back on the sockets that send them.
    pub(super) commands: flume::Sender<Command>,
    pub(super) shared: Arc<DocShared>,
}

/// Returned when the document task is gone (it unloaded or the server is stopping): the caller
/// looks the document up again.
#[derive(Debug, thiserror::Error)]
#[error("document task has stopped")]
pub struct Gone;

impl DocHandle {
    /// Connections attached or attaching (see [`crate::registry::Attached`]).
    pub(crate) fn attached(&self) -> &AtomicUsize {
        &self.shared.attached
    }

    /// True once the task has stopped (unloaded, or died): the handle must not be used again.
    pub fn is_closed(&self) -> bool {
        self.commands.is_disconnected()
    }

    /// Queues a command if there is room, without waiting.
    pub fn try_send(&self, command: Command) -> Result<(), flume::TrySendError<Command>> {
        self.commands.try_send(command)
    }

    pub async fn send(&self, command: Command) -> Result<(), Gone> {
        self.commands.send_async(command).await.map_err(|_| Gone)
    }

    pub async fn join(&self, link: ConnLink) -> Result<Joined, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Join { link, reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn post_update(
        &self,
        update: Bytes,
        author: Arc<str>,
    ) -> Result<Result<PostOutcome, ProtocolError>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::PostUpdate {
            update,
            author,
            reply,
        })
        .await?;
        rx.await.map_err(|_| Gone)
    }

    /// The full state, or None if the document has no content.
    pub async fn state(&self) -> Result<Option<Vec<u8>>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::GetState { reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    /// The document rendered for the projection table, unless `when` leaves it to the task.
    pub async fn project(&self, when: Render) -> Result<Option<Projection>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Project { when, reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    pub async fn figures(&self) -> Result<DocFigures, Gone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Figures { reply }).await?;
        rx.await.map_err(|_| Gone)
    }
}
