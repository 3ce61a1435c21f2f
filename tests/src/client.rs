//! [`YClient`]: a y-websocket client built on yrs, as a browser tab running `WebsocketProvider`
//! would behave, but written independently of the server's protocol crate so the two check each
//! other.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::encoding::read::Cursor;
use yrs::sync::{Awareness, Message, MessageReader, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{Doc, Map, ReadTxn, Text, Transact, TransactionMut, Update};

/// What the client has seen of its connection, for waits and assertions.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The server's step 2 arrived: the client holds the server's state.
    pub synced: bool,
    /// The server's step 1 arrived.
    pub got_step1: bool,
    /// Close code sent by the server, or 1006 if the connection ended without a close frame.
    pub closed: Option<u16>,
    /// Sync updates (type 0/2) received after the handshake, echoes included.
    pub updates_received: usize,
    /// The end of this client's own content that the server echoed (its clock): the durable
    /// acknowledgement, so every own edit below it is in the database.
    pub acked_clock: u32,
    /// A message this client could not decode or apply: the server sent something invalid.
    pub error: Option<String>,
}

/// State shared between the client handle and its reader task.
struct Shared {
    /// The replica and its awareness (Awareness owns the Doc). A std mutex: it is never held
    /// across an `.await`, only around one yrs transaction.
    awareness: Mutex<Awareness>,
    status: Mutex<Status>,
    /// Bumped after every incoming frame and close, so waits wake up instead of polling.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn awareness(&self) -> MutexGuard<'_, Awareness> {
        self.awareness.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A y-websocket client over a real WebSocket (TCP_NODELAY), holding a yrs `Doc`.
///
/// `connect` performs the handshake (send step 1, answer the server's step 1 with step 2, wait
/// for the server's step 2); afterwards every incoming sync and awareness message is applied by
/// a background task, and local edits are sent as sync updates.
pub struct YClient {
    shared: Arc<Shared>,
    /// Frames to the socket; the writer task owns the sink.
    out: mpsc::UnboundedSender<WsMessage>,
    /// Options only so `close` can take them out of a type that implements `Drop`.
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    client_id: u64,
}

impl YClient {
    /// Connects to `url` (`ws://host/ws/{doc}`) with a fresh `Doc` of the given client id (use
    /// 32-bit ids like Yjs does; 53-bit ones are legal too) and completes the handshake.
    pub async fn connect(url: &str, client_id: u64) -> Result<YClient> {
        let client = Self::open(url, Doc::with_client_id(client_id)).await?;
        client.wait_synced().await?;
        Ok(client)
    }

