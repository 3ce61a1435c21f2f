//! Versions (see `plait_storage::history`): cutting one from a document's current state, and
//! restoring one as a forward edit that every connected editor receives.
//!
//! A restore is an ordinary update: `plait_content::restore` computes, on a copy of the
//! current state, the one transaction that makes every root equal to the version's, and it is
//! posted to the document like `POST .../update` (stored in the log, relayed to every
//! connection and node, merged with offline edits as Yjs merges). The version cut just before it
//! undoes it.

use std::time::Duration;

use bytes::Bytes;
use plait_protocol::name::DocName;
use plait_storage::history::{NewVersion, Version, VersionKind};
use plait_storage::store::{rebuild_blocking, Seq};
use tracing::{info, warn};

use crate::document::PostOutcome;
use crate::error::{AppError, LoadError};
use crate::state::AppState;

/// How often documents due for an automatic version are looked for, at most.
const LOOK_EVERY: Duration = Duration::from_secs(60);
/// Documents versioned per look at most (the rest wait for the next).
const PER_LOOK: u64 = 500;

/// The document's whole state and the log position it reflects, with what this node holds of
/// it stored first. `None`: never written.
async fn current(state: &AppState, name: &DocName) -> Result<Option<(Vec<u8>, Seq)>, AppError> {
    if let Some(handle) = state.registry.running(name) {
        // Stored first, so that the position read next covers what the state holds.
        state.writer.flush().await?;
        if let Ok(Some(encoded)) = handle.state().await {
            let seq = state
                .store
                .stats(name.as_str())
                .await?
                .map_or(0, |s| s.last_seq);
            return Ok(Some((encoded, seq)));
        }
    }
    let Some(stored) = state.store.load(name.as_str()).await? else {
        return Ok(None);
    };
    if stored.deleted_at.is_some() {
        return Err(LoadError::Deleted.into());
    }
    let seq = stored.last_seq();
    let rebuilt = rebuild_blocking(stored).await?;
    Ok(Some((rebuilt.state, seq)))
}

/// Cuts a version of `name` from its current state; `None` if it was never written.
pub async fn cut(
    state: &AppState,
    name: &DocName,
    kind: VersionKind,
    label: Option<String>,
    created_by: Option<String>,
) -> Result<Option<Version>, AppError> {
    let history = state.history()?;
    let Some((encoded, seq)) = current(state, name).await? else {
        return Ok(None);
    };
    let version = NewVersion {
        kind,
        name: label,
        seq,
        state: encoded,
        created_by,
    };
    Ok(history.cut(name.as_str(), &version).await?)
}

/// What a restore did.
pub struct Restored {
    /// The version cut just before: restoring it undoes this restore.
    pub undo: Version,
    /// The restore's update, as posted (its log position once stored).
    pub outcome: PostOutcome,
}

/// Makes `name`'s content equal to its version `id`, as a forward edit. `None`: no such
/// version.
pub async fn restore(
    state: &AppState,
    name: &DocName,
    id: i64,
    created_by: Option<String>,
) -> Result<Option<Restored>, AppError> {
    let history = state.history()?;
    let Some((_, version_state)) = history.version(name.as_str(), id).await? else {
        return Ok(None);
    };
    let label = format!("before restoring version {id}");
    let restored = restore_state(state, name, version_state, label, created_by).await?;
    info!(doc = %name, version = id, undo = restored.undo.id, "version restored");
    Ok(Some(restored))
}

/// Makes `name`'s content equal to `target` (a whole state as one Yjs v1 update) as a forward
/// edit, after cutting a version of the current state labelled `label`.
pub async fn restore_state(
    state: &AppState,
    name: &DocName,
    target: Vec<u8>,
    label: String,
    created_by: Option<String>,
) -> Result<Restored, AppError> {
    if state.writer.is_full() {
        return Err(AppError::Backlog);
    }
    let author = crate::document::author(created_by.as_deref(), "http");
    let undo = cut(state, name, VersionKind::Restore, Some(label), created_by)
        .await?
        .ok_or(AppError::NotFound)?;
    let attached = state.registry.attach(name).await?;
    let gone = |_| AppError::Unavailable(LoadError::ShuttingDown);
    let current = attached.handle.state().await.map_err(gone)?;
    let update = tokio::task::spawn_blocking(move || {
        let doc = plait_content::scratch_doc(current.as_deref().unwrap_or(&[0, 0]))
            .map_err(|e| e.to_string())?;
        plait_content::restore(&doc, &target).map_err(|e| e.to_string())
    })
    .await
    .map_err(AppError::from_edit_task)?
    .map_err(AppError::BadQuery)?;
    let outcome = attached
        .handle
        .post_update(Bytes::from(update), author)
        .await
        .map_err(gone)??;
    Ok(Restored { undo, outcome })
}

/// Cuts the automatic versions, until shutdown: every document that changed since its latest
/// version once `--version-interval` has passed.
pub async fn auto(state: AppState) {
    let Some(history) = state.store.history() else {
        return;
    };
    let interval = state.config.version_interval;
    let every = (interval / 4).clamp(Duration::from_millis(250), LOOK_EVERY);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let cut_before = chrono::Utc::now()
            - chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let due = match history.due_for_version(cut_before, PER_LOOK).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "could not look for documents due for a version");
                continue;
            }
        };
        for doc in due {
            let Ok(name) = DocName::parse(&doc) else {
                continue;
            };
            if let Err(error) = cut(&state, &name, VersionKind::Auto, None, None).await {
                warn!(doc = %name, %error, "could not cut an automatic version");
            }
        }
    }
}
