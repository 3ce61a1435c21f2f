//! `plait check`'s diagnosis: every document read from one consistent cut and replayed the way
//! the server replays it, and what would be refused, skipped or never read, reported with its
//! position. Nothing is written: unlike a load, refused rows are not moved to quarantine.
//!
//! What it finds, and why each matters:
//! - a snapshot or row that the replay refuses (does not decode, fails the update checks,
//!   cannot be applied on top of the snapshot, is not bytes): the server would quarantine it at
//!   the next load, and the document would be served without it;
//! - rows that depend on content no stored update holds (a missing dependency): served without
//!   what depends on it;
//! - a snapshot position without a snapshot, an unknown snapshot format, rows at or below the
//!   snapshot's position, rows of no document, a name that is not text or not one the server
//!   accepts: what no load reads, or no client can open.

use std::fmt;

use plait_protocol::name::DocName;
use plait_protocol::session::{DocLimits, Refused};

use crate::error::StorageError;
use crate::sea_store::cut::{Cut, CutDoc, Listed};
use crate::sea_store::SeaStore;
use crate::store::Seq;

/// The only snapshot format there is (a Yjs v1 update).
const SNAPSHOT_FORMAT_V1: i64 = 1;

/// One thing wrong with what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The snapshot is refused (the reason says how).
    Snapshot { seq: Seq, reason: String },
    /// A log row is refused (the reason says how).
    Row { seq: Seq, reason: String },
    /// A log row depends on content that no stored update holds.
    Incomplete { seq: Seq },
    /// The snapshot position is set but there is no snapshot: the rows it covered are gone.
    MissingSnapshot { seq: Seq },
    /// The snapshot's format is not one this version reads.
    SnapshotFormat { format: Option<i64> },
    /// A log row at or below the snapshot's position, which no load reads.
    Shadowed { seq: Seq, snapshot_seq: Seq },
    /// The document's name is not one the server accepts.
    Name { reason: String },
    /// The document's name is not text (SQLite keeps any value in any column).
    UnreadableName { id: i64, reason: String },
    /// A log row whose document does not exist.
    Orphan { seq: Seq, document_id: Option<i64> },
}

/// A problem and the document it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The document's name (none when it is unreadable, or for a row of no document).
    pub doc: Option<String>,
    pub problem: Problem,
}

/// What `plait check` read and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The highest position the cut saw.
    pub position: Seq,
    /// Documents read.
    pub documents: u64,
    /// Log rows read (those after each snapshot).
    pub rows: u64,
    /// Documents with a snapshot.
    pub snapshots: u64,
    /// Stored updates moved to quarantine before (by a server's loads and compactions): not
    /// problems, they are out of the way, but an operator may want to look at them.
    pub quarantined: u64,
    /// Everything wrong, in document order.
    pub problems: Vec<Found>,
}

impl CheckReport {
    /// Documents with at least one problem.
    pub fn documents_with_problems(&self) -> usize {
        let mut docs: Vec<&str> = self
            .problems
            .iter()
            .filter_map(|f| f.doc.as_deref())
            .collect();
        docs.dedup();
        docs.len()
    }
}

/// Reads the whole database `store` holds in one consistent cut and reports what is wrong.
/// Errors only when the database cannot be read; what it finds is in the report.
pub async fn check(store: &SeaStore) -> Result<CheckReport, StorageError> {
    let cut = store.cut().await?;
    let mut report = CheckReport {
        position: cut.position().await?,
        quarantined: cut.quarantined().await?.unwrap_or(0),
        ..CheckReport::default()
    };
    for listed in cut.documents().await? {
        check_document(&cut, &listed, &mut report).await?;
    }
    for orphan in cut.orphans().await? {
        report.problems.push(Found {
            doc: None,
            problem: Problem::Orphan {
                seq: orphan.seq,
                document_id: orphan.document_id,
            },
        });
    }
    cut.finish().await?;
    Ok(report)
}

