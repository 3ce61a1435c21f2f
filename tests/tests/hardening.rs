//! Issue 20's defects as regressions, each against a real server over real sockets (the close
//! codes of 4413 and 4429 against a stock client are in `tests/js/limits.test.js`, the two-node
//! losses in `nodes_killed.rs`).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plait_protocol::codes;
use plait_server::Config;
use plait_storage::{DocStore, NewUpdate, SeaStore};
use plait_tests::client::YClient;
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::raw::{decode, update_frame, Incoming, RawClient};
use plait_tests::server::TestServer;
use plait_tests::ydoc::nested_arrays;
use plait_tests::{http, ydoc, TIMEOUT};
use sea_orm::ConnectionTrait;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, StateVector, Text, Transact};

/// Writes `text` to `doc` through the server and waits until it is stored.
async fn write_text(server: &TestServer, doc: &str, client_id: u64, text: &str) -> Result<()> {
    let client = YClient::connect(&server.ws_url(doc), client_id).await?;
    client.push_text("text", text)?;
    client.wait_acked(TIMEOUT).await?;
    client.close().await
}

/// The document's figures (`GET /api/docs/{doc}`).
async fn figures(server: &TestServer, doc: &str) -> Result<serde_json::Value> {
    let r = http::get(server.addr(), &format!("/api/docs/{doc}")).await?;
    ensure!(
        r.status == 200,
        "GET /api/docs/{doc}: {} {}",
        r.status,
        r.text()
    );
    r.json()
}

/// D1 over WebSocket and HTTP: refused (1007, 400) before yrs decodes it; the process serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_update_is_refused_over_websocket_and_http() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let good = YClient::connect(&server.ws_url("deep"), 401).await?;
    good.push_text("text", "before")?;
    let mut raw = RawClient::connect(&server.ws_url("deep")).await?;
    raw.send_binary(update_frame(&nested_arrays(10_000)))
        .await?;
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::INVALID_PAYLOAD, "closed with {code}");
    let r = http::post(
        server.addr(),
        "/api/docs/deep/update",
        &nested_arrays(10_000),
    )
    .await?;
    ensure!(r.status == 400, "POST: {} {}", r.status, r.text());
    ensure!(r.text().contains("levels deep"), "{}", r.text());
    good.push_text("text", " after")?;
    good.wait_acked(TIMEOUT).await?;
    ensure!(http::get(server.addr(), "/healthz").await?.status == 200);
    server.stop().await
}

/// D1 in a stored row (another program's, or an older version's), on both databases: the load
/// refuses it, moves it to quarantine, logs it with its position and serves the rest.
async fn a_deeply_nested_row_is_quarantined(url: String) -> Result<()> {
    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    write_text(&server, "rows", 402, "served").await?;
    server.stop().await?;
    let store = SeaStore::connect(&url).await?;
    let row = NewUpdate {
        doc: "rows".into(),
        data: nested_arrays(10_000).into(),
        authors: None,
    };
    let seq = store.append(&[row]).await?[0];

    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    let reader = YClient::connect(&server.ws_url("rows"), 403).await?;
    ensure!(ydoc::text(&reader.doc(), "text") == "served");
    let figures = plait_tests::eventually("the row quarantined", TIMEOUT, || async {
        let f = figures(&server, "rows").await?;
        Ok((f["quarantined"] == 1).then_some(f))
    })
    .await?;
    // The first server's stop folded "served" into the snapshot; the refused row left the log.
    ensure!(figures["log_updates"] == 0, "{figures}");
    let kept = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.connection().get_database_backend(),
            format!("SELECT reason FROM quarantined_updates WHERE seq = {seq}"),
        ))
        .await?
        .context("a quarantined row at the refused position")?;
    let reason: String = kept.try_get("", "reason")?;
    ensure!(reason.contains("levels deep"), "{reason}");
    // The document keeps working.
    reader.push_text("text", "!")?;
    reader.wait_acked(TIMEOUT).await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_row_is_quarantined_on_sqlite() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    a_deeply_nested_row_is_quarantined(file.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_row_is_quarantined_on_postgres() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    a_deeply_nested_row_is_quarantined(db.url()?).await
}

/// D1 from another node: a live notification carrying a deep update (a node of an older version,
/// or any role that may NOTIFY when authentication is off) is refused; the node serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_update_from_another_node_is_refused() -> Result<()> {
    use base64::Engine as _;
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    let client = YClient::connect(&server.ws_url("relayed"), 404).await?;
    client.push_text("text", "here")?;
    client.wait_acked(TIMEOUT).await?;
    // Deeper than any node accepts (1 000) and small enough for one notification.
    let engine = &base64::engine::general_purpose::STANDARD;
    let payload = format!(
        "forged-node live {} {}",
        engine.encode("relayed"),
        engine.encode(nested_arrays(2_000))
    );
    let store = SeaStore::connect(&url).await?;
    store
        .connection()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify('plait_updates', $1)",
            [payload.into()],
        ))
        .await?;
    // The notification is read (the node hears "forged-node"), refused, and nothing else changes.
    plait_tests::eventually("the forged node heard", TIMEOUT, || async {
        let r = http::get(server.addr(), "/readyz").await?;
        Ok((r.json()?["other_nodes"] == 1).then_some(()))
    })
    .await?;
    client.push_text("text", " still")?;
    client.wait_acked(TIMEOUT).await?;
    ensure!(ydoc::text(&client.doc(), "text") == "here still");
    ensure!(ydoc::map(&client.doc(), "m").is_empty());
    server.stop().await
}

