//! `plait import`: an export's documents appended to a database through the normal storage
//! path, so the database's triggers, the change feed, the webhooks and any server running on it
//! see them as they see any edit.
//!
//! Every file is checked before anything is written (its size and SHA-256 against the manifest,
//! and its state replayed with the checks every stored row meets), so a damaged export imports
//! nothing. A document the target already has is refused, unless `--merge`: then Yjs merges
//! the two (whatever either side holds is kept; what both hold counts once) and only what the
//! export adds is appended, which is also what makes running an interrupted import again with
//! `--merge` safe and cheap.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use plait_protocol::name::DocName;
use plait_protocol::session::{self, DocLimits};
use plait_storage::sea_store::SeaStore;
use plait_storage::store::{replay_blocking, DocStore, NewUpdate};

use super::args::ImportArgs;
use super::error::BackupError;
use super::export::blocking;
use super::manifest::{self, Entry, Manifest};

/// Bytes of documents appended in one transaction at most: an import of a large database is a
/// series of transactions of the writer's size, not one that holds everything in memory.
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Documents appended in one transaction at most.
const BATCH_DOCS: usize = 1024;

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    /// The export directory read.
    pub dir: PathBuf,
    /// Documents imported.
    pub documents: usize,
    /// Their total size, in bytes.
    pub bytes: u64,
    /// Of them, those the target already had and that gained something (only with `--merge`).
    pub merged: usize,
    /// Of them, those the target already had whole: nothing was appended (only with `--merge`).
    pub unchanged: usize,
}

