//! Hocuspocus connections' acknowledgements (`Acks::SyncStatus`), driven through the document
//! task's queue: an update is acknowledged only once committed, what changes nothing at once, a
//! read-only client's changes are refused, and stateless messages reach only these connections.

use std::sync::Arc;
use std::time::Duration;

use plait_storage::{FaultyStore, MemoryStore};
use yrs::sync::{Message, SyncMessage};

use super::handle::{Command, ConnLink};
use super::tests::{spawn_doc, typed, TIMEOUT};
use super::*;

struct Conn {
    id: ConnId,
    outbound: OutboundReceiver,
}

async fn join(handle: &DocHandle, acks: Acks, read_only: bool) -> Conn {
    let (tx, outbound) = outbound_queue(64, usize::MAX);
    let (close, _) = flume::bounded(1);
    let link = ConnLink {
        outbound: tx,
        close,
        read_only,
        acks,
        author: super::author(None, "test"),
    };
    let Ok(joined) = handle.join(link).await else {
        panic!("the document task is running");
    };
    while outbound.try_recv().is_ok() {}
    Conn {
        id: joined.conn_id,
        outbound,
    }
}

async fn send(handle: &DocHandle, conn: &Conn, message: SyncMessage) {
    let command = Command::Messages {
        conn_id: conn.id,
        messages: vec![Message::Sync(message)],
    };
    assert!(handle.send(command).await.is_ok());
}

/// The next acknowledgement queued for `conn`, skipping relayed frames.
async fn next_status(conn: &Conn) -> (bool, u32) {
    loop {
        match tokio::time::timeout(TIMEOUT, conn.outbound.recv_async()).await {
            Ok(Ok(Outbound::Status { applied, count })) => return (applied, count),
            Ok(Ok(_)) => continue,
            other => panic!("no acknowledgement queued ({other:?})"),
        }
    }
}

fn no_status(conn: &Conn) -> bool {
    conn.outbound
        .drain()
        .all(|entry| !matches!(entry, Outbound::Status { .. }))
}

#[tokio::test]
async fn an_update_is_acknowledged_only_once_committed() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    store.set_failing(true);
    let handle = spawn_doc(store.clone());
    let hp = join(&handle, Acks::SyncStatus, false).await;
    let other = join(&handle, Acks::Echo, false).await;

    send(&handle, &hp, SyncMessage::Update(typed(1, "a"))).await;
    send(&handle, &hp, SyncMessage::Update(typed(2, "b"))).await;
    // The other connection gets the edit at once; the sender no acknowledgement yet.
    let relayed = tokio::time::timeout(TIMEOUT, other.outbound.recv_async()).await;
    assert!(matches!(relayed, Ok(Ok(Outbound::Frame(_)))), "{relayed:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(no_status(&hp), "acknowledged before the commit");

    store.set_failing(false);
    let mut acknowledged = 0;
    while acknowledged < 2 {
        let (applied, count) = next_status(&hp).await;
        assert!(applied);
        acknowledged += count;
    }
    assert_eq!(acknowledged, 2, "one SyncStatus per update sent");
}

#[tokio::test]
async fn what_changes_nothing_is_acknowledged_at_once() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    store.set_failing(true);
    let handle = spawn_doc(store.clone());
    let hp = join(&handle, Acks::SyncStatus, false).await;
    // The answer to the server's step 1 from a client with nothing new.
    send(&handle, &hp, SyncMessage::SyncStep2(vec![0, 0])).await;
    assert_eq!(next_status(&hp).await, (true, 1));
    // Sync step 1 and awareness are not acknowledged.
    send(&handle, &hp, SyncMessage::SyncStep1(Default::default())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(no_status(&hp));
}

#[tokio::test]
async fn a_read_only_client_is_refused_its_changes_and_the_document_keeps_none() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store.clone());
    let reader = join(&handle, Acks::SyncStatus, true).await;
    send(&handle, &reader, SyncMessage::Update(typed(1, "x"))).await;
    assert_eq!(next_status(&reader).await, (false, 1));
    send(&handle, &reader, SyncMessage::SyncStep2(typed(2, "y"))).await;
    assert_eq!(next_status(&reader).await, (false, 1));
    send(&handle, &reader, SyncMessage::SyncStep2(vec![0, 0])).await;
    assert_eq!(next_status(&reader).await, (true, 1));
    let (reply, state) = tokio::sync::oneshot::channel();
    assert!(handle.send(Command::GetState { reply }).await.is_ok());
    assert_eq!(state.await.ok().flatten(), None, "nothing was applied");
}

#[tokio::test]
async fn a_stateless_message_reaches_only_hocuspocus_connections() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let handle = spawn_doc(store);
    let hp = join(&handle, Acks::SyncStatus, true).await;
    let yws = join(&handle, Acks::Echo, false).await;
    let payload: Arc<str> = Arc::from("{\"reload\":true}");
    let command = Command::Stateless {
        payload: payload.clone(),
    };
    assert!(handle.send(command).await.is_ok());
    match tokio::time::timeout(TIMEOUT, hp.outbound.recv_async()).await {
        Ok(Ok(Outbound::Stateless(got))) => assert_eq!(got, payload),
        other => panic!("no stateless message ({other:?})"),
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(yws.outbound.try_recv().is_err());
}
