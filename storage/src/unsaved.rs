//! The unsaved file: updates that shutdown could not store, kept on local disk until the next
//! start writes them to the database.
//!
//! Exists because the writer's queue is the only copy of what clients sent during a database
//! outage. Stopping the server then (a rolling deploy, a reboot) would otherwise end that copy
//! with the process. Shutdown only appends to the file, and each record is self-delimiting (lib0
//! encoding, as Yjs itself uses), so a crash while saving costs at most the record being written;
//! the records before it are still read back. A start rewrites it (atomically, by rename) only to
//! drop the records it has stored while keeping other databases' ones.
//!
//! Each record names the database it was meant for, because the default file lives in the
//! working directory, not beside the database: a start against another database (a demo on the
//! SQLite default, a second node) must not store a stranger's updates in the wrong place. Those
//! records stay in the file for the start that names their database.
//!
//! Two servers can share the file (nodes started from one working directory), so every save and
//! every look a start takes holds an exclusive lock on `<file>.lock`: a node shutting down while
//! another starts never has its records removed unstored.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write as _;

use crate::error::StorageError;
use crate::store::{DocStore, NewUpdate};

/// Starts every record, so a file that is not ours (or a record torn by a crash) is recognised
/// instead of being misread as lengths. Followed by the database, the document, the update and
/// its authors (the JSON the log row records; empty when not known).
const MAGIC: &[u8; 4] = b"PLU3";

/// The second version's records: database, document and update, no authors.
const MAGIC_V2: &[u8; 4] = b"PLU2";

/// The first version's records, which named no database (document and update only). Read back
/// as belonging to whichever database the next start uses, as that version would have done.
const MAGIC_V1: &[u8; 4] = b"PLU1";

/// Updates per append transaction when replaying, as the writer batches a backlog.
const REPLAY_BATCH: usize = 4096;

/// Why the unsaved file could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum UnsavedError {
    /// Reading, writing or removing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The unsaved file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The database refused the replayed updates; the file is kept for the next start.
    #[error("could not store the {count} updates of {path}: {source}")]
    Store {
        /// The unsaved file.
        path: PathBuf,
        /// Updates the file holds.
        count: usize,
        /// The database's error.
        #[source]
        source: StorageError,
    },
}

/// One record of the file: an update and the database it was meant for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The database's label as the saving server gave it; `None` in a first-version record.
    pub database: Option<String>,
    /// The document and the update.
    pub update: NewUpdate,
}

impl Record {
    /// Whether the record is to be stored in `database`.
    fn belongs_to(&self, database: &str) -> bool {
        self.database.as_deref().is_none_or(|d| d == database)
    }
}

/// What [`read`] found in the file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every whole record, in the order it was saved.
    pub records: Vec<Record>,
    /// Bytes after the last whole record (a record torn by a crash, or not our file), if any.
    pub damaged_tail: usize,
}

/// Appends `updates`, meant for the database labelled `database`, to the file at `path`
/// (created if absent) and syncs it to disk.
///
/// The label is whatever identifies the database to the operator (the server uses its URL
/// without the password); [`replay`] compares it byte for byte.
pub fn save(path: &Path, database: &str, updates: &[NewUpdate]) -> Result<(), UnsavedError> {
    let mut buf = Vec::new();
    for update in updates {
        encode_record(&mut buf, Some(database), update);
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    locked(path, || {
        write_synced(path, &buf, options)?;
        sync_dir(path)
    })
}

/// Appends one record; `database: None` writes a first-version record (kept as it was read).
fn encode_record(buf: &mut Vec<u8>, database: Option<&str>, update: &NewUpdate) {
    match database {
        Some(database) => {
            buf.extend_from_slice(MAGIC);
            buf.write_string(database);
        }
        None => buf.extend_from_slice(MAGIC_V1),
    }
    buf.write_string(&update.doc);
    buf.write_buf(&update.data);
    if database.is_some() {
        buf.write_string(update.authors.as_deref().unwrap_or(""));
    }
}

/// Writes `buf` through `options` (plus owner-only permissions) and syncs the file; the caller
/// syncs the directory once the file has its final name.
fn write_synced(path: &Path, buf: &[u8], mut options: OpenOptions) -> Result<(), UnsavedError> {
    let io = io_error(path);
    // Document contents: readable by the server's own user only, whatever the umask says.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(buf).map_err(io)?;
    file.sync_all().map_err(io)
}

/// A new (or renamed) file's directory entry must reach the disk too, or a power cut can lose
/// the file.
fn sync_dir(path: &Path) -> Result<(), UnsavedError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(path)),
        None => Ok(()),
    }
}

