//! `plait export`: every document of a database as its Yjs v1 state, one file each, and the
//! manifest, from one consistent cut of a database a server may be writing to meanwhile.

use std::fmt;
use std::path::{Path, PathBuf};

use plait_storage::sea_store::cut::Cut;
use plait_storage::sea_store::SeaStore;
use plait_storage::store::Rebuilt;

use super::args::ExportArgs;
use super::error::BackupError;
use super::manifest::{self, Entry, Manifest, Skipped};

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// The directory written.
    pub out: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// What was left out, for the operator (stored updates the server refuses, documents whose
    /// name is not text); also in the manifest's `skipped` lists.
    pub warnings: Vec<String>,
}

/// Exports the database `args.database_url` into the new directory `args.out`. The database is
/// only read (opened read-only, no migration), all of it in one read transaction, so every
/// document is as of one instant. The manifest is written last: a directory without one is an
/// export that did not finish.
pub async fn export(args: &ExportArgs) -> Result<Exported, BackupError> {
    let out = args.out.clone();
    // Opened first: a database that cannot be read leaves no directory behind.
    let store = SeaStore::open_existing(&args.database_url).await?;
    prepare_dir(&out)?;
    let cut = store.cut().await?;
    let mut manifest = Manifest::new(cut.position().await?);
    let mut warnings = Vec::new();
    let mut names = Vec::new();
    for listed in cut.documents().await? {
        match listed.name {
            Ok(name) => names.push(name),
            Err(reason) => warnings.push(format!(
                "document id {} is not exported: {reason} (see `plait check`)",
                listed.id
            )),
        }
    }
    // Byte order of the names, whatever the database's collation: the same export twice is
    // numbered the same.
    names.sort_unstable();
    for (index, name) in names.into_iter().enumerate() {
        if let Some(entry) = export_document(&cut, &out, index + 1, name).await? {
            for skipped in &entry.skipped {
                warnings.push(format!(
                    "{:?}: the stored update at position {} is not exported, the server refuses \
                     it: {} (see `plait check`)",
                    entry.name, skipped.seq, skipped.reason
                ));
            }
            manifest.documents.push(entry);
        }
    }
    cut.finish().await?;
    let written = manifest.clone();
    let dir = out.clone();
    blocking(move || {
        manifest::sync_dir(&dir.join(manifest::DOCS_DIR))?;
        written.write(&dir)
    })
    .await?;
    Ok(Exported {
        out,
        manifest,
        warnings,
    })
}

/// Reads one document in the cut, rebuilds it with the server's own replay and writes its
/// file; `None` if it vanished (it cannot within one transaction, but nothing is then lost).
async fn export_document(
    cut: &Cut,
    out: &Path,
    index: usize,
    name: String,
) -> Result<Option<Entry>, BackupError> {
    let Some(doc) = cut.read(&name).await? else {
        return Ok(None);
    };
    let file = manifest::file_name(index);
    let path = out.join(&file);
    let (snapshot_seq, last_seq) = (doc.stored.snapshot_seq, doc.last_seq);
    // Replaying is CPU work and writing is blocking I/O: both off the async threads.
    let (rebuilt, sha256) = blocking(move || {
        let rebuilt = doc.stored.rebuild();
        manifest::write_synced(&path, &rebuilt.state)?;
        let sha256 = manifest::sha256_hex(&rebuilt.state);
        Ok((rebuilt, sha256))
    })
    .await?;
    let skipped = skipped(&rebuilt);
    Ok(Some(Entry {
        name,
        file,
        bytes: rebuilt.state.len() as u64,
        sha256,
        snapshot_seq,
        last_seq,
        skipped,
    }))
}

/// What the replay left out of the state.
fn skipped(rebuilt: &Rebuilt) -> Vec<Skipped> {
    let mut skipped: Vec<Skipped> = rebuilt
        .refused
        .iter()
        .map(|r| Skipped {
            seq: r.seq,
            reason: r.reason.clone(),
        })
        .chain(rebuilt.incomplete.iter().map(|&seq| Skipped {
            seq,
            reason: "depends on content that no stored update holds".to_owned(),
        }))
        .collect();
    skipped.sort_by_key(|s| s.seq);
    skipped
}

/// Creates `out` and its `docs/`, refusing a directory that already holds anything: an export
/// never mixes with, or overwrites, another.
fn prepare_dir(out: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(out.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BackupError::io(out)(e)),
    }
    let docs = out.join(manifest::DOCS_DIR);
    std::fs::create_dir_all(&docs).map_err(BackupError::io(&docs))
}

/// Runs `work` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Task(e.to_string()))?
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self.manifest.documents.iter().map(|d| d.bytes).sum();
        write!(
            f,
            "exported {} documents ({bytes} bytes) as of log position {} to {}",
            self.manifest.documents.len(),
            self.manifest.position,
            self.out.display()
        )
    }
}
