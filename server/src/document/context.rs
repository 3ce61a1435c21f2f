//! What a document task needs from its surroundings.

use std::sync::Arc;
use std::time::Duration;

use plait_protocol::name::DocName;
use plait_storage::writer::Writer;
use tokio_util::sync::CancellationToken;

use crate::cluster::broadcaster::Broadcaster;
use crate::projection::Projector;

/// What the document task needs from its surroundings.
pub struct DocContext {
    pub name: DocName,
    pub writer: Writer,
    pub idle_unload: Duration,
    /// Cancelled when the server stops: close every connection.
    pub shutdown: CancellationToken,
    /// Other nodes share the database: tell them of each drain's updates as they are relayed.
    pub broadcaster: Option<Broadcaster>,
    /// Renders the document into the projection table a moment after its edits settle (none
    /// for a store without one).
    pub projector: Option<Arc<Projector>>,
    /// Called once the task decided to unload; removes the registry entry. Returns false if the
    /// entry must stay (someone attached meanwhile).
    pub unregister: Box<dyn Fn() -> bool + Send + Sync>,
}
