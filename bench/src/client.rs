//! One simulated client: WebSocket connect (TCP_NODELAY) and the y-websocket
//! handshake from an empty document.

use crate::error::{BenchError, Result};
use crate::wire::{messages, Framer, Incoming, Protocol};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The largest frame and message read (a 65-copy `bigdoc --repeat` step 2 is ~20 MB).
const MAX_FRAME: usize = 1 << 30;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how to reach the server under test; shared by every scenario
/// so that all of them work against any y-websocket or Hocuspocus server.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// WebSocket URL; every `{doc}` is replaced by the document name.
    /// Plait: ws://127.0.0.1:8000/ws/{doc}; y-websocket: ws://127.0.0.1:1234/{doc};
    /// Hocuspocus: ws://127.0.0.1:1235 (the name travels inside messages).
    #[arg(long)]
    pub url: String,
    /// More nodes serving the same documents (several Plait nodes on one PostgreSQL): the
    /// connections of `connect_many` go round-robin to `--url` and these, so that in a room of
    /// two clients every delivery crosses from one node to another.
    #[arg(long = "also-url")]
    pub also_urls: Vec<String>,
    /// Wire protocol of the server.
    #[arg(long, value_enum, default_value = "yws")]
    pub protocol: Protocol,
    /// Token for the Hocuspocus Auth message (ignored by yws).
    #[arg(long, default_value = "")]
    pub token: String,
    /// PID of the server, to sample its CPU and RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Free text copied into the JSON result (e.g. the server's name).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Seconds allowed for one client's connect + handshake.
    #[arg(long, default_value_t = 30.0)]
    pub handshake_timeout: f64,
}

/// An open, synced connection to one document.
pub struct Client {
    pub ws: Ws,
    pub framer: Framer,
    pub doc: String,
}

/// A finished handshake and how long its parts took.
pub struct Synced {
    pub client: Client,
    /// TCP connect + WebSocket upgrade.
    pub connect: Duration,
    /// From the start of connect until the server's step2 arrived.
    pub step2_at: Duration,
    /// The server's step2 payload (the whole document for an empty client).
    pub step2: Vec<u8>,
}

impl Client {
    pub async fn send(&mut self, frame: Vec<u8>) -> Result<()> {
        Ok(self.ws.send(Message::binary(frame)).await?)
    }

    /// The next binary frame; pings are answered by tungstenite itself.
    pub async fn next_frame(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = binary_frame(self.ws.next().await)? {
                return Ok(frame);
            }
        }
    }

    /// Read until the server's step2 arrives.
    pub async fn wait_step2(&mut self) -> Result<Vec<u8>> {
        loop {
            let frame = self.next_frame().await?;
            for m in messages(self.framer.protocol, &frame) {
                match m? {
                    Incoming::Step2(u) => return Ok(u.to_vec()),
                    Incoming::Refused(reason) => {
                        return Err(BenchError::Refused {
                            doc: self.doc.clone(),
                            reason,
                        })
                    }
                    _ => {}
                }
            }
        }
    }

    /// Best-effort close; a server that does not answer is not our problem.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// What one read of a WebSocket stream (the client's, or its read half) means: a binary frame,
/// `None` for a message a client skips (text, ping, pong), an error for a close or the end.
pub fn binary_frame(
    read: Option<std::result::Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<Bytes>> {
    match read {
        Some(Ok(Message::Binary(b))) => Ok(Some(b)),
        Some(Ok(Message::Close(f))) => Err(BenchError::Closed(
            f.map(|f| f.to_string()).unwrap_or_default(),
        )),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e.into()),
        None => Err(BenchError::Closed("end of stream".into())),
    }
}

/// Connect and sync as a client with an empty document: (Hocuspocus: Auth),
/// send step1 with an empty state vector, answer the server's step1 with an
/// empty step2, and wait for the server's step2.
pub async fn connect(t: &Target, doc: &str) -> Result<Synced> {
    connect_to(t, &t.url, doc).await
}

/// [`connect`] to the node at `url` (one of `t`'s).
async fn connect_to(t: &Target, url: &str, doc: &str) -> Result<Synced> {
    let limit = Duration::from_secs_f64(t.handshake_timeout);
    tokio::time::timeout(limit, handshake(t, url, doc))
        .await
        .map_err(|_| BenchError::Timeout {
            what: format!("handshake of {doc}"),
            after: limit,
        })?
}

async fn handshake(t: &Target, url: &str, doc: &str) -> Result<Synced> {
    let started = Instant::now();
    let url = url.replace("{doc}", doc);
    // TCP_NODELAY: with Nagle, small updates wait for delayed ACKs (~40 ms). Frames of any size
    // a server sends are read: tungstenite's default 16 MiB would refuse a huge document's step 2.
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME));
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?;
    sync(t, ws, doc, started).await
}

/// The sync part of [`connect`] over an already upgraded socket (`crowd` opens its own, from a
/// chosen source address); `started` is when its TCP connect began.
pub async fn sync(t: &Target, ws: Ws, doc: &str, started: Instant) -> Result<Synced> {
    let connect = started.elapsed();
    let mut client = Client {
        ws,
        framer: Framer::new(t.protocol, doc),
        doc: doc.to_owned(),
    };
    if let Some(auth) = client.framer.auth(&t.token) {
        client.send(auth).await?;
    }
    client.send(client.framer.step1(&[0])).await?;
    let mut step2 = None;
    let mut answered = false;
    while step2.is_none() || !answered {
        let frame = client.next_frame().await?;
        let mut asked = false;
        for m in messages(t.protocol, &frame) {
            match m? {
                Incoming::Step1(_) => asked = true,
                Incoming::Step2(u) => step2 = Some((u.to_vec(), started.elapsed())),
                Incoming::Refused(reason) => {
                    return Err(BenchError::Refused {
                        doc: doc.to_owned(),
                        reason,
                    })
                }
                _ => {}
            }
        }
        if asked {
            // Our document is empty: the server misses nothing.
            client
                .send(client.framer.step2(yrs::Update::EMPTY_V1))
                .await?;
            answered = true;
        }
    }
    let (step2, step2_at) = step2.ok_or(BenchError::Wire("handshake ended without step2"))?;
    Ok(Synced {
        client,
        connect,
        step2_at,
        step2,
    })
}

/// Connect `docs.len()` clients with at most `concurrency` handshakes in
/// flight; results in input order.
pub async fn connect_many(
    t: &Target,
    docs: Vec<String>,
    concurrency: usize,
) -> Vec<Result<Synced>> {
    let urls: Vec<&str> = std::iter::once(t.url.as_str())
        .chain(t.also_urls.iter().map(String::as_str))
        .collect();
    futures_util::stream::iter(docs.into_iter().enumerate().map(|(i, d)| {
        let url = urls[i % urls.len()];
        async move { connect_to(t, url, &d).await }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}
