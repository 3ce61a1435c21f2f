//! The unsaved file: updates that shutdown could not store, kept on local disk until the next
//! start writes them to the database.
//!
//! Exists because the writer's queue is the only copy of what clients sent during a database
//! outage. Stopping the server then (a rolling deploy, a reboot) would otherwise end that copy
//! with the process. The file is appended to, never rewritten, and each record is self-delimiting
//! (lib0 encoding, as Yjs itself uses), so a crash while saving costs at most the record being
//! written; the records before it are still read back.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write as _;

use crate::error::StorageError;
use crate::store::{DocStore, NewUpdate};

/// Starts every record, so a file that is not ours (or a record torn by a crash) is recognised
/// instead of being misread as lengths.
const MAGIC: &[u8; 4] = b"PLU1";

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

/// What [`read`] found in the file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every whole record, in the order it was saved.
    pub updates: Vec<NewUpdate>,
    /// Bytes after the last whole record (a record torn by a crash, or not our file), if any.
    pub damaged_tail: usize,
}

/// Appends `updates` to the file at `path` (created if absent) and syncs it to disk.
pub fn save(path: &Path, updates: &[NewUpdate]) -> Result<(), UnsavedError> {
    let io = io_error(path);
    let mut buf = Vec::new();
    for update in updates {
        buf.extend_from_slice(MAGIC);
        buf.write_string(&update.doc);
        buf.write_buf(&update.data);
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    // Document contents: readable by the server's own user only, whatever the umask says.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(&buf).map_err(io)?;
    file.sync_all().map_err(io)?;
    // A new file's directory entry must reach the disk too, or a power cut can lose the file.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
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
            Some(update) => recovered.updates.push(update),
            None => {
                recovered.damaged_tail = bytes.len() - start;
                return recovered;
            }
        }
    }
}

fn decode_record(cursor: &mut Cursor<'_>) -> Option<NewUpdate> {
    if cursor.read_exact(MAGIC.len()).ok()? != MAGIC {
        return None;
    }
    let doc = cursor.read_string().ok()?.to_owned();
    let data = cursor.read_buf().ok()?;
    Some(NewUpdate {
        doc,
        data: bytes::Bytes::copy_from_slice(data),
    })
}

/// What [`replay`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Updates written to the store (0 without a file).
    pub updates: usize,
    /// Where a file with a damaged tail was moved (see [`damaged_path`]).
    pub damaged_kept_in: Option<PathBuf>,
}

/// Writes what the file at `path` holds to `store`, then removes the file.
///
/// Run before the server serves anything, so no document is loaded without them. Replaying
/// twice (the database failed half-way, the next start replays again) only adds duplicate log
/// rows: applying a Yjs update again changes nothing. A file with a damaged tail is moved aside
/// (see [`damaged_path`]) for the operator instead of failing the start.
pub async fn replay(store: &dyn DocStore, path: &Path) -> Result<Replayed, UnsavedError> {
    let Some(recovered) = read(path)? else {
        return Ok(Replayed::default());
    };
    let count = recovered.updates.len();
    for batch in recovered.updates.chunks(REPLAY_BATCH) {
        store
            .append(batch)
            .await
            .map_err(|source| UnsavedError::Store {
                path: path.to_owned(),
                count,
                source,
            })?;
    }
    let io = io_error(path);
    if recovered.damaged_tail > 0 {
        let aside = damaged_path(path);
        tracing::warn!(
            file = %path.display(),
            bytes = recovered.damaged_tail,
            kept_in = %aside.display(),
            "the unsaved file ends in a damaged record; the whole records before it were stored"
        );
        std::fs::rename(path, &aside).map_err(io)?;
        return Ok(Replayed {
            updates: count,
            damaged_kept_in: Some(aside),
        });
    }
    std::fs::remove_file(path).map_err(io)?;
    Ok(Replayed {
        updates: count,
        damaged_kept_in: None,
    })
}

