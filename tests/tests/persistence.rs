//! Persistence across restarts: a graceful restart keeps everything, and after `kill -9` of the
//! real binary every update received more than 1 s before the kill is back. SQLite and PostgreSQL.

use std::time::Duration;

use anyhow::{ensure, Result};
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::process::PlaitProcess;
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};
use yrs::{ReadTxn, Snapshot, Transact};

/// Two clients edit text and map concurrently until both hold `rounds` edits of each other;
/// returns the converged snapshot and text.
async fn edit_and_converge(
    a: &YClient,
    b: &YClient,
    tag: &str,
    rounds: usize,
) -> Result<(Snapshot, String)> {
    let before_a = ydoc::text(&a.doc(), "text").len();
    let before_b = ydoc::text(&b.doc(), "text").len();
    ensure!(before_a == before_b, "clients start out of sync");
    let mut added = 0;
    for i in 0..rounds {
        let chunk_a = format!("[{tag}a{i}]");
        let chunk_b = format!("[{tag}b{i}]");
        added += chunk_a.len() + chunk_b.len();
        a.push_text("text", &chunk_a)?;
        b.insert_text("text", 0, &chunk_b)?;
        a.set_map("map", &format!("{tag}-a{}", i % 3), &i.to_string())?;
        b.set_map("map", &format!("{tag}-b{i}"), "b")?;
    }
    let expected = before_a + added;
    // Each sender's updates arrive in order, so holding both senders' last edits means holding all.
    let last = (rounds - 1).to_string();
    let last_a = format!("{tag}-a{}", (rounds - 1) % 3);
    let last_b = format!("{tag}-b{}", rounds - 1);
    for client in [a, b] {
        client
            .wait_until("both clients' edits", TIMEOUT, |doc| {
                let map = ydoc::map(doc, "map");
                ydoc::text(doc, "text").len() == expected
                    && map.get(&last_a) == Some(&last)
                    && map.contains_key(&last_b)
            })
            .await?;
    }
    ensure!(
        ydoc::snapshot(&a.doc()) == ydoc::snapshot(&b.doc()),
        "clients diverged"
    );
    Ok((ydoc::snapshot(&a.doc()), ydoc::text(&a.doc(), "text")))
}

async fn graceful_restart_keeps_everything(url: String) -> Result<()> {
    plait_tests::init_tracing();
    let server = TestServer::start_with_database(Config::for_tests(url.clone())).await?;
    let a = YClient::connect(&server.ws_url("notes"), 1).await?;
    let b = YClient::connect(&server.ws_url("notes"), 2).await?;
    let (expected, text) = edit_and_converge(&a, &b, "g", 30).await?;
    // A second document too: shutdown must flush every live document, not only one.
    let other = YClient::connect(&server.ws_url("other/doc"), 3).await?;
    other.push_text("text", "second document")?;
    other
        .wait_until("its durable echo", TIMEOUT, |_| {
            other.status().updates_received == 1
        })
        .await?;
    // Edits right before the stop, with no time to be flushed by the interval.
    a.push_text("text", "!last")?;
    b.wait_until("the last edit", TIMEOUT, |doc| {
        ydoc::text(doc, "text").ends_with("!last")
    })
    .await?;
    let expected_last = ydoc::snapshot(&b.doc());
    ensure!(expected_last != expected);
    server.stop().await?;
    a.wait_status("going-away close", TIMEOUT, |s| {
        s.closed == Some(plait_protocol::codes::GOING_AWAY)
    })
    .await?;

    let server = TestServer::start_with_database(Config::for_tests(url)).await?;
    let c = YClient::connect(&server.ws_url("notes"), 4).await?;
    ensure!(
        ydoc::snapshot(&c.doc()) == expected_last,
        "state lost across a graceful restart"
    );
    ensure!(ydoc::text(&c.doc(), "text") == format!("{text}!last"));
    let second = http::get(server.addr(), "/api/docs/other%2Fdoc/update").await?;
    let doc = ydoc::doc_from_update(&second.body)?;
    ensure!(
        ydoc::text(&doc, "text") == "second document",
        "second document lost"
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_everything_sqlite() -> Result<()> {
    let file = SqliteFile::new()?;
    graceful_restart_keeps_everything(file.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_keeps_everything_postgres() -> Result<()> {
    let db = PgDatabase::create().await?;
    graceful_restart_keeps_everything(db.url()?).await
}

/// Every update the server had received more than this long before `kill -9` must survive.
const DURABILITY_BOUND: Duration = Duration::from_secs(1);

async fn kill9_loses_nothing_older_than_a_second(url: String) -> Result<()> {
    plait_tests::init_tracing();
    let mut server = PlaitProcess::start(&url, &[]).await?;
    let a = YClient::connect(&server.ws_url("crash"), 10).await?;
    let b = YClient::connect(&server.ws_url("crash"), 11).await?;
    let (expected, text) = edit_and_converge(&a, &b, "k", 40).await?;
    // The server has received everything (each client saw the other's edits). This wait is the
    // property under test, not a synchronisation: nothing else tells us when "1 s" has passed.
    tokio::time::sleep(DURABILITY_BOUND + Duration::from_millis(200)).await;
    // Edits racing the kill: may or may not survive, but must not corrupt what does.
    for i in 0..20 {
        a.push_text("text", &format!("(late{i})"))?;
    }
    server.kill9()?;
    drop((a, b));

    let server = PlaitProcess::start(&url, &[]).await?;
    let c = YClient::connect(&server.ws_url("crash"), 12).await?;
    let doc = c.doc();
    let recovered = doc.transact().state_vector();
    for (client, clock) in expected.state_map.iter() {
        ensure!(
            recovered.get(client) >= *clock,
            "client {client}: recovered clock {} < {clock} received before the kill; log:\n{}",
            recovered.get(client),
            server.log_text()
        );
    }
    let recovered_text = ydoc::text(&doc, "text");
    ensure!(
        recovered_text.starts_with(&text),
        "recovered text {recovered_text:?} does not extend {text:?}"
    );
    let map = ydoc::map(&doc, "map");
    ensure!(
        map.keys().filter(|k| k.starts_with("k-b")).count() == 40,
        "map entries lost: {map:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_nothing_older_than_a_second_sqlite() -> Result<()> {
    let file = SqliteFile::new()?;
    kill9_loses_nothing_older_than_a_second(file.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_nothing_older_than_a_second_postgres() -> Result<()> {
    let db = PgDatabase::create().await?;
    kill9_loses_nothing_older_than_a_second(db.url()?).await
}
