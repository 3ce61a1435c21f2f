//! Stale projections: documents whose log moved past their row while no task of this node
//! rendered them (changed while unloaded, by an HTTP post, another node or `plait_write`).
//! Rendered by their task if this node holds them, else from storage. Run before a search
//! answers and every [`SWEEP`](super::SWEEP) in the background. The sweep leaves a held
//! document to its task when the task has a rendering due anyway: under continuous typing
//! every document is stale at every moment, and the sweep rendered each a second time per
//! [`MAX_LAG`](super::MAX_LAG) on every node holding it (half the projection writes, and the
//! largest part of PostgreSQL's CPU with three nodes: BENCHMARKS.md, row 4).

use std::time::Duration;

use plait_protocol::name::DocName;
use plait_storage::catalog::Catalog;
use plait_storage::error::StorageError;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{Projector, SWEEP};
use crate::document::Render;
use crate::state::AppState;

/// Documents asked for at a time.
const BATCH: u64 = 64;
/// The longest one refresh renders before it lets its caller go on (the rest wait for the
/// next): a search never waits minutes behind a bulk import.
const BUDGET: Duration = Duration::from_secs(5);

/// Renders the stale documents (up to [`BUDGET`]); `when` says whether a held document's task
/// may keep a rendering it has due. Nothing for a store without projections.
pub async fn refresh(state: &AppState, when: Render) -> Result<(), StorageError> {
    let (Some(_), Some(catalog)) = (&state.projector, state.store.catalog()) else {
        return Ok(());
    };
    let mut clean_at = state.refresher.clean_at.lock().await;
    // From the database, not what this node heard: a row another program committed a moment
    // ago must count. Read before looking: a row committed meanwhile moves it past.
    let head = catalog.last_position().await?;
    if *clean_at == Some(head) {
        return Ok(());
    }
    let deadline = Instant::now() + BUDGET;
    let mut failed = false;
    let mut left = false;
    let mut after: Option<String> = None;
    loop {
        let stale = catalog.stale_projections(after.as_deref(), BATCH).await?;
        for name in &stale {
            match render_one(state, catalog, name, when).await {
                Ok(Rendered::Written) => {}
                Ok(Rendered::LeftToTask) => left = true,
                Err(error) => {
                    warn!(doc = %name, %error, "could not render a stale projection");
                    failed = true;
                }
            }
        }
        if (stale.len() as u64) < BATCH || failed || Instant::now() >= deadline {
            // Clean only if every stale document was rendered (one that fails is retried, one
            // left to its task is current only once the task writes it).
            if (stale.len() as u64) < BATCH && !failed && !left {
                *clean_at = Some(head);
            }
            return Ok(());
        }
        after = stale.last().cloned();
    }
}

/// What [`render_one`] did.
enum Rendered {
    Written,
    /// The document's task has a rendering due and writes it itself.
    LeftToTask,
}

async fn render_one(
    state: &AppState,
    catalog: &dyn Catalog,
    name: &str,
    when: Render,
) -> Result<Rendered, StorageError> {
    let Ok(doc) = DocName::parse(name) else {
        // A name written by another program that Plait would refuse: nothing can serve it.
        debug!(doc = name, "not rendering a document whose name is invalid");
        return Ok(Rendered::Written);
    };
    if let Some(handle) = state.registry.running(&doc) {
        match handle.project(when).await {
            Ok(Some(projection)) => {
                catalog.write_projection(&projection).await?;
                return Ok(Rendered::Written);
            }
            Ok(None) => return Ok(Rendered::LeftToTask),
            // Stopped meanwhile: rendered from storage below.
            Err(_) => {}
        }
    }
    let Some(stored) = state.store.load(name).await? else {
        return Ok(Rendered::Written);
    };
    if stored.deleted_at.is_some() {
        return Ok(Rendered::Written);
    }
    let seq = stored.last_seq();
    let limits = state.registry.limits();
    let owned = name.to_owned();
    // Replaying and rendering are CPU work in proportion to the document.
    let projection = tokio::task::spawn_blocking(move || {
        let replayed = stored.replay(limits);
        Projector::render(&owned, replayed.state.doc(), seq)
    })
    .await
    .map_err(|e| StorageError::Snapshot(format!("rendering task failed: {e}")))?;
    catalog.write_projection(&projection).await?;
    Ok(Rendered::Written)
}

/// Every [`SWEEP`], the stale documents, so that the table is current for SQL readers that
/// never call the API; until shutdown.
pub async fn sweep(state: AppState) {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP) => {}
        }
        if let Err(error) = refresh(&state, Render::UnlessDue).await {
            warn!(%error, "could not look for stale projections");
        }
    }
}
