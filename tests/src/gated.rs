//! [`GatedStore`]: a `DocStore` whose `append` (the group commit) waits until the test opens a
//! gate, and which records what it committed, to observe the durable echo's ordering. Loads of
//! one chosen document can be held too, to make a load slow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use plait_storage::error::StorageError;
use plait_storage::store::{DocStats, DocStore, NewUpdate, Seq, StoredDoc};
use tokio::sync::watch;

/// Wraps a store; `append` blocks while the gate is closed. Everything else passes through.
pub struct GatedStore<S: DocStore> {
    inner: S,
    /// `true` while appends may proceed.
    gate: watch::Sender<bool>,
    /// Appends that have started (entered the gate), committed or not.
    appends_started: AtomicUsize,
    /// Log rows whose append transaction has returned successfully.
    committed: AtomicUsize,
    /// Their data, in commit order.
    committed_rows: Mutex<Vec<Vec<u8>>>,
    /// Loads of this document wait while it is set.
    held_load: watch::Sender<Option<String>>,
    /// Loads of the held document waiting right now.
    loads_held: AtomicUsize,
}

impl<S: DocStore> GatedStore<S> {
    /// Wraps `inner` with the gate closed.
    pub fn closed(inner: S) -> Self {
        GatedStore {
            inner,
            gate: watch::Sender::new(false),
            appends_started: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            committed_rows: Mutex::new(Vec::new()),
            held_load: watch::Sender::new(None),
            loads_held: AtomicUsize::new(0),
        }
    }

    /// Makes loads of `doc` wait until [`GatedStore::release_loads`].
    pub fn hold_loads_of(&self, doc: &str) {
        self.held_load.send_replace(Some(doc.to_owned()));
    }

    /// Lets held loads through.
    pub fn release_loads(&self) {
        self.held_load.send_replace(None);
    }

    /// Loads waiting for [`GatedStore::release_loads`] right now.
    pub fn loads_held(&self) -> usize {
        self.loads_held.load(Ordering::SeqCst)
    }

    /// Lets waiting and future appends through.
    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Makes future appends wait again.
    pub fn close(&self) {
        self.gate.send_replace(false);
    }

    /// Appends that have been attempted so far.
    pub fn appends_started(&self) -> usize {
        self.appends_started.load(Ordering::SeqCst)
    }

    /// Waits (up to [`crate::TIMEOUT`]) until an append has started: the writer is trying to
    /// commit and, while the gate is closed, is held at it. The relay does not wait for the
    /// group commit, so this may come after other clients already have the edit.
    pub async fn wait_append_started(&self) -> anyhow::Result<()> {
        crate::eventually(
            "the writer to attempt the commit",
            crate::TIMEOUT,
            || async { Ok((self.appends_started() > 0).then_some(())) },
        )
        .await
    }

    /// Log rows committed so far (a row holds one drain's updates). Incremented before `append`
    /// returns, hence before the writer can report anything durable.
    pub fn committed(&self) -> usize {
        self.committed.load(Ordering::SeqCst)
    }

    /// The data of every committed row, in commit order.
    pub fn committed_rows(&self) -> Vec<Vec<u8>> {
        self.committed_rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<S: DocStore> DocStore for GatedStore<S> {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        let mut held = self.held_load.subscribe();
        if held.borrow().as_deref() == Some(doc) {
            self.loads_held.fetch_add(1, Ordering::SeqCst);
            let _ = held.wait_for(|held| held.as_deref() != Some(doc)).await;
            self.loads_held.fetch_sub(1, Ordering::SeqCst);
        }
        self.inner.load(doc).await
    }
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        self.appends_started.fetch_add(1, Ordering::SeqCst);
        let mut gate = self.gate.subscribe();
        // The sender lives as long as `self`, so this only ends when the gate opens.
        let _ = gate.wait_for(|open| *open).await;
        let seqs = self.inner.append(batch).await?;
        self.committed_rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batch.iter().map(|u| u.data.to_vec()));
        self.committed.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(seqs)
    }
    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        self.inner.compact(doc).await
    }
    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        self.inner.stats(doc).await
    }
    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        self.inner.updates_after(doc, after, limit).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
    async fn quarantine(
        &self,
        doc: &str,
        refused: &[plait_protocol::session::Refused],
    ) -> Result<(), StorageError> {
        self.inner.quarantine(doc, refused).await
    }
}
