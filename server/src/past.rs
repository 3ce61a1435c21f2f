//! A document's past: its state at a position or an instant (`GET .../update?at=`, `POST
//! .../restore?at=`), rebuilt from the history the store keeps, and the sweep that folds what
//! leaves the `--history-retention` window (see `plait_storage::history`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use plait_protocol::name::DocName;
use plait_storage::history::{At, Past};
use plait_storage::store::{rebuild_blocking, Seq, StoredDoc};
use serde::Deserialize;
use tracing::{info, warn};
use utoipa::IntoParams;

use crate::error::{AppError, LoadError};
use crate::state::AppState;

/// How often documents with history past the window are looked for, at most.
const LOOK_EVERY: Duration = Duration::from_secs(60);
/// Documents pruned per look at most (the rest wait for the next).
const PER_LOOK: u64 = 500;

/// The response header naming the log position a past state reflects.
pub const POSITION_HEADER: &str = "plait-position";

/// `?at=`: a point in a document's past.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// A log position (the `seq` of a change, a version or a history row) or an RFC 3339 time
    /// (`2026-12-06T10:00:00Z`): the document as it was just after that row, or at that time.
    /// Inside the `--history-retention` window only (410 past it).
    #[param(value_type = Option<String>)]
    pub at: Option<String>,
}

impl AtQuery {
    /// The point named, if any.
    pub fn point(&self) -> Result<Option<At>, AppError> {
        self.at.as_deref().map(parse_at).transpose()
    }
}

/// `?at=`'s value: a log position (an integer, a change-feed `seq`) or an RFC 3339 instant.
pub fn parse_at(text: &str) -> Result<At, AppError> {
    if let Ok(seq) = text.parse::<i64>() {
        if seq < 0 {
            return Err(AppError::BadQuery(format!("invalid position {seq}")));
        }
        return Ok(At::Position(seq));
    }
    // A `+` of an offset left unencoded in a query string arrives as a space.
    DateTime::parse_from_rfc3339(&text.replace(' ', "+"))
        .map(|at| At::Time(at.with_timezone(&Utc)))
        .map_err(|_| {
            AppError::BadQuery(format!(
                "invalid at={text:?}: a log position (an integer) or an RFC 3339 time \
                 (2026-12-06T10:00:00Z)"
            ))
        })
}

/// The start of the retention window now; `None` when retention keeps everything forever.
fn window_start(state: &AppState) -> Option<DateTime<Utc>> {
    let retention = chrono::Duration::from_std(state.config.history_retention).ok()?;
    Utc::now().checked_sub_signed(retention)
}

/// `name` as it was at `at`: the position it reflects and the whole state as one Yjs v1
/// update. 404 never written, 410 deleted or before what the history keeps.
pub async fn state_at(
    state: &AppState,
    name: &DocName,
    at: At,
) -> Result<(Seq, Vec<u8>), AppError> {
    let history = state.history()?;
    if let (At::Time(time), Some(start)) = (at, window_start(state)) {
        if time < start && !state.config.history_retention.is_zero() {
            return Err(AppError::Pruned(format!(
                "{} is before the history retention window (--history-retention {}): the \
                 history reaches back to {}",
                time.to_rfc3339_opts(SecondsFormat::Millis, true),
                humantime::format_duration(state.config.history_retention),
                start.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
    }
    if state.registry.running(name).is_some() {
        // What this node holds is stored first: the point may be its latest edit.
        state.writer.flush().await?;
    }
    match history.past(name.as_str(), at).await? {
        None => Err(AppError::NotFound),
        Some(Past::Deleted) => Err(LoadError::Deleted.into()),
        Some(Past::Gone { seq, floor }) => Err(AppError::Pruned(format!(
            "position {seq} is older than the history kept of this document, which starts at \
             position {floor} (--history-retention {})",
            humantime::format_duration(state.config.history_retention)
        ))),
        Some(Past::State {
            seq,
            base,
            base_seq,
            rows,
        }) => {
            let stored = StoredDoc::from_base(base, base_seq, rows);
            Ok((seq, rebuild_blocking(stored).await?.state))
        }
    }
}

/// Folds, until shutdown, every document's history rows and automatic versions that left the
/// `--history-retention` window.
pub async fn retention(state: AppState) {
    let Some(history) = state.store.history() else {
        return;
    };
    let retention = state.config.history_retention;
    let every = if retention.is_zero() {
        LOOK_EVERY
    } else {
        (retention / 4).clamp(Duration::from_millis(250), LOOK_EVERY)
    };
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(before) = window_start(&state) else {
            continue;
        };
        let due = match history.due_for_pruning(before, PER_LOOK).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "could not look for history past the retention window");
                continue;
            }
        };
        for doc in due {
            match history.prune(&doc, before).await {
                Ok(pruned) => info!(
                    doc,
                    rows = pruned.rows,
                    versions = pruned.versions,
                    "history past the retention window folded"
                ),
                Err(error) => warn!(doc, %error, "could not prune a document's history"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever a client sends as `at`, it reads as a position (never negative) or a time,
        /// or is refused with a reason; a position and an RFC 3339 time read back as themselves.
        #[test]
        fn at_reads_back_or_is_refused(seq in 0i64..i64::MAX, millis in 0i64..4_102_444_800_000, text in "\\PC{0,40}") {
            proptest::prop_assert_eq!(parse_at(&seq.to_string()).ok(), Some(At::Position(seq)));
            let time = DateTime::from_timestamp_millis(millis).expect("in range");
            let written = time.to_rfc3339_opts(SecondsFormat::Millis, true);
            proptest::prop_assert_eq!(parse_at(&written).ok(), Some(At::Time(time)));
            match parse_at(&text) {
                Ok(At::Position(p)) => proptest::prop_assert!(p >= 0),
                Ok(At::Time(_)) => {}
                Err(error) => proptest::prop_assert!(!error.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn an_offset_whose_plus_arrived_as_a_space_still_reads() {
        let at = parse_at("2026-12-06T10:00:00 01:00").expect("a time");
        let expected = DateTime::parse_from_rfc3339("2026-12-06T09:00:00Z").expect("a time");
        assert_eq!(at, At::Time(expected.with_timezone(&Utc)));
        assert!(parse_at("-1").is_err());
        assert!(parse_at("yesterday").is_err());
    }
}
