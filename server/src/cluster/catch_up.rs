//! The catch-up task: reads whole documents from storage when the feed may have missed
//! something (its connection was lost, a compaction folded rows away before they were read, an
//! update arrived before what it depends on, a document could not take an update at once), and
//! hands each state to its loaded document as a stored update of another node: whatever the
//! document missed is applied and relayed, and what it has is skipped.
//!
//! A task of its own so that the feed is never dropped in the middle of a read, which would lose
//! the notification it had taken.
//!
//! A read may find a row whose dependency is not stored yet: a node stores its drains at once,
//! and its clients may have built on another node's update that is still on its way to that
//! node's commit (`document::unconfirmed`). Nothing will announce that dependency's row to this
//! document again if it was already applied here, so the document is read again a little later,
//! a few times, until the row is complete; after that, a compaction moves what is still
//! incomplete (and old) to quarantine.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::name::DocName;
use plait_storage::backoff::Backoff;
use plait_storage::store::{rebuild_blocking, DocStore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::inbound::{FIRST_BACKOFF, MAX_BACKOFF};
use crate::document::Command;
use crate::registry::Registry;

/// The wait before reading again a document that had a row whose dependency is not stored yet;
/// it doubles for each read that finds it still so. Five reads span 3.1 s: the other node's
/// commit comes within its flush interval, or the node that depends on it stores it after 1 s.
const FIRST_REREAD: Duration = Duration::from_millis(100);
const REREADS: u32 = 5;

/// A document's whole state as storage holds it.
struct Read {
    state: Vec<u8>,
    /// Some row depends on content no stored row holds (yet).
    incomplete: bool,
}

/// Reads the documents named on `wanted` whole and hands each state to its loaded document.
/// Names asked for again before their turn are read once.
pub(super) async fn catch_up_task(
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    wanted: flume::Receiver<DocName>,
    again: flume::Sender<DocName>,
    shutdown: CancellationToken,
) {
    let mut queue: BTreeSet<DocName> = BTreeSet::new();
    let mut rereads: HashMap<DocName, u32> = HashMap::new();
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
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
            rereads.remove(&name);
            continue;
        };
        match read_state(store.as_ref(), &name).await {
            Ok(Some(read)) => {
                backoff.succeeded();
                let command = Command::FromNode {
                    update: Bytes::from(read.state),
                    stored: true,
                    catch_up: again.clone(),
                };
                let _ = handle.send(command).await;
                if read.incomplete {
                    reread_later(&mut rereads, name, &again, store.as_ref()).await;
                } else {
                    rereads.remove(&name);
                }
            }
            Ok(None) => {}
            Err(error) => {
                warn!(doc = %name, %error, "catching up with other nodes failed; retrying");
                queue.insert(name);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff.failed()) => {}
                }
            }
        }
    }
}

/// Asks for `name` again after a wait, unless it was read incomplete too many times already:
/// then its incomplete rows are not waiting for anything, and a compaction moves them to
/// quarantine once they are old.
async fn reread_later(
    rereads: &mut HashMap<DocName, u32>,
    name: DocName,
    again: &flume::Sender<DocName>,
    store: &dyn DocStore,
) {
    let count = rereads.entry(name.clone()).or_insert(0);
    if *count >= REREADS {
        rereads.remove(&name);
        warn!(doc = %name, "stored updates depend on content no stored update holds; a compaction moves them to quarantine");
        if let Err(error) = store.compact(name.as_str()).await {
            warn!(doc = %name, %error, "could not compact");
        }
        return;
    }
    let wait = FIRST_REREAD * 2u32.pow(*count);
    *count += 1;
    debug!(doc = %name, ?wait, "a stored update waits for another; reading again");
    let again = again.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let _ = again.send(name);
    });
}

/// The document's whole stored state as one update; `None` if it was never stored. Rows that
/// cannot be applied (written by another program, say) are moved to quarantine, with their
/// reasons.
async fn read_state(store: &dyn DocStore, name: &DocName) -> Result<Option<Read>, String> {
    let Some(stored) = store.load(name.as_str()).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let rebuilt = rebuild_blocking(stored).await.map_err(|e| e.to_string())?;
    if !rebuilt.refused.is_empty() {
        for refused in &rebuilt.refused {
            warn!(doc = %name, seq = refused.seq, reason = %refused.reason, "a stored update cannot be applied; moving it to quarantine");
        }
        store
            .quarantine(name.as_str(), &rebuilt.refused)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Some(Read {
        state: rebuilt.state,
        incomplete: !rebuilt.incomplete.is_empty(),
    }))
}
