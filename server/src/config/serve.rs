//! [`Config`]: everything `plait serve` runs with, each flag with its environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::Args;
use plait_protocol::update_check::DEFAULT_MAX_NESTING;
use plait_storage::writer::{DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_BYTES};

use super::secret::{Secret, SecretArgs, SecretError};
use super::values::{nesting_depth, positive_duration, positive_usize, AllowedOrigins};
use super::webhook::WebhookArgs;
use crate::client_addr::TrustedProxies;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, with the same fields.
    Json,
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

    /// SQLite: how much nicer (lower CPU priority, 0–19) than the server's own threads SQLite's
    /// run, so that a commit's burst of work never holds a keystroke's relay on a shared core;
    /// they still get about a tenth of a busy core at 10. 0 leaves them equal.
    #[arg(long, env = "PLAIT_SQLITE_NICE", default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(0..=19))]
    pub sqlite_nice: u8,

    /// Compact a document's log into a snapshot after this many updates (for a large document,
    /// once they also add up to half its snapshot's size).
    #[arg(long, env = "PLAIT_SNAPSHOT_THRESHOLD", default_value_t = 500)]
    pub snapshot_threshold: u64,

    /// Unload a document from memory (after a final flush) this long after its last client leaves.
    #[arg(long, env = "PLAIT_IDLE_UNLOAD", default_value = "30s", value_parser = humantime::parse_duration)]
    pub idle_unload: Duration,

    /// How long a deleted document (`DELETE /api/docs/{doc}`) stays in the trash, restorable
    /// with `POST /api/docs/{doc}/undelete`, before its log, snapshots and projection are purged.
    #[arg(long, env = "PLAIT_TRASH_RETENTION", default_value = "7days", value_parser = humantime::parse_duration)]
    pub trash_retention: Duration,

    /// A version of a document (its whole state, kept apart from the log) is cut automatically
    /// when it has changed and this long has passed since its latest version.
    #[arg(long, env = "PLAIT_VERSION_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub version_interval: Duration,

    /// How long a document's past stays readable (`GET .../update?at=`, restore to a point,
    /// its history's authors): log rows and automatic versions older than this are folded into
    /// the document's base; named versions stay until deleted. `0` keeps only the current state.
    #[arg(long, env = "PLAIT_HISTORY_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub history_retention: Duration,

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

    /// Documents one Hocuspocus connection (`/hocuspocus`) may open at once. The provider
    /// multiplexes documents on one socket; this bounds what one socket can make the server
    /// load and hold. A further document is refused with PermissionDenied.
    #[arg(long, env = "PLAIT_MAX_DOCUMENTS_PER_SOCKET", default_value_t = 64, value_parser = positive_usize)]
    pub max_documents_per_socket: usize,

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

    /// Serve `GET /metrics` (Prometheus) on this address only, instead of on `--bind`, so that it
    /// need not be public (e.g. `127.0.0.1:9100`).
    #[arg(long, env = "PLAIT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Log lines as text (for people) or one JSON object per line (for log collectors).
    #[arg(long, env = "PLAIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Webhooks: signed POSTs to `--webhook-url`s when documents are created and changed.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

impl Config {
    /// A configuration for tests: the given database, short intervals, loopback, no auth,
    /// default limits.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            flush_interval: Duration::from_millis(20),
            sqlite_nice: 10,
            snapshot_threshold: 500,
            idle_unload: Duration::from_secs(30),
            trash_retention: Duration::from_secs(7 * 24 * 3600),
            version_interval: Duration::from_secs(600),
            history_retention: Duration::from_secs(30 * 24 * 3600),
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
            max_documents_per_socket: 64,
            message_rate: 200,
            message_burst: 1000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            metrics_bind: None,
            log_format: LogFormat::Text,
            webhooks: WebhookArgs::default(),
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
