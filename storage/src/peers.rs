//! What other nodes store: how a node hears of the updates other servers append to the same
//! PostgreSQL database, so that it can relay them to its own clients.
//!
//! Exists because several nodes may hold the same document in memory at once. Without it, a client
//! on one node would not see another node's edits until its document was unloaded and read again.
//! The append transaction sends a `NOTIFY` naming its rows (PostgreSQL delivers it only if the
//! transaction commits, and in commit order); each node `LISTEN`s and reads the rows it names.
//! A notification carries positions, not updates, because a payload is limited to 8000 bytes.
//!
//! SQLite has no such feed: it is the single-node default, and [`crate::DocStore::peer_feed`]
//! returns `None` there.

use std::collections::{BTreeSet, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::Seq;

/// The PostgreSQL channel every node notifies and listens on.
pub const CHANNEL: &str = "plait_updates";

/// A notification's payload stays below PostgreSQL's 8000-byte limit with room to spare.
const MAX_PAYLOAD: usize = 7000;

/// What a node hears from the others.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// Another node committed rows.
    Stored {
        /// The rows, in log order.
        updates: Vec<PeerUpdate>,
        /// Documents some of whose rows were gone before they could be read (a compaction folded
        /// them into the snapshot): read these documents whole.
        reload: Vec<String>,
    },
    /// The connection was lost and made again: what was notified in between is unknown, so
    /// every document in memory must catch up from storage.
    Lost,
}

/// One row another node appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUpdate {
    /// The document's name.
    pub doc: String,
    /// The row's log position.
    pub seq: Seq,
    /// The Yjs v1 update.
    pub data: Vec<u8>,
}

/// The updates other nodes store, as a node receives them.
#[async_trait::async_trait]
pub trait PeerFeed: Send {
    /// Waits for the next event. After an error the feed is still usable: the next call
    /// reconnects and reports [`PeerEvent::Lost`].
    async fn next(&mut self) -> Result<PeerEvent, StorageError>;
}

/// A name for this process among the nodes sharing a database, so that a node skips its own
/// notifications. Unique enough: the process id and the start time in nanoseconds.
pub fn node_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", std::process::id(), nanos)
}

