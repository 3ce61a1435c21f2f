//! Rebuilding a document from what storage holds: its snapshot, then the log rows after it.
//!
//! Every row passes the same checks as a client's update ([`crate::update_check`], the
//! round-trip check, no pending data kept), so a row that another program wrote, a row damaged
//! on disk or one from an older version with a bug cannot take the process down or poison the
//! document: it is refused and reported, and the caller moves it out of the log (quarantine).

use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

use super::doc_state::{DocLimits, DocState};
use crate::guard::guard;
use crate::update_check::{check_update, MAX_NESTING_LIMIT};

/// A position in the log (`document_updates.seq`): rows are reported by it.
pub type Position = i64;

/// A stored update that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The row's position; for the snapshot, the position it covers.
    pub seq: Position,
    /// Whether it is the snapshot rather than a log row.
    pub snapshot: bool,
    pub reason: String,
}

/// What [`replay`] made of a stored document.
pub struct Replayed {
    pub state: DocState,
    /// Rows (or the snapshot) that could not be applied at all.
    pub refused: Vec<Refused>,
    /// Rows part of which depends on content that no row supplies: what could be integrated was,
    /// the rest was dropped from memory (never kept as pending data) and stays only in the row.
    pub incomplete: Vec<Position>,
}

/// Rebuilds a document from `snapshot` (the state at `snapshot_seq`) and the log `rows` after
/// it, in log order. Never panics; whatever is refused is reported, never silently dropped.
pub fn replay(
    snapshot: Option<&[u8]>,
    snapshot_seq: Position,
    rows: &[(Position, Vec<u8>)],
    limits: DocLimits,
) -> Replayed {
    let doc = Doc::new();
    let mut refused = Vec::new();
    if let Some(snapshot) = snapshot {
        if let Err(reason) = apply_snapshot(&doc, snapshot) {
            refused.push(Refused {
                seq: snapshot_seq,
                snapshot: true,
                reason,
            });
        }
    }
    let mut state = DocState::with_limits(doc, limits);
    let mut waiting: Vec<&(Position, Vec<u8>)> = Vec::new();
    for row in rows {
        match state.integrate_row(&row.1) {
            Ok(integrated) if integrated.incomplete => waiting.push(row),
            Ok(_) => {}
            Err(error) => refused.push(Refused {
                seq: row.0,
                snapshot: false,
                reason: error.to_string(),
            }),
        }
    }
    // Rows that came back incomplete are tried again after the others, pass after pass while
    // one applies: a row may depend on one that committed after it (a node stores its drain at
    // once, and its clients may have built on another node's update that node had not stored
    // yet), and on a chain of them in reverse order, one more each pass. Each pass but the last
    // applies a row, so there are at most as many passes as rows waiting.
    while !waiting.is_empty() {
        let before = waiting.len();
        let mut progress = false;
        waiting.retain(|row| match state.integrate_row(&row.1) {
            Ok(integrated) => {
                progress |= integrated.delta.is_some();
                integrated.incomplete
            }
            Err(_) => true,
        });
        if !progress && waiting.len() == before {
            break;
        }
    }
    Replayed {
        state,
        refused,
        incomplete: waiting.iter().map(|row| row.0).collect(),
    }
}

/// Applies the snapshot, which Plait's own compaction wrote from a document it had checked:
/// the structural check only (not the per-row round trip, which would double a large document's
/// load time).
fn apply_snapshot(doc: &Doc, snapshot: &[u8]) -> Result<(), String> {
    check_update(snapshot, MAX_NESTING_LIMIT, doc).map_err(|e| e.to_string())?;
    guard(|| -> Result<(), String> {
        let update = Update::decode_v1(snapshot).map_err(|e| format!("does not decode: {e}"))?;
        let mut txn = doc
            .try_transact_mut()
            .map_err(|e| format!("document is busy: {e}"))?;
        txn.apply_update(update)
            .map_err(|e| format!("cannot be applied: {e}"))?;
        super::integrity::clear_pending(&mut txn);
        Ok(())
    })?
}

#[cfg(test)]
mod tests;
