//! The export's layout on disk: `manifest.json` and one file per document under `docs/`.
//!
//! Documents are files named by their index (`docs/000001.bin`), not by their names: a name may
//! hold `/`, `..`, any Unicode and up to 255 bytes, which no encoding turns into a file name
//! that every file system takes (percent-encoding can triple it past the 255-byte limit). The
//! real name is in the manifest, next to the file's size and SHA-256, and the document's log
//! positions as they were stored.
//!
//! ```json
//! {
//!   "format": "plait-export",
//!   "version": 1,
//!   "plait_version": "0.1.0",
//!   "exported_at": "2026-12-07T10:00:00Z",
//!   "position": 57,
//!   "documents": [
//!     { "name": "team/notes", "file": "docs/000001.bin", "bytes": 1234,
//!       "sha256": "9f86d0…", "snapshot_seq": 40, "last_seq": 57 }
//!   ]
//! }
//! ```

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use plait_storage::store::Seq;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::BackupError;

/// `format` of every manifest this program writes.
pub const FORMAT: &str = "plait-export";
/// The layout's version: a reader refuses a later one rather than misread it.
pub const VERSION: u32 = 1;
/// The manifest's file name inside the export directory.
pub const MANIFEST: &str = "manifest.json";
/// The directory of the documents' files inside the export directory.
pub const DOCS_DIR: &str = "docs";

/// What `plait export` wrote: written last, so a directory without it is an interrupted export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout's version ([`VERSION`]).
    pub version: u32,
    /// The version of the `plait` that wrote it.
    pub plait_version: String,
    /// When the export began.
    pub exported_at: DateTime<Utc>,
    /// The highest log position of the source database in the cut: every document is as of
    /// that instant.
    pub position: Seq,
    /// The documents, by name (byte order).
    pub documents: Vec<Entry>,
}

/// One document of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The document's name, exactly as stored.
    pub name: String,
    /// Its file, relative to the export directory, `/`-separated.
    pub file: String,
    /// The file's size: the whole document as one Yjs v1 update.
    pub bytes: u64,
    /// The file's SHA-256, in lowercase hex.
    pub sha256: String,
    /// The position its snapshot covered in the source (0: none).
    pub snapshot_seq: Seq,
    /// Its highest position in the source (its last log row's, or its snapshot's).
    pub last_seq: Seq,
    /// Stored updates the server refuses (it would quarantine them), not in the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A stored update left out of an export, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its position (for the snapshot, the position it covers).
    pub seq: Seq,
    /// Why the server's replay refuses it.
    pub reason: String,
}

impl Manifest {
    /// An empty manifest for an export beginning now, at `position`.
    pub fn new(position: Seq) -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            version: VERSION,
            plait_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: Utc::now(),
            position,
            documents: Vec::new(),
        }
    }

    /// Reads and checks `dir`'s manifest.
    pub fn read(dir: &Path) -> Result<Manifest, BackupError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| BackupError::Manifest {
            path: path.clone(),
            reason: format!("{e} (is this a directory written by `plait export`?)"),
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest {
                path: path.clone(),
                reason: format!("not a Plait export manifest: {e}"),
            })?;
        if manifest.format != FORMAT || manifest.version > VERSION {
            return Err(BackupError::Manifest {
                path,
                reason: format!(
                    "format {:?} version {}, this plait reads {FORMAT:?} up to version {VERSION}",
                    manifest.format, manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    /// Writes it into `dir`, through a temporary file renamed over the final name so that a
    /// manifest is never half-written, and flushed to disk with its directory.
    pub fn write(&self, dir: &Path) -> Result<(), BackupError> {
        let path = dir.join(MANIFEST);
        let temporary = dir.join(format!("{MANIFEST}.tmp"));
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| BackupError::Manifest {
            path: path.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        json.push(b'\n');
        write_synced(&temporary, &json)?;
        std::fs::rename(&temporary, &path).map_err(BackupError::io(&path))?;
        sync_dir(dir)
    }
}

/// The file of the `index`th document (from 1), relative to the export directory.
pub fn file_name(index: usize) -> String {
    format!("{DOCS_DIR}/{index:06}.bin")
}

/// `file` (from a manifest) inside `dir`, refusing anything but a plain relative path: a
/// manifest is input, and `../../etc/passwd` or `/etc/passwd` must not be read.
pub fn resolve(dir: &Path, file: &str) -> Option<PathBuf> {
    let relative = Path::new(file);
    let plain = relative.components().count() > 0
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| dir.join(relative))
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to a new file at `path` and flushes it to disk: an export is a backup, and a
/// backup the page cache lost in a power cut is no backup.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(BackupError::io(path))?;
    file.write_all(bytes).map_err(BackupError::io(path))?;
    file.sync_all().map_err(BackupError::io(path))
}

/// Flushes a directory's entries (the names of the files just written) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_numbered_and_manifest_paths_stay_inside() {
        assert_eq!(file_name(1), "docs/000001.bin");
        assert_eq!(file_name(1_234_567), "docs/1234567.bin");
        let dir = Path::new("/backups/x");
        assert_eq!(
            resolve(dir, "docs/000001.bin"),
            Some(PathBuf::from("/backups/x/docs/000001.bin"))
        );
        for hostile in [
            "../etc/passwd",
            "/etc/passwd",
            "docs/../../x",
            "",
            "./docs/1.bin",
        ] {
            assert_eq!(resolve(dir, hostile), None, "{hostile}");
        }
    }

    #[test]
    fn checksums_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_later_version_or_another_format_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("plait-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut manifest = Manifest::new(7);
        manifest.write(&dir)?;
        assert_eq!(Manifest::read(&dir)?, manifest);
        manifest.version = VERSION + 1;
        manifest.write(&dir)?;
        assert!(Manifest::read(&dir).is_err());
        manifest.version = VERSION;
        manifest.format = "something-else".into();
        manifest.write(&dir)?;
        assert!(Manifest::read(&dir).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
