//! The registry of loaded documents: name -> running document task.
//!
//! Concurrent first connections to a document load it once: the map entry (an empty
//! `OnceCell`) is inserted synchronously under the shard lock, and the load runs outside it
//! through `get_or_try_init`, which lets exactly one caller load while the others wait.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use plait_protocol::name::DocName;
use plait_protocol::session::{DocLimits, DocState};
use plait_storage::store::{replay_blocking, DocStore, StoredDoc};
use plait_storage::writer::Writer;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::cluster::broadcaster::Broadcaster;
use crate::config::Config;
use crate::document::{self, DocContext, DocHandle};
use crate::error::LoadError;
use crate::projection::Projector;

type Slot = Arc<OnceCell<DocHandle>>;

/// Loaded documents and what is needed to load more.
pub struct Registry {
    /// Never hold a `Ref` into this map across an `.await`: it would block a shard.
    docs: DashMap<DocName, Slot>,
    store: Arc<dyn DocStore>,
    writer: Writer,
    idle_unload: Duration,
    /// Capacity of each document task's command queue (`--doc-queue`): a flood pushes back on
    /// the sockets producing it.
    queue: usize,
    /// `--max-doc-size` and `--max-nesting-depth`: enforced by the protocol layer.
    limits: DocLimits,
    /// `--snapshot-threshold`: a document loaded with a longer log is compacted at once (a server
    /// restarted often, whose documents never stayed loaded long enough, never compacted).
    snapshot_threshold: usize,
    shutdown: CancellationToken,
    /// The document tasks, so that shutdown waits for each to hand the writer what it holds.
    tasks: TaskTracker,
    /// Set when other nodes share the database (see [`crate::cluster`]): documents loaded from
    /// then on tell them of what they relay.
    broadcaster: OnceLock<Broadcaster>,
    /// Where documents to read whole again go, when other nodes share the database (see
    /// `cluster::catch_up`): a document loaded with a row whose dependency was not stored yet.
    catch_up: OnceLock<flume::Sender<DocName>>,
    /// Renders loaded documents into the projection table (see [`crate::projection`]).
    projector: Option<Arc<Projector>>,
}

/// Where a document is, for one that must not wait to find out (see [`Registry::lookup`]).
pub enum Lookup {
    /// Running.
    Loaded(DocHandle),
    /// Being loaded right now (or a load just failed).
    Loading,
    /// Neither: its next load reads the database.
    Absent,
}

/// A document handle the caller has attached to; detaches on drop so the document can unload.
pub struct Attached {
    pub handle: DocHandle,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.handle.attached().fetch_sub(1, Ordering::AcqRel);
    }
}

impl Registry {
    pub fn new(
        store: Arc<dyn DocStore>,
        writer: Writer,
        config: &Config,
        shutdown: CancellationToken,
        projector: Option<Arc<Projector>>,
    ) -> Arc<Self> {
        Arc::new(Registry {
            docs: DashMap::new(),
            store,
            writer,
            idle_unload: config.idle_unload,
            queue: config.doc_queue,
            limits: DocLimits {
                max_size: config.max_doc_size,
                max_nesting: config.max_nesting_depth,
            },
            snapshot_threshold: usize::try_from(config.snapshot_threshold).unwrap_or(usize::MAX),
            shutdown,
            tasks: TaskTracker::new(),
            broadcaster: OnceLock::new(),
            catch_up: OnceLock::new(),
            projector,
        })
    }

    /// Documents loaded from now on tell other nodes of the updates they relay. Set before the
    /// server serves, so every document has it.
    /// What tells the other nodes (none on a single node).
    pub fn broadcaster(&self) -> Option<&Broadcaster> {
        self.broadcaster.get()
    }

    pub fn set_broadcaster(&self, broadcaster: Broadcaster) {
        let _ = self.broadcaster.set(broadcaster);
    }

    pub fn set_catch_up(&self, catch_up: flume::Sender<DocName>) {
        let _ = self.catch_up.set(catch_up);
    }

