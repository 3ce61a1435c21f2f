//! Several nodes on one PostgreSQL database: an edit made through any node reaches the clients
//! of every node that has the document loaded, and is stored once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Result};
use plait_server::Config;
use plait_storage::sea_store::SeaStore;
use plait_storage::store::DocStore;
use plait_tests::client::YClient;
use plait_tests::db::PgDatabase;
use plait_tests::gated::GatedStore;
use plait_tests::proxy::TcpProxy;
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};

/// Catching up after the database comes back includes the relay's reconnect backoff (up to 5 s).
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// A node on `url`, opened as the binary opens it.
async fn node(url: &str) -> Result<TestServer> {
    TestServer::start_with_database(Config::for_tests(url)).await
}

async fn wait_text(client: &YClient, expected: &str, timeout: Duration) -> Result<()> {
    client
        .wait_until(&format!("text {expected:?}"), timeout, |doc| {
            ydoc::text(doc, "text") == expected
        })
        .await
}

/// Waits until `node` hears from `others` other nodes (`/readyz`'s `other_nodes`).
async fn wait_other_nodes(node: &TestServer, others: u64) -> Result<()> {
    http::wait_other_nodes(node.addr(), others).await
}

/// Waits until `node` knows that `others` other nodes have `doc` open (`/api/docs/{doc}`'s
/// `other_nodes`).
async fn wait_open_elsewhere(node: &TestServer, doc: &str, others: u64) -> Result<()> {
    let addr = node.addr();
    let path = format!("/api/docs/{doc}");
    plait_tests::eventually(
        &format!("{doc} open on {others} other nodes"),
        TIMEOUT,
        || {
            let path = path.clone();
            async move {
                let r = http::get(addr, &path).await?;
                Ok((r.json()?["other_nodes"].as_u64() == Some(others)).then_some(()))
            }
        },
    )
    .await
}

