//! Command line and environment configuration.
//!
//! Every flag has an environment fallback so the same binary can be configured by a process
//! manager (systemd, Kubernetes) or by hand; `plait --help` lists them all.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use plait_protocol::update_check::{DEFAULT_MAX_NESTING, MAX_NESTING_LIMIT};
use plait_storage::writer::{DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_BYTES};

use crate::auth::{normalize_origin, Mode};
use crate::client_addr::TrustedProxies;

/// Shortest accepted auth secret. HS256 keys shorter than the 32-byte hash output make brute
/// force of a captured token cheaper than it needs to be (RFC 7518 §3.2).
pub const MIN_SECRET_LEN: usize = 32;

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
}

/// What the binary was asked to do, with the options each action needs.
#[derive(Debug)]
pub enum Action {
    /// Serve with this configuration (boxed: it is several times the size of the other).
    Serve(Box<Config>),
    /// Print one token.
    Token(TokenArgs),
}

impl Cli {
    /// The server configuration, whichever way it was given. For `plait token` this is the
    /// top-level options (use [`Cli::into_action`] to dispatch).
    pub fn into_config(self) -> Config {
        match self.command {
            Some(Command::Serve(config)) => *config,
            Some(Command::Token(_)) | None => self.serve,
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

    /// Optional subject (`sub` claim), e.g. a user name; it only appears in server logs.
    #[arg(long)]
    pub sub: Option<String>,

    /// The signing secret: the same flags and environment variables as the server's.
    #[command(flatten)]
    pub auth: SecretArgs,
}

/// Where the token-signing secret comes from. Shared by `serve` and `token` so an operator
/// configures it once (usually through the environment) for both.
#[derive(Debug, Clone, Default, Args)]
pub struct SecretArgs {
    /// Enables authentication: every WebSocket and `/api` request then needs an HS256 token
    /// signed with this secret (at least 32 bytes). Prefer the file or environment form: a flag
    /// is visible to other local users in the process list.
    #[arg(
        long,
        env = "PLAIT_AUTH_SECRET",
        hide_env_values = true,
        conflicts_with = "auth_secret_file"
    )]
    pub auth_secret: Option<Secret>,

    /// Like `--auth-secret`, read from a file (a trailing newline is ignored). Suits Docker and
    /// Kubernetes secrets.
    #[arg(long, env = "PLAIT_AUTH_SECRET_FILE")]
    pub auth_secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// Neither form was given.
    pub fn is_empty(&self) -> bool {
        self.auth_secret.is_none() && self.auth_secret_file.is_none()
    }

    /// The secret's bytes, `None` if authentication is off, or why the configured one is unusable.
    pub fn resolve(&self) -> Result<Option<Vec<u8>>, SecretError> {
        let secret = match (&self.auth_secret, &self.auth_secret_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => return Err(SecretError::Both),
            (Some(secret), None) => secret.0.as_bytes().to_vec(),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path).map_err(|source| SecretError::Read {
                    path: path.clone(),
                    source,
                })?;
                // `echo secret > file` and editors add a final newline; it is not part of the key.
                while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                    bytes.pop();
                }
                bytes
            }
        };
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len: secret.len() });
        }
        Ok(Some(secret))
    }
}

