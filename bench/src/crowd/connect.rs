//! The crowd's sockets: the file limit, the server's address, and one connection from a chosen
//! loopback source address.

use crate::client::{self, Synced, Target};
use crate::error::{BenchError, Result};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::MaybeTlsStream;

/// Raise the soft open-file limit to the hard one (libc, already in the tree via tokio): every
/// connection is a descriptor, and shells often start at 1024 below a far higher hard limit.
pub(super) fn raise_nofile() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        ..lim
    };
    // SAFETY: setrlimit only reads the struct; failure leaves the limit as it was.
    if lim.rlim_cur < lim.rlim_max && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0
    {
        lim = raised;
    }
    Some((lim.rlim_cur, lim.rlim_max))
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Io { path: what, source }
}

/// The server's IPv4 address, resolved once rather than per connection (ws:// only: the
/// connections are plain TCP).
pub(super) async fn destination(url: &str) -> Result<SocketAddr> {
    let req = url.replace("{doc}", "x").into_client_request()?;
    let (host, port) = (req.uri().host().unwrap_or_default(), req.uri().port_u16());
    let addrs = tokio::net::lookup_host((host, port.unwrap_or(80))).await;
    let no = || std::io::Error::new(std::io::ErrorKind::NotFound, "no IPv4 address");
    let mut addrs = addrs.map_err(io(url.into()))?;
    addrs
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| io(url.into())(no()))
}

/// One connection from `source` (None: the kernel's choice): TCP, upgrade, sync. Returns it,
/// its local address and when its connect began.
pub(super) async fn open(
    t: &Target,
    dest: SocketAddr,
    source: Option<Ipv4Addr>,
    doc: &str,
) -> Result<(Synced, SocketAddr, std::time::Instant)> {
    let started = std::time::Instant::now();
    let what = |op: &str| format!("{op} {dest} from {source:?}");
    let sock = TcpSocket::new_v4().map_err(io(what("socket")))?;
    if let Some(ip) = source {
        sock.bind((ip, 0).into()).map_err(io(what("bind")))?;
    }
    let stream = sock.connect(dest).await.map_err(io(what("connect")))?;
    // TCP_NODELAY: with Nagle, small updates wait for delayed ACKs (~40 ms).
    stream.set_nodelay(true).map_err(io(what("nodelay")))?;
    let local = stream.local_addr().map_err(io(what("local_addr")))?;
    let request = t.url.replace("{doc}", doc).into_client_request()?;
    // tungstenite reserves a 128 KiB read buffer per socket by default: 2.3 GB for 18,000
    // connections, for frames of a few dozen bytes.
    let config = Some(WebSocketConfig::default().read_buffer_size(4096));
    let stream = MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, config).await?;
    Ok((client::sync(t, ws, doc, started).await?, local, started))
}
