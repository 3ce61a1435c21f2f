//! [`TcpWs`]: a WebSocket spoken by hand over a plain TCP socket, for clients that misbehave below
//! the level a WebSocket library allows: one that never answers pings, or never reads at all
//! (with a tiny receive buffer so the server's writes back up quickly).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Opcode of a close frame.
pub const OPCODE_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OPCODE_PING: u8 = 0x9;

/// One frame from the server (servers never mask).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The close code of a close frame (1005 if it carried none).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == OPCODE_CLOSE).then(|| match self.payload.as_slice() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => 1005,
        })
    }
}

/// An upgraded connection with no automatic behaviour at all: nothing is read or answered unless
/// the test asks.
pub struct TcpWs {
    stream: TcpStream,
    /// Bytes read past the end of what was parsed so far.
    buffer: Vec<u8>,
}

impl TcpWs {
    /// Connects to `addr` and upgrades `path`. With `recv_buffer`, the socket's receive buffer is
    /// shrunk before connecting (the kernel rounds it up to its minimum).
    pub async fn upgrade(addr: SocketAddr, path: &str, recv_buffer: Option<u32>) -> Result<TcpWs> {
        let socket = TcpSocket::new_v4().context("socket")?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).context("SO_RCVBUF")?;
        }
        let mut stream = tokio::time::timeout(crate::TIMEOUT, socket.connect(addr))
            .await
            .context("connect: timed out")?
            .with_context(|| format!("connect {addr}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buffer = Vec::new();
        let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
                .await
                .context("upgrade response: timed out")??;
            if n == 0 {
                bail!("connection closed during the upgrade");
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            bail!("upgrade refused: {head}");
        }
        buffer.drain(..end + 4);
        Ok(TcpWs { stream, buffer })
    }

    /// Sends one masked binary frame, as a client must.
    pub async fn send_binary(&mut self, payload: &[u8]) -> Result<()> {
        const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x82];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        self.stream.write_all(&frame).await.context("send frame")
    }

    /// The next frame, `Ok(None)` if nothing complete arrives within `timeout`; an error if the
    /// connection ended.
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Option<Frame>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                return Ok(Some(frame));
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ok(None),
                Ok(read) => read.context("read")?,
            };
            if n == 0 {
                bail!("connection ended without a close frame");
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads (without answering pings) until a close frame; returns its code and how many pings
    /// went unanswered before it.
    pub async fn read_until_close(&mut self, timeout: Duration) -> Result<(u16, usize)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pings = 0;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await? {
                None => bail!("no close frame within {timeout:?}"),
                Some(frame) => {
                    if let Some(code) = frame.close_code() {
                        return Ok((code, pings));
                    }
                    if frame.opcode == OPCODE_PING {
                        pings += 1;
                    }
                }
            }
        }
    }
}

/// One complete frame at the start of `data` and its length, if there is one.
fn parse(data: &[u8]) -> Option<(Frame, usize)> {
    let (&b0, rest) = data.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, header): (usize, usize) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = rest.get(..8)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(bytes)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    let payload = data.get(header..header.checked_add(len)?)?;
    Some((
        Frame {
            opcode: b0 & 0x0f,
            payload: payload.to_vec(),
        },
        header + len,
    ))
}