/// The auth secret as given on the command line or in the environment. A newtype so that
/// `Debug` (and therefore `{:?}` of the whole [`Config`]) never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why the configured auth secret cannot be used. Start-up stops on it rather than silently
/// running without authentication.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Too short to be a safe HMAC key.
    #[error(
        "the auth secret is {len} bytes long; at least {MIN_SECRET_LEN} are required \
         (generate one with `openssl rand -base64 48`)"
    )]
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The secret file could not be read.
    #[error("cannot read the auth secret file {path}: {source}")]
    Read {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Both `--auth-secret` and `--auth-secret-file` (or their variables) were set.
    #[error("set either --auth-secret (PLAIT_AUTH_SECRET) or --auth-secret-file (PLAIT_AUTH_SECRET_FILE), not both")]
    Both,
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

    /// Compact a document's log into a snapshot after this many updates (for a large document,
    /// once they also add up to half its snapshot's size).
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
    /// Bytes of frames queued per connection before it is dropped as too slow (4000). A frame is
    /// always taken while less is queued, so one larger than this (a big document's sync)
    /// still goes out.
    #[arg(long, env = "PLAIT_OUTBOUND_QUEUE_BYTES", default_value_t = 32 * 1024 * 1024, value_parser = positive_usize)]
    pub outbound_queue_bytes: usize,

    /// Messages queued per document before the connections sending them wait (their clients'
    /// TCP windows then push back). Enough to absorb a burst from many connections.
    #[arg(long, env = "PLAIT_DOC_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub doc_queue: usize,

    /// Keepalive: a ping is sent this often; a connection silent for two intervals is closed.
    #[arg(long, env = "PLAIT_PING_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,

    /// How long shutdown may spend writing what is still pending before giving up.
    #[arg(long, env = "PLAIT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Where shutdown keeps the updates it could not store because the database was down: a
    /// local file that the next start writes to the database before serving anything.
    #[arg(long, env = "PLAIT_UNSAVED_FILE", default_value = "plait-unsaved.bin")]
    pub unsaved_file: Option<PathBuf>,

    /// Updates held in memory for a database that does not take them, at which the server stops
    /// taking edits: WebSocket upgrades (except with read-only tokens) and `POST .../update` get
    /// 503, and a connection that sends a change is closed with 1013. Clients keep their edits
    /// and send them when they reconnect after the database is back. 0: no limit (memory grows
    /// for as long as the outage lasts).
    #[arg(long, env = "PLAIT_MAX_PENDING_UPDATES", default_value_t = DEFAULT_MAX_PENDING)]
    pub max_pending_updates: usize,
    /// Bytes of updates held for a down database at which the server stops taking edits, like
    /// `--max-pending-updates`; 0: no limit.
    #[arg(long, env = "PLAIT_MAX_PENDING_BYTES", default_value_t = DEFAULT_MAX_PENDING_BYTES)]
    pub max_pending_bytes: usize,

    /// The token-signing secret; authentication is off when neither form is set.
    #[command(flatten)]
    pub auth: SecretArgs,

    /// Browser origins allowed to open a WebSocket, comma-separated
    /// (`https://app.example.com,http://localhost:5173`). Guards against cross-site WebSocket
    /// hijacking. Empty (the default) allows any origin; requests without `Origin` (non-browser
    /// clients) are always allowed.
    #[arg(long, env = "PLAIT_ALLOWED_ORIGINS", default_value = "", hide_default_value = true, value_parser = AllowedOrigins::parse)]
    pub allowed_origins: AllowedOrigins,

    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated addresses or
    /// networks, e.g. `127.0.0.1,10.0.0.0/8`). The reconnect penalty then applies per client, not
    /// to everyone behind the proxy. Empty (the default): the header is ignored.
    #[arg(long, env = "PLAIT_TRUSTED_PROXIES", default_value = "", hide_default_value = true, value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// Largest encoded state of one document, in bytes. Protects memory and storage from a
    /// client growing a document without bound: an update that would pass it is refused, the
    /// document stays as it was and the sender is disconnected.
    #[arg(long, env = "PLAIT_MAX_DOC_SIZE", default_value_t = 64 * 1024 * 1024, value_parser = positive_usize)]
    pub max_doc_size: usize,
    /// How deeply JSON values and shared types may nest in an update (1 to 1000). Deeper updates
    /// are refused before they are decoded: HTTP 400, WebSocket close 1007.
    #[arg(long, env = "PLAIT_MAX_NESTING_DEPTH", default_value_t = DEFAULT_MAX_NESTING, value_parser = nesting_depth)]
    pub max_nesting_depth: usize,

    /// Open WebSocket connections in total. Protects file descriptors and memory from a flood of
    /// connections; further upgrades are refused with 503.
    #[arg(long, env = "PLAIT_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = positive_usize)]
    pub max_connections: usize,

    /// Open WebSocket connections to one document. Protects one document's broadcast fan-out (each
    /// update is sent to every peer) from one hot or attacked document.
    #[arg(long, env = "PLAIT_MAX_CONNECTIONS_PER_DOC", default_value_t = 500, value_parser = positive_usize)]
    pub max_connections_per_doc: usize,

    /// Messages per second one connection may send, sustained (token-bucket refill rate).
    /// Protects CPU and the other peers from one chatty or hostile client.
    #[arg(long, env = "PLAIT_MESSAGE_RATE", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub message_rate: u32,

    /// Messages one connection may send in a burst above the rate (token-bucket capacity), so
    /// an initial sync or a paste is not throttled.
    #[arg(long, env = "PLAIT_MESSAGE_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub message_burst: u32,

    /// The HTTP request / WebSocket upgrade must complete, and the client's first message must
    /// arrive, within this time. Protects against slowloris and clients that connect and never speak.
    #[arg(long, env = "PLAIT_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub handshake_timeout: Duration,

    /// A connection that sends no frame at all (not even a pong) for this long is closed.
    /// Protects against half-open TCP connections and abandoned clients holding resources.
    #[arg(long, env = "PLAIT_IDLE_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub idle_timeout: Duration,
}

