//! The relay of one drain, driven through the document task's own queue (no sockets): who gets
//! which update, and that a sender's own update comes back only after its commit.

use super::handle::{Command, ConnLink};
use super::outbound::Pick;
use super::*;
use bytes::Bytes;
use plait_protocol::codes;
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::name::DocName;
use plait_protocol::session::DocState;
use plait_storage::{DocStore, FaultyStore, MemoryStore, Writer, WriterConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use yrs::sync::Message;
use yrs::sync::SyncMessage;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Text, Transact, Update};

pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn typed(client: u64, text: &str) -> Vec<u8> {
    let doc = Doc::with_client_id(client);
    let t = doc.get_or_insert_text("t");
    let mut txn = doc.transact_mut();
    t.push(&mut txn, text);
    txn.encode_update_v1()
}

struct Client {
    id: ConnId,
    outbound: OutboundReceiver,
    close: flume::Receiver<CloseReason>,
}

impl Client {
    async fn join(handle: &DocHandle) -> Client {
        Self::join_with_queue(handle, 64).await
    }

    /// Joins with an outbound queue of `capacity` entries, empty once the greeting is taken.
    async fn join_with_queue(handle: &DocHandle, capacity: usize) -> Client {
        Self::join_bounded(handle, capacity, usize::MAX).await
    }

    /// Joins with an outbound queue of `capacity` entries and `bytes` bytes.
    async fn join_bounded(handle: &DocHandle, capacity: usize, bytes: usize) -> Client {
        let (tx, outbound) = outbound_queue(capacity, bytes);
        let (close_tx, close) = flume::bounded(1);
        let link = ConnLink {
            outbound: tx,
            close: close_tx,
            read_only: false,
            acks: super::Acks::Echo,
            author: super::author(None, "test"),
        };
        let Ok(joined) = handle.join(link).await else {
            panic!("the document task is running");
        };
        // The greeting (step 1 and awareness) is not what these tests look at.
        while outbound.try_recv().is_ok() {}
        Client {
            id: joined.conn_id,
            outbound,
            close,
        }
    }

    /// The text of every sync update in the next queue entry, sorted (merge order is not fixed).
    async fn next_text(&mut self) -> String {
        let entry = match tokio::time::timeout(TIMEOUT, self.outbound.recv_async()).await {
            Ok(Ok(entry)) => entry,
            other => panic!("connection {}: no queue entry ({other:?})", self.id),
        };
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        for frame in entry.frames() {
            let Ok(messages) = decode_frame(frame, &Limits::default()) else {
                panic!("undecodable frame");
            };
            assert_eq!(messages.len(), 1, "y-websocket reads one message per frame");
            for message in messages {
                let Message::Sync(SyncMessage::Update(update)) = message else {
                    panic!("expected a sync update, got {message:?}");
                };
                let update = Update::decode_v1(&update).unwrap_or_else(|e| panic!("{e}"));
                doc.transact_mut()
                    .apply_update(update)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let mut chars: Vec<char> = text.get_string(&doc.transact()).chars().collect();
        chars.sort_unstable();
        chars.into_iter().collect()
    }

    fn nothing_queued(&mut self) -> bool {
        self.outbound.try_recv().is_err()
    }
}

/// A document task on `store`, its writer flushing every 5 ms.
pub(super) fn spawn_doc(store: Arc<FaultyStore<MemoryStore>>) -> DocHandle {
    spawn_doc_with_queue(store, 64)
}

/// Like [`spawn_doc`], with a command queue of `queue` entries.
fn spawn_doc_with_queue(store: Arc<FaultyStore<MemoryStore>>, queue: usize) -> DocHandle {
    let writer = Writer::spawn(
        store,
        WriterConfig {
            flush_interval: Duration::from_millis(5),
            snapshot_threshold: 500,
            max_backoff: Duration::from_millis(50),
            ..WriterConfig::default()
        },
    );
    let Ok(name) = DocName::parse("relay") else {
        panic!("valid name");
    };
    let ctx = DocContext {
        name,
        writer,
        idle_unload: Duration::from_secs(60),
        shutdown: CancellationToken::new(),
        broadcaster: None,
        projector: None,
        unregister: Box::new(|| true),
    };
    spawn(
        DocState::new(Doc::new()),
        ctx,
        queue,
        &tokio_util::task::TaskTracker::new(),
    )
}

/// Queues one sync update from `conn` (a channel with room: the caller does not yield). Each
/// update needs its own `client`: a repeated one would be the same update, already known.
async fn send_update(handle: &DocHandle, conn: ConnId, client: u64, text: &str) {
    let messages = vec![Message::Sync(SyncMessage::Update(typed(client, text)))];
    let command = Command::Messages {
        conn_id: conn,
        messages,
    };
    assert!(handle.send(command).await.is_ok());
}

#[tokio::test]
async fn updates_of_one_drain_reach_everyone_but_their_senders_get_their_own_only_once_committed() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    // The database is down: nothing commits until the end of the test.
    store.set_failing(true);
    let handle = spawn_doc(store.clone());
    let mut a = Client::join(&handle).await;
    let mut b = Client::join(&handle).await;
    let mut watcher = Client::join(&handle).await;

    // Both commands are queued before the task runs again (this test's runtime has one thread
    // and `send` on a channel with room does not yield), so they are one drain.
    send_update(&handle, a.id, 1, "a").await;
    send_update(&handle, b.id, 2, "b").await;

    assert_eq!(
        watcher.next_text().await,
        "ab",
        "one merged frame for a non-sender"
    );
    assert_eq!(
        a.next_text().await,
        "b",
        "a sender gets the others' updates at once"
    );
    assert_eq!(b.next_text().await, "a");
    // Give the task time to (wrongly) echo before the commit; the store keeps failing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        a.nothing_queued() && b.nothing_queued(),
        "echo before commit"
    );

