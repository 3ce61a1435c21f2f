//! `plait revoke`: adds a revocation to the database; every server on it closes the subject's
//! connections and refuses its older tokens (see `auth::revocations`).

use clap::Args;

/// Options of `plait revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The subject (a token's `sub`, as `plait token --sub` sets it) whose tokens issued before
    /// now no longer count.
    #[arg(long)]
    pub sub: String,

    /// Why, kept in the `revocations` table.
    #[arg(long)]
    pub reason: Option<String>,

    /// The database the servers use (the same as `plait serve --database-url`).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://plait.db?mode=rwc"
    )]
    pub database_url: String,
}
