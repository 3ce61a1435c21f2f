//! The projection: every document as readable JSON and plain text in SQL
//! (`document_projections`, see `plait_storage::catalog`), kept current by the node that holds
//! the document.
//!
//! # How it stays current
//! - A loaded document's task renders it a moment after its edits settle ([`SETTLE`]), and at
//!   least every [`MAX_LAG`] under continuous typing, and hands the row to the [`Projector`],
//!   whose task writes it (the document task never waits for SQL).
//! - A document that changed while no node held it (an update posted over HTTP that unloaded,
//!   a `plait_write` row) is found by the database ([`Catalog::stale_projections`]): `refresh`
//!   renders those from storage before a search answers, and every [`SWEEP`] in the background
//!   when the log moved. The sweep leaves a loaded document whose task has a rendering due to
//!   that task (under continuous typing every document is stale at every moment).
//!
//! # Layout
//! - this module: the [`Projector`] (rendering, and the task that writes rows);
//! - `refresh`: the stale documents, rendered from storage or by their task.
//!
//! Which position a row reflects: the log head this node knew when it rendered. Rows this node
//! wrote up to then are in the document (applied before they were written); another node's row
//! may commit before its update reaches the task, and then the task renders again when it
//! arrives. A rendering never claims a position below what it holds, so a row is never missed.

pub mod refresh;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use plait_storage::catalog::{Catalog, Projection};
use plait_storage::store::{DocStore, Seq};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use yrs::{Doc, Transact};

/// Quiet time after the last edit before a loaded document is rendered.
pub const SETTLE: Duration = Duration::from_secs(1);
/// The longest a loaded document's projection lags behind its edits under continuous typing.
pub const MAX_LAG: Duration = Duration::from_secs(5);
/// How often stale projections (documents changed while nobody held them) are looked for.
pub const SWEEP: Duration = Duration::from_secs(5);
/// Rows waiting to be written at most: past it the newest is dropped, and the document is
/// found stale and rendered again later (nothing is lost but time).
const QUEUE: usize = 4096;

/// Renders documents and writes their rows.
pub struct Projector {
    head: watch::Receiver<Seq>,
    rows: flume::Sender<Projection>,
}

impl Projector {
    /// The projector of `store`, with its writing task; `None` for a store without a catalog
    /// (the `memory:` database).
    pub fn start(store: Arc<dyn DocStore>, shutdown: CancellationToken) -> Option<Arc<Projector>> {
        let head = store.change_log()?.head();
        store.catalog()?;
        let (rows, queue) = flume::bounded(QUEUE);
        tokio::spawn(write_rows(store, queue, shutdown));
        Some(Arc::new(Projector { head, rows }))
    }

    /// The highest log position committed that this node knows of.
    pub fn head(&self) -> Seq {
        *self.head.borrow()
    }

    /// `doc` rendered, reflecting position `seq`. CPU work in proportion to the document.
    pub fn render(name: &str, doc: &Doc, seq: Seq) -> Projection {
        let txn = doc.transact();
        Projection {
            doc: name.to_owned(),
            seq,
            content: serde_json::Value::Object(plait_content::render_all(&txn)),
            text: plait_content::plain_text(&txn),
        }
    }

    /// Queues a row for writing, without waiting.
    pub fn submit(&self, projection: Projection) {
        if self.rows.try_send(projection).is_err() {
            warn!("the projection queue is full; the document will be rendered again later");
        }
    }
}

/// One refresh at a time, and the log head at which the last one found nothing stale: until
/// the log moves, there is nothing to look for.
#[derive(Default)]
pub struct Refresher {
    pub(super) clean_at: tokio::sync::Mutex<Option<Seq>>,
}

/// Writes queued rows, the latest per document, until shutdown. A failed write is retried with
/// the next batch (the latest rendering of each document is kept).
async fn write_rows(
    store: Arc<dyn DocStore>,
    queue: flume::Receiver<Projection>,
    shutdown: CancellationToken,
) {
    let Some(catalog) = store.catalog() else {
        return;
    };
    let mut waiting: HashMap<String, Projection> = HashMap::new();
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            row = queue.recv_async() => match row {
                Ok(row) => row,
                Err(_) => break,
            },
        };
        keep_latest(&mut waiting, first);
        while let Ok(row) = queue.try_recv() {
            keep_latest(&mut waiting, row);
        }
        if !write_waiting(catalog, &mut waiting).await {
            // The database is down: wait a little rather than spin, keeping what waits.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    // What rendered before shutdown is written if the database takes it at once.
    while let Ok(row) = queue.try_recv() {
        keep_latest(&mut waiting, row);
    }
    write_waiting(catalog, &mut waiting).await;
}

fn keep_latest(waiting: &mut HashMap<String, Projection>, row: Projection) {
    match waiting.get(&row.doc) {
        Some(held) if held.seq > row.seq => {}
        _ => {
            waiting.insert(row.doc.clone(), row);
        }
    }
}

/// Writes every waiting row; false if the database failed (the failed rows stay waiting).
async fn write_waiting(catalog: &dyn Catalog, waiting: &mut HashMap<String, Projection>) -> bool {
    let rows: Vec<Projection> = waiting.drain().map(|(_, row)| row).collect();
    let mut ok = true;
    for row in rows {
        if !ok {
            keep_latest(waiting, row);
            continue;
        }
        if let Err(error) = catalog.write_projection(&row).await {
            warn!(doc = %row.doc, %error, "could not write a document's projection; retrying");
            ok = false;
            keep_latest(waiting, row);
        }
    }
    ok
}
