//! `plait check`: the storage crate's diagnosis of a whole database, and its report.

use std::fmt;

use plait_storage::check::CheckReport;
use plait_storage::sea_store::SeaStore;

use super::args::CheckArgs;
use super::error::BackupError;

/// Checks the database `args.database_url`, read-only (see [`plait_storage::check`]).
pub async fn check(args: &CheckArgs) -> Result<CheckReport, BackupError> {
    let store = SeaStore::open_existing(&args.database_url).await?;
    Ok(plait_storage::check::check(&store).await?)
}

/// The report as `plait check` prints it: a summary line, one line per problem, a verdict.
pub struct Report<'a> {
    /// The database checked, as shown (without its password).
    pub database: &'a str,
    pub report: &'a CheckReport,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        writeln!(
            f,
            "checked {} as of log position {}: {} documents, {} log rows, {} snapshots",
            self.database, r.position, r.documents, r.rows, r.snapshots
        )?;
        if r.quarantined > 0 {
            writeln!(
                f,
                "note: {} stored updates were moved to quarantined_updates before (the server \
                 serves their documents without them)",
                r.quarantined
            )?;
        }
        for found in &r.problems {
            writeln!(f, "problem: {found}")?;
        }
        if r.problems.is_empty() {
            writeln!(f, "no problems found")
        } else {
            writeln!(
                f,
                "{} problems in {} documents",
                r.problems.len(),
                r.documents_with_problems()
            )
        }
    }
}