    store.set_failing(false);
    assert_eq!(
        a.next_text().await,
        "a",
        "the durable echo after the commit"
    );
    assert_eq!(b.next_text().await, "b");
    assert!(watcher.nothing_queued(), "a non-sender gets no echo");
}

/// How many of a connection's own updates came back to it (the durable echo) in what is queued.
fn echoes(outbound: &OutboundReceiver) -> usize {
    outbound
        .drain()
        .map(|entry| match entry {
            Outbound::Drain {
                frames,
                pick: Pick::Only(id),
            } => frames.iter().filter(|(from, _)| *from == Some(id)).count(),
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_acted_on_even_when_their_wake_up_finds_the_queue_full() {
    const EDITS: u64 = 200;
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    // One slot, kept full: the writer's wake-up after a commit finds no room, so the task must
    // look for commits after its drains as well.
    let handle = spawn_doc_with_queue(store, 1);
    let (tx, outbound) = outbound_queue(4096, usize::MAX);
    let (close_tx, _close) = flume::bounded(1);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let link = ConnLink {
            outbound: tx.clone(),
            close: close_tx.clone(),
            read_only: false,
            acks: super::Acks::Echo,
            author: super::author(None, "test"),
        };
        let Ok(joined) = handle.join(link).await else {
            panic!("the document task is running");
        };
        clients.push(joined.conn_id);
    }
    // Keeps the one slot taken for the whole test (a sender waits for room as soon as the task
    // takes its command), so the writer's wake-ups find it full.
    let filler = {
        let handle = handle.clone();
        tokio::spawn(async move {
            loop {
                let (reply, _) = oneshot::channel();
                if handle.send(Command::Figures { reply }).await.is_err() {
                    break;
                }
            }
        })
    };
    let senders: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(n, &conn)| {
            let handle = handle.clone();
            tokio::spawn(async move {
                for i in 0..EDITS {
                    send_update(&handle, conn, 1000 * (n as u64 + 1) + i, "x").await;
                }
            })
        })
        .collect();
    for sender in senders {
        assert!(sender.await.is_ok());
    }
    let settled = tokio::time::timeout(TIMEOUT, async {
        while handle.figures().await.map_or(true, |info| info.pending > 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(settled.await.is_ok(), "some commits were never acted on");
    filler.abort();
    assert_eq!(
        echoes(&outbound),
        3 * EDITS as usize,
        "every update is echoed to its sender exactly once"
    );
}

#[tokio::test]
async fn a_full_queue_closes_its_connection_and_a_gone_one_is_only_removed() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store);
    let writer = Client::join(&handle).await;
    let behind = Client::join_with_queue(&handle, 1).await;
    let gone = Client::join(&handle).await;
    // One drain per update: `behind` never reads, so the first relay fills its queue and the
    // second finds it full. An info request is answered within a drain, before the drain's relay
    // goes out, so it is the second round trip that sees the relay's effect.
    let connections = || async {
        let (Ok(_), Ok(info)) = (handle.figures().await, handle.figures().await) else {
            panic!("the document task is running");
        };
        info.connections
    };
    send_update(&handle, writer.id, 1, "a").await;
    assert_eq!(connections().await, 3);
    send_update(&handle, writer.id, 2, "b").await;
    assert_eq!(
        connections().await,
        2,
        "the one that fell behind was removed"
    );
    // `gone`'s socket task has ended, and its leave has not arrived yet.
    drop(gone.outbound);
    send_update(&handle, writer.id, 3, "c").await;
    assert_eq!(
        connections().await,
        1,
        "the gone one was removed; the writer stays"
    );
    let Ok(reason) = behind.close.try_recv() else {
        panic!("the connection that fell behind is told why it is closed");
    };
    assert_eq!(reason.code, codes::SLOW_CONSUMER);
    assert!(
        gone.close.try_recv().is_err(),
        "a connection that is already gone is not closed as too slow"
    );
}

#[tokio::test]
async fn a_queue_full_in_bytes_closes_its_connection_too() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store);
    let writer = Client::join(&handle).await;
    // Room for a thousand entries but 200 bytes: the first 150-byte relay is taken (less was
    // queued), the second finds 150 bytes waiting and 150 more would pass the bound... taken
    // too, as the bound is on what waits; the third finds 300 waiting and is refused.
    let behind = Client::join_bounded(&handle, 1000, 200).await;
    let info = || async {
        let (Ok(_), Ok(info)) = (handle.figures().await, handle.figures().await) else {
            panic!("the document task is running");
        };
        info.connections
    };
    for (client, text) in [(1, "a"), (2, "b"), (3, "c")] {
        send_update(&handle, writer.id, client, &text.repeat(130)).await;
        let _ = info().await;
    }
    assert_eq!(
        info().await,
        1,
        "the one that fell behind in bytes was removed"
    );
    let Ok(reason) = behind.close.try_recv() else {
        panic!("the connection that fell behind is told why it is closed");
    };
    assert_eq!(reason.code, codes::SLOW_CONSUMER);
}

