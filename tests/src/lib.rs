//! End-to-end test harness for Plait: a real server (in-process or the built `plait` binary)
//! driven by yrs clients over real WebSockets, plus the databases, faults and raw sockets the
//! tests in `tests/tests/*.rs` need.
//!
//! # Layout
//! - [`server`]: an in-process server on `127.0.0.1:0` with a shutdown trigger.
//! - [`process`]: the built `plait` binary as a child process (for `kill -9`).
//! - [`backup`]: a fresh database of either kind, checksums apart from the exporter's.
//! - [`cli`]: the binary's one-shot commands (`export`, `import`, `check`) run to their end.
//! - [`client`]: [`client::YClient`], a y-websocket client holding a yrs `Doc` and `Awareness`.
//! - [`raw`]: [`raw::RawClient`], a bare WebSocket for hostile input and byte-exact checks.
//! - [`http`]: a tiny HTTP/1.1 client for the REST routes and the probes.
//! - [`db`], [`ydoc`]: the shared fixtures of `plait-testkit` (throw-away databases, yrs
//!   document helpers), re-exported.
//! - [`proxy`]: a loopback TCP proxy the test can cut, to simulate a database outage.
//! - [`gated`]: a store whose `append` waits until the test opens a gate.
//! - [`tcp_ws`]: a hand-spoken WebSocket over TCP for clients that never read or never pong.

pub mod backup;
pub mod cli;
pub mod client;
pub mod docs_api;
pub mod gated;
pub mod http;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod server;
pub mod tcp_ws;

pub use plait_testkit::{db, ydoc};

use std::time::Duration;

/// Upper bound for any single wait on an event in these tests. Generous because CI machines are
/// small and shared; a passing test never waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Installs a `tracing` subscriber once per test binary (`RUST_LOG` filters, default `warn`), so a
/// failing test shows what the server logged.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second call (another test in the same binary) fails harmlessly.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the message.
///
/// Used for conditions that have no event to await (an HTTP probe, a database row); the 20 ms
/// step keeps it cheap while staying far below any timeout.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_error {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