    /// The other nodes heard from lately; `None` where no other node can share the database.
    pub fn other_nodes(&self) -> Option<usize> {
        self.broadcaster.get().map(Broadcaster::other_nodes)
    }

    /// The other nodes that have `name` open; `None` where no other node can share the database.
    pub fn open_elsewhere(&self, name: &DocName) -> Option<usize> {
        self.broadcaster.get().map(|b| b.open_elsewhere(name))
    }

    /// The limits every document is replayed and served with.
    pub fn limits(&self) -> DocLimits {
        self.limits
    }

    /// The running document, if it is loaded.
    pub fn running(&self, name: &DocName) -> Option<DocHandle> {
        let slot = self.docs.get(name).map(|slot| slot.value().clone())?;
        slot.get().cloned()
    }

    /// The running document, or whether it is being loaded, without waiting for the load.
    pub fn lookup(&self, name: &DocName) -> Lookup {
        let Some(slot) = self.docs.get(name).map(|slot| slot.value().clone()) else {
            return Lookup::Absent;
        };
        match slot.get() {
            Some(handle) if handle.is_closed() => Lookup::Absent,
            Some(handle) => Lookup::Loaded(handle.clone()),
            None => Lookup::Loading,
        }
    }

    /// The running document, waiting for it if it is being loaded right now; `None` if it is
    /// neither loaded nor loading. For the updates of other nodes: one stored after a load read
    /// the database must still reach the document, and one stored before is only applied twice.
    pub async fn loaded(&self, name: &DocName) -> Option<DocHandle> {
        let slot = self.docs.get(name).map(|slot| slot.value().clone())?;
        let handle = slot
            .get_or_try_init(|| async { Err::<DocHandle, ()>(()) })
            .await
            .ok()?;
        (!handle.is_closed()).then(|| handle.clone())
    }

    /// Whether `name` is loaded or being loaded here.
    pub fn holds(&self, name: &DocName) -> bool {
        self.docs.contains_key(name)
    }

    /// Connections attached to `name` right now (0 if it is not loaded).
    pub fn attached(&self, name: &DocName) -> usize {
        self.running(name)
            .map_or(0, |handle| handle.attached().load(Ordering::Acquire))
    }