/// Queues another node's update; `stored`: as a committed row, else as relayed live.
async fn send_peer(handle: &DocHandle, update: &[u8], stored: bool) {
    let (catch_up, _) = flume::unbounded();
    let command = Command::FromNode {
        update: Bytes::from(update.to_vec()),
        stored,
        catch_up,
    };
    assert!(handle.send(command).await.is_ok());
}

/// The rows the store holds for the test document, as texts.
async fn stored_rows(store: &FaultyStore<MemoryStore>) -> Vec<String> {
    let Ok(Some(stored)) = store.inner().load("relay").await else {
        return Vec::new();
    };
    stored
        .updates
        .iter()
        .map(|(_, row)| {
            let doc = Doc::new();
            let text = doc.get_or_insert_text("t");
            let Ok(update) = Update::decode_v1(row) else {
                panic!("rows decode");
            };
            let _ = doc.transact_mut().apply_update(update);
            let read = text.get_string(&doc.transact());
            read
        })
        .collect()
}

/// Waits until the store holds exactly `expected` (bounded by [`TIMEOUT`]).
async fn wait_stored(store: &FaultyStore<MemoryStore>, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let rows = stored_rows(store).await;
        if rows == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stored {rows:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_edit_made_after_another_nodes_live_update_is_echoed_after_that_updates_row() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store.clone());
    let mut client = Client::join(&handle).await;
    let foreign = typed(90, "f");
    send_peer(&handle, &foreign, false).await;
    assert_eq!(client.next_text().await, "f");
    send_update(&handle, client.id, 91, "m").await;
    // Stored at once: no node's commit waits for another's.
    wait_stored(&store, &["m"]).await;
    // Not echoed while the other node's row has not been seen.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        client.nothing_queued(),
        "echo before the update it may depend on is stored"
    );
    // The other node's commit: its row, the same bytes.
    send_peer(&handle, &foreign, true).await;
    assert_eq!(client.next_text().await, "m", "the echo");
    assert_eq!(
        stored_rows(&store).await,
        vec!["m"],
        "stored once, by its node"
    );
}

#[tokio::test]
async fn another_nodes_update_whose_row_never_comes_is_stored_here_before_the_echo() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store.clone());
    let mut client = Client::join(&handle).await;
    send_peer(&handle, &typed(92, "o"), false).await;
    assert_eq!(client.next_text().await, "o");
    send_update(&handle, client.id, 93, "b").await;
    wait_stored(&store, &["b"]).await;
    // The other node died before its commit: after the wait this node stores the update itself,
    // and only once that is committed echoes the edit.
    assert_eq!(client.next_text().await, "b");
    assert_eq!(stored_rows(&store).await, vec!["b", "o"]);
}
