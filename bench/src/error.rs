//! The one error type of the load generator.

use std::time::Duration;

/// Why a scenario (or one client of it) failed. Per-client failures during a
/// run are counted in the results rather than aborting it; this type exists so
/// that those counts carry a readable cause and so that setup failures (bad
/// trace file, no client could connect) end the run with a clear message.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("malformed message from the server: {0}")]
    Wire(&'static str),
    #[error("undecodable update: {0}")]
    Update(String),
    #[error("server refused {doc}: {reason}")]
    Refused { doc: String, reason: String },
    #[error("server closed the connection ({0})")]
    Closed(String),
    #[error("{what} timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("trace: {0}")]
    Trace(String),
    #[error("no client could connect: {0}")]
    NoClients(String),
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error("runtime: {0}")]
    Runtime(String),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
