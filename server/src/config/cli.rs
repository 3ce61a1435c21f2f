//! The `plait` command line: `serve` (the default), `token`, `healthcheck`, and the backup
//! commands `export`, `import` and `check`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::revoke::RevokeArgs;
use super::secret::SecretArgs;
use super::serve::Config;
use super::values::positive_duration;
use crate::auth::Mode;
use crate::backup::args::{CheckArgs, ExportArgs, ImportArgs};

/// The `plait` command line.
#[derive(Debug, Parser)]
#[command(
    name = "plait",
    version,
    about = "Plait: a self-hosted, Yjs-compatible collaboration server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for `plait serve`, also accepted without the subcommand (`plait` alone serves).
    #[command(flatten)]
    pub serve: Config,
}

/// The subcommands; `serve` is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collaboration server (the default when no subcommand is given).
    Serve(Box<Config>),
    /// Mint an access token with the server's secret and print it on stdout.
    Token(TokenArgs),
    /// Probe a running server: exit 0 if its `/readyz` answers 200, else 1 (a container's
    /// HEALTHCHECK, where there is no curl).
    Healthcheck {
        /// The server's address; 0.0.0.0 or [::] means this host.
        #[arg(long, env = "PLAIT_BIND", default_value = "127.0.0.1:1234")]
        bind: SocketAddr,
    },
    /// Write every document's state and a manifest into a new directory, from one consistent
    /// read of the database (a server may keep running on it): a backup, or a move.
    Export(ExportArgs),
    /// Check an export's files, then add its documents to a database through the normal
    /// storage path; refuses documents the database already has, unless --merge.
    Import(ImportArgs),
    /// Read every document and report rows that do not decode and documents whose log and
    /// snapshot disagree, without changing anything; exit status 1 if there is any.
    Check(CheckArgs),
    /// Revoke a subject's tokens issued before now: every server on the database closes its
    /// open connections (4401) and refuses those tokens.
    Revoke(RevokeArgs),
}

/// What the binary was asked to do, with the options each action needs.
#[derive(Debug)]
pub enum Action {
    /// Serve with this configuration (boxed: it is several times the size of the other).
    Serve(Box<Config>),
    /// Print one token.
    Token(TokenArgs),
    /// Probe `/readyz` at this address.
    Healthcheck(SocketAddr),
    /// `plait export`.
    Export(ExportArgs),
    /// `plait import`.
    Import(ImportArgs),
    /// `plait check`.
    Check(CheckArgs),
    /// `plait revoke`.
    Revoke(RevokeArgs),
}

impl Cli {
    /// The server configuration, whichever way it was given. For `plait token` this is the
    /// top-level options (use [`Cli::into_action`] to dispatch).
    pub fn into_config(self) -> Config {
        match self.command {
            Some(Command::Serve(config)) => *config,
            Some(
                Command::Token(_)
                | Command::Healthcheck { .. }
                | Command::Export(_)
                | Command::Import(_)
                | Command::Check(_)
                | Command::Revoke(_),
            )
            | None => self.serve,
        }
    }

    /// What to run. A secret given before the subcommand (`plait --auth-secret-file f token ...`)
    /// is used by `token` when it has none of its own, so both spellings work.
    pub fn into_action(self) -> Action {
        match self.command {
            Some(Command::Serve(config)) => Action::Serve(config),
            None => Action::Serve(Box::new(self.serve)),
            Some(Command::Token(mut args)) => {
                if args.auth.is_empty() {
                    args.auth = self.serve.auth;
                }
                Action::Token(args)
            }
            Some(Command::Healthcheck { bind }) => Action::Healthcheck(bind),
            Some(Command::Export(args)) => Action::Export(args),
            Some(Command::Import(args)) => Action::Import(args),
            Some(Command::Check(args)) => Action::Check(args),
            Some(Command::Revoke(args)) => Action::Revoke(args),
        }
    }
}

/// Options of `plait token`: the operator's way to hand out access without writing code.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The document the token opens: an exact name (`notes`), or a prefix ending in `*`
    /// (`team-a/*` opens every document whose name starts with `team-a/`; `*` opens all).
    #[arg(long)]
    pub doc: String,

    /// `read`: receive the document and live updates, share presence, never change it.
    /// `write`: also send updates.
    #[arg(long, value_enum)]
    pub mode: Mode,

    /// How long the token is valid: `30s`, `15m`, `1h`, `7days`.
    #[arg(long, default_value = "1h", value_parser = positive_duration)]
    pub ttl: Duration,

    /// Optional subject (`sub` claim), e.g. a user name: shown in server logs, and what
    /// `plait revoke --sub` names to cut the user off.
    #[arg(long)]
    pub sub: Option<String>,

    /// The signing secret: the same flags and environment variables as the server's.
    #[command(flatten)]
    pub auth: SecretArgs,
}
