//! What the other nodes say, handed to this node's documents: their updates and their clients'
//! presence, applied and relayed here without being stored again.
//!
//! Above the document tasks and the registry: it drives documents through their public handle.
//! Two tasks. The feed task takes the other nodes' notifications in the order they were sent and
//! never waits on a document (one feed serves every document, and PostgreSQL fails every node's
//! commits once a listener falls far enough behind). The catch-up task (`catch_up`) reads whole
//! documents from storage when the feed may have missed something.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plait_cluster::NodeEvent;
use plait_protocol::name::DocName;
use plait_storage::backoff::Backoff;
use plait_storage::bus::{Bus, Feed};
use plait_storage::store::DocStore;
use tracing::{info, warn};

use super::broadcaster::Broadcaster;
use crate::auth::revocations::Revocations;
use crate::document::Command;
use crate::registry::{Lookup, Registry};

/// The first wait after a failure of the feed or of a catch-up read (`catch_up`); it doubles up
/// to 5 s.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the feed task needs.
pub(super) struct Inbound {
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<Registry>,
    /// Revocations any node or program adds (closing the subject's connections here).
    pub revocations: Arc<Revocations>,
    /// Where revocations said while the feed was down are read again.
    pub store: Arc<dyn DocStore>,
    pub broadcaster: Broadcaster,
    /// Documents to read whole (see [`catch_up_task`]).
    pub catch_up: flume::Sender<DocName>,
}

impl Inbound {
    /// Hears the other nodes until the task is dropped (at shutdown).
    pub(super) async fn run(&self, mut feed: Option<Box<dyn Feed>>) {
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            if feed.is_none() {
                match self.bus.listen().await {
                    Ok(connected) => {
                        info!("listening for other nodes' updates again");
                        feed = Some(connected);
                        self.rejoin().await;
                    }
                    Err(error) => {
                        warn!(%error, "cannot listen for other nodes' updates; retrying");
                        tokio::time::sleep(backoff.failed()).await;
                        continue;
                    }
                }
            }
            let Some(current) = feed.as_mut() else {
                continue;
            };
            let registry = &self.registry;
            let event = current.next(&|doc| registry.holds(doc)).await;
            match event {
                Ok(event) => {
                    backoff.succeeded();
                    self.heard(&event).await;
                    self.act_on(event).await;
                }
                Err(error) => {
                    // The feed reconnects on its next call and then reports `Lost`.
                    warn!(%error, "listening for other nodes' updates failed; retrying");
                    tokio::time::sleep(backoff.failed()).await;
                }
            }
        }
    }

    /// Notes that the event's node is alive; a node heard for the first time (or asking) is told
    /// at once of this node and what it has open, not at the next announcement.
    async fn heard(&self, event: &NodeEvent) {
        let Some(node) = event.node() else {
            return;
        };
        let asks = matches!(event, NodeEvent::Hello { asks: true, .. });
        let new = self.broadcaster.members().heard(node, Instant::now());
        if new {
            info!(node = %node, "another node shares this database");
        }
        if new || asks {
            self.introduce().await;
        }
    }

    async fn act_on(&self, event: NodeEvent) {
        match event {
            NodeEvent::Hello { .. } => {}
            NodeEvent::Interest { node, open, docs } => {
                self.broadcaster.members().interest(&node, open, &docs);
                if open {
                    self.share_presence(&docs);
                }
            }
            NodeEvent::Update { doc, update, .. } => {
                self.deliver(&doc, Bytes::from(update), false);
            }
            NodeEvent::Revoked { subject, at_ms } => {
                self.revocations.revoke(&subject, at_ms);
            }
            NodeEvent::Presence { doc, update, .. } => {
                self.deliver_presence(&doc, Bytes::from(update));
            }
            NodeEvent::Stateless { doc, payload, .. } => {
                if let Some(handle) = self.registry.running(&doc) {
                    let payload = payload.into();
                    let _ = handle.try_send(Command::Stateless { payload });
                }
            }
            NodeEvent::Deleted { doc, .. } => {
                // Waiting for a load under way: it may have read the document before the
                // deletion committed.
                if let Some(handle) = self.registry.loaded(&doc).await {
                    let _ = handle.send(Command::Delete).await;
                }
            }
            NodeEvent::Stored { rows, reload, .. } => {
                for row in rows {
                    self.deliver(&row.doc, Bytes::from(row.data), true);
                }
                for doc in reload {
                    let _ = self.catch_up.send(doc);
                }
            }
            NodeEvent::Lost => {
                warn!("lost the connection that hears other nodes' updates; catching up");
                self.reload_revocations().await;
                self.rejoin().await;
            }
        }
    }

    /// Reads every revocation again: one added while the feed was down was not heard.
    async fn reload_revocations(&self) {
        let Some(log) = self.store.revocation_log() else {
            return;
        };
        match log.latest().await {
            Ok(latest) => {
                for (subject, at) in latest {
                    self.revocations.revoke(&subject, at);
                }
            }
            Err(error) => warn!(%error, "could not read the revocations again"),
        }
    }

    /// Hands an update to its document if it is loaded here, without waiting. A document whose
    /// queue is full, or that is still loading, is read whole by the catch-up task instead, once
    /// it has room or has loaded: that read holds everything stored, and an update not stored
    /// yet arrives again with its commit's notification. A document unloaded needs nothing,
    /// since its next load reads the database. `stored`: the update is a committed row, not a
    /// broadcast made before its commit (see `document::unconfirmed`).
    fn deliver(&self, doc: &DocName, update: Bytes, stored: bool) {
        match self.registry.lookup(doc) {
            Lookup::Loaded(handle) => {
                let catch_up = self.catch_up.clone();
                let command = Command::FromNode {
                    update,
                    stored,
                    catch_up,
                };
                if let Err(flume::TrySendError::Full(_)) = handle.try_send(command) {
                    let _ = self.catch_up.send(doc.clone());
                }
            }
            Lookup::Loading => {
                let _ = self.catch_up.send(doc.clone());
            }
            Lookup::Absent => {}
        }
    }

    /// Hands another node's presence piece to its document if it is loaded here. Never waits: a
    /// full queue skips it (its clients renew their states every 15 s), so a busy document
    /// cannot hold up every other document's updates.
    fn deliver_presence(&self, doc: &DocName, update: Bytes) {
        if let Some(handle) = self.registry.running(doc) {
            let _ = handle.try_send(Command::NodePresence { update });
        }
    }

    /// Another node opened `docs`: those loaded here tell it who of their clients is present,
    /// rather than leave its clients without them until their next renewal.
    fn share_presence(&self, docs: &[DocName]) {
        for doc in docs {
            if let Some(handle) = self.registry.running(doc) {
                let _ = handle.try_send(Command::SharePresence);
            }
        }
    }

    /// After a time without the feed: what the others opened and closed meanwhile is unknown,
    /// so ask them again, and read every loaded document whole.
    pub(super) async fn rejoin(&self) {
        self.broadcaster.members().forget_all();
        let _ = self.bus.announce(true).await;
        for name in self.registry.loaded_names() {
            let _ = self.catch_up.send(name);
        }
    }

    /// Tells the others that this node runs and which documents it has open.
    async fn introduce(&self) {
        let _ = self.bus.announce(false).await;
        let open = self.registry.loaded_names();
        let _ = self.bus.announce_docs(true, &open).await;
    }
}
