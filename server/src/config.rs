//! Command line and environment configuration.
//!
//! Every flag has an environment fallback so the same binary can be configured by a process
//! manager (systemd, Kubernetes) or by hand; `plait --help` lists them all.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    Serve(Config),
}

impl Cli {
    /// The server configuration, whichever way it was given.
    pub fn into_config(self) -> Config {
        match self.command {
            Some(Command::Serve(config)) => config,
            None => self.serve,
        }
    }
}

/// Everything the server needs to run. Built by clap, or by tests with [`Config::for_tests`].
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PLAIT_BIND", default_value = "127.0.0.1:1234")]
    pub bind: SocketAddr,

    /// Any SeaORM database URL: `sqlite://path/to.db?mode=rwc` or `postgres://user@host/db`.
    /// The default is the SQLite file `plait.db` in the working directory, created if absent.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://plait.db?mode=rwc"
    )]
    pub database_url: String,

    /// Group commit: the update log is written at most once per interval, one transaction per flush.
    #[arg(long, env = "PLAIT_FLUSH_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub flush_interval: Duration,

    /// Compact a document's log into a snapshot after this many updates.
    #[arg(long, env = "PLAIT_SNAPSHOT_THRESHOLD", default_value_t = 500)]
    pub snapshot_threshold: u64,

    /// Unload a document from memory (after a final flush) this long after its last client leaves.
    #[arg(long, env = "PLAIT_IDLE_UNLOAD", default_value = "30s", value_parser = humantime::parse_duration)]
    pub idle_unload: Duration,

    /// Largest WebSocket message or HTTP update body accepted, in bytes.
    #[arg(long, env = "PLAIT_MAX_MESSAGE_SIZE", default_value_t = 16 * 1024 * 1024)]
    pub max_message_size: usize,

    /// Frames queued for one connection before it is considered too slow and disconnected
    /// (its client reconnects and resyncs).
    #[arg(long, env = "PLAIT_OUTBOUND_QUEUE", default_value_t = 4096)]
    pub outbound_queue: usize,

    /// Keepalive: a ping is sent this often; a connection silent for two intervals is closed.
    #[arg(long, env = "PLAIT_PING_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,

    /// How long shutdown may spend writing what is still pending before giving up.
    #[arg(long, env = "PLAIT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
}

impl Config {
    /// A configuration for tests: the given database, short intervals, loopback.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            flush_interval: Duration::from_millis(20),
            snapshot_threshold: 500,
            idle_unload: Duration::from_secs(30),
            max_message_size: 16 * 1024 * 1024,
            outbound_queue: 4096,
            ping_interval: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}
