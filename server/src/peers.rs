//! The relay between nodes: updates that other servers store in the same database reach the
//! clients connected here.
//!
//! Exists because a team runs several nodes against one PostgreSQL database, and a document's
//! clients may be spread over them. Storage reports what the other nodes commit
//! ([`plait_storage::peers`]); this module hands each update to its document, if it is loaded
//! here, which applies and relays it without storing it again. A document that is not loaded
//! needs nothing: its next load reads the database.
//!
//! Two tasks: the feed task takes the notifications in commit order, and the catch-up task reads
//! whole documents from storage when the feed may have missed something (its connection was
//! lost, a compaction folded rows away before they were read, an update arrived before what it
//! depends on). Catching up is a separate task so that the feed is never dropped in the middle of
//! a read, which would lose the notification it had taken.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::name::DocName;
use plait_storage::peers::{PeerEvent, PeerFeed};
use plait_storage::store::DocStore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use yrs::{ReadTxn, StateVector, Transact};

use crate::document::Command;
use crate::registry::Registry;

/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts relaying other nodes' updates, if the database can report them (PostgreSQL). The first
/// connection is made before this returns, so a server that starts healthy hears every update
/// committed after its first document loads. If it fails, the feed task keeps trying and catches
/// up every loaded document once it is connected.
pub async fn start(store: Arc<dyn DocStore>, registry: Arc<Registry>, shutdown: CancellationToken) {
    let feed = match store.peer_feed().await {
        Ok(None) => return,
        Ok(Some(feed)) => Some(feed),
        Err(error) => {
            warn!(%error, "cannot listen for other nodes' updates yet; retrying");
            None
        }
    };
    info!("relaying the updates other nodes store in this database");
    let (catch_up, wanted) = flume::unbounded();
    tokio::spawn(catch_up_task(
        store.clone(),
        registry.clone(),
        wanted,
        catch_up.clone(),
        shutdown.clone(),
    ));
    let relay = Relay {
        store,
        registry,
        catch_up,
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = relay.run(feed) => {}
        }
    });
}

/// What the feed task needs.
struct Relay {
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    /// Documents to read whole (see [`catch_up_task`]).
    catch_up: flume::Sender<DocName>,
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
                        self.catch_up_all();
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
            match current.next().await {
                Ok(PeerEvent::Stored { updates, reload }) => {
                    backoff = FIRST_BACKOFF;
                    for update in updates {
                        self.deliver(&update.doc, Bytes::from(update.data)).await;
                    }
                    for doc in reload {
                        if let Ok(name) = DocName::parse(&doc) {
                            let _ = self.catch_up.send(name);
                        }
                    }
                }
                Ok(PeerEvent::Lost) => {
                    warn!("lost the connection that hears other nodes' updates; catching up");
                    self.catch_up_all();
                }
                Err(error) => {
                    // The feed reconnects on its next call and then reports `Lost`.
                    warn!(%error, "listening for other nodes' updates failed; retrying");
                    backoff = wait(backoff).await;
                }
            }
        }
    }

    /// Hands an update to its document if it is loaded (or loading) here.
    async fn deliver(&self, doc: &str, update: Bytes) {
        let Ok(name) = DocName::parse(doc) else {
            return;
        };
        if let Some(handle) = self.registry.loaded(&name).await {
            let catch_up = self.catch_up.clone();
            // Waits for room in the document's queue: an update is never dropped. A document
            // unloaded meanwhile needs nothing, since its next load reads the database.
            let _ = handle.send(Command::Peer { update, catch_up }).await;
        }
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
    let name = name.clone();
    // Replaying a long log is CPU work: keep it off the async workers, as a load does.
    tokio::task::spawn_blocking(move || {
        let doc = stored.into_doc(name.as_str());
        let txn = doc.transact();
        txn.encode_state_as_update_v1(&StateVector::default())
    })
    .await
    .map(Some)
    .map_err(|e| format!("replay task failed: {e}"))
}

/// Waits `backoff` and returns the next one.
async fn wait(backoff: Duration) -> Duration {
    tokio::time::sleep(backoff).await;
    (backoff * 2).min(MAX_BACKOFF)
}