    /// Opens the socket and sends step 1 without waiting for the server's answer.
    pub async fn open(url: &str, doc: Doc) -> Result<YClient> {
        let client_id = doc.client_id().get();
        let (ws, _) = tokio::time::timeout(
            crate::TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url, None, true),
        )
        .await
        .with_context(|| format!("connect {url}: timed out"))?
        .with_context(|| format!("connect {url}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<WsMessage>();
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            awareness: Mutex::new(Awareness::new(doc)),
            status: Mutex::new(Status::default()),
            changed,
        });

        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let closing = matches!(msg, WsMessage::Close(_));
                if sink.send(msg).await.is_err() || closing {
                    break;
                }
            }
        });

        let reader_shared = shared.clone();
        let reader_out = out.clone();
        let reader = tokio::spawn(async move {
            while let Some(next) = stream.next().await {
                match next {
                    Ok(WsMessage::Binary(frame)) => on_frame(&reader_shared, &reader_out, &frame),
                    Ok(WsMessage::Close(frame)) => {
                        let code = frame.map_or(1005, |f| u16::from(f.code));
                        reader_shared.status().closed = Some(code);
                        break;
                    }
                    Ok(WsMessage::Text(_)) => {
                        reader_shared.status().error = Some("server sent a text frame".into());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                reader_shared.bump();
            }
            reader_shared.status().closed.get_or_insert(1006);
            reader_shared.bump();
        });

        let step1 = {
            let aw = shared.awareness.lock().unwrap_or_else(|p| p.into_inner());
            let sv = aw.doc().transact().state_vector();
            Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
        };
        out.send(WsMessage::Binary(step1.into()))
            .map_err(|_| anyhow!("socket closed before step 1"))?;
        Ok(YClient {
            shared,
            out,
            reader: Some(reader),
            writer: Some(writer),
            client_id,
        })
    }

    /// Waits until the server has echoed (stored) every edit this client made so far.
    pub async fn wait_acked(&self, timeout: Duration) -> Result<()> {
        // The client id first: a transaction held while `doc()` takes the client's lock would
        // deadlock with the reader task, which takes them the other way round.
        let doc = self.doc();
        let own = doc.client_id();
        let end = doc.transact().state_vector().get(&own);
        self.wait_status(
            &format!("the echo of own content up to clock {end}"),
            timeout,
            |s| s.acked_clock >= end,
        )
        .await
    }

    /// Waits for the server's step 2; fails if the server closes first.
    pub async fn wait_synced(&self) -> Result<()> {
        self.wait_status("the server's step 2", crate::TIMEOUT, |s| s.synced)
            .await
    }

    /// This replica's client id.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// A handle to the replica (cloning a yrs `Doc` shares it). Read it only briefly: the reader
    /// task applies incoming updates to the same document.
    pub fn doc(&self) -> Doc {
        self.shared.awareness().doc().clone()
    }

    /// A copy of the connection status.
    pub fn status(&self) -> Status {
        self.shared.status().clone()
    }

    /// Applies `edit` in one local transaction and sends the resulting update to the server.
    pub fn edit<F>(&self, edit: F) -> Result<()>
    where
        F: FnOnce(&Doc, &mut TransactionMut),
    {
        let update = {
            let aw = self.shared.awareness();
            let doc = aw.doc();
            let mut txn = doc.transact_mut();
            edit(doc, &mut txn);
            txn.encode_update_v1()
        };
        self.send_frame(Message::Sync(SyncMessage::Update(update)).encode_v1())
    }

    /// Appends `chunk` to the text root `name`.
    pub fn push_text(&self, name: &str, chunk: &str) -> Result<()> {
        let text = self.shared.awareness().doc().get_or_insert_text(name);
        self.edit(|_, txn| text.push(txn, chunk))
    }

    /// Inserts `chunk` at `index` (clamped to the length) in the text root `name`.
    pub fn insert_text(&self, name: &str, index: u32, chunk: &str) -> Result<()> {
        let text = self.shared.awareness().doc().get_or_insert_text(name);
        self.edit(|_, txn| {
            let at = index.min(text.len(txn));
            text.insert(txn, at, chunk);
        })
    }

    /// Sets `key` to the string `value` in the map root `name`.
    pub fn set_map(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let map = self.shared.awareness().doc().get_or_insert_map(name);
        self.edit(|_, txn| {
            map.insert(txn, key, value);
        })
    }

    /// Publishes this client's awareness state (a JSON value, as y-protocols does).
    pub fn set_awareness(&self, json: &str) -> Result<()> {
        let frame = {
            let mut aw = self.shared.awareness();
            aw.set_local_state_raw(json);
            let update = aw.update_with_clients([aw.client_id()])?;
            Message::Awareness(update).encode_v1()
        };
        self.send_frame(frame)
    }

    /// The awareness states this client knows (client id -> JSON), removed ones excluded.
    pub fn awareness_states(&self) -> std::collections::BTreeMap<u64, String> {
        let aw = self.shared.awareness();
        aw.iter()
            .filter_map(|(id, state)| state.data.map(|d| (id.get(), d.to_string())))
            .collect()
    }

    /// Sends a raw frame (already encoded y-websocket messages).
    pub fn send_frame(&self, frame: Vec<u8>) -> Result<()> {
        self.out
            .send(WsMessage::Binary(frame.into()))
            .map_err(|_| anyhow!("client {}: socket writer has stopped", self.client_id))
    }

    /// Waits until `check` holds on the document, or fails after `timeout` describing the state.
    pub async fn wait_until<F>(&self, what: &str, timeout: Duration, check: F) -> Result<()>
    where
        F: Fn(&Doc) -> bool,
    {
        let result = self
            .wait(timeout, |shared| {
                // A clone shares the document; the lock is released before `check` runs so that
                // `check` may read this client too. yrs' own transaction lock keeps reads whole.
                let doc = shared.awareness().doc().clone();
                check(&doc)
            })
            .await;
        result.with_context(|| {
            let doc = self.doc();
            format!(
                "client {} waiting for {what}; text={:?} map={:?} status={:?}",
                self.client_id,
                crate::ydoc::text(&doc, "text"),
                crate::ydoc::map(&doc, "map"),
                self.status()
            )
        })
    }

    /// Waits until `check` holds on the known awareness states (client id -> JSON).
    pub async fn wait_awareness<F>(&self, what: &str, check: F) -> Result<()>
    where
        F: Fn(&std::collections::BTreeMap<u64, String>) -> bool,
    {
        let result = self
            .wait(crate::TIMEOUT, |_| check(&self.awareness_states()))
            .await;
        result.with_context(|| {
            format!(
                "client {} waiting for {what}; awareness={:?}",
                self.client_id,
                self.awareness_states()
            )
        })
    }

    /// Waits until `check` holds on the connection status; fails early if the connection closed
    /// (unless `check` is about the close itself) or the server sent something undecodable.
    pub async fn wait_status<F>(&self, what: &str, timeout: Duration, check: F) -> Result<()>
    where
        F: Fn(&Status) -> bool,
    {
        let result = self
            .wait(timeout, |shared| {
                let status = shared.status().clone();
                check(&status) || status.error.is_some() || status.closed.is_some()
            })
            .await;
        let status = self.status();
        match result {
            Ok(()) if check(&status) => Ok(()),
            Ok(()) => bail!("client {} waiting for {what}: {status:?}", self.client_id),
            Err(e) => Err(e.context(format!(
                "client {} waiting for {what}: {status:?}",
                self.client_id
            ))),
        }
    }

    async fn wait<F>(&self, timeout: Duration, check: F) -> Result<()>
    where
        F: Fn(&Shared) -> bool,
    {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current version seen before checking, so a change during the check wakes us.
            let _ = changes.borrow_and_update();
            if let Some(error) = self.shared.status().error.clone() {
                bail!("protocol error from the server: {error}");
            }
            if check(&self.shared) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The reader task is gone: check one last time below.
                Ok(Err(_)) => {
                    if check(&self.shared) {
                        return Ok(());
                    }
                    bail!("connection ended");
                }
                Err(_) => bail!("timed out after {timeout:?}"),
            }
        }
    }

    /// Closes the connection normally (1000) and waits until the socket is gone.
    pub async fn close(mut self) -> Result<()> {
        let _ = self.out.send(WsMessage::Close(None));
        if let Some(writer) = self.writer.take() {
            let _ = tokio::time::timeout(crate::TIMEOUT, writer).await;
        }
        let Some(reader) = self.reader.take() else {
            return Ok(());
        };
        tokio::time::timeout(crate::TIMEOUT, reader)
            .await
            .context("server did not close the socket after our close frame")?
            .context("reader task panicked")
    }
}