impl Config {
    /// A configuration for tests: the given database, short intervals, loopback, no auth,
    /// default limits.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            flush_interval: Duration::from_millis(20),
            snapshot_threshold: 500,
            idle_unload: Duration::from_secs(30),
            max_message_size: 16 * 1024 * 1024,
            outbound_queue: 4096,
            outbound_queue_bytes: 32 * 1024 * 1024,
            doc_queue: 1024,
            ping_interval: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            // Tests run side by side: a shared default file would hand one test's updates to
            // another's server. Tests that need it set their own.
            unsaved_file: None,
            max_pending_updates: DEFAULT_MAX_PENDING,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            auth: SecretArgs::default(),
            allowed_origins: AllowedOrigins::default(),
            trusted_proxies: TrustedProxies::default(),
            max_doc_size: 64 * 1024 * 1024,
            max_nesting_depth: DEFAULT_MAX_NESTING,
            max_connections: 10_000,
            max_connections_per_doc: 500,
            message_rate: 200,
            message_burst: 1000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    /// The same configuration with authentication on (tests).
    pub fn with_auth_secret(mut self, secret: impl Into<String>) -> Self {
        self.auth = SecretArgs {
            auth_secret: Some(Secret(secret.into())),
            auth_secret_file: None,
        };
        self
    }

    /// The token-signing secret: `Ok(None)` when authentication is off, an error when the
    /// configured secret is unreadable or shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn auth_secret(&self) -> Result<Option<Vec<u8>>, SecretError> {
        self.auth.resolve()
    }
}

/// `--max-nesting-depth`: 1 to [`MAX_NESTING_LIMIT`] (deeper would exhaust a thread's stack).
fn nesting_depth(s: &str) -> Result<usize, String> {
    match positive_usize(s)? {
        n if n > MAX_NESTING_LIMIT => Err(format!(
            "must be at most {MAX_NESTING_LIMIT}: yrs reads and deletes nested values by \
             recursion, and deeper nesting would exhaust a thread's stack"
        )),
        n => Ok(n),
    }
}

fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A humantime duration (`30s`, `15m`, `1h`) that is not zero: a zero timeout or TTL is always
/// a mistake.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (examples: 30s, 15m, 1h)")),
    }
}

/// The `--allowed-origins` list, normalised (lower-case, no trailing `/`). Dereferences to
/// `[String]` for [`origin_allowed`](crate::auth::origin_allowed). A newtype rather than a clap
/// list so that an empty `PLAIT_ALLOWED_ORIGINS=` means "any origin" instead of an error, and
/// stray commas are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(pub Vec<String>);

impl AllowedOrigins {
    /// Parses a comma-separated list of `scheme://host[:port]` origins; blank entries are skipped.
    pub fn parse(list: &str) -> Result<AllowedOrigins, String> {
        list.split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .map(AllowedOrigins)
    }
}

impl std::ops::Deref for AllowedOrigins {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// One entry of `--allowed-origins`: `scheme://host[:port]`, as browsers send it in `Origin`.
fn parse_origin(s: &str) -> Result<String, String> {
    let origin = normalize_origin(s);
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(format!(
            "{s:?} is not an origin; write it as scheme://host[:port], e.g. https://app.example.com"
        ));
    };
    if scheme.is_empty() || host.is_empty() || host.contains('/') {
        return Err(format!(
            "{s:?} is not an origin (no path allowed); e.g. https://app.example.com"
        ));
    }
    Ok(origin)
}

#[cfg(test)]
mod tests;