/// Rows of `doc` in the log, read directly from the database.
async fn log_rows(url: &str, doc: &str) -> Result<usize> {
    let store = SeaStore::connect(url).await?;
    Ok(store.updates_after(doc, 0, 1000).await?.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reach_the_clients_of_every_node_and_are_stored_once() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a = node(&url).await?;
    wait_other_nodes(&a, 0).await?;
    let b = node(&url).await?;
    // Each hears of the other at once: b announces itself as it starts, and a answers.
    wait_other_nodes(&a, 1).await?;
    wait_other_nodes(&b, 1).await?;
    let on_a = YClient::connect(&a.ws_url("shared"), 201).await?;
    let on_b = YClient::connect(&b.ws_url("shared"), 202).await?;
    on_a.wait_synced().await?;
    on_b.wait_synced().await?;

    // Both nodes hold the document in memory: each must learn the other's edits.
    on_a.push_text("text", "a1;")?;
    wait_text(&on_b, "a1;", TIMEOUT).await?;
    on_b.push_text("text", "b1;")?;
    wait_text(&on_a, "a1;b1;", TIMEOUT).await?;
    for i in 2..=20 {
        on_a.push_text("text", &format!("a{i};"))?;
        on_b.push_text("text", &format!("b{i};"))?;
    }
    on_a.wait_until("both nodes' edits", TIMEOUT, |doc| {
        ydoc::snapshot(doc) == ydoc::snapshot(&on_b.doc())
    })
    .await?;
    let text = ydoc::text(&on_a.doc(), "text");
    for i in 1..=20 {
        ensure!(
            text.contains(&format!("a{i};")) && text.contains(&format!("b{i};")),
            "{text}"
        );
    }

    // A late joiner on either node gets everything, without reconnecting anyone.
    let late = YClient::connect(&b.ws_url("shared"), 203).await?;
    late.wait_synced().await?;
    ensure!(ydoc::snapshot(&late.doc()) == ydoc::snapshot(&on_a.doc()));

    // A relayed update is not stored again by the node that relays it: 40 edits, and at most
    // one row per edit (a drain may merge several of a node's edits into one row). Counted
    // before the nodes stop, since a stop compacts the log into the snapshot.
    a.wait_all_written(TIMEOUT).await?;
    b.wait_all_written(TIMEOUT).await?;
    let rows = log_rows(&url, "shared").await?;
    ensure!(
        (2..=40).contains(&rows),
        "{rows} log rows for 40 edits: relayed updates stored again?"
    );
    drop((on_a, on_b, late));
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

/// An edit reaches the other nodes' clients as it is relayed, not once it is stored: here node
/// a's database never commits until the end, and b's client still gets a's edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reach_other_nodes_before_they_are_stored() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let store = SeaStore::connect(&url).await?;
    let bus = store.bus(None);
    let gated = Arc::new(GatedStore::closed(store));
    let a = TestServer::start_node(Config::for_tests(url.as_str()), gated.clone(), bus).await?;
    let b = node(&url).await?;
    // a publishes live updates only once it knows another node listens.
    wait_other_nodes(&a, 1).await?;
    let on_a = YClient::connect(&a.ws_url("live"), 231).await?;
    let on_b = YClient::connect(&b.ws_url("live"), 232).await?;
    on_a.wait_synced().await?;
    on_b.wait_synced().await?;
    // ... and only of the documents another node has open.
    wait_open_elsewhere(&a, "live", 1).await?;
    on_a.push_text("text", "not stored yet;")?;
    wait_text(&on_b, "not stored yet;", TIMEOUT).await?;
    // a's append may start only after b already has the edit; it then stays held at the gate.
    gated.wait_append_started().await?;
    ensure!(gated.committed() == 0, "a stored it after all");
    // A paste too large for one notification goes in parts, and an edit after it follows.
    let paste = "0123456789abcdef".repeat(1500);
    on_a.push_text("text", &paste)?;
    on_a.push_text("text", ";after")?;
    let expected = format!("not stored yet;{paste};after");
    wait_text(&on_b, &expected, TIMEOUT).await?;
    ensure!(gated.committed() == 0, "a stored the paste after all");

    // Once a's commit goes through, b gets the stored rows too, and nothing changes.
    gated.open();
    a.wait_all_written(TIMEOUT).await?;
    on_b.push_text("text", "b;")?;
    wait_text(&on_a, &format!("{expected}b;"), TIMEOUT).await?;
    ensure!(ydoc::text(&on_b.doc(), "text") == format!("{expected}b;"));
    Ok(())
}

/// A document opened on a node while another node keeps editing it: the load and the relay
/// together hold every edit, whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_loaded_while_another_node_edits_misses_nothing() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a = node(&url).await?;
    let b = node(&url).await?;
    let writer = YClient::connect(&a.ws_url("busy"), 211).await?;
    writer.wait_synced().await?;
    let mut readers = Vec::new();
    for i in 0..30u64 {
        writer.push_text("text", &format!("{i};"))?;
        if i % 3 == 0 {
            // The first join loads the document on b while a keeps writing; the later ones
            // join a document that only the relay keeps up to date.
            readers.push(YClient::connect(&b.ws_url("busy"), 300 + i).await?);
        }
    }
    for reader in &readers {
        reader
            .wait_until("every edit", TIMEOUT, |doc| {
                ydoc::snapshot(doc) == ydoc::snapshot(&writer.doc())
            })
            .await?;
    }
    Ok(())
}

/// The node that relays loses its database connection while another node stores edits: the
/// notifications of that time are gone, so once it is back it reads the document whole, and its
/// client gets the edits without reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_the_database_catches_up_when_it_is_back() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let proxy = TcpProxy::start(db.server_addr()?).await?;
    let a = node(&db.url()?).await?;
    let b = node(&db.url_via(proxy.addr())?).await?;
    let on_a = YClient::connect(&a.ws_url("cut"), 221).await?;
    let on_b = YClient::connect(&b.ws_url("cut"), 222).await?;
    on_a.wait_synced().await?;
    on_b.wait_synced().await?;
    on_a.push_text("text", "before;")?;
    wait_text(&on_b, "before;", TIMEOUT).await?;

    proxy.cut();
    on_a.push_text("text", "while b was cut off;")?;
    // a opens another document meanwhile; b cannot hear of it.
    let elsewhere = YClient::connect(&a.ws_url("meanwhile"), 223).await?;
    elsewhere.wait_synced().await?;
    // Stored by a before b's database comes back: b cannot have heard of it.
    a.wait_all_written(TIMEOUT).await?;
    ensure!(
        ydoc::text(&on_b.doc(), "text") == "before;",
        "b relayed while cut off?"
    );

    proxy.restore();
    wait_text(&on_b, "before;while b was cut off;", RECOVERY_TIMEOUT).await?;
    // What b knew of the others is relearnt from their answers: it knows a has the document
    // open, so its own edits go to a live again.
    wait_open_elsewhere(&b, "cut", 1).await?;
    wait_open_elsewhere(&b, "meanwhile", 1).await?;
    on_b.push_text("text", "b is back;")?;
    wait_text(&on_a, "before;while b was cut off;b is back;", TIMEOUT).await?;
    Ok(())
}

