//! The relay between nodes: updates that other servers relay and store in the same database, and
//! the presence of their clients, reach the clients connected here.
//!
//! Exists because a team runs several nodes against one PostgreSQL database, and a document's
//! clients may be spread over them. Storage carries what the other nodes relay and commit
//! ([`plait_storage::peers`]); this module hands each update to its document, if it is loaded
//! here, which applies and relays it without storing it again. A document that is not loaded
//! needs nothing: its next load reads the database.
//!
//! Three tasks: the publisher tells the other nodes of what this node's documents relay, as they
//! relay it, and of their own clients' presence ([`LiveSender`]); the feed task takes the other nodes' notifications in the order
//! they were sent; and the catch-up task reads whole documents from storage when the feed may have
//! missed something (its connection was lost, a compaction folded rows away before they were
//! read, an update arrived before what it depends on). Catching up is a separate task so that
//! the feed is never dropped in the middle of a read, which would lose the notification it had
//! taken.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::name::DocName;
use plait_storage::peers::{live_capacity, LiveItem, LiveKind, PeerEvent, PeerFeed};
use plait_storage::store::{rebuild_blocking, DocStore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::document::Command;
use crate::registry::{Lookup, Registry};

/// Updates and presence pieces waiting to be published at most; past it they are skipped: the
/// commit's notification brings an update a little later anyway, and presence is renewed.
const LIVE_QUEUE: usize = 4096;
/// Items per publish call at most (one round trip).
const LIVE_BATCH: usize = 256;

/// How often a node announces itself.
const HELLO_EVERY: Duration = Duration::from_secs(10);
/// A node not heard from for this long (three announcements) is taken to be gone.
const NODE_TIMEOUT: Duration = Duration::from_secs(30);

/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts relaying other nodes' updates, if the database can report them (PostgreSQL). The first
/// connection is made before this returns, so a server that starts healthy hears every update
/// committed after its first document loads. If it fails, the feed task keeps trying and catches
/// up every loaded document once it is connected.
pub async fn start(
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> Option<LiveSender> {
    let feed = match store.peer_feed().await {
        Ok(None) => return None,
        Ok(Some(feed)) => Some(feed),
        Err(error) => {
            warn!(%error, "cannot listen for other nodes' updates yet; retrying");
            None
        }
    };
    info!("relaying the updates other nodes store in this database");
    if let Err(error) = store.announce(true).await {
        warn!(%error, "could not announce this node to the others yet");
    }
    let cluster = Arc::new(Cluster::new());
    let (catch_up, wanted) = flume::unbounded();
    tokio::spawn(catch_up_task(
        store.clone(),
        registry.clone(),
        wanted,
        catch_up.clone(),
        shutdown.clone(),
    ));
    let (live, published) = flume::bounded(LIVE_QUEUE);
    let (interest, changes) = flume::unbounded();
    tokio::spawn(publish_task(
        store.clone(),
        published,
        changes,
        shutdown.clone(),
    ));
    let relay = Relay {
        store,
        registry,
        catch_up,
        cluster: cluster.clone(),
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = relay.run(feed) => {}
        }
    });
    Some(LiveSender(Arc::new(Live {
        queue: live,
        interest,
        cluster,
    })))
}

/// The other nodes this one has heard from lately, and which documents each has open.
///
/// Exists so that a node publishes live updates only of documents another node has open: for a
/// lone node, or documents no other node holds (a load balancer that sends each document to one
/// node), they would cost a database round trip every few drains for nobody.
pub struct Cluster {
    /// Each other node, when it was last heard, and the documents it has open.
    nodes: Mutex<HashMap<String, Node>>,
    /// How many other nodes have each document open. Read on every drain.
    wanted: Mutex<HashMap<DocName, usize>>,
}

/// One other node as this one knows it.
struct Node {
    heard: Instant,
    open: HashSet<DocName>,
}

