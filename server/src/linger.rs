//! Making the close frame arrive: a connection the server closes is read to its end before its
//! socket is dropped.
//!
//! When the server closes a WebSocket while the client is still sending (a message over
//! `--max-message-size`, the rest of a flood over the rate limit), the client's bytes sit unread
//! in the kernel's receive buffer. Closing a TCP socket with unread data makes Linux send a reset
//! instead of a FIN, and a reset makes the client's kernel throw away what it had received but
//! not yet read, the close frame included: a stock y-websocket client then saw 1006 instead of
//! 4413 or 4429, never learned the close was permanent, and reconnected to send it all again.
//!
//! So every accepted socket is a [`Lingering`] stream, and a connection the server closes marks
//! it ([`Linger::close_after_draining`]). When the stream is dropped, a small task takes the TCP
//! socket over, sends FIN, and reads and discards what the client still sends (up to
//! [`DRAIN_BYTES`], for up to [`DRAIN_TIME`]) until the client closes its side.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The most a closed connection's client may still send before the socket is dropped anyway.
pub const DRAIN_BYTES: usize = 64 * 1024 * 1024;
/// How long a closed connection's client may take to close its side.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The handle a request carries to mark its connection for draining (an extension set by the
/// accept loop; absent when the router is called without a socket, as in tests).
#[derive(Clone, Debug, Default)]
pub struct Linger(Arc<AtomicBool>);

impl Linger {
    /// Read the client's remaining bytes before dropping the socket, so that the close frame
    /// sent just before reaches it.
    pub fn close_after_draining(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A TCP stream that drains itself on drop if its connection asked for it.
pub struct Lingering {
    /// Always `Some` until dropped.
    tcp: Option<TcpStream>,
    linger: Linger,
}

impl Lingering {
    pub fn new(tcp: TcpStream) -> (Lingering, Linger) {
        let linger = Linger::default();
        let stream = Lingering {
            tcp: Some(tcp),
            linger: linger.clone(),
        };
        (stream, linger)
    }

    fn tcp(self: Pin<&mut Self>) -> Pin<&mut TcpStream> {
        match &mut self.get_mut().tcp {
            Some(tcp) => Pin::new(tcp),
            None => unreachable!("the stream is only taken when it is dropped"),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        if !self.linger.0.load(Ordering::Acquire) {
            return;
        }
        let (Some(tcp), Ok(runtime)) = (self.tcp.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(drain(tcp));
    }
}

/// Sends FIN, then reads and discards until the client closes its side (or the bounds).
async fn drain(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut buffer = vec![0u8; 16 * 1024];
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while left > 0 {
            match tcp.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.tcp().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|tcp| tcp.is_write_vectored())
    }
}
