//! `FaultyStore`: a `DocStore` wrapper that fails on demand, to test database outages.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::StorageError;
use plait_protocol::session::Refused;

use crate::store::{DocStats, DocStore, NewUpdate, Seq, StoredDoc};

/// Wraps a store and fails every call with `StorageError::Injected` while `set_failing(true)`.
///
/// Exists because CI runs as root, so file permissions cannot make SQLite fail; the server's
/// outage tests flip this switch instead and check that nothing is lost once it flips back.
#[derive(Debug, Default)]
pub struct FaultyStore<S: DocStore> {
    inner: S,
    /// Checked at the start of each call; a call already past the check completes normally,
    /// like a query that was in flight when the database went away.
    failing: AtomicBool,
}

impl<S: DocStore> FaultyStore<S> {
    /// Wraps `inner`, initially healthy.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            failing: AtomicBool::new(false),
        }
    }

    /// Starts (`true`) or ends (`false`) the simulated outage.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Whether the simulated outage is on.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    /// The wrapped store (tests read it directly to check what was really written).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.is_failing() {
            Err(StorageError::Injected)
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl<S: DocStore> DocStore for FaultyStore<S> {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        self.check()?;
        self.inner.load(doc).await
    }
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        self.check()?;
        self.inner.append(batch).await
    }
    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        self.check()?;
        self.inner.compact(doc).await
    }
    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        self.check()?;
        self.inner.stats(doc).await
    }
    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        self.check()?;
        self.inner.updates_after(doc, after, limit).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.check()?;
        self.inner.ping().await
    }
    async fn quarantine(&self, doc: &str, refused: &[Refused]) -> Result<(), StorageError> {
        self.check()?;
        self.inner.quarantine(doc, refused).await
    }
    async fn checkpoint(&self) -> Result<(), StorageError> {
        self.check()?;
        self.inner.checkpoint().await
    }
    fn forget(&self, doc: &str) {
        self.inner.forget(doc)
    }
}