impl Cluster {
    fn new() -> Self {
        Cluster {
            nodes: Mutex::new(HashMap::new()),
            wanted: Mutex::new(HashMap::new()),
        }
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<String, Node>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wanted(&self) -> MutexGuard<'_, HashMap<DocName, usize>> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a message from `node`; true if it was not known (new, or back after a silence).
    /// Nodes silent for [`NODE_TIMEOUT`] are forgotten, with the documents they had open.
    fn heard(&self, node: &str) -> bool {
        let now = Instant::now();
        let mut nodes = self.nodes();
        let gone: Vec<String> = nodes
            .iter()
            .filter(|(_, n)| now.duration_since(n.heard) >= NODE_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(gone) = nodes.remove(&id) {
                self.forget(gone.open.iter());
            }
        }
        match nodes.get_mut(node) {
            Some(known) => {
                known.heard = now;
                false
            }
            None => {
                let open = HashSet::new();
                nodes.insert(node.to_owned(), Node { heard: now, open });
                true
            }
        }
    }

    /// Forgets every node and what it has open, to learn them again from their answers.
    fn forget_all(&self) {
        self.nodes().clear();
        self.wanted().clear();
    }

    /// `node` opened (or closed) `docs`.
    fn interest(&self, node: &str, open: bool, docs: &[String]) {
        let mut nodes = self.nodes();
        let Some(known) = nodes.get_mut(node) else {
            return;
        };
        let mut wanted = self.wanted();
        for doc in docs {
            let Ok(name) = DocName::parse(doc) else {
                continue;
            };
            if open {
                if known.open.insert(name.clone()) {
                    *wanted.entry(name).or_default() += 1;
                }
            } else if known.open.remove(&name) {
                drop_one(&mut wanted, &name);
            }
        }
    }

    fn forget<'a>(&self, docs: impl Iterator<Item = &'a DocName>) {
        let mut wanted = self.wanted();
        for doc in docs {
            drop_one(&mut wanted, doc);
        }
    }

    /// Whether another node has `doc` open.
    fn wants(&self, doc: &DocName) -> bool {
        self.wanted().contains_key(doc)
    }

    /// How many other nodes have `doc` open.
    pub fn open_elsewhere(&self, doc: &DocName) -> usize {
        self.wanted().get(doc).copied().unwrap_or(0)
    }

    /// Whether any other node was heard within [`NODE_TIMEOUT`].
    fn others_present(&self) -> bool {
        self.other_nodes() > 0
    }

    /// How many other nodes were heard within [`NODE_TIMEOUT`].
    pub fn other_nodes(&self) -> usize {
        let now = Instant::now();
        self.nodes()
            .values()
            .filter(|n| now.duration_since(n.heard) < NODE_TIMEOUT)
            .count()
    }
}

fn drop_one(wanted: &mut HashMap<DocName, usize>, doc: &DocName) {
    if let Some(count) = wanted.get_mut(doc) {
        *count -= 1;
        if *count == 0 {
            wanted.remove(doc);
        }
    }
}

/// What documents use to tell the other nodes of what they relay, as they relay it, of their
/// own clients' presence, and which documents this node has open. Never waits: when the
/// publisher is behind, an update is skipped, and the other nodes get it from the commit's
/// notification instead; a presence piece is skipped, and the client's next renewal (every 15 s)
/// brings it.
///
/// One pointer: every loaded document holds a clone.
#[derive(Clone)]
pub struct LiveSender(Arc<Live>);

struct Live {
    queue: flume::Sender<(DocName, LiveKind, Bytes)>,
    interest: flume::Sender<(DocName, bool)>,
    cluster: Arc<Cluster>,
}

impl LiveSender {
    /// `update` of `doc` is being relayed to this node's clients.
    pub fn send(&self, doc: &DocName, update: Bytes) {
        if self.wanted(doc) {
            let _ = self
                .0
                .queue
                .try_send((doc.clone(), LiveKind::Update, update));
        }
    }

    /// Whether another node has `doc` open, so that what happens to it here is worth telling.
    pub fn wanted(&self, doc: &DocName) -> bool {
        self.0.cluster.wants(doc)
    }

    /// The most bytes one presence piece of `doc` may hold (see [`LiveSender::send_presence`]).
    pub fn presence_capacity(doc: &DocName) -> usize {
        live_capacity(doc.as_str().len())
    }

    /// Presence pieces of `doc`'s own clients (awareness updates of at most
    /// [`LiveSender::presence_capacity`] bytes), for the other nodes that have it open.
    pub fn send_presence(&self, doc: &DocName, pieces: Vec<Vec<u8>>) {
        if !self.wanted(doc) {
            return;
        }
        for piece in pieces {
            let item = (doc.clone(), LiveKind::Presence, Bytes::from(piece));
            let _ = self.0.queue.try_send(item);
        }
    }

    /// This node loaded (`open`) or unloaded `doc`. Alone it tells nobody: a node that appears
    /// later is told of every open document when it is first heard.
    pub fn opened(&self, doc: &DocName, open: bool) {
        if self.0.cluster.others_present() {
            let _ = self.0.interest.send((doc.clone(), open));
        }
    }