impl Drop for YClient {
    /// Dropping a client drops its socket without a close handshake, like a closed browser tab.
    fn drop(&mut self) {
        for task in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// Applies every message of one incoming frame; answers step 1 and awareness queries.
fn on_frame(shared: &Shared, out: &mpsc::UnboundedSender<WsMessage>, frame: &[u8]) {
    let mut decoder = DecoderV1::new(Cursor::new(frame));
    let messages: Vec<_> = MessageReader::new(&mut decoder).collect();
    for message in messages {
        let outcome = match message {
            Ok(message) => on_message(shared, out, message),
            Err(e) => Err(anyhow!("undecodable frame {frame:?}: {e}")),
        };
        if let Err(e) = outcome {
            shared.status().error.get_or_insert(e.to_string());
        }
    }
}

fn on_message(
    shared: &Shared,
    out: &mpsc::UnboundedSender<WsMessage>,
    message: Message,
) -> Result<()> {
    match message {
        Message::Sync(SyncMessage::SyncStep1(sv)) => {
            let diff = shared
                .awareness()
                .doc()
                .transact()
                .encode_state_as_update_v1(&sv);
            shared.status().got_step1 = true;
            let _ = out.send(WsMessage::Binary(
                Message::Sync(SyncMessage::SyncStep2(diff))
                    .encode_v1()
                    .into(),
            ));
        }
        Message::Sync(SyncMessage::SyncStep2(update)) => {
            apply_update(shared, &update)?;
            shared.status().synced = true;
        }
        Message::Sync(SyncMessage::Update(update)) => {
            let own = own_clock_end(shared, &update);
            apply_update(shared, &update)?;
            let mut status = shared.status();
            status.updates_received += 1;
            status.acked_clock = status.acked_clock.max(own);
        }
        Message::Awareness(update) => {
            shared
                .awareness()
                .apply_update(update)
                .map_err(|e| anyhow!("awareness update does not apply: {e}"))?;
        }
        Message::AwarenessQuery => {
            let frame = {
                let aw = shared.awareness();
                Message::Awareness(aw.update()?).encode_v1()
            };
            let _ = out.send(WsMessage::Binary(frame.into()));
        }
        Message::Auth(_) => {}
        Message::Custom(tag, _) => bail!("unexpected custom message type {tag}"),
    }
    Ok(())
}

/// Where this client's own content in `update` ends (0 if it holds none): the server sends a
/// client its own content only as the echo of a commit.
fn own_clock_end(shared: &Shared, update: &[u8]) -> u32 {
    let Ok(update) = Update::decode_v1(update) else {
        return 0;
    };
    let own = shared.awareness().doc().client_id();
    let insertions = update.insertions(true);
    insertions
        .iter()
        .filter(|(client, _)| **client == own)
        .flat_map(|(_, ranges)| ranges.iter().map(|r| r.end))
        .max()
        .unwrap_or(0)
}

fn apply_update(shared: &Shared, update: &[u8]) -> Result<()> {
    let update =
        Update::decode_v1(update).map_err(|e| anyhow!("undecodable update from server: {e}"))?;
    let aw = shared.awareness();
    let mut txn = aw.doc().transact_mut();
    txn.apply_update(update)
        .map_err(|e| anyhow!("update from server does not apply: {e}"))
}
