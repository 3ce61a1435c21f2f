//! The durable acknowledgement: an update is relayed to the other clients at once, but echoed
//! to its sender only after the group commit that stores it has succeeded.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use plait_server::Config;
use plait_storage::memory::MemoryStore;
use plait_storage::store::DocStore;
use plait_tests::client::YClient;
use plait_tests::gated::GatedStore;
use plait_tests::raw::{decode, update_frame, Incoming, RawClient};
use plait_tests::server::TestServer;
use plait_tests::{ydoc, TIMEOUT};
use yrs::sync::{Message, SyncMessage};

/// How long the test watches for a premature echo while the commit is held. The commit is
/// blocked for the whole window, so any echo in it is a bug; longer only makes the test slower.
const NO_ECHO_WINDOW: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_to_sender_waits_for_the_commit_while_others_get_the_relay_at_once() -> Result<()> {
    plait_tests::init_tracing();
    let store = Arc::new(GatedStore::closed(MemoryStore::new()));
    let server = TestServer::start(Config::for_tests("memory"), store.clone()).await?;
    let url = server.ws_url("durable");

    let observer = YClient::connect(&url, 501).await?;
    let mut sender = RawClient::connect(&url).await?;
    sender.handshake().await?;

    let update = ydoc::text_update(502, "text", "saved means in SQL");
    sender.send_binary(update_frame(&update)).await?;

    // The relay reaches the other client while nothing has been committed.
    observer
        .wait_until("the relay", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "saved means in SQL"
        })
        .await?;
    ensure!(
        store.committed() == 0,
        "the relay should not wait for the commit"
    );
    // The writer is trying to commit (and is held at the gate).
    store.wait_append_started().await?;

    // While the commit is held, the sender must not get its update back.
    let deadline = tokio::time::Instant::now() + NO_ECHO_WINDOW;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sender.next(left).await? {
            None => break,
            Some(Incoming::Binary(frame)) => {
                for message in decode(&frame)? {
                    if let Message::Sync(SyncMessage::Update(u)) = message {
                        bail!("echo of {} bytes arrived before the commit", u.len());
                    }
                }
            }
            Some(other) => bail!("sender connection ended while waiting: {other:?}"),
        }
    }
    ensure!(store.committed() == 0);

    store.open();
    let echo = loop {
        match sender.next(TIMEOUT).await? {
            Some(Incoming::Binary(frame)) => {
                let committed_when_received = store.committed();
                let is_echo = decode(&frame)?.into_iter().any(
                    |m| matches!(m, Message::Sync(SyncMessage::Update(ref u)) if *u == update),
                );
                if is_echo {
                    break committed_when_received;
                }
            }
            other => bail!("expected the echo after the commit, got {other:?}"),
        }
    };
    ensure!(
        echo >= 1,
        "echo arrived but the store had committed nothing"
    );
    let stored = store.inner().load("durable").await?;
    let Some(stored) = stored else {
        bail!("nothing stored")
    };
    ensure!(
        stored.updates.iter().any(|(_, data)| *data == update),
        "the echoed update is not in the store"
    );
    ensure!(
        observer.status().updates_received == 1,
        "observer: {:?}",
        observer.status()
    );
    Ok(())
}

/// Several updates held behind one commit are all echoed once it succeeds, in order, and the
/// echo of a later update never precedes the commit of an earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_held_update_is_echoed_after_its_commit() -> Result<()> {
    plait_tests::init_tracing();
    let store = Arc::new(GatedStore::closed(MemoryStore::new()));
    let server = TestServer::start(Config::for_tests("memory"), store.clone()).await?;
    let mut sender = RawClient::connect(&server.ws_url("burst")).await?;
    sender.handshake().await?;
    let doc = yrs::Doc::with_client_id(601);
    let text = doc.get_or_insert_text("text");
    let mut updates = Vec::new();
    for i in 0..5 {
        use yrs::{Text, Transact};
        let mut txn = doc.transact_mut();
        text.push(&mut txn, &format!("{i}"));
        updates.push(txn.encode_update_v1());
    }
    for update in &updates {
        sender.send_binary(update_frame(update)).await?;
    }
    store.wait_append_started().await?;
    ensure!(
        sender.next(Duration::from_millis(200)).await?.is_none(),
        "a frame arrived before the commit"
    );
    store.open();
    let mut echoed = Vec::new();
    while echoed.len() < updates.len() {
        match sender.next(TIMEOUT).await? {
            Some(Incoming::Binary(frame)) => {
                for message in decode(&frame)? {
                    if let Message::Sync(SyncMessage::Update(u)) = message {
                        let position = updates.iter().position(|x| *x == u);
                        ensure!(position.is_some(), "echo of an update never sent");
                        ensure!(
                            covers(&store.committed_rows(), &u)?,
                            "echo ahead of the commit"
                        );
                        echoed.push(u);
                    }
                }
            }
            other => bail!("expected echoes, got {other:?}"),
        }
    }
    ensure!(echoed == updates, "echoes out of order");
    Ok(())
}

/// Whether the committed rows hold every block of `update` (rows may merge several updates).
fn covers(rows: &[Vec<u8>], update: &[u8]) -> Result<bool> {
    use yrs::updates::decoder::Decode;
    use yrs::{ReadTxn, Transact, Update};
    let doc = yrs::Doc::new();
    {
        let mut txn = doc.transact_mut();
        for row in rows {
            txn.apply_update(Update::decode_v1(row)?)?;
        }
    }
    let stored = doc.transact().state_vector();
    let needed = Update::decode_v1(update)?.state_vector();
    Ok(needed
        .iter()
        .all(|(client, clock)| stored.get(client) >= *clock))
}