/// Imports the export in `args.dir` into `args.database_url` (created and migrated if needed,
/// as `plait serve` would). Checks everything first; then appends in transactions of at most
/// [`BATCH_BYTES`], so an import stopped halfway (the database went away) leaves the documents
/// of the transactions that committed: run it again with `--merge` to finish.
pub async fn import(args: &ImportArgs) -> Result<Imported, BackupError> {
    let dir = args.dir.clone();
    let (manifest, bytes) = blocking(move || {
        let manifest = Manifest::read(&dir)?;
        check_names(&dir, &manifest)?;
        let mut bytes = 0;
        for entry in &manifest.documents {
            verify(&dir, entry, true)?;
            bytes += entry.bytes;
        }
        Ok((manifest, bytes))
    })
    .await?;
    let store = SeaStore::connect(&args.database_url).await?;
    let existing = existing(&store, &manifest).await?;
    if !existing.is_empty() && !args.merge {
        let mut names: Vec<String> = existing.into_iter().collect();
        names.sort_unstable();
        return Err(BackupError::Exists(names));
    }
    let mut batch: Vec<NewUpdate> = Vec::new();
    let (mut batch_bytes, mut unchanged) = (0, 0);
    for entry in &manifest.documents {
        // Read again rather than kept from the check: memory holds one batch, not the export.
        // The checksum is checked again (the files could have changed since), not the replay.
        let (dir, read) = (args.dir.clone(), entry.clone());
        let mut data = blocking(move || verify(&dir, &read, false)).await?;
        if existing.contains(&entry.name) {
            match news(&store, entry, data).await? {
                Some(delta) => data = delta,
                None => {
                    unchanged += 1;
                    continue;
                }
            }
        }
        batch_bytes += data.len();
        batch.push(NewUpdate {
            doc: entry.name.clone(),
            data: Bytes::from(data),
            authors: None,
        });
        if batch_bytes >= BATCH_BYTES || batch.len() >= BATCH_DOCS {
            store.append(&batch).await?;
            batch.clear();
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        store.append(&batch).await?;
    }
    Ok(Imported {
        dir: args.dir.clone(),
        documents: manifest.documents.len(),
        bytes,
        merged: existing.len() - unchanged,
        unchanged,
    })
}

/// Every name must be one the server serves, and appear once.
fn check_names(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let mut seen = HashSet::new();
    for entry in &manifest.documents {
        let reason = match DocName::parse(&entry.name) {
            Err(e) => e.to_string(),
            Ok(_) if !seen.insert(entry.name.as_str()) => "named twice".to_owned(),
            Ok(_) => continue,
        };
        return Err(BackupError::Manifest {
            path: dir.join(manifest::MANIFEST),
            reason: format!("document {:?}: {reason}; nothing was imported", entry.name),
        });
    }
    Ok(())
}

/// Reads `entry`'s file and checks it against the manifest (size, SHA-256) and, with `replay`,
/// that the server's replay takes it whole: the checks every stored row meets, nothing refused,
/// nothing missing. Returns its bytes.
fn verify(dir: &Path, entry: &Entry, replay: bool) -> Result<Vec<u8>, BackupError> {
    let bad = |path: &Path, reason: String| BackupError::BadFile {
        path: path.to_path_buf(),
        doc: entry.name.clone(),
        reason,
    };
    let path = manifest::resolve(dir, &entry.file).ok_or_else(|| {
        bad(
            Path::new(&entry.file),
            "not a relative path inside the export directory".to_owned(),
        )
    })?;
    let data = std::fs::read(&path).map_err(|e| bad(&path, e.to_string()))?;
    if data.len() as u64 != entry.bytes {
        let reason = format!(
            "{} bytes, the manifest says {}: the file is damaged",
            data.len(),
            entry.bytes
        );
        return Err(bad(&path, reason));
    }
    let sha256 = manifest::sha256_hex(&data);
    if !sha256.eq_ignore_ascii_case(&entry.sha256) {
        let reason = format!(
            "its SHA-256 is {sha256}, the manifest says {}: the file is damaged",
            entry.sha256
        );
        return Err(bad(&path, reason));
    }
    if replay {
        // Checked as the log row it becomes, by the replay the server runs at each load.
        let rows = [(1, data)];
        let replayed = session::replay(None, 0, &rows, DocLimits::default());
        if let Some(refused) = replayed.refused.first() {
            let reason = format!("not a valid Yjs v1 update: {}", refused.reason);
            return Err(bad(&path, reason));
        }
        if !replayed.incomplete.is_empty() {
            let reason = "the state depends on content it does not hold".to_owned();
            return Err(bad(&path, reason));
        }
        let [(_, data)] = rows;
        return Ok(data);
    }
    Ok(data)
}

/// What the export's state `data` adds to the document the target already has, as one update
/// (`None`: nothing): the target's document is rebuilt with the server's replay and the state
/// integrated into it as a stored update, whose delta is what was new. Only that is appended,
/// so importing the same export twice appends nothing the second time.
async fn news(
    store: &SeaStore,
    entry: &Entry,
    data: Vec<u8>,
) -> Result<Option<Vec<u8>>, BackupError> {
    let Some(stored) = store.load(&entry.name).await? else {
        // Gone since it was listed: all of it is new.
        return Ok(Some(data));
    };
    let mut replayed = replay_blocking(stored, DocLimits::default()).await?;
    let integrated = blocking(move || Ok(replayed.state.integrate_stored(&data))).await?;
    integrated
        .map(|integrated| integrated.delta)
        .map_err(|e| BackupError::Merge {
            doc: entry.name.clone(),
            reason: e.to_string(),
        })
}

/// The export's documents that the target database already has.
async fn existing(store: &SeaStore, manifest: &Manifest) -> Result<HashSet<String>, BackupError> {
    let cut = store.cut().await?;
    let stored: HashSet<String> = cut
        .documents()
        .await?
        .into_iter()
        .filter_map(|listed| listed.name.ok())
        .collect();
    cut.finish().await?;
    Ok(manifest
        .documents
        .iter()
        .filter(|entry| stored.contains(&entry.name))
        .map(|entry| entry.name.clone())
        .collect())
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} documents ({} bytes) from {}: {} new, {} merged into existing \
             documents, {} already up to date",
            self.documents,
            self.bytes,
            self.dir.display(),
            self.documents - self.merged - self.unchanged,
            self.merged,
            self.unchanged
        )
    }
}
