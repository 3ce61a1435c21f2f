//! SQLite's carrier: no other node can share the file, but other programs can write to it.
//!
//! SQLite has no notifications. The feed keeps one connection of its own and asks it for
//! `PRAGMA data_version` a few times a second: the number moves only when another connection
//! committed, so an idle database costs one pragma per tick and no read of the log. When it
//! moves, the positions above the last seen are read (keys only), this process's own appends
//! are told apart ([`OwnWrites`]), and the rows of every other program are read and handed to the
//! documents like another node's committed rows, with the same checks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use plait_cluster::{Broadcast, NodeEvent};
use plait_protocol::name::DocName;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{ConnectOptions as _, Row as _, SqliteConnection};
use sea_orm::DatabaseConnection;

use crate::bus::{Bus, Feed, Holds};
use crate::error::StorageError;
use crate::log_head::LogHead;
use crate::own_writes::OwnWrites;
use crate::store::Seq;
use crate::stored_rows;

/// How often the feed asks whether another connection committed: well within the promised 1 s.
const TICK: Duration = Duration::from_millis(100);
/// New positions read per look at most; the rest on the next tick.
const PAGE: i64 = 10_000;

/// [`Bus`] on a SQLite file: hears other programs' appends; there is no other node to tell.
pub struct SqliteBus {
    db: DatabaseConnection,
    url: String,
    own: Arc<OwnWrites>,
    head: Arc<LogHead>,
}

impl SqliteBus {
    pub(crate) fn new(
        db: DatabaseConnection,
        url: String,
        own: Arc<OwnWrites>,
        head: Arc<LogHead>,
    ) -> SqliteBus {
        SqliteBus { db, url, own, head }
    }
}

#[async_trait::async_trait]
impl Bus for SqliteBus {
    async fn listen(&self) -> Result<Box<dyn Feed>, StorageError> {
        let options: SqliteConnectOptions = self.url.parse()?;
        let mut conn = options.connect().await?;
        let version = data_version(&mut conn).await?;
        let seen = max_seq(&mut conn).await?;
        let revoked = last_revocation(&mut conn).await?;
        self.head.advanced(Some(seen));
        Ok(Box::new(SqliteFeed {
            conn,
            db: self.db.clone(),
            own: self.own.clone(),
            head: self.head.clone(),
            version,
            seen,
            revoked,
        }))
    }

    async fn broadcast(&self, _items: &[Broadcast]) -> Result<(), StorageError> {
        Ok(())
    }

    async fn announce(&self, _asks: bool) -> Result<(), StorageError> {
        Ok(())
    }

    async fn announce_docs(&self, _open: bool, _docs: &[DocName]) -> Result<(), StorageError> {
        Ok(())
    }

    fn carries_nodes(&self) -> bool {
        false
    }
}

/// See the module documentation.
pub struct SqliteFeed {
    /// `data_version` is per connection: the same one must be asked every time.
    conn: SqliteConnection,
    db: DatabaseConnection,
    own: Arc<OwnWrites>,
    head: Arc<LogHead>,
    version: i64,
    /// The highest position looked at.
    seen: Seq,
    /// The highest `revocations.id` looked at.
    revoked: i64,
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, StorageError> {
    let row = sea_orm::sqlx::query("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get(0).map_err(StorageError::from)
}

async fn last_revocation(conn: &mut SqliteConnection) -> Result<i64, StorageError> {
    let row = sea_orm::sqlx::query("SELECT coalesce(max(id), 0) FROM revocations")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get(0).map_err(StorageError::from)
}

async fn max_seq(conn: &mut SqliteConnection) -> Result<Seq, StorageError> {
    let row = sea_orm::sqlx::query("SELECT coalesce(max(seq), 0) FROM document_updates")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get(0).map_err(StorageError::from)
}

impl SqliteFeed {
    /// Positions (with their documents) above `seen`, at most [`PAGE`].
    async fn new_positions(&mut self) -> Result<Vec<(Seq, i64)>, StorageError> {
        let rows = sea_orm::sqlx::query(
            "SELECT seq, document_id FROM document_updates WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(self.seen)
        .bind(PAGE)
        .fetch_all(&mut self.conn)
        .await?;
        // A key of another type (written by hand) cannot be named; the document's next read
        // quarantines its row.
        Ok(rows
            .iter()
            .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
            .collect())
    }

    /// The next revocation after the last one looked at, if any (any process may add one).
    async fn next_revocation(&mut self) -> Result<Option<NodeEvent>, StorageError> {
        let row = sea_orm::sqlx::query(
            "SELECT id, subject, revoked_at_ms FROM revocations WHERE id > ? ORDER BY id LIMIT 1",
        )
        .bind(self.revoked)
        .fetch_optional(&mut self.conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        self.revoked = row.try_get(0)?;
        // A row of the wrong types (written by hand) revokes nothing.
        let (Ok(subject), Ok(at_ms)) = (row.try_get::<String, _>(1), row.try_get::<i64, _>(2))
        else {
            return Ok(None);
        };
        Ok(Some(NodeEvent::Revoked { subject, at_ms }))
    }

    /// Looks once: `None` if no other program appended.
    async fn look(&mut self) -> Result<Option<NodeEvent>, StorageError> {
        let version = data_version(&mut self.conn).await?;
        if version == self.version {
            return Ok(None);
        }
        // One revocation per look; the version is not taken as seen until none is left.
        if let Some(revoked) = self.next_revocation().await? {
            return Ok(Some(revoked));
        }
        // Usually the commit was this process's own (its pool's connections are "other
        // connections" too): when its appends account for every new position, one MAX() and
        // nothing read. Under load that is every flush.
        let head = max_seq(&mut self.conn).await?;
        if head <= self.seen || self.own.covers(self.seen + 1, head) {
            self.version = version;
            self.seen = self.seen.max(head);
            self.head.advanced(Some(head));
            return Ok(None);
        }
        let positions = self.new_positions().await?;
        let Some(&(last, _)) = positions.last() else {
            self.version = version;
            return Ok(None);
        };
        if positions.len() < PAGE as usize {
            // Else the rest is read at the next tick, before the version is taken as seen.
            self.version = version;
        }
        let seqs: Vec<Seq> = positions.iter().map(|&(seq, _)| seq).collect();
        let others = self.own.others(&seqs, last);
        self.seen = last;
        self.head.advanced(Some(last));
        if others.is_empty() {
            return Ok(None);
        }
        let docs: HashMap<Seq, i64> = positions.into_iter().collect();
        let found = stored_rows::at(&self.db, &others).await?;
        let read: HashSet<Seq> = found.iter().map(|r| r.row.seq).collect();
        // Rows gone already (folded, quarantined) or unreadable as bytes: their documents are
        // read whole, which quarantines what cannot be applied.
        let gone: HashSet<i64> = others
            .iter()
            .filter(|seq| !read.contains(seq))
            .filter_map(|seq| docs.get(seq).copied())
            .collect();
        let reload = if gone.is_empty() {
            Vec::new()
        } else {
            stored_rows::names(&self.db, gone)
                .await?
                .into_values()
                .collect()
        };
        let rows = found.into_iter().map(|r| r.row).collect();
        Ok(Some(NodeEvent::Stored {
            node: None,
            rows,
            reload,
        }))
    }
}

#[async_trait::async_trait]
impl Feed for SqliteFeed {
    async fn next(&mut self, _holds: &Holds<'_>) -> Result<NodeEvent, StorageError> {
        loop {
            if let Some(event) = self.look().await? {
                return Ok(event);
            }
            tokio::time::sleep(TICK).await;
        }
    }
}
