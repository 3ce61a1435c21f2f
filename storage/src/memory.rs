//! `MemoryStore`: the `DocStore` semantics without a database, for fast writer and server tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use plait_protocol::session::Refused;

use crate::error::StorageError;
use crate::store::{DocStats, DocStore, NewUpdate, Seq, StoredDoc};

/// One document as `SeaStore` would hold it in its two tables.
#[derive(Debug)]
struct MemDoc {
    snapshot: Option<Vec<u8>>,
    snapshot_seq: Seq,
    log: BTreeMap<Seq, Vec<u8>>,
    /// Highest seq ever appended (survives compaction, like the SQL autoincrement).
    last_seq: Seq,
    /// What [`DocStore::quarantine`] (or a compaction) took out of the log: seq and reason.
    quarantined: Vec<(Seq, String)>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// In-memory `DocStore`.
///
/// Exists so the writer and server can be tested in milliseconds without SQL; seqs come from one
/// global counter, exactly like the SQL autoincrement shared by all documents.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// One lock for everything: every method is a short critical section with no `.await`
    /// inside, and a single lock makes `append` atomic across documents like a transaction.
    state: Mutex<MemState>,
}

#[derive(Debug, Default)]
struct MemState {
    docs: HashMap<String, MemDoc>,
    next_seq: Seq,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        // Every critical section leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl DocStore for MemoryStore {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        let state = self.lock();
        Ok(state.docs.get(doc).map(|d| StoredDoc {
            snapshot: d.snapshot.clone(),
            snapshot_seq: d.snapshot_seq,
            updates: d.log.iter().map(|(s, b)| (*s, b.clone())).collect(),
            unreadable: Vec::new(),
            deleted_at: None,
        }))
    }

    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        if let Some(update) = batch.iter().find(|u| u.doc.len() > 255) {
            return Err(StorageError::NameTooLong(update.doc.len()));
        }
        let now = Utc::now();
        let mut state = self.lock();
        let mut seqs = Vec::with_capacity(batch.len());
        for update in batch {
            state.next_seq += 1;
            let seq = state.next_seq;
            let doc = state.docs.entry(update.doc.clone()).or_insert(MemDoc {
                snapshot: None,
                snapshot_seq: 0,
                log: BTreeMap::new(),
                last_seq: 0,
                quarantined: Vec::new(),
                created_at: now,
                updated_at: now,
            });
            doc.log.insert(seq, update.data.to_vec());
            doc.last_seq = seq;
            doc.updated_at = now;
            seqs.push(seq);
        }
        Ok(seqs)
    }

    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        let mut state = self.lock();
        let Some(entry) = state.docs.get_mut(doc) else {
            return Ok(0);
        };
        let Some((&upto, _)) = entry.log.last_key_value() else {
            return Ok(entry.snapshot.as_ref().map_or(0, |s| s.len() as u64));
        };
        let stored = StoredDoc {
            snapshot: entry.snapshot.take(),
            snapshot_seq: entry.snapshot_seq,
            updates: std::mem::take(&mut entry.log).into_iter().collect(),
            unreadable: Vec::new(),
            deleted_at: None,
        };
        let rebuilt = stored.rebuild();
        for reject in crate::sea_store::compact::rejects(&rebuilt.refused, &rebuilt.incomplete) {
            entry.quarantined.push((reject.seq, reject.reason));
        }
        let snapshot = rebuilt.state;
        let bytes = snapshot.len() as u64;
        entry.snapshot = Some(snapshot);
        entry.snapshot_seq = upto;
        Ok(bytes)
    }

    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        let state = self.lock();
        Ok(state.docs.get(doc).map(|d| DocStats {
            name: doc.to_owned(),
            log_updates: d.log.len() as u64,
            log_bytes: d.log.values().map(|b| b.len() as u64).sum(),
            snapshot_bytes: d.snapshot.as_ref().map_or(0, |s| s.len() as u64),
            snapshot_seq: d.snapshot_seq,
            last_seq: d.last_seq,
            created_at: Some(d.created_at),
            last_write_at: Some(d.updated_at),
            quarantined: d.quarantined.len() as u64,
        }))
    }

    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        let state = self.lock();
        let Some(d) = state.docs.get(doc) else {
            return Ok(Vec::new());
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(d.log
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(s, b)| (*s, b.clone()))
            .collect())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn quarantine(&self, doc: &str, refused: &[Refused]) -> Result<(), StorageError> {
        let mut state = self.lock();
        let Some(entry) = state.docs.get_mut(doc) else {
            return Ok(());
        };
        for reject in refused {
            let taken = if reject.snapshot {
                entry.snapshot.take().is_some()
            } else {
                entry.log.remove(&reject.seq).is_some()
            };
            if taken {
                entry.quarantined.push((reject.seq, reject.reason.clone()));
            }
        }
        Ok(())
    }
}
