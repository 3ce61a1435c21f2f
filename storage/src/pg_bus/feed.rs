//! Hearing the other nodes: a `LISTEN` connection of its own, and the rows a commit names read
//! from the store's pool.

use std::collections::{BTreeSet, HashMap, HashSet};

use plait_cluster::parts::Joiner;
use plait_cluster::payload::{self, Payload, CHANNEL};
use plait_cluster::{BroadcastKind, NodeEvent, NodeKey, StoredRow};
use plait_protocol::name::DocName;
use plait_protocol::text::prefix;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::bus::{Feed, Holds};
use crate::entities::{document, document_update};
use crate::error::StorageError;
use crate::store::Seq;

/// Document ids whose names a feed remembers at most; past it, it forgets them all and learns
/// again from the rows it reads.
const MAX_KNOWN_NAMES: usize = 65_536;

/// A failure of the listening connection, as the database error it is.
fn listen_error(error: sea_orm::SqlxError) -> StorageError {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error))).into()
}

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
}

impl PgFeed {
    /// Listens on [`CHANNEL`] through a connection to `url` of its own (a pool connection held
    /// forever would be one fewer for the writer).
    pub(crate) async fn connect(
        url: &str,
        db: DatabaseConnection,
        node: String,
        key: Option<NodeKey>,
    ) -> Result<PgFeed, StorageError> {
        let mut listener = PgListener::connect(url).await.map_err(listen_error)?;
        listener.listen(CHANNEL).await.map_err(listen_error)?;
        Ok(PgFeed {
            listener,
            db,
            node,
            key,
            failed: false,
            names: HashMap::new(),
            joiner: Joiner::default(),
        })
    }

    /// Reads the rows a notification named, except those of documents known not to be held
    /// here; `None` if that leaves none. Rows already folded into a snapshot are missing; their
    /// documents are returned for a whole read.
    async fn read(
        &mut self,
        node: String,
        mut rows: Vec<(i64, Seq)>,
        holds: &Holds<'_>,
    ) -> Result<Option<NodeEvent>, StorageError> {
        rows.retain(|(doc_id, _)| self.names.get(doc_id).is_none_or(holds));
        if rows.is_empty() {
            return Ok(None);
        }
        let seqs: Vec<Seq> = rows.iter().map(|&(_, seq)| seq).collect();
        let query = document_update::Entity::find()
            .select_only()
            .column(document_update::Column::Seq)
            .column(document_update::Column::DocumentId)
            .column(document::Column::Name)
            .column(document_update::Column::Data)
            .inner_join(document::Entity)
            .filter(document_update::Column::Seq.is_in(seqs))
            .order_by_asc(document_update::Column::Seq);
        let raw = self
            .db
            .query_all_raw(query.build(self.db.get_database_backend()))
            .await?;
        // Each row read on its own: one whose update is not bytes (written by hand) counts as
        // gone, so its document is read whole, where the load quarantines it.
        let found: Vec<(Seq, i64, DocName, Vec<u8>)> = raw
            .iter()
            .filter_map(|row| {
                let name: String = row.try_get("", "name").ok()?;
                Some((
                    row.try_get("", "seq").ok()?,
                    row.try_get("", "document_id").ok()?,
                    DocName::parse(&name).ok()?,
                    row.try_get("", "data").ok()?,
                ))
            })
            .collect();
        let seen: HashSet<Seq> = found.iter().map(|row| row.0).collect();
        let gone: BTreeSet<i64> = rows
            .iter()
            .filter(|(_, seq)| !seen.contains(seq))
            .map(|&(doc_id, _)| doc_id)
            .collect();
        let reload: Vec<(i64, DocName)> = if gone.is_empty() {
            Vec::new()
        } else {
            let named: Vec<(i64, String)> = document::Entity::find()
                .select_only()
                .column(document::Column::Id)
                .column(document::Column::Name)
                .filter(document::Column::Id.is_in(gone))
                .into_tuple()
                .all(&self.db)
                .await?;
            named
                .into_iter()
                .filter_map(|(id, name)| Some((id, DocName::parse(&name).ok()?)))
                .collect()
        };
        if self.names.len() > MAX_KNOWN_NAMES {
            self.names.clear();
        }
        let learned = found.iter().map(|(_, id, name, _)| (id, name));
        for (id, name) in learned.chain(reload.iter().map(|(id, name)| (id, name))) {
            self.names.entry(*id).or_insert_with(|| name.clone());
        }
        let rows = found
            .into_iter()
            .map(|(seq, _, doc, data)| StoredRow { doc, seq, data })
            .collect();
        let reload = reload.into_iter().map(|(_, name)| name).collect();
        Ok(Some(NodeEvent::Stored { node, rows, reload }))
    }

    async fn next_inner(&mut self, holds: &Holds<'_>) -> Result<NodeEvent, StorageError> {
        if self.failed {
            // LISTEN again connects (and subscribes) if the connection is gone; repeating it on a
            // live connection changes nothing.
            self.listener.listen(CHANNEL).await.map_err(listen_error)?;
            self.failed = false;
            self.joiner.clear();
            return Ok(NodeEvent::Lost);
        }
        loop {
            let Some(notification) = self.listener.try_recv().await.map_err(listen_error)? else {
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
                    });
                }
                Payload::Part { part, .. } => {
                    if let Some((doc, update)) = self.joiner.add(&node, part) {
                        return Ok(NodeEvent::Update { node, doc, update });
                    }
                }
                Payload::Stored { rows, .. } => {
                    if let Some(stored) = self.read(node, rows, holds).await? {
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