    /// Waits (at most `limit`) until every document task has stopped after shutdown began, so
    /// that what they held for the writer is in its queue before its last flush.
    pub async fn stopped(&self, limit: Duration) {
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            warn!("some documents had not stopped when the writer's last flush began");
        }
    }

    /// Names of the documents in memory.
    pub fn loaded_names(&self) -> Vec<DocName> {
        self.docs.iter().map(|e| e.key().clone()).collect()
    }

    /// The document's task, loading it from storage first if needed. The document's stored state
    /// is fully loaded before the handle is returned, so nothing is ever served from a document
    /// that is still loading, and a failed load serves nothing.
    pub async fn get_or_load(self: &Arc<Self>, name: &DocName) -> Result<DocHandle, LoadError> {
        loop {
            if self.shutdown.is_cancelled() {
                return Err(LoadError::ShuttingDown);
            }
            let slot: Slot = self.docs.entry(name.clone()).or_default().value().clone();
            let result = slot
                .get_or_try_init(|| self.load(name.clone(), Arc::downgrade(&slot)))
                .await
                .cloned();
            match result {
                // A task that stopped without unregistering (it panicked) must not make the
                // document unreachable: drop its slot and load afresh from storage.
                Ok(handle) if handle.is_closed() => {
                    warn!(doc = %name, "document task had stopped; reloading");
                    self.docs
                        .remove_if(name, |_, current| Arc::ptr_eq(current, &slot));
                }
                Ok(handle) => return Ok(handle),
                Err(error) => {
                    // Let the next caller try again from a clean slot.
                    self.docs.remove_if(name, |_, current| {
                        Arc::ptr_eq(current, &slot) && !current.initialized()
                    });
                    return Err(error);
                }
            }
        }
    }

    /// Like [`Registry::get_or_load`], and marks the caller as attached so the document stays
    /// loaded until the returned guard is dropped.
    pub async fn attach(self: &Arc<Self>, name: &DocName) -> Result<Attached, LoadError> {
        let handle = self.get_or_load(name).await?;
        handle.attached().fetch_add(1, Ordering::AcqRel);
        Ok(Attached { handle })
    }

    async fn load(
        self: &Arc<Self>,
        name: DocName,
        slot: Weak<OnceCell<DocHandle>>,
    ) -> Result<DocHandle, LoadError> {
        let started = std::time::Instant::now();
        let stored = self.store.load(name.as_str()).await.map_err(|e| {
            warn!(doc = %name, error = %e, "loading document failed");
            LoadError::Storage(e)
        })?;
        let (state, incomplete) = match stored {
            Some(stored) if stored.deleted_at.is_some() => return Err(LoadError::Deleted),
            Some(stored) => self.replay(&name, stored).await?,
            None => (DocState::with_limits(yrs::Doc::new(), self.limits), false),
        };
        info!(doc = %name, "document loaded");
        metrics::histogram!(crate::metrics::DOCUMENT_LOAD_SECONDS)
            .record(started.elapsed().as_secs_f64());
        let broadcaster = self.broadcaster.get().cloned();
        if let Some(broadcaster) = &broadcaster {
            broadcaster.opened(&name, true);
        }
        let registry = Arc::downgrade(self);
        let key = name.clone();
        // Another node may store the missing content in a moment: read it again then.
        let reread = match (incomplete, self.catch_up.get()) {
            (true, Some(catch_up)) => Some((catch_up.clone(), name.clone())),
            _ => None,
        };
        let ctx = DocContext {
            name,
            writer: self.writer.clone(),
            idle_unload: self.idle_unload,
            shutdown: self.shutdown.clone(),
            broadcaster,
            projector: self.projector.clone(),
            unregister: Box::new(move || {
                let (Some(registry), Some(slot)) = (registry.upgrade(), slot.upgrade()) else {
                    return true;
                };
                let removed = registry
                    .docs
                    .remove_if(&key, |_, current| Arc::ptr_eq(current, &slot))
                    .is_some();
                if let (true, Some(broadcaster)) = (removed, registry.broadcaster.get()) {
                    broadcaster.opened(&key, false);
                }
                removed
            }),
        };
        let handle = document::spawn(state, ctx, self.queue, &self.tasks);
        if let Some((catch_up, name)) = reread {
            let _ = catch_up.send(name);
        }
        Ok(handle)
    }

    /// Rebuilds a stored document on the blocking pool. Rows that cannot be applied are moved to
    /// quarantine (logged, counted in the document's figures) and the rest is served; rows whose
    /// dependencies no stored row holds are reported (the `bool`) and left for a compaction to
    /// move once they are old (another node may be about to store what they depend on).
    async fn replay(
        &self,
        name: &DocName,
        stored: StoredDoc,
    ) -> Result<(DocState, bool), LoadError> {
        let log_rows = stored.updates.len();
        let replayed = replay_blocking(stored, self.limits)
            .await
            .map_err(LoadError::Storage)?;
        if !replayed.refused.is_empty() {
            if let Err(error) = self
                .store
                .quarantine(name.as_str(), &replayed.refused)
                .await
            {
                warn!(doc = %name, %error, "could not move refused rows to quarantine; they are skipped");
            }
        }
        if !replayed.incomplete.is_empty() {
            warn!(
                doc = %name,
                seqs = ?replayed.incomplete,
                "stored updates depend on content no stored update holds (yet); served without \
                 them until it is stored, moved to quarantine by a compaction once they are old"
            );
        }
        if log_rows >= self.snapshot_threshold || !replayed.incomplete.is_empty() {
            self.writer.request_compaction(name.as_str());
        }
        let incomplete = !replayed.incomplete.is_empty();
        Ok((replayed.state, incomplete))
    }
}
