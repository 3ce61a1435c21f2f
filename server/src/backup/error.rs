//! [`BackupError`]: why `plait export`, `plait import` or `plait check` could not do its work.

use std::path::PathBuf;

use plait_storage::error::StorageError;
use plait_storage::sea_store::open::OpenError;

/// Why a backup command failed. Each says what to do about it: these reach an operator's
/// terminal, not a log.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database to read could not be opened (no such file, not a Plait database...).
    #[error("cannot read the database: {0}")]
    Open(#[from] OpenError),
    /// A query failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// Reading or writing a file of the export failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A task on the blocking pool failed (it panicked, or the runtime is stopping).
    #[error("a background task failed: {0}")]
    Task(String),
    /// `--out` names a directory that already holds something.
    #[error("{0} is not empty: export into a new or empty directory")]
    NotEmpty(PathBuf),
    /// The manifest is missing, unreadable or not one this version reads.
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    /// A document's file does not match the manifest, or does not hold a valid Yjs state.
    /// Checked for every file before anything is imported.
    #[error("{path} (document {doc:?}): {reason}; nothing was imported")]
    BadFile {
        path: PathBuf,
        doc: String,
        reason: String,
    },
    /// With `--merge`: an export's state could not be integrated into the target's document
    /// (found while appending: what earlier transactions appended stays).
    #[error(
        "document {doc:?} cannot be merged: {reason}; the documents before it in the export \
         were imported"
    )]
    Merge { doc: String, reason: String },
    /// Documents of the export already exist in the target and `--merge` was not given.
    #[error(
        "{} of the export's documents already exist in the target database ({}); nothing was \
         imported. Import into a database without them, or pass --merge to merge the export \
         into them (a Yjs merge: nothing of either side is lost)",
        .0.len(),
        list_names(.0)
    )]
    Exists(Vec<String>),
}

impl BackupError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BackupError {
        let path = path.into();
        move |source| BackupError::Io { path, source }
    }
}

/// The first few names, quoted, and how many more.
fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut list: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    if names.len() > SHOWN {
        list.push(format!("and {} more", names.len() - SHOWN));
    }
    list.join(", ")
}