/// D2: one frame of 4 096 sync step 1s costs the document once, not 4 096 times (with a rate
/// limit that lets 4 096 messages through; the default one closes the sender after 1 000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_step1s_is_answered_with_the_document_once() -> Result<()> {
    let mut config = Config::for_tests("memory");
    config.message_burst = 10_000;
    let server = TestServer::in_memory_with(config).await?;
    let big = "x".repeat(256 * 1024);
    write_text(&server, "big", 405, &big).await?;
    let mut raw = RawClient::connect(&server.ws_url("big")).await?;
    let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1();
    raw.send_binary(step1.repeat(4096)).await?;
    let (mut full, mut empty) = (0, 0);
    while full + empty < 4096 {
        let Some(Incoming::Binary(frame)) = raw.next(TIMEOUT).await? else {
            anyhow::bail!("the connection ended after {full} full and {empty} empty answers");
        };
        for message in decode(&frame)? {
            if let Message::Sync(SyncMessage::SyncStep2(update)) = message {
                if update.len() > big.len() {
                    full += 1;
                } else {
                    ensure!(
                        update == [0, 0],
                        "a partial answer of {} bytes",
                        update.len()
                    );
                    empty += 1;
                }
            }
        }
    }
    ensure!(
        full == 1 && empty == 4095,
        "{full} full answers, {empty} empty"
    );
    server.stop().await
}

/// D4: a frame of 40 000 updates is 40 000 messages to the rate limit: at most the burst is
/// applied, and the sender is closed with 4429 without the rest of its frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_many_updates_takes_a_token_each() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let burst = Config::for_tests("memory").message_burst as usize;
    let doc = Doc::with_client_id(406);
    let text = doc.get_or_insert_text("text");
    let mut frame = Vec::new();
    for _ in 0..40_000 {
        let mut txn = doc.transact_mut();
        text.push(&mut txn, "y");
        frame.extend(update_frame(&txn.encode_update_v1()));
    }
    let mut raw = RawClient::connect(&server.ws_url("many")).await?;
    raw.send_binary(frame).await?;
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::RATE_LIMITED, "closed with {code}");
    // Read over HTTP: the sender's address is refused a reconnect for a while after a 4429.
    let r = http::get(server.addr(), "/api/docs/many/update").await?;
    ensure!(r.status == 200, "GET: {}", r.status);
    let applied = ydoc::text(&ydoc::doc_from_update(&r.body)?, "text").len();
    ensure!(
        (1..=burst).contains(&applied),
        "{applied} of 40 000 updates applied, the burst is {burst}"
    );
    server.stop().await
}

/// D4: pings take tokens too; a flood of them is closed with 4429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_rate_limited() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let mut raw = RawClient::connect(&server.ws_url("pings")).await?;
    for _ in 0..5_000 {
        if raw.send_ping().await.is_err() {
            break;
        }
    }
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::RATE_LIMITED, "closed with {code}");
    server.stop().await
}

/// D6: SQLite rows of the wrong type (an update that is an integer, a creation date that is
/// text) no longer make the document unavailable: it is served, the row quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_the_wrong_type_do_not_make_a_document_unavailable() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let url = file.url();
    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    write_text(&server, "typed", 408, "still served").await?;
    server.stop().await?;
    let store = SeaStore::connect(&url).await?;
    for sql in [
        "INSERT INTO document_updates (document_id, data, created_at) \
         SELECT id, 42, created_at FROM documents WHERE name = 'typed'",
        "UPDATE documents SET created_at = 'not a date' WHERE name = 'typed'",
    ] {
        store.connection().execute_unprepared(sql).await?;
    }
    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    let reader = YClient::connect(&server.ws_url("typed"), 409).await?;
    ensure!(ydoc::text(&reader.doc(), "text") == "still served");
    let r = http::get(server.addr(), "/api/docs/typed/update").await?;
    ensure!(r.status == 200, "GET update: {}", r.status);
    let figures = plait_tests::eventually("the row quarantined", TIMEOUT, || async {
        let f = figures(&server, "typed").await?;
        Ok((f["quarantined"] == 1).then_some(f))
    })
    .await?;
    ensure!(figures["created_at"].is_null(), "{figures}");
    server.stop().await
}

/// A server restarted often never compacted (its documents never unloaded): a document loaded
/// with a log past the snapshot threshold is compacted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_is_compacted_when_the_document_loads() -> Result<()> {
    let file = SqliteFile::new()?;
    let url = file.url();
    let store = SeaStore::connect(&url).await?;
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    let rows: Vec<NewUpdate> = (0..60)
        .map(|_| {
            let mut txn = doc.transact_mut();
            text.push(&mut txn, "z");
            NewUpdate {
                doc: "long".into(),
                data: txn.encode_update_v1().into(),
                authors: None,
            }
        })
        .collect();
    store.append(&rows).await?;
    let mut config = Config::for_tests(&url);
    config.snapshot_threshold = 50;
    config.idle_unload = Duration::from_secs(3600);
    let server = TestServer::start_with_database(config).await?;
    let reader = YClient::connect(&server.ws_url("long"), 410).await?;
    plait_tests::eventually("the log folded into a snapshot", TIMEOUT, || async {
        let f = figures(&server, "long").await?;
        Ok((f["log_updates"] == 0 && f["snapshot_seq"] == 60).then_some(()))
    })
    .await?;
    ensure!(ydoc::text(&reader.doc(), "text") == "z".repeat(60));
    server.stop().await
}

/// Names with invisible formatting characters (look-alikes) are refused like control characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_document_names_are_refused() -> Result<()> {
    let server = TestServer::in_memory().await?;
    for name in ["team%E2%80%AEa", "notes%E2%80%8B"] {
        let r = http::get(server.addr(), &format!("/api/docs/{name}")).await?;
        ensure!(r.status == 400, "{name}: {}", r.status);
        ensure!(
            r.text().contains("invisible formatting character"),
            "{}",
            r.text()
        );
    }
    server.stop().await
}