/// A node tells the others which documents it has open and when it no longer has them, and a
/// node that starts later learns of those already open: that is what the others publish live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_know_which_documents_the_others_have_open() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a = node(&url).await?;
    let mut quick_unload = Config::for_tests(url.as_str());
    quick_unload.idle_unload = Duration::from_millis(200);
    let b = TestServer::start_with_database(quick_unload).await?;
    wait_other_nodes(&a, 1).await?;

    let on_b = YClient::connect(&b.ws_url("opened"), 241).await?;
    on_b.wait_synced().await?;
    wait_open_elsewhere(&a, "opened", 1).await?;
    drop(on_b);
    wait_open_elsewhere(&a, "opened", 0).await?;

    let on_a = YClient::connect(&a.ws_url("before"), 242).await?;
    on_a.wait_synced().await?;
    let c = node(&url).await?;
    wait_open_elsewhere(&c, "before", 1).await?;
    wait_other_nodes(&c, 2).await?;
    Ok(())
}

/// With authentication on, nodes sign the updates they relay to each other with a key derived
/// from the auth secret: a notification from anyone else who can connect to the database (a
/// role that may only read, say) puts nothing into the documents, while the nodes' own still
/// arrive before they are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_on_only_signed_updates_are_relayed() -> Result<()> {
    use base64::Engine as _;
    use plait_cluster::NodeKey;
    use plait_server::auth::{Authenticator, Mode};
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

    const SECRET: &str = "plait-e2e-nodes-secret-0123456789abcdef-0123456789";
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let config = Config::for_tests(url.as_str()).with_auth_secret(SECRET);
    let key = NodeKey::derive(SECRET.as_bytes());
    let store = SeaStore::connect(&url).await?;
    let bus = store.bus(Some(key));
    let gated = Arc::new(GatedStore::closed(store));
    let a = TestServer::start_node(config.clone(), gated.clone(), bus).await?;
    let b = TestServer::start_with_database(config).await?;
    wait_other_nodes(&a, 1).await?;
    let token = Authenticator::new(SECRET.as_bytes()).mint("signed", Mode::Write, TIMEOUT * 6)?;
    let on_a = YClient::connect(&format!("{}?token={token}", a.ws_url("signed")), 251).await?;
    let on_b = YClient::connect(&format!("{}?token={token}", b.ws_url("signed")), 252).await?;
    on_a.wait_synced().await?;
    on_b.wait_synced().await?;
    let stats = format!("/api/docs/signed?token={token}");
    plait_tests::eventually("a knows b has the document open", TIMEOUT, || async {
        let r = http::get(a.addr(), &stats).await?;
        Ok((r.json()?["other_nodes"].as_u64() == Some(1)).then_some(()))
    })
    .await?;

    // Someone else on the database sends what a node would, unsigned.
    let engine = &base64::engine::general_purpose::STANDARD;
    let forged = format!(
        "intruder live {} {}",
        engine.encode("signed"),
        engine.encode(ydoc::text_update(999, "text", "forged;"))
    );
    let outsider = SeaStore::connect(&url).await?;
    outsider
        .connection()
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify('plait_updates', $1)",
            [forged.into()],
        ))
        .await?;

    // Sent after it on the same channel, a's own (signed, not yet stored) edit arrives; by then b
    // has read the forgery and dropped it.
    on_a.push_text("text", "genuine;")?;
    wait_text(&on_b, "genuine;", TIMEOUT).await?;
    ensure!(gated.committed() == 0, "a stored it: not the live path");
    ensure!(ydoc::text(&on_a.doc(), "text") == "genuine;");
    Ok(())
}

