//! The nodes' channel on PostgreSQL: `NOTIFY` to speak, `LISTEN` (see [`feed`]) to hear.
//!
//! Everything goes on one channel, [`CHANNEL`], so it arrives in the order it was sent. The rows
//! every INSERT into the log wrote are announced by the log's own trigger, in the writing
//! transaction, so the nodes hear of them only if, and once, it commits, whoever wrote them
//! (this node, another, or any other program).

mod feed;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use plait_cluster::payload::{self, CHANNEL};
use plait_cluster::{Broadcast, NodeKey};
use plait_protocol::name::DocName;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::bus::{Bus, Feed};
use crate::error::StorageError;
use crate::log_head::LogHead;

pub use feed::PgFeed;

/// [`Bus`] on PostgreSQL: one per node, sharing the store's pool to notify.
pub struct PgBus {
    db: DatabaseConnection,
    /// The URL of the database, for the feed's own connection.
    url: String,
    /// This process among the nodes (see [`plait_cluster::event::node_id`]).
    node: String,
    /// Signs what this node broadcasts and checks what it hears; `None` with authentication off.
    key: Option<NodeKey>,
    /// Numbers this node's updates broadcast in parts.
    part_ids: AtomicU64,
    /// Raised by the commits the feed hears.
    head: Arc<LogHead>,
}

impl PgBus {
    pub(crate) fn new(
        db: DatabaseConnection,
        url: String,
        node: String,
        key: Option<NodeKey>,
        head: Arc<LogHead>,
    ) -> PgBus {
        PgBus {
            db,
            url,
            node,
            key,
            part_ids: AtomicU64::new(0),
            head,
        }
    }
}

#[async_trait::async_trait]
impl Bus for PgBus {
    async fn listen(&self) -> Result<Box<dyn Feed>, StorageError> {
        let feed = PgFeed::connect(
            &self.url,
            self.db.clone(),
            self.node.clone(),
            self.key.clone(),
            self.head.clone(),
        )
        .await?;
        Ok(Box::new(feed))
    }

    async fn broadcast(&self, items: &[Broadcast]) -> Result<(), StorageError> {
        let key = self.key.as_ref();
        let payloads: Vec<String> = items
            .iter()
            .flat_map(|item| {
                let id = self.part_ids.fetch_add(1, Ordering::Relaxed);
                payload::broadcast_payloads(&self.node, item, key, id)
            })
            .collect();
        notify_all(&self.db, &payloads).await
    }

    async fn announce(&self, asks: bool) -> Result<(), StorageError> {
        notify_all(&self.db, &[payload::hello_payload(&self.node, asks)]).await
    }

    async fn announce_docs(&self, open: bool, docs: &[DocName]) -> Result<(), StorageError> {
        notify_all(
            &self.db,
            &payload::interest_payloads(&self.node, open, docs),
        )
        .await
    }
}

/// Notifications per statement: up to ~450 KB of payload in one round trip.
const NOTIFY_PER_STATEMENT: usize = 64;

/// Sends `payloads` on [`CHANNEL`] from the pool, many per round trip: `SELECT
/// set_config('synchronous_commit', 'off', true), pg_notify($1, $2), pg_notify($1, $3), ...`.
///
/// Each statement is a transaction of its own, and its commit does not wait for the WAL to
/// reach the disk: a notification is never stored, so there is nothing to wait for, and a
/// notifying commit holds PostgreSQL's database-wide notification lock until it returns, which
/// every appending node's commit (its trigger notifies) waits for. A pool connection, never a
/// transaction: the setting would hold for the rest of it.
pub(crate) async fn notify_all(
    db: &DatabaseConnection,
    payloads: &[String],
) -> Result<(), StorageError> {
    for chunk in payloads.chunks(NOTIFY_PER_STATEMENT) {
        let calls: Vec<String> = (0..chunk.len())
            .map(|i| format!("pg_notify($1, ${})", i + 2))
            .collect();
        let mut values: Vec<sea_orm::Value> = vec![CHANNEL.into()];
        values.extend(chunk.iter().map(|payload| payload.as_str().into()));
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!(
                "SELECT set_config('synchronous_commit', 'off', true), {}",
                calls.join(", ")
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}