/// Where [`replay`] keeps a file whose tail it could not read: `<path>.damaged-<unix seconds>`,
/// so an earlier damaged file is never overwritten.
pub fn damaged_path(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{secs}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn update(doc: &str, data: &[u8]) -> NewUpdate {
        NewUpdate {
            doc: doc.to_owned(),
            data: bytes::Bytes::copy_from_slice(data),
        }
    }

    fn temp_path(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!(
            "plait-unsaved-{tag}-{}-{nanos}.bin",
            std::process::id()
        ))
    }

    #[test]
    fn saves_append_and_read_back_in_order() {
        let path = temp_path("order");
        let first = [update("a", b"\x01\x02"), update("b/é", &[0; 300])];
        let second = [update("a", b"")];
        save(&path, &first).unwrap();
        save(&path, &second).unwrap();
        let recovered = read(&path).unwrap().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "document contents readable by others");
        }
        std::fs::remove_file(&path).unwrap();
        let expected: Vec<NewUpdate> = first.iter().chain(&second).cloned().collect();
        assert_eq!(recovered.updates, expected);
        assert_eq!(recovered.damaged_tail, 0);
    }

    #[test]
    fn a_missing_file_is_none() {
        assert_eq!(read(&temp_path("missing")).unwrap(), None);
    }

    #[test]
    fn a_torn_last_record_keeps_the_whole_ones_before_it() {
        let path = temp_path("torn");
        save(&path, &[update("a", b"first"), update("a", b"second")]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        for cut in 1..("PLU1".len() + 2 + 7) {
            let recovered = decode(&bytes[..bytes.len() - cut]);
            assert_eq!(recovered.updates, vec![update("a", b"first")], "cut {cut}");
            assert!(recovered.damaged_tail > 0, "cut {cut}");
        }
        let foreign = decode(b"not ours at all");
        assert!(foreign.updates.is_empty());
        assert_eq!(foreign.damaged_tail, 15);
    }

    #[tokio::test]
    async fn replay_stores_everything_then_removes_the_file() {
        let path = temp_path("replay");
        save(&path, &[update("doc", b"x"), update("other", b"y")]).unwrap();
        let store = MemoryStore::new();
        assert_eq!(replay(&store, &path).await.unwrap().updates, 2);
        assert!(!path.exists());
        let stored = store.load("doc").await.unwrap().unwrap();
        assert_eq!(stored.updates.len(), 1);
        assert_eq!(stored.updates[0].1, b"x");
        assert_eq!(replay(&store, &path).await.unwrap(), Replayed::default());
    }

    #[tokio::test]
    async fn replay_keeps_the_file_when_the_database_fails() {
        let path = temp_path("failing");
        save(&path, &[update("doc", b"x")]).unwrap();
        let store = crate::faulty::FaultyStore::new(MemoryStore::new());
        store.set_failing(true);
        let err = replay(&store, &path).await.unwrap_err();
        assert!(matches!(err, UnsavedError::Store { count: 1, .. }), "{err}");
        assert!(path.exists(), "the only copy must stay on disk");
        store.set_failing(false);
        assert_eq!(replay(&store, &path).await.unwrap().updates, 1);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_damaged_tail_is_moved_aside_after_storing_the_rest() {
        let path = temp_path("damaged");
        save(&path, &[update("doc", b"kept")]).unwrap();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"PLU1\x03do")
            .unwrap();
        let written = std::fs::read(&path).unwrap();
        let store = MemoryStore::new();
        let replayed = replay(&store, &path).await.unwrap();
        assert_eq!(replayed.updates, 1);
        assert!(!path.exists());
        let stored = store.load("doc").await.unwrap().unwrap();
        assert_eq!(stored.updates[0].1, b"kept");
        let aside = replayed.damaged_kept_in.expect("moved aside");
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            written,
            "kept whole for the operator"
        );
        std::fs::remove_file(&aside).unwrap();
    }
}