/// Presence crosses nodes: each node's clients see the names and cursors of the other's, a
/// client joining later on either node sees everyone already there, and a client that leaves
/// leaves everywhere. A node keeps another node's clients only while they are renewed (a real
/// y-protocols client renews every 15 s; this test's clients never do), so the clients of a node
/// that died do not stay forever; its own clients' states it keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_the_clients_of_every_node() -> Result<()> {
    use plait_protocol::session::presence::REMOTE_TIMEOUT;

    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a = node(&url).await?;
    let b = node(&url).await?;
    wait_other_nodes(&a, 1).await?;
    wait_other_nodes(&b, 1).await?;
    let alice = YClient::connect(&a.ws_url("room"), 261).await?;
    let bob = YClient::connect(&b.ws_url("room"), 262).await?;
    alice.wait_synced().await?;
    bob.wait_synced().await?;
    wait_open_elsewhere(&a, "room", 1).await?;
    wait_open_elsewhere(&b, "room", 1).await?;

    alice.set_awareness(r#"{"user":"alice"}"#)?;
    bob.set_awareness(r#"{"user":"bob"}"#)?;
    bob.wait_awareness("alice, from node a", |s| {
        s.get(&261).is_some_and(|j| j.contains("alice"))
    })
    .await?;
    alice
        .wait_awareness("bob, from node b", |s| {
            s.get(&262).is_some_and(|j| j.contains("bob"))
        })
        .await?;
    // An update of a state crosses too, not only its first appearance.
    alice.set_awareness(r#"{"user":"alice","cursor":7}"#)?;
    bob.wait_awareness("alice's cursor", |s| {
        s.get(&261).is_some_and(|j| j.contains("cursor"))
    })
    .await?;

    // Joining later, on either node: everyone is in the greeting.
    let carol = YClient::connect(&b.ws_url("room"), 263).await?;
    carol
        .wait_awareness("alice and bob", |s| {
            s.contains_key(&261) && s.contains_key(&262)
        })
        .await?;
    let dave = YClient::connect(&a.ws_url("room"), 264).await?;
    dave.wait_awareness("alice and bob", |s| {
        s.contains_key(&261) && s.contains_key(&262)
    })
    .await?;
    // A node that opens the document while others are present is told of them at once.
    let c = node(&url).await?;
    let erin = YClient::connect(&c.ws_url("room"), 265).await?;
    erin.wait_awareness("alice and bob, told when c opened the room", |s| {
        s.contains_key(&261) && s.contains_key(&262)
    })
    .await?;

    // Leaving: gone on every node, the others stay.
    bob.close().await?;
    for client in [&alice, &carol, &dave, &erin] {
        client
            .wait_awareness("bob gone, alice still here", |s| {
                !s.contains_key(&262) && s.contains_key(&261)
            })
            .await?;
    }

    // Not renewed: alice leaves b's and c's clients after REMOTE_TIMEOUT, and stays on a's,
    // whose node has her connection.
    carol
        .wait_until("alice expired on node b", REMOTE_TIMEOUT * 2, |_| {
            !carol.awareness_states().contains_key(&261)
        })
        .await?;
    erin.wait_until("alice expired on node c", TIMEOUT, |_| {
        !erin.awareness_states().contains_key(&261)
    })
    .await?;
    ensure!(
        dave.awareness_states().contains_key(&261),
        "node a expired its own client: {:?}",
        dave.awareness_states()
    );
    Ok(())
}

/// A document that is slow to load on one node holds up none of the others there: the other
/// nodes' edits of those still arrive at once, and the slow one, once loaded, has every edit
/// made meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_on_one_node_holds_up_no_other_document() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a = node(&url).await?;
    let store = SeaStore::connect(&url).await?;
    let bus = store.bus(None);
    let gated = Arc::new(GatedStore::closed(store));
    gated.open();
    let b = TestServer::start_node(Config::for_tests(url.as_str()), gated.clone(), bus).await?;
    wait_other_nodes(&a, 1).await?;
    wait_other_nodes(&b, 1).await?;
    let writer_other = YClient::connect(&a.ws_url("other"), 271).await?;
    let reader_other = YClient::connect(&b.ws_url("other"), 272).await?;
    wait_open_elsewhere(&a, "other", 1).await?;
    let writer_slow = YClient::connect(&a.ws_url("slow"), 273).await?;

    gated.hold_loads_of("slow");
    let reader_slow = YClient::open(&b.ws_url("slow"), yrs::Doc::with_client_id(274)).await?;
    plait_tests::eventually("b loading the slow document", TIMEOUT, || async {
        Ok((gated.loads_held() == 1).then_some(()))
    })
    .await?;
    // a stores an edit of the document b is loading; b hears of the commit first...
    writer_slow.push_text("text", "while b loads;")?;
    a.wait_all_written(TIMEOUT).await?;
    // ...and of this edit of another document next, which must not wait for that load.
    writer_other.push_text("text", "meanwhile;")?;
    wait_text(&reader_other, "meanwhile;", TIMEOUT).await?;
    ensure!(gated.loads_held() == 1, "the slow load ended early");

    gated.release_loads();
    reader_slow.wait_synced().await?;
    wait_text(&reader_slow, "while b loads;", TIMEOUT).await?;
    Ok(())
}
