//! Backups and moves from the command line: `plait export`, `plait import`, `plait check`.
//!
//! The queries are storage's (`SeaStore::open_existing`, the consistent cut, the check); here
//! is what concerns files and the operator.
//!
//! # Layout
//! - `args`: the three command lines.
//! - `manifest`: the export's layout on disk (the manifest, file names, checksums).
//! - `export`: a consistent cut of a database written into a directory.
//! - `import`: an export checked whole, then appended through the normal storage path.
//! - `check`: storage's diagnosis of a database, and the report printed.
//! - `error`: [`error::BackupError`].

pub mod args;
pub mod check;
pub mod error;
pub mod export;
pub mod import;
pub mod manifest;