    /// The other nodes heard from lately.
    pub fn cluster(&self) -> &Cluster {
        &self.0.cluster
    }
}

/// Publishes what the documents relay, many updates per round trip, and announces this node
/// every [`HELLO_EVERY`].
async fn publish_task(
    store: Arc<dyn DocStore>,
    published: flume::Receiver<(DocName, LiveKind, Bytes)>,
    interest: flume::Receiver<(DocName, bool)>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let mut hello = tokio::time::interval_at(Instant::now() + HELLO_EVERY, HELLO_EVERY);
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hello.tick() => {
                // A failure shows in the writer and /readyz; the next tick tries again.
                let _ = store.announce(false).await;
                continue;
            }
            change = interest.recv_async() => {
                let Ok(change) = change else { return };
                // Only each document's last change counts.
                let mut last: HashMap<DocName, bool> = HashMap::new();
                for (doc, open) in std::iter::once(change).chain(interest.try_iter()) {
                    last.insert(doc, open);
                }
                for open in [true, false] {
                    let docs: Vec<String> = last
                        .iter()
                        .filter(|(_, o)| **o == open)
                        .map(|(doc, _)| doc.as_str().to_owned())
                        .collect();
                    if !docs.is_empty() {
                        let _ = store.announce_docs(open, &docs).await;
                    }
                }
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
        let batch: Vec<LiveItem> = std::iter::once(first)
            .chain(published.try_iter().take(LIVE_BATCH - 1))
            .map(|(doc, kind, data)| LiveItem {
                doc: doc.as_str().to_owned(),
                kind,
                data,
            })
            .collect();
        match store.publish_live(&batch).await {
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

/// What the feed task needs.
struct Relay {
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    /// Documents to read whole (see [`catch_up_task`]).
    catch_up: flume::Sender<DocName>,
    cluster: Arc<Cluster>,
}

impl Relay {
    async fn run(&self, mut feed: Option<Box<dyn PeerFeed>>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if feed.is_none() {
                match self.store.peer_feed().await {
                    Ok(Some(connected)) => {
                        info!("listening for other nodes' updates again");
                        feed = Some(connected);
                        self.rejoin().await;
                    }
                    Ok(None) => return,
                    Err(error) => {
                        warn!(%error, "cannot listen for other nodes' updates; retrying");
                        backoff = wait(backoff).await;
                        continue;
                    }
                }
            }
            let Some(current) = feed.as_mut() else {
                continue;
            };
            let registry = &self.registry;
            let event = current.next(&|doc| registry.holds(doc)).await;
            if let Ok(
                PeerEvent::Hello { node, .. }
                | PeerEvent::Interest { node, .. }
                | PeerEvent::Live { node, .. }
                | PeerEvent::Presence { node, .. }
                | PeerEvent::Stored { node, .. },
            ) = &event
            {
                backoff = FIRST_BACKOFF;
                let asks = matches!(event, Ok(PeerEvent::Hello { asks: true, .. }));
                let new = self.cluster.heard(node);
                if new {
                    info!(node = %node, "another node shares this database");
                }
                if new || asks {
                    // Answered at once, so a node that just started (or lost track) learns of
                    // this one, and of what it has open, now and not at the next announcement.
                    self.introduce().await;
                }
            }
            match event {
                Ok(PeerEvent::Hello { .. }) => {}
                Ok(PeerEvent::Interest { node, open, docs }) => {
                    self.cluster.interest(&node, open, &docs);
                    if open {
                        self.share_presence(&docs);
                    }
                }
                Ok(PeerEvent::Live { doc, update, .. }) => {
                    self.deliver(&doc, Bytes::from(update), false);
                }
                Ok(PeerEvent::Presence { doc, update, .. }) => {
                    self.deliver_presence(&doc, Bytes::from(update));
                }
                Ok(PeerEvent::Stored {
                    updates, reload, ..
                }) => {
                    for update in updates {
                        self.deliver(&update.doc, Bytes::from(update.data), true);
                    }
                    for doc in reload {
                        if let Ok(name) = DocName::parse(&doc) {
                            let _ = self.catch_up.send(name);
                        }
                    }
                }
                Ok(PeerEvent::Lost) => {
                    warn!("lost the connection that hears other nodes' updates; catching up");
                    self.rejoin().await;
                }
                Err(error) => {
                    // The feed reconnects on its next call and then reports `Lost`.
                    warn!(%error, "listening for other nodes' updates failed; retrying");
                    backoff = wait(backoff).await;
                }
            }
        }
    }

    /// Hands an update to its document if it is loaded here, without waiting: the feed serves
    /// every document, and PostgreSQL fails every node's commits once a listener falls far
    /// enough behind (its notification queue is shared). A document whose queue is full, or that
    /// is still loading, is read whole by the catch-up task instead, once it has room or has
    /// loaded: that read holds everything stored, and an update not stored yet arrives again
    /// with its commit's notification. A document unloaded needs nothing, since its next load
    /// reads the database.
    fn deliver(&self, doc: &str, update: Bytes, stored: bool) {
        let Ok(name) = DocName::parse(doc) else {
            return;
        };
        match self.registry.lookup(&name) {
            Lookup::Loaded(handle) => {
                let catch_up = self.catch_up.clone();
                let command = Command::Peer {
                    update,
                    stored,
                    catch_up,
                };
                if let Err(flume::TrySendError::Full(_)) = handle.try_send(command) {
                    let _ = self.catch_up.send(name);
                }
            }
            Lookup::Loading => {
                let _ = self.catch_up.send(name);
            }
            Lookup::Absent => {}
        }
    }

    /// Hands another node's presence piece to its document if it is loaded here. Never waits:
    /// a full queue skips it (its clients renew their states every 15 s), so a busy document
    /// cannot hold up the relay of every other document's updates.
    fn deliver_presence(&self, doc: &str, update: Bytes) {
        let Ok(name) = DocName::parse(doc) else {
            return;
        };
        if let Some(handle) = self.registry.live(&name) {
            let _ = handle.try_send(Command::PeerPresence { update });
        }
    }

    /// Another node opened `docs`: those loaded here tell it who of their clients is present,
    /// rather than leave its clients without them until their next renewal.
    fn share_presence(&self, docs: &[String]) {
        for doc in docs {
            let Ok(name) = DocName::parse(doc) else {
                continue;
            };
            if let Some(handle) = self.registry.live(&name) {
                let _ = handle.try_send(Command::SharePresence);
            }
        }
    }

    /// After a time without the feed: what the others opened and closed meanwhile is unknown,
    /// so ask them again, and read every loaded document whole.
    async fn rejoin(&self) {
        self.cluster.forget_all();
        let _ = self.store.announce(true).await;
        self.catch_up_all();
    }

    /// Tells the others that this node runs and which documents it has open.
    async fn introduce(&self) {
        let _ = self.store.announce(false).await;
        let open: Vec<String> = self
            .registry
            .live_names()
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect();
        let _ = self.store.announce_docs(true, &open).await;
    }

    fn catch_up_all(&self) {
        for name in self.registry.live_names() {
            let _ = self.catch_up.send(name);
        }
    }
}

/// Reads the documents named on `wanted` whole from storage and hands each state to its loaded
/// document as another node's update: whatever the document missed is applied and relayed, and
/// what it has is skipped. Names asked for again before their turn are read once.
async fn catch_up_task(
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    wanted: flume::Receiver<DocName>,
    again: flume::Sender<DocName>,
    shutdown: CancellationToken,
) {
    let mut queue: BTreeSet<DocName> = BTreeSet::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if queue.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                name = wanted.recv_async() => match name {
                    Ok(name) => { queue.insert(name); }
                    Err(_) => return,
                },
            }
        }
        queue.extend(wanted.try_iter());
        let Some(name) = queue.pop_first() else {
            continue;
        };
        let Some(handle) = registry.loaded(&name).await else {
            continue;
        };
        match read_state(store.as_ref(), &name).await {
            Ok(Some(state)) => {
                backoff = FIRST_BACKOFF;
                let update = Bytes::from(state);
                let _ = handle
                    .send(Command::Peer {
                        update,
                        stored: true,
                        catch_up: again.clone(),
                    })
                    .await;
            }
            Ok(None) => {}
            Err(error) => {
                warn!(doc = %name, %error, "catching up with other nodes failed; retrying");
                queue.insert(name);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = wait(backoff) => backoff = next,
                }
            }
        }
    }
}

/// The document's whole stored state as one update; `None` if it was never stored.
async fn read_state(store: &dyn DocStore, name: &DocName) -> Result<Option<Vec<u8>>, String> {
    let Some(stored) = store.load(name.as_str()).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let rebuilt = rebuild_blocking(stored).await.map_err(|e| e.to_string())?;
    Ok(Some(rebuilt.state))
}

/// Waits `backoff` and returns the next one.
async fn wait(backoff: Duration) -> Duration {
    tokio::time::sleep(backoff).await;
    (backoff * 2).min(MAX_BACKOFF)
}
