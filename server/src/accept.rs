//! The accept loop: TCP connections to hyper, with the socket options and time limits that
//! `axum::serve` does not expose.
//!
//! Why not `axum::serve`: it gives hyper no timer, so a client that sends its request headers
//! one byte a minute (slowloris) holds a connection and a task forever. Here every connection
//! gets `TCP_NODELAY` (Nagle plus delayed ACKs would add ~17 ms to small frames) and a header read
//! timeout, and the peer address is attached to each request for the penalty box. Each socket is
//! a [`Lingering`] stream, so that a close frame the server sends is not lost to a reset.
//!
//! Restarts shape two more choices (`plait-bench storm`: 2,000 clients reconnecting at once). The
//! listening socket is [`bind`]ed with a backlog of [`LISTEN_BACKLOG`], not tokio's 1,024: a SYN
//! that finds the queue full is dropped, and its client waits for the kernel's retransmission, 1 s
//! later. And at shutdown the listener is closed *before* any connection is told to close:
//! y-websocket reconnects 100 ms after a close, and a connect must then be refused at once (the
//! client retries on its own backoff) rather than queue on a socket nobody accepts from any more.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::linger::Lingering;

/// How long in-flight HTTP requests may take to finish once shutdown began.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections the kernel completes before the accept loop takes them (capped by
/// `net.core.somaxconn`, 4,096 by default since Linux 5.4).
const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with a backlog of [`LISTEN_BACKLOG`] (`TcpListener::bind` uses 1,024).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does on Unix: a restart may bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `stop` is cancelled; then closes the listener, cancels
/// `shutdown` (what every connection and task watches) and lets in-flight HTTP requests finish
/// (bounded). Upgraded WebSockets are not waited for here: they watch `shutdown` and close
/// themselves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    stop: CancellationToken,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(error) = tcp.set_nodelay(true) {
            debug!(%error, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let (tcp, linger) = Lingering::new(tcp);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            request.extensions_mut().insert(linger.clone());
            let router = router.clone();
            async move {
                let response = match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, %peer, "http connection ended with an error");
            }
        });
    }
    // Refused from here on; only then are the connections told to close (see the module docs).
    drop(listener);
    shutdown.cancel();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("some http connections were still open after the drain timeout");
    }
}
