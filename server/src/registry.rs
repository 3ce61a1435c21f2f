//! The registry of live documents: name -> running document task.
//!
//! Concurrent first connections to a document load it once: the map entry (an empty
//! `OnceCell`) is inserted synchronously under the shard lock, and the load runs outside it
//! through `get_or_try_init`, which lets exactly one caller load while the others wait.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use plait_protocol::name::DocName;
use plait_protocol::session::DocState;
use plait_storage::store::DocStore;
use plait_storage::writer::Writer;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::document::{self, DocContext, DocHandle};
use crate::error::LoadError;
use crate::peers::LiveSender;

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
    /// `--max-doc-size`: growth past it is refused by the protocol layer.
    max_doc_size: usize,
    shutdown: CancellationToken,
    /// Set when other nodes share the database (see [`crate::peers`]): documents loaded from then
    /// on tell them of what they relay.
    live: OnceLock<LiveSender>,
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
    ) -> Arc<Self> {
        Arc::new(Registry {
            docs: DashMap::new(),
            store,
            writer,
            idle_unload: config.idle_unload,
            queue: config.doc_queue,
            max_doc_size: config.max_doc_size,
            shutdown,
            live: OnceLock::new(),
        })
    }

    /// Documents loaded from now on tell other nodes of the updates they relay. Set before the
    /// server serves, so every document has it.
    pub fn set_live(&self, live: LiveSender) {
        let _ = self.live.set(live);
    }

    /// The other nodes heard from lately; `None` where no other node can share the database.
    pub fn other_nodes(&self) -> Option<usize> {
        self.live.get().map(|live| live.cluster().other_nodes())
    }

    /// The other nodes that have `name` open; `None` where no other node can share the database.
    pub fn open_elsewhere(&self, name: &DocName) -> Option<usize> {
        self.live
            .get()
            .map(|live| live.cluster().open_elsewhere(name))
    }

    /// The running document, if it is loaded.
    pub fn live(&self, name: &DocName) -> Option<DocHandle> {
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
    pub fn holds(&self, name: &str) -> bool {
        self.docs.contains_key(name)
    }

    /// Connections attached to `name` right now (0 if it is not loaded).
    pub fn attached(&self, name: &DocName) -> usize {
        self.live(name)
            .map_or(0, |handle| handle.attached().load(Ordering::Acquire))
    }

    /// Names of the documents in memory.
    pub fn live_names(&self) -> Vec<DocName> {
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
        let stored = self.store.load(name.as_str()).await.map_err(|e| {
            warn!(doc = %name, error = %e, "loading document failed");
            LoadError::Storage(e.to_string())
        })?;
        let doc = match stored {
            Some(stored) => {
                let doc_name = name.clone();
                // Replaying a long log is CPU work: keep it off the async workers.
                tokio::task::spawn_blocking(move || stored.into_doc(doc_name.as_str()))
                    .await
                    .map_err(|e| LoadError::Storage(format!("replay task failed: {e}")))?
            }
            None => yrs::Doc::new(),
        };
        info!(doc = %name, "document loaded");
        let live = self.live.get().cloned();
        if let Some(live) = &live {
            live.opened(&name, true);
        }
        let registry = Arc::downgrade(self);
        let key = name.clone();
        let ctx = DocContext {
            name,
            writer: self.writer.clone(),
            idle_unload: self.idle_unload,
            shutdown: self.shutdown.clone(),
            live,
            unregister: Box::new(move || {
                let (Some(registry), Some(slot)) = (registry.upgrade(), slot.upgrade()) else {
                    return true;
                };
                let removed = registry
                    .docs
                    .remove_if(&key, |_, current| Arc::ptr_eq(current, &slot))
                    .is_some();
                if let (true, Some(live)) = (removed, registry.live.get()) {
                    live.opened(&key, false);
                }
                removed
            }),
        };
        let state = DocState::with_max_size(doc, self.max_doc_size);
        Ok(document::spawn(state, ctx, self.queue))
    }
}
