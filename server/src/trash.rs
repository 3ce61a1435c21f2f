//! The trash: deleting a document closes it everywhere, and what stayed deleted past
//! `--trash-retention` is purged (see `plait_storage::catalog`).

use std::time::Duration;

use plait_protocol::name::DocName;
use plait_storage::catalog::Trashed;
use tracing::{info, warn};

use crate::document::Command;
use crate::error::AppError;
use crate::state::AppState;

/// How often the trash is emptied of what passed the retention, at most.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Moves `name` to the trash; on this node and every other its connections are closed with
/// 4410 and it is served no more.
pub async fn delete(state: &AppState, name: &DocName) -> Result<Trashed, AppError> {
    let catalog = state.catalog()?;
    // What this node holds of the document and has not stored yet (its first edits may still
    // be on their way to the database, where the deletion looks) is stored first.
    if state.registry.running(name).is_some() {
        state.writer.flush().await?;
    }
    let outcome = catalog.delete(name.as_str()).await?;
    if let Trashed::Done { seq, .. } = outcome {
        info!(doc = %name, seq, "document deleted");
        // Waiting for a load under way: it may have read the document before the deletion.
        if let Some(handle) = state.registry.loaded(name).await {
            let _ = handle.send(Command::Delete).await;
        }
        if let Some(broadcaster) = state.registry.broadcaster() {
            broadcaster.deleted(name, seq);
        }
    }
    Ok(outcome)
}

/// Takes `name` out of the trash.
pub async fn undelete(state: &AppState, name: &DocName) -> Result<Trashed, AppError> {
    let catalog = state.catalog()?;
    let outcome = catalog.undelete(name.as_str()).await?;
    if let Trashed::Done { seq, .. } = outcome {
        info!(doc = %name, seq, "document restored from the trash");
    }
    Ok(outcome)
}

/// Purges, until shutdown, what stayed in the trash longer than `--trash-retention`: at start,
/// then every tenth of the retention (at most hourly, at least every second).
pub async fn purge(state: AppState) {
    let Some(catalog) = state.store.catalog() else {
        return;
    };
    let retention = state.config.trash_retention;
    let every = (retention / 10).clamp(Duration::from_secs(1), PURGE_EVERY);
    loop {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match catalog.purge(cutoff).await {
            Ok(purged) if !purged.is_empty() => {
                info!(documents = ?purged, "purged from the trash after the retention");
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "could not empty the trash"),
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
