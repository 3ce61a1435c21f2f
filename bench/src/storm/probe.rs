//! When the restarted server listens again, seen from outside: a TCP probe.

use crate::error::{BenchError, Result};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How often the listen probe tries the port.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(5);

/// `host:port` of a ws:// or wss:// URL template.
pub(super) fn listen_addr(url: &str) -> Result<String> {
    let uri: tokio_tungstenite::tungstenite::http::Uri = url
        .replace("{doc}", "x")
        .parse()
        .map_err(|_| BenchError::Wire("--url is not a URL"))?;
    let host = uri.host().ok_or(BenchError::Wire("--url has no host"))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    Ok(format!("{host}:{port}"))
}

/// When the new server process listens: the first TCP connect that succeeds AFTER one was
/// refused. Requiring a refusal first matters because the old process may still hold its
/// listening socket when its connections close (the kernel completes handshakes on it).
/// Returns (first refusal, listening), or None by `deadline`.
pub(super) async fn probe(addr: String, deadline: Instant) -> Option<(Instant, Instant)> {
    let mut refused = None;
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < deadline {
        tick.tick().await;
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => {
                if let Some(r) = refused {
                    return Some((r, Instant::now()));
                }
            }
            Ok(Err(_)) => {
                refused.get_or_insert_with(Instant::now);
            }
            // A connect that hangs is neither: a listener whose backlog is full, or no answer.
            Err(_) => {}
        }
    }
    None
}
