//! The command lines of `plait export`, `plait import` and `plait check`.

use std::path::PathBuf;

use clap::Args;

/// `plait export`: the database it reads and the directory it writes.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The database to export, as for `plait serve`. It is only read (a SQLite file is opened
    /// read-only), so a server may keep running on it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://plait.db?mode=rwc"
    )]
    pub database_url: String,

    /// A new or empty directory: `manifest.json` and one file per document under `docs/`.
    #[arg(long)]
    pub out: PathBuf,
}

/// `plait import`: the export it reads and the database it writes.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The database to import into, as for `plait serve` (created and migrated if needed). A
    /// server may be running on it: its clients see the documents arrive.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://plait.db?mode=rwc"
    )]
    pub database_url: String,

    /// Merge the export into documents the database already has (a Yjs merge: nothing of
    /// either side is lost). Without it, such documents make the import refuse, before
    /// anything is written.
    #[arg(long)]
    pub merge: bool,

    /// The directory `plait export` wrote.
    pub dir: PathBuf,
}

/// `plait check`: the database it reads.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The database to check, as for `plait serve`. It is only read: nothing is repaired or
    /// moved to quarantine.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://plait.db?mode=rwc"
    )]
    pub database_url: String,
}
