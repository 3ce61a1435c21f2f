//! What a node tells the other nodes, as it happens: the updates its documents relay, its
//! clients' presence, and which documents it opens and closes.
//!
//! Below the document tasks: they hold a [`Broadcaster`] and call it on every drain, so it
//! imports nothing of theirs. It never waits: when the publisher task is behind, an update is
//! skipped and the other nodes get it from the commit's notification; a presence piece is
//! skipped, and the client's next renewal (every 15 s) brings it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use plait_cluster::membership::{Membership, HELLO_EVERY};
use plait_cluster::payload::broadcast_capacity;
use plait_cluster::{Broadcast, BroadcastKind};
use plait_protocol::name::DocName;
use plait_storage::bus::Bus;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Updates and presence pieces waiting to be broadcast at most; past it they are skipped: the
/// commit's notification brings an update a little later anyway, and presence is renewed.
const QUEUE: usize = 4096;
/// Items per broadcast call at most (one round trip).
const BATCH: usize = 256;

/// What documents use to tell the other nodes of what they relay, as they relay it, of their own
/// clients' presence, and which documents this node has open. One pointer: every loaded
/// document holds a clone.
#[derive(Clone)]
pub struct Broadcaster(Arc<Shared>);

struct Shared {
    queue: flume::Sender<Broadcast>,
    /// Documents opened (true) and closed, for the publisher to announce.
    interest: flume::Sender<(DocName, bool)>,
    /// The other nodes and what they have open: written by the feed task, read on every drain.
    /// A std mutex: every critical section is a map lookup or update, never an `.await`.
    members: Mutex<Membership>,
}

impl Broadcaster {
    /// The handle and the task that publishes what it is given through `bus` (and announces this
    /// node every [`HELLO_EVERY`]) until `shutdown`.
    pub fn start(bus: Arc<dyn Bus>, shutdown: CancellationToken) -> Broadcaster {
        let (queue, published) = flume::bounded(QUEUE);
        let (interest, changes) = flume::unbounded();
        tokio::spawn(publish_task(bus, published, changes, shutdown));
        Broadcaster(Arc::new(Shared {
            queue,
            interest,
            members: Mutex::new(Membership::default()),
        }))
    }

    /// The other nodes and what they have open (the feed task keeps it current).
    pub fn members(&self) -> MutexGuard<'_, Membership> {
        self.0
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `update` of `doc` is being relayed to this node's clients.
    pub fn update(&self, doc: &DocName, update: Bytes) {
        if self.wanted(doc) {
            let kind = BroadcastKind::Update;
            let _ = self.0.queue.try_send(Broadcast {
                doc: doc.clone(),
                kind,
                data: update,
            });
        }
    }

    /// A stateless message for `doc`'s Hocuspocus providers on the nodes that have it open; one
    /// too large for a notification is not sent (the caller refuses those).
    pub fn stateless(&self, doc: &DocName, payload: &str) {
        if self.wanted(doc) {
            let _ = self.0.queue.try_send(Broadcast {
                doc: doc.clone(),
                kind: BroadcastKind::Stateless,
                data: Bytes::copy_from_slice(payload.as_bytes()),
            });
        }
    }

    /// `doc` went to the trash (at log position `seq`): the nodes that have it open close it.
    pub fn deleted(&self, doc: &DocName, seq: i64) {
        if self.wanted(doc) {
            let _ = self.0.queue.try_send(Broadcast {
                doc: doc.clone(),
                kind: BroadcastKind::Deleted,
                data: Bytes::copy_from_slice(&seq.to_be_bytes()),
            });
        }
    }

    /// Whether another node has `doc` open, so that what happens to it here is worth telling.
    pub fn wanted(&self, doc: &DocName) -> bool {
        self.members().wants(doc)
    }

    /// The most bytes one presence piece of `doc` may hold (see [`Broadcaster::presence`]).
    pub fn presence_capacity(doc: &DocName) -> usize {
        broadcast_capacity(doc.as_str().len())
    }

    /// Presence pieces of `doc`'s own clients (awareness updates of at most
    /// [`Broadcaster::presence_capacity`] bytes), for the other nodes that have it open.
    pub fn presence(&self, doc: &DocName, pieces: Vec<Vec<u8>>) {
        if !self.wanted(doc) {
            return;
        }
        for piece in pieces {
            let kind = BroadcastKind::Presence;
            let item = Broadcast {
                doc: doc.clone(),
                kind,
                data: Bytes::from(piece),
            };
            let _ = self.0.queue.try_send(item);
        }
    }

    /// This node loaded (`open`) or unloaded `doc`. Alone it tells nobody: a node that appears
    /// later is told of every open document when it is first heard.
    pub fn opened(&self, doc: &DocName, open: bool) {
        if self.members().other_nodes(Instant::now()) > 0 {
            let _ = self.0.interest.send((doc.clone(), open));
        }
    }

    /// How many other nodes were heard from lately.
    pub fn other_nodes(&self) -> usize {
        self.members().other_nodes(Instant::now())
    }

    /// How many other nodes have `doc` open.
    pub fn open_elsewhere(&self, doc: &DocName) -> usize {
        self.members().open_elsewhere(doc)
    }
}

/// Publishes what the documents relay, many items per round trip, and announces this node every
/// [`HELLO_EVERY`].
async fn publish_task(
    bus: Arc<dyn Bus>,
    published: flume::Receiver<Broadcast>,
    interest: flume::Receiver<(DocName, bool)>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let start = tokio::time::Instant::now() + HELLO_EVERY;
    let mut hello = tokio::time::interval_at(start, HELLO_EVERY);
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hello.tick() => {
                // A failure shows in the writer and /readyz; the next tick tries again.
                let _ = bus.announce(false).await;
                continue;
            }
            change = interest.recv_async() => {
                let Ok(change) = change else { return };
                announce_interest(bus.as_ref(), change, &interest).await;
                continue;
            }
            first = published.recv_async() => match first {
                Ok(first) => first,
                Err(_) => return,
            },
        };
        // What the other documents relay in the next moment goes in the same round trip: one
        // per drain cost the node as much CPU as all its relaying.
        tokio::task::yield_now().await;
        let batch: Vec<Broadcast> = std::iter::once(first)
            .chain(published.try_iter().take(BATCH - 1))
            .collect();
        match bus.broadcast(&batch).await {
            Ok(()) if failing => {
                failing = false;
                info!("telling other nodes of live updates again");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                // Logged once per outage: the writer and /readyz report the database already.
                failing = true;
                warn!(%error, "cannot tell other nodes of live updates; they get them once stored");
            }
            Err(_) => {}
        }
    }
}

/// Announces `first` and every change queued behind it; only each document's last one counts.
async fn announce_interest(
    bus: &dyn Bus,
    first: (DocName, bool),
    more: &flume::Receiver<(DocName, bool)>,
) {
    let mut last: HashMap<DocName, bool> = HashMap::new();
    for (doc, open) in std::iter::once(first).chain(more.try_iter()) {
        last.insert(doc, open);
    }
    for open in [true, false] {
        let docs: Vec<DocName> = last
            .iter()
            .filter(|(_, o)| **o == open)
            .map(|(doc, _)| doc.clone())
            .collect();
        if !docs.is_empty() {
            let _ = bus.announce_docs(open, &docs).await;
        }
    }
}
