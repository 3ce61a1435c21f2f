//! [`TcpProxy`]: a loopback TCP forwarder the test can cut and restore, to make a real
//! PostgreSQL server stop answering mid-session without touching the cluster other tests use.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards every connection on its own port to `target`.
///
/// While cut, established connections are reset and new ones are closed as soon as they are
/// accepted: to the server it looks like a database that went away.
pub struct TcpProxy {
    addr: SocketAddr,
    /// Whether new connections are forwarded.
    open: Arc<AtomicBool>,
    /// Bumped on every cut; each forwarding task ends when it changes (or when the proxy drops).
    cuts: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind proxy")?;
        let addr = listener.local_addr()?;
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let accept_open = open.clone();
        let accept_cuts = cuts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !accept_open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = accept_cuts.subscribe();
                tokio::spawn(forward(inbound, target, cut));
            }
        });
        Ok(TcpProxy {
            addr,
            open,
            cuts,
            accept,
        })
    }

    /// The proxy's own address (give this to the server).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every forwarded connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Ends every forwarding task too: their `changed()` fails once the sender is gone.
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr, mut cut: watch::Receiver<u64>) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.changed() => {}
    }
    // Both streams drop here: the server sees its database connection end.
}