async fn check_document(
    cut: &Cut,
    listed: &Listed,
    report: &mut CheckReport,
) -> Result<(), StorageError> {
    report.documents += 1;
    let name = match &listed.name {
        Ok(name) => name.clone(),
        Err(reason) => {
            report.problems.push(Found {
                doc: None,
                problem: Problem::UnreadableName {
                    id: listed.id,
                    reason: reason.clone(),
                },
            });
            return Ok(());
        }
    };
    let mut problems = Vec::new();
    if let Err(e) = DocName::parse(&name) {
        problems.push(Problem::Name {
            reason: format!("no client can open it: {e}"),
        });
    }
    if listed.snapshot_format != Some(SNAPSHOT_FORMAT_V1) {
        problems.push(Problem::SnapshotFormat {
            format: listed.snapshot_format,
        });
    }
    // Read in this cut, so `None` only if the name changed type between two reads: impossible
    // in one transaction, but then there is nothing to replay.
    if let Some(doc) = cut.read(&name).await? {
        let snapshot_seq = doc.stored.snapshot_seq;
        report.rows += (doc.stored.updates.len() + doc.stored.unreadable.len()) as u64;
        let unreadable_snapshot = doc.stored.unreadable.iter().any(|r| r.snapshot);
        if doc.stored.snapshot.is_some() || unreadable_snapshot {
            report.snapshots += 1;
        } else if snapshot_seq > 0 {
            problems.push(Problem::MissingSnapshot { seq: snapshot_seq });
        }
        for seq in cut.shadowed_rows(listed.id, snapshot_seq).await? {
            problems.push(Problem::Shadowed { seq, snapshot_seq });
        }
        problems.extend(replay_problems(doc).await?);
    }
    report
        .problems
        .extend(problems.into_iter().map(|problem| Found {
            doc: Some(name.clone()),
            problem,
        }));
    Ok(())
}

/// What the server's replay refuses, on the blocking pool (the replay is CPU work in proportion
/// to the log), in position order.
async fn replay_problems(doc: CutDoc) -> Result<Vec<Problem>, StorageError> {
    let replayed = tokio::task::spawn_blocking(move || doc.stored.replay(DocLimits::default()))
        .await
        .map_err(|e| StorageError::Snapshot(format!("replay task failed: {e}")))?;
    let mut problems: Vec<Problem> = replayed.refused.into_iter().map(refused).collect();
    problems.extend(
        replayed
            .incomplete
            .into_iter()
            .map(|seq| Problem::Incomplete { seq }),
    );
    problems.sort_by_key(|p| match p {
        Problem::Snapshot { .. } => (0, 0),
        Problem::Row { seq, .. } | Problem::Incomplete { seq } => (1, *seq),
        _ => (2, 0),
    });
    Ok(problems)
}

fn refused(refused: Refused) -> Problem {
    if refused.snapshot {
        Problem::Snapshot {
            seq: refused.seq,
            reason: refused.reason,
        }
    } else {
        Problem::Row {
            seq: refused.seq,
            reason: refused.reason,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Snapshot { seq, reason } => {
                write!(f, "the snapshot (position {seq}) is refused: {reason}")
            }
            Problem::Row { seq, reason } => write!(f, "row {seq} is refused: {reason}"),
            Problem::Incomplete { seq } => write!(
                f,
                "row {seq} depends on content that no stored update holds"
            ),
            Problem::MissingSnapshot { seq } => write!(
                f,
                "the snapshot position is {seq} but there is no snapshot: the rows up to it are gone"
            ),
            Problem::SnapshotFormat { format: Some(format) } => {
                write!(f, "unknown snapshot format {format} (1 is a Yjs v1 update)")
            }
            Problem::SnapshotFormat { format: None } => {
                write!(f, "the snapshot format is not an integer")
            }
            Problem::Shadowed { seq, snapshot_seq } => write!(
                f,
                "row {seq} is at or below the snapshot's position {snapshot_seq}: never read"
            ),
            Problem::Name { reason } => write!(f, "{reason}"),
            Problem::UnreadableName { id, reason } => write!(f, "document id {id}: {reason}"),
            Problem::Orphan {
                seq,
                document_id: Some(id),
            } => write!(f, "row {seq} names document id {id}, which does not exist"),
            Problem::Orphan {
                seq,
                document_id: None,
            } => write!(f, "row {seq}'s document id is not an integer"),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.doc {
            // Debug-quoted: a name holding a newline or a quote cannot forge a report line.
            Some(doc) => write!(f, "{doc:?}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}
