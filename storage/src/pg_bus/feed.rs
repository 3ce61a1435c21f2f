//! Hearing the other nodes: a `LISTEN` connection of its own, and the rows each INSERT statement
//! wrote (the log's trigger names them, whoever wrote them) read from the store's pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use plait_cluster::parts::Joiner;
use plait_cluster::payload::{self, Payload, StoredDocs, CHANNEL};
use plait_cluster::{BroadcastKind, NodeEvent, NodeKey, StoredRow};
use plait_protocol::name::DocName;
use plait_protocol::text::prefix;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::DatabaseConnection;

use crate::bus::{Feed, Holds};
use crate::error::StorageError;
use crate::log_head::LogHead;
use crate::store::Seq;
use crate::stored_rows;

/// Document ids whose names a feed remembers at most; past it, it forgets them all and learns
/// again from the rows it reads.
const MAX_KNOWN_NAMES: usize = 65_536;

/// The PostgreSQL feed: a `LISTEN` connection of its own, plus the store's pool to read rows.
pub struct PgFeed {
    listener: PgListener,
    db: DatabaseConnection,
    node: String,
    /// Broadcasts must carry this key's MAC (see [`NodeKey`]).
    key: Option<NodeKey>,
    /// A call failed: the next one makes sure the listener is connected again and reports
    /// [`NodeEvent::Lost`], even if no notification arrives to wake it.
    failed: bool,
    /// Document id to name, learned from the rows read: notifications name documents by id.
    names: HashMap<i64, DocName>,
    /// Large updates whose parts are arriving.
    joiner: Joiner,
    /// Raised by every commit heard (the change feed's streams wait on it).
    head: Arc<LogHead>,
}

impl PgFeed {
    /// Listens on [`CHANNEL`] through a connection to `url` of its own (a pool connection held
    /// forever would be one fewer for the writer).
    pub(crate) async fn connect(
        url: &str,
        db: DatabaseConnection,
        node: String,
        key: Option<NodeKey>,
        head: Arc<LogHead>,
    ) -> Result<PgFeed, StorageError> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(PgFeed {
            listener,
            db,
            node,
            key,
            failed: false,
            names: HashMap::new(),
            joiner: Joiner::default(),
            head,
        })
    }

    /// Reads the rows one INSERT statement wrote (positions `first..=last` of `docs`), except
    /// those of documents known not to be held here; `None` if that leaves nothing to do.
    /// Documents whose rows are gone (a compaction folded them into the snapshot, or they moved
    /// to quarantine) are returned for a whole read.
    async fn read(
        &mut self,
        node: Option<String>,
        first: Seq,
        last: Seq,
        docs: StoredDocs,
        holds: &Holds<'_>,
    ) -> Result<Option<NodeEvent>, StorageError> {
        let (found, mut reload) = match docs {
            StoredDocs::Listed(mut ids) => {
                ids.retain(|id| self.names.get(id).is_none_or(holds));
                if ids.is_empty() {
                    return Ok(None);
                }
                let found = stored_rows::in_range(&self.db, first, last, Some(&ids)).await?;
                let seen: HashSet<i64> = found.iter().map(|r| r.doc_id).collect();
                let gone: Vec<i64> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
                let reload = if gone.is_empty() {
                    HashMap::new()
                } else {
                    stored_rows::names(&self.db, gone).await?
                };
                (found, reload)
            }
            StoredDocs::Every => {
                // Too many documents to name: every row in the range, and every document
                // compacted since (its rows may be gone).
                let found = stored_rows::in_range(&self.db, first, last, None).await?;
                let reload = stored_rows::compacted_since(&self.db, first).await?;
                (found, reload)
            }
        };
        if self.names.len() > MAX_KNOWN_NAMES {
            self.names.clear();
        }
        for row in &found {
            self.names
                .entry(row.doc_id)
                .or_insert_with(|| row.row.doc.clone());
        }
        for (id, name) in &reload {
            self.names.entry(*id).or_insert_with(|| name.clone());
        }
        reload.retain(|_, name| holds(name));
        let rows: Vec<StoredRow> = found
            .into_iter()
            .map(|r| r.row)
            .filter(|row| holds(&row.doc))
            .collect();
        if rows.is_empty() && reload.is_empty() {
            return Ok(None);
        }
        let reload = reload.into_values().collect();
        Ok(Some(NodeEvent::Stored { node, rows, reload }))
    }

    async fn next_inner(&mut self, holds: &Holds<'_>) -> Result<NodeEvent, StorageError> {
        if self.failed {
            // LISTEN again connects (and subscribes) if the connection is gone; repeating it on a
            // live connection changes nothing.
            self.listener.listen(CHANNEL).await?;
            self.failed = false;
            self.joiner.clear();
            return Ok(NodeEvent::Lost);
        }
        loop {
            let Some(notification) = self.listener.try_recv().await? else {
                // Reconnected already (eager reconnect is the default).
                self.joiner.clear();
                return Ok(NodeEvent::Lost);
            };
            // Our own come back too (every listener of the database hears every notification):
            // skipped before anything is decoded.
            if payload::is_from(notification.payload(), &self.node) {
                continue;
            }
            let Some(said) = payload::parse(notification.payload(), self.key.as_ref()) else {
                tracing::warn!(
                    payload = %prefix(notification.payload(), 120),
                    "ignored a notification on the channel that is not a node's (or not signed \
                     with this deployment's key)"
                );
                continue;
            };
            let node = said.node().to_owned();
            match said {
                Payload::Hello { asks, .. } => return Ok(NodeEvent::Hello { node, asks }),
                Payload::Interest { open, docs, .. } => {
                    return Ok(NodeEvent::Interest { node, open, docs })
                }
                Payload::Broadcast {
                    kind, doc, data, ..
                } => {
                    let update = data;
                    return Ok(match kind {
                        BroadcastKind::Update => NodeEvent::Update { node, doc, update },
                        BroadcastKind::Presence => NodeEvent::Presence { node, doc, update },
                        BroadcastKind::Stateless => match String::from_utf8(update) {
                            Ok(payload) => NodeEvent::Stateless { node, doc, payload },
                            Err(_) => continue,
                        },
                        BroadcastKind::Deleted => NodeEvent::Deleted { node, doc },
                    });
                }
                Payload::Part { part, .. } => {
                    if let Some((doc, update)) = self.joiner.add(&node, part) {
                        return Ok(NodeEvent::Update { node, doc, update });
                    }
                }
                Payload::Revoked { subject, at_ms, .. } => {
                    return Ok(NodeEvent::Revoked { subject, at_ms });
                }
                Payload::Stored {
                    first, last, docs, ..
                } => {
                    self.head.advanced(Some(last));
                    let node = (node != payload::OTHER_PROGRAM).then_some(node);
                    if let Some(stored) = self.read(node, first, last, docs, holds).await? {
                        return Ok(stored);
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Feed for PgFeed {
    async fn next(&mut self, holds: &Holds<'_>) -> Result<NodeEvent, StorageError> {
        let result = self.next_inner(holds).await;
        if result.is_err() {
            // A notification may have been taken and its rows not read: treat it as lost.
            self.failed = true;
        }
        result
    }
}