/// The payloads announcing `rows` (document id, log position), each below [`MAX_PAYLOAD`]:
/// `"<node> <doc id>:<seq> <doc id>:<seq> ..."`.
pub(crate) fn payloads(node: &str, rows: &[(i64, Seq)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for (doc_id, seq) in rows {
        let entry = format!(" {doc_id}:{seq}");
        if !current.is_empty() && current.len() + entry.len() > MAX_PAYLOAD {
            out.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(node);
        }
        current.push_str(&entry);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The node and the rows of a payload; `None` if it is not one of ours (another program may
/// notify on the channel too).
fn parse(payload: &str) -> Option<(&str, Vec<(i64, Seq)>)> {
    let mut parts = payload.split(' ');
    let node = parts.next().filter(|n| !n.is_empty())?;
    let rows = parts
        .map(|entry| {
            let (doc_id, seq) = entry.split_once(':')?;
            Some((doc_id.parse().ok()?, seq.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((node, rows))
}

/// A failure of the listening connection, as the database error it is.
fn listen_error(error: sea_orm::SqlxError) -> StorageError {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error))).into()
}

/// The PostgreSQL feed: a `LISTEN` connection of its own, plus the store's pool to read rows.
pub struct PgPeerFeed {
    listener: PgListener,
    db: DatabaseConnection,
    node: String,
    /// A call failed: the next one makes sure the listener is connected again and reports
    /// [`PeerEvent::Lost`], even if no notification arrives to wake it.
    failed: bool,
}

impl PgPeerFeed {
    /// Listens on [`CHANNEL`] through a connection to `url` of its own (a pool connection held
    /// forever would be one fewer for the writer).
    pub(crate) async fn connect(
        url: &str,
        db: DatabaseConnection,
        node: String,
    ) -> Result<PgPeerFeed, StorageError> {
        let mut listener = PgListener::connect(url).await.map_err(listen_error)?;
        listener.listen(CHANNEL).await.map_err(listen_error)?;
        Ok(PgPeerFeed {
            listener,
            db,
            node,
            failed: false,
        })
    }

    /// Reads the rows a notification named. Rows already folded into a snapshot are missing;
    /// their documents are returned for a whole read.
    async fn read(&self, rows: Vec<(i64, Seq)>) -> Result<PeerEvent, StorageError> {
        let seqs: Vec<Seq> = rows.iter().map(|&(_, seq)| seq).collect();
        let found: Vec<(Seq, i64, String, Vec<u8>)> = document_update::Entity::find()
            .select_only()
            .column(document_update::Column::Seq)
            .column(document_update::Column::DocumentId)
            .column(document::Column::Name)
            .column(document_update::Column::Data)
            .inner_join(document::Entity)
            .filter(document_update::Column::Seq.is_in(seqs))
            .order_by_asc(document_update::Column::Seq)
            .into_tuple()
            .all(&self.db)
            .await?;
        let seen: HashSet<Seq> = found.iter().map(|row| row.0).collect();
        let gone: BTreeSet<i64> = rows
            .iter()
            .filter(|(_, seq)| !seen.contains(seq))
            .map(|&(doc_id, _)| doc_id)
            .collect();
        let reload: Vec<String> = if gone.is_empty() {
            Vec::new()
        } else {
            document::Entity::find()
                .select_only()
                .column(document::Column::Name)
                .filter(document::Column::Id.is_in(gone))
                .into_tuple()
                .all(&self.db)
                .await?
        };
        let updates = found
            .into_iter()
            .map(|(seq, _, doc, data)| PeerUpdate { doc, seq, data })
            .collect();
        Ok(PeerEvent::Stored { updates, reload })
    }

    async fn next_inner(&mut self) -> Result<PeerEvent, StorageError> {
        if self.failed {
            // LISTEN again connects (and subscribes) if the connection is gone; repeating it on a
            // live connection changes nothing.
            self.listener.listen(CHANNEL).await.map_err(listen_error)?;
            self.failed = false;
            return Ok(PeerEvent::Lost);
        }
        loop {
            let Some(notification) = self.listener.try_recv().await.map_err(listen_error)? else {
                // Reconnected already (eager reconnect is the default).
                return Ok(PeerEvent::Lost);
            };
            let Some((node, rows)) = parse(notification.payload()) else {
                tracing::debug!(
                    payload = notification.payload(),
                    "ignored a foreign notification"
                );
                continue;
            };
            if node == self.node || rows.is_empty() {
                continue;
            }
            return self.read(rows).await;
        }
    }
}

#[async_trait::async_trait]
impl PeerFeed for PgPeerFeed {
    async fn next(&mut self) -> Result<PeerEvent, StorageError> {
        let result = self.next_inner().await;
        if result.is_err() {
            // A notification may have been taken and its rows not read: treat it as lost.
            self.failed = true;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_stay_below_the_limit() {
        let rows: Vec<(i64, Seq)> = (0..2000).map(|i| (i % 7, 1_000_000_000 + i)).collect();
        let encoded = payloads("node-1", &rows);
        assert!(encoded.len() > 1, "2000 rows fit one payload?");
        let mut back = Vec::new();
        for payload in &encoded {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let (node, rows) = parse(payload).expect("ours");
            assert_eq!(node, "node-1");
            back.extend(rows);
        }
        assert_eq!(back, rows);
        assert!(payloads("node-1", &[]).is_empty());
    }

    #[test]
    fn foreign_payloads_are_not_misread() {
        for payload in ["", " 1:2", "node 1:x", "node 12", "node 1:2:3"] {
            assert_eq!(parse(payload), None, "{payload:?}");
        }
    }
}