/// Wraps an I/O error with the file it happened to.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> UnsavedError + Copy + '_ {
    move |source| UnsavedError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads every whole record of the file at `path`; `None` if there is no such file.
pub fn read(path: &Path) -> Result<Option<Recovered>, UnsavedError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path)(source)),
    };
    Ok(Some(decode(&bytes)))
}

fn decode(bytes: &[u8]) -> Recovered {
    let mut recovered = Recovered::default();
    let mut cursor = Cursor::new(bytes);
    loop {
        let start = cursor.next;
        if start == bytes.len() {
            return recovered;
        }
        match decode_record(&mut cursor) {
            Some(record) => recovered.records.push(record),
            None => {
                recovered.damaged_tail = bytes.len() - start;
                return recovered;
            }
        }
    }
}

fn decode_record(cursor: &mut Cursor<'_>) -> Option<Record> {
    let magic: [u8; 4] = cursor.read_exact(MAGIC.len()).ok()?.try_into().ok()?;
    let magic = &magic;
    let database = if magic == MAGIC || magic == MAGIC_V2 {
        Some(cursor.read_string().ok()?.to_owned())
    } else if magic == MAGIC_V1 {
        None
    } else {
        return None;
    };
    let doc = cursor.read_string().ok()?.to_owned();
    let data = bytes::Bytes::copy_from_slice(cursor.read_buf().ok()?);
    let authors = if magic == MAGIC {
        Some(cursor.read_string().ok()?)
            .filter(|a| !a.is_empty())
            .map(Into::into)
    } else {
        None
    };
    Some(Record {
        database,
        update: NewUpdate { doc, data, authors },
    })
}

/// Rewrites the file at `path` to hold only `records`, atomically: a crash leaves either the old
/// file or the new one, never a half-written one.
fn rewrite(path: &Path, records: &[Record]) -> Result<(), UnsavedError> {
    let mut buf = Vec::new();
    for record in records {
        encode_record(&mut buf, record.database.as_deref(), &record.update);
    }
    let temp = with_suffix(path, ".tmp");
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true);
    write_synced(&temp, &buf, options)?;
    std::fs::rename(&temp, path).map_err(io_error(path))?;
    sync_dir(path)
}

/// What [`replay`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Updates written to the store (0 without a file).
    pub updates: usize,
    /// Where a file with a damaged tail was moved (see [`damaged_path`]).
    pub damaged_kept_in: Option<PathBuf>,
    /// Updates left in the file because they name another database: how many, per database.
    pub kept_for: BTreeMap<String, usize>,
}

