//! `relay`: the least a y-websocket server can do and still serve `fanout`, as the floor of
//! row 1's latency (issue 27). It keeps no document and checks nothing: it greets each socket
//! with a step 1 (empty state vector), answers a step 1 with an empty step 2, and writes every
//! update and awareness frame, bytes unchanged, to the other sockets of the same path.
//!
//! No server that applies, checks or stores an update can relay it sooner than this on the same
//! machine and runtime, so its p99 measured by the same generator is a lower bound: a latency
//! goal below it is below what the machine can show. Two ways to relay, to price the hop that
//! Plait's outbound queue adds:
//! - `direct`: the task that read the update writes it to every recipient's socket itself, as
//!   @y/websocket-server does in the callback that read it;
//! - `queued`: through each recipient's own writer task (one more task hop per delivery).
//!
//! It serves until killed; pin it like a server (`taskset -c 0`: one core, a current-thread
//! runtime). Loopback only: it is a benchmark fixture, not a server.

use crate::error::{BenchError, Result};
use crate::wire::{messages, Framer, Incoming, Protocol};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[derive(clap::Args, Clone, Debug)]
pub struct RelayArgs {
    /// Where to listen (loopback).
    #[arg(long, default_value = "127.0.0.1:8100")]
    pub bind: SocketAddr,
    /// How an update reaches the recipients.
    #[arg(long, value_enum, default_value = "direct")]
    pub mode: Mode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The reading task writes to every recipient's socket.
    Direct,
    /// Each recipient's writer task writes what is queued to it.
    Queued,
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// One recipient, as the other sockets of its room reach it.
#[derive(Clone)]
enum Recipient {
    Direct(Arc<tokio::sync::Mutex<Sink>>),
    Queued(mpsc::UnboundedSender<Message>),
}

impl Recipient {
    async fn send(&self, message: Message) {
        // A recipient that went away is dropped from its room by its own task; ignore it here.
        match self {
            Recipient::Direct(sink) => {
                let _ = sink.lock().await.send(message).await;
            }
            Recipient::Queued(queue) => {
                let _ = queue.send(message);
            }
        }
    }
}

/// Path → (socket id → recipient). A std mutex: held only to copy or edit a room, never across
/// an await.
type Rooms = Arc<Mutex<HashMap<String, HashMap<u64, Recipient>>>>;

pub async fn run(args: RelayArgs) -> Result<serde_json::Value> {
    if !args.bind.ip().is_loopback() {
        return Err(BenchError::Runtime(format!(
            "relay listens on loopback addresses only, not {}",
            args.bind
        )));
    }
    let io = |source| BenchError::Io {
        path: args.bind.to_string(),
        source,
    };
    let listener = TcpListener::bind(args.bind).await.map_err(io)?;
    eprintln!("relay ({:?}) listening on {}", args.mode, args.bind);
    let rooms: Rooms = Arc::default();
    let ids = AtomicU64::new(0);
    loop {
        let (stream, _) = listener.accept().await.map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let id = ids.fetch_add(1, Relaxed);
        tokio::spawn(serve(stream, id, args.mode, rooms.clone()));
    }
}

/// One socket: the upgrade, the greeting, then relaying what it sends until it closes.
async fn serve(stream: TcpStream, id: u64, mode: Mode, rooms: Rooms) {
    let mut path = String::new();
    // The callback's error type is tungstenite's (an HTTP response), not ours to shrink.
    #[allow(clippy::result_large_err)]
    let upgraded = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    })
    .await;
    let Ok(ws) = upgraded else { return };
    let (sink, mut source) = ws.split();
    let framer = Framer::new(Protocol::Yws, &path);
    let me = match mode {
        Mode::Direct => Recipient::Direct(Arc::new(tokio::sync::Mutex::new(sink))),
        Mode::Queued => {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_queue(sink, rx));
            Recipient::Queued(tx)
        }
    };
    me.send(Message::binary(framer.step1(&[0]))).await;
    lock(&rooms)
        .entry(path.clone())
        .or_default()
        .insert(id, me.clone());
    while let Some(Ok(message)) = source.next().await {
        let Message::Binary(frame) = message else {
            continue;
        };
        let (mut relay, mut asked) = (false, false);
        for m in messages(Protocol::Yws, &frame) {
            match m {
                Ok(Incoming::Step1(_)) => asked = true,
                Ok(Incoming::Update(_) | Incoming::Awareness(_)) => relay = true,
                _ => {}
            }
        }
        if asked {
            me.send(Message::binary(framer.step2(yrs::Update::EMPTY_V1)))
                .await;
        }
        if relay {
            let others: Vec<Recipient> = lock(&rooms)
                .get(&path)
                .map(|room| {
                    room.iter()
                        .filter(|(other, _)| **other != id)
                        .map(|(_, r)| r.clone())
                        .collect()
                })
                .unwrap_or_default();
            for other in others {
                other.send(Message::Binary(frame.clone())).await;
            }
        }
    }
    let mut all = lock(&rooms);
    if let Some(room) = all.get_mut(&path) {
        room.remove(&id);
        if room.is_empty() {
            all.remove(&path);
        }
    }
}

/// `queued`: one socket's writer, sending everything queued before it flushes.
async fn write_queue(mut sink: Sink, mut rx: mpsc::UnboundedReceiver<Message>) {
    while let Some(first) = rx.recv().await {
        if sink.feed(first).await.is_err() {
            return;
        }
        while let Ok(more) = rx.try_recv() {
            if sink.feed(more).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

fn lock(rooms: &Rooms) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, Recipient>>> {
    // A poisoned map only means a task panicked mid-edit; the map itself is still usable.
    rooms.lock().unwrap_or_else(|e| e.into_inner())
}