/// Writes what the file at `path` holds for the database labelled `database` to `store`, then
/// removes the file, or rewrites it to hold only what it did not store.
///
/// Run before the server serves anything, so no document is loaded without them. Replaying
/// twice (the database failed half-way, the next start replays again) only adds duplicate log
/// rows: applying a Yjs update again changes nothing. A file with a damaged tail is moved aside
/// whole (see [`damaged_path`]) for the operator instead of failing the start; its whole records
/// are written back to `path` first.
///
/// Another server may use the same file meanwhile (a node shutting down beside this one
/// starting): each look at the file holds its lock (see [`lock_path`]), and the store is written
/// between two looks, without the lock, so a save never waits for the database. The second look
/// removes exactly the records that were stored, so a record saved in between stays, and is
/// stored by the next round if it is this database's.
pub async fn replay(
    store: &dyn DocStore,
    path: &Path,
    database: &str,
) -> Result<Replayed, UnsavedError> {
    let mut replayed = Replayed::default();
    if !path.exists() {
        // Not even the lock file is created on the usual start.
        return Ok(replayed);
    }
    let mut stored: Vec<Record> = Vec::new();
    loop {
        let (left, aside) = locked(path, || settle(path, &stored))?;
        replayed.damaged_kept_in = replayed.damaged_kept_in.or(aside);
        let (ours, others): (Vec<Record>, Vec<Record>) = left
            .into_iter()
            .partition(|record| record.belongs_to(database));
        if ours.is_empty() {
            for record in others {
                let label = record.database.unwrap_or_default();
                *replayed.kept_for.entry(label).or_default() += 1;
            }
            return Ok(replayed);
        }
        let updates: Vec<NewUpdate> = ours.iter().map(|record| record.update.clone()).collect();
        for batch in updates.chunks(REPLAY_BATCH) {
            store
                .append(batch)
                .await
                .map_err(|source| UnsavedError::Store {
                    path: path.to_owned(),
                    count: updates.len(),
                    source,
                })?;
        }
        replayed.updates += updates.len();
        stored = ours;
    }
}

/// Takes `stored` out of the file at `path` and returns the whole records left in it, plus where
/// a damaged file was moved. Each stored record removes one equal record, so a duplicate saved
/// later (the same edit kept twice) stays. The caller holds the lock.
fn settle(path: &Path, stored: &[Record]) -> Result<(Vec<Record>, Option<PathBuf>), UnsavedError> {
    let Some(current) = read(path)? else {
        // Another start against this database stored and removed it.
        return Ok((Vec::new(), None));
    };
    let mut to_drop: HashMap<&Record, usize> = HashMap::new();
    for record in stored {
        *to_drop.entry(record).or_default() += 1;
    }
    let total = current.records.len();
    let left: Vec<Record> = current
        .records
        .into_iter()
        .filter(|record| match to_drop.get_mut(record) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect();
    let mut aside = None;
    if current.damaged_tail > 0 {
        let moved = damaged_path(path);
        tracing::warn!(
            file = %path.display(),
            bytes = current.damaged_tail,
            kept_in = %moved.display(),
            "the unsaved file ends in a damaged record; its whole records are kept"
        );
        std::fs::rename(path, &moved).map_err(io_error(path))?;
        aside = Some(moved);
        if !left.is_empty() {
            rewrite(path, &left)?;
        }
    } else if left.is_empty() {
        std::fs::remove_file(path).map_err(io_error(path))?;
    } else if left.len() < total {
        rewrite(path, &left)?;
    }
    Ok((left, aside))
}

/// Runs `f` holding the exclusive lock of the unsaved file at `path`, so that two servers
/// sharing it (two nodes in one working directory) never interleave a save with a rewrite.
fn locked<T>(path: &Path, f: impl FnOnce() -> Result<T, UnsavedError>) -> Result<T, UnsavedError> {
    let lock = lock_path(path);
    let io = io_error(&lock);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock).map_err(io)?;
    // Held for file operations only, never across a database call: a wait here is short.
    file.lock().map_err(io)?;
    let result = f();
    // Closing the file releases the lock too; unlocking first says so.
    file.unlock().map_err(io)?;
    result
}

/// The lock file beside the unsaved file: `<path>.lock`. It stays once created, because removing
/// a lock file lets two processes each lock a different one.
pub fn lock_path(path: &Path) -> PathBuf {
    with_suffix(path, ".lock")
}

/// Where [`replay`] keeps a file whose tail it could not read: `<path>.damaged-<unix seconds>`,
/// so an earlier damaged file is never overwritten.
pub fn damaged_path(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    with_suffix(path, &format!(".damaged-{secs}"))
}

/// `path` with `suffix` appended to its file name, beside it in the same directory.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
