//! Database outages: the server keeps serving from memory, `/readyz` says not ready, and once
//! the database is back everything pending is written. Also: a document whose load fails is
//! refused (1013) rather than served empty.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use plait_protocol::codes;
use plait_server::Config;
use plait_storage::faulty::FaultyStore;
use plait_storage::sea_store::SeaStore;
use plait_storage::store::{DocStore, NewUpdate};
use plait_tests::client::YClient;
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::proxy::TcpProxy;
use plait_tests::raw::{RawClient, Upgrade};
use plait_tests::server::TestServer;
use plait_tests::{eventually, http, ydoc, TIMEOUT};
use yrs::Snapshot;

/// Recovery waits include the writer's retry backoff (up to 5 s) and a pool reconnect.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until `/readyz` answers `status`.
async fn wait_readyz(
    server: &TestServer,
    status: u16,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let addr = server.addr();
    eventually(&format!("/readyz {status}"), timeout, || async move {
        let r = http::get(addr, "/readyz").await?;
        Ok((r.status == status).then(|| r.json().unwrap_or_default()))
    })
    .await
}

/// `/readyz`'s status and its count of updates not yet in SQL.
async fn readyz_pending(server: &TestServer) -> Result<(u16, Option<u64>)> {
    let r = http::get(server.addr(), "/readyz").await?;
    let pending = r.json().ok().and_then(|j| j["pending_updates"].as_u64());
    Ok((r.status, pending))
}

/// Waits until the server reports ready with nothing pending: every update is in SQL.
async fn wait_all_written(server: &TestServer) -> Result<()> {
    server.wait_all_written(RECOVERY_TIMEOUT).await
}

/// Both clients edit, and converge, until each holds the other's `round` edits.
async fn edit_round(a: &YClient, b: &YClient, tag: &str) -> Result<Snapshot> {
    for i in 0..10 {
        a.push_text("text", &format!("[{tag}a{i}]"))?;
        b.set_map("map", &format!("{tag}{i}"), "b")?;
    }
    let last_key = format!("{tag}9");
    let last_chunk = format!("[{tag}a9]");
    a.wait_until("b's round", TIMEOUT, |doc| {
        ydoc::map(doc, "map").contains_key(&last_key)
    })
    .await?;
    b.wait_until("a's round", TIMEOUT, |doc| {
        ydoc::text(doc, "text").ends_with(&last_chunk)
    })
    .await?;
    let snapshot = ydoc::snapshot(&a.doc());
    b.wait_until("identical state", TIMEOUT, |doc| {
        ydoc::snapshot(doc) == snapshot
    })
    .await?;
    Ok(snapshot)
}

/// What the given store holds for `doc`, as a snapshot.
async fn stored_snapshot(store: &dyn DocStore, doc: &str) -> Result<Snapshot> {
    let Some(stored) = store.load(doc).await? else {
        bail!("{doc} was never written")
    };
    let replayed = stored.replay(plait_protocol::session::DocLimits::default());
    Ok(ydoc::snapshot(replayed.state.doc()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outage_loses_nothing() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let store = Arc::new(FaultyStore::new(SeaStore::connect(&file.url()).await?));
    let server = TestServer::start(Config::for_tests(file.url()), store.clone()).await?;
    let url = server.ws_url("outage");
    let a = YClient::connect(&url, 81).await?;
    let b = YClient::connect(&url, 82).await?;
    let before = edit_round(&a, &b, "before").await?;
    wait_all_written(&server).await?;
    ensure!(stored_snapshot(store.inner(), "outage").await? == before);

    store.set_failing(true);
    let during = edit_round(&a, &b, "during").await?;
    let ready = wait_readyz(&server, 503, TIMEOUT).await?;
    ensure!(
        ready["pending_updates"].as_u64() > Some(0),
        "nothing pending during the outage: {ready}"
    );
    // Still serving from memory: a new client gets the edits made during the outage.
    let c = YClient::connect(&url, 83).await?;
    ensure!(
        ydoc::snapshot(&c.doc()) == during,
        "a client joining during the outage misses edits"
    );
    let also_during = edit_round(&a, &c, "more").await?;
    ensure!(
        stored_snapshot(store.inner(), "outage").await? == before,
        "written while failing?"
    );

    store.set_failing(false);
    wait_all_written(&server).await?;
    ensure!(
        stored_snapshot(store.inner(), "outage").await? == also_during,
        "the edits made during the outage were not all written once it ended"
    );
    drop((a, b, c));
    server.stop().await?;

    let server = TestServer::start_with_database(Config::for_tests(file.url())).await?;
    let d = YClient::connect(&server.ws_url("outage"), 84).await?;
    ensure!(
        ydoc::snapshot(&d.doc()) == also_during,
        "update lost across the outage and restart"
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_through_a_cut_proxy_loses_nothing() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let proxy = TcpProxy::start(db.server_addr()?).await?;
    let config = Config::for_tests(db.url_via(proxy.addr())?);
    let server = TestServer::start_with_database(config.clone()).await?;
    let url = server.ws_url("pg-outage");
    let a = YClient::connect(&url, 91).await?;
    let b = YClient::connect(&url, 92).await?;
    edit_round(&a, &b, "before").await?;
    wait_all_written(&server).await?;

    proxy.cut();
    let during = edit_round(&a, &b, "during").await?;
    wait_readyz(&server, 503, TIMEOUT).await?;
    let c = YClient::connect(&url, 93).await?;
    ensure!(ydoc::snapshot(&c.doc()) == during);
    let last = edit_round(&a, &c, "more").await?;
    let ready = wait_readyz(&server, 503, TIMEOUT).await?;
    ensure!(
        ready["pending_updates"].as_u64() > Some(0),
        "nothing pending during the outage: {ready}"
    );

    proxy.restore();
    wait_all_written(&server).await?;
    drop((a, b, c));
    server.stop().await?;

    // Read the database directly, bypassing the proxy.
    let direct = SeaStore::connect(&db.url()?).await?;
    ensure!(
        stored_snapshot(&direct, "pg-outage").await? == last,
        "PostgreSQL is missing edits"
    );
    let server = TestServer::start_with_database(config).await?;
    let d = YClient::connect(&server.ws_url("pg-outage"), 94).await?;
    ensure!(
        ydoc::snapshot(&d.doc()) == last,
        "update lost across the outage and restart"
    );
    server.stop().await
}

/// A document that cannot be loaded is refused with 1013 before any sync message, and never
/// served empty; once the database answers, its stored content is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_failure_refuses_with_try_again_later_then_recovers() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let inner = SeaStore::connect(&file.url()).await?;
    let content = ydoc::text_update(7, "text", "stored before the outage");
    inner
        .append(&[NewUpdate {
            doc: "stored".into(),
            data: content.clone().into(),
            authors: None,
        }])
        .await?;
    let store = Arc::new(FaultyStore::new(inner));
    store.set_failing(true);
    let server = TestServer::start(Config::for_tests(file.url()), store.clone()).await?;

    for _ in 0..2 {
        let mut raw = RawClient::connect(&server.ws_url("stored")).await?;
        let (code, frames) = raw.expect_close(TIMEOUT).await?;
        ensure!(code == codes::TRY_AGAIN_LATER, "close code {code}");
        ensure!(
            frames.is_empty(),
            "{} frames (step 1/2?) sent for an unloaded document",
            frames.len()
        );
    }
    let get = http::get(server.addr(), "/api/docs/stored/update").await?;
    ensure!(
        get.status == 503,
        "GET during the outage: {} {}",
        get.status,
        get.text()
    );
    let post = http::post(
        server.addr(),
        "/api/docs/stored/update",
        &ydoc::text_update(8, "text", "x"),
    )
    .await?;
    ensure!(
        post.status == 503,
        "POST during the outage: {} {}",
        post.status,
        post.text()
    );

    store.set_failing(false);
    let client = YClient::connect(&server.ws_url("stored"), 9).await?;
    ensure!(ydoc::text(&client.doc(), "text") == "stored before the outage");
    ensure!(ydoc::snapshot(&client.doc()) == ydoc::snapshot(&ydoc::doc_from_update(&content)?));
    Ok(())
}

/// Stopped during an outage, the server keeps what the database did not take in the unsaved
/// file; the next start against the same database stores it before serving, so a fresh client
/// sees every edit. A start against another database leaves it in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_outage_keeps_the_updates_for_the_next_start() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let unsaved = file.path().with_file_name("plait-unsaved.bin");
    let mut config = Config::for_tests(file.url());
    config.unsaved_file = Some(unsaved.clone());
    config.shutdown_timeout = Duration::from_millis(500);

    let store = Arc::new(FaultyStore::new(SeaStore::connect(&file.url()).await?));
    let server = TestServer::start(config.clone(), store.clone()).await?;
    let url = server.ws_url("stopped-in-outage");
    let a = YClient::connect(&url, 101).await?;
    let b = YClient::connect(&url, 102).await?;
    let before = edit_round(&a, &b, "before").await?;
    wait_all_written(&server).await?;

    store.set_failing(true);
    let during = edit_round(&a, &b, "during").await?;
    ensure!(during != before);
    let ready = wait_readyz(&server, 503, TIMEOUT).await?;
    ensure!(
        ready["pending_updates"].as_u64() > Some(0),
        "nothing pending during the outage: {ready}"
    );
    drop((a, b));
    server.stop().await?;
    ensure!(
        unsaved.exists(),
        "no unsaved file after a shutdown that could not write"
    );
    ensure!(
        stored_snapshot(store.inner(), "stopped-in-outage").await? == before,
        "written while failing?"
    );

    // A start against another database in the same directory leaves the file alone.
    let elsewhere = SqliteFile::new()?;
    let mut other_config = config.clone();
    other_config.database_url = elsewhere.url();
    let other_store = Arc::new(SeaStore::connect(&elsewhere.url()).await?);
    let other = TestServer::start(other_config, other_store.clone()).await?;
    other.wait_ready().await?;
    other.stop().await?;
    ensure!(
        other_store.load("stopped-in-outage").await?.is_none(),
        "another database's unsaved updates were stored in this one"
    );
    ensure!(
        unsaved.exists(),
        "the unsaved file was consumed by the wrong database"
    );

    // The database is back; a new process (here: a new server on the same file) starts.
    store.set_failing(false);
    let server = TestServer::start(config, store.clone()).await?;
    server.wait_ready().await?;
    ensure!(
        !unsaved.exists(),
        "the unsaved file outlived a successful replay"
    );
    ensure!(
        stored_snapshot(store.inner(), "stopped-in-outage").await? == during,
        "the unsaved updates did not reach the database"
    );
    let c = YClient::connect(&server.ws_url("stopped-in-outage"), 103).await?;
    ensure!(
        ydoc::snapshot(&c.doc()) == during,
        "a fresh client misses edits made during the outage"
    );
    server.stop().await
}

/// Without an unsaved file, a shutdown that cannot write reports it instead of claiming success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_outage_without_unsaved_file_reports_the_loss() -> Result<()> {
    plait_tests::init_tracing();
    let mut config = Config::for_tests("memory");
    config.shutdown_timeout = Duration::from_millis(300);
    let store = Arc::new(FaultyStore::new(plait_storage::memory::MemoryStore::new()));
    let server = TestServer::start(config, store.clone()).await?;
    let a = YClient::connect(&server.ws_url("lost"), 111).await?;
    store.set_failing(true);
    a.push_text("text", "only in memory")?;
    eventually("the edit pending in the writer", TIMEOUT, || async {
        let (_, pending) = readyz_pending(&server).await?;
        Ok((pending > Some(0)).then_some(()))
    })
    .await?;
    drop(a);
    match server.stop().await {
        Ok(()) => bail!("shutdown claimed success with updates unwritten"),
        Err(e) => ensure!(
            format!("{e:#}").contains("not written"),
            "unexpected error: {e:#}"
        ),
    }
    Ok(())
}

/// `--max-pending-updates`: once an outage's backlog reaches it, the connection that sends a
/// change is closed with 1013 and upgrades and HTTP updates get 503, while a reader stays
/// connected. The client keeps its later edits; after the database is back it reconnects and
/// sends them, and the database ends up with every edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_stops_taking_edits_until_the_database_is_back() -> Result<()> {
    plait_tests::init_tracing();
    let mut config = Config::for_tests("memory");
    config.max_pending_updates = 3;
    let store = Arc::new(FaultyStore::new(plait_storage::memory::MemoryStore::new()));
    let server = TestServer::start(config, store.clone()).await?;
    let url = server.ws_url("backlog");
    let editor = YClient::connect(&url, 201).await?;
    let reader = YClient::connect(&url, 202).await?;
    store.set_failing(true);

    // One edit per drain (the next waits for the relay), so each is one pending log row. The
    // first change to find 3 rows pending is still taken, and its sender closed.
    let mut sent = 0;
    while editor.status().closed.is_none() {
        ensure!(sent < 10, "still taking edits with {sent} unwritten");
        editor.push_text("text", &format!("{sent};"))?;
        sent += 1;
        let expected = ydoc::text(&editor.doc(), "text");
        eventually("the edit relayed, or the editor closed", TIMEOUT, || {
            let relayed = ydoc::text(&reader.doc(), "text") == expected;
            let closed = editor.status().closed.is_some();
            async move { Ok((relayed || closed).then_some(())) }
        })
        .await?;
        if sent == 4 {
            editor
                .wait_status("the close at the limit", TIMEOUT, |s| s.closed.is_some())
                .await?;
        }
    }
    ensure!(
        editor.status().closed == Some(codes::TRY_AGAIN_LATER),
        "editor closed with {:?}",
        editor.status().closed
    );
    ensure!(
        sent == 4,
        "closed after {sent} edits, not past the limit of 3"
    );
    // The fourth edit is taken: its relay may reach the reader after the editor saw its close.
    reader
        .wait_until("the fourth edit relayed", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "0;1;2;3;"
        })
        .await?;
    ensure!(
        reader.status().closed.is_none(),
        "the reader was closed too"
    );

    match RawClient::try_connect(&url, &[]).await? {
        Upgrade::Accepted(_) => bail!("an upgrade was accepted with the backlog full"),
        Upgrade::Refused(r) => {
            ensure!(r.status == 503, "upgrade: {} {}", r.status, r.text());
            ensure!(r.header("retry-after").is_some(), "no Retry-After");
        }
    }
    let post = http::post(
        server.addr(),
        "/api/docs/backlog/update",
        &ydoc::text_update(203, "text", "posted"),
    )
    .await?;
    ensure!(post.status == 503, "POST: {} {}", post.status, post.text());
    let ready = wait_readyz(&server, 503, TIMEOUT).await?;
    ensure!(
        ready["accepting_edits"] == false,
        "/readyz hides the full backlog: {ready}"
    );

    // Offline, as a browser tab keeps typing while it waits to reconnect.
    let offline = editor.doc();
    {
        use yrs::{Text, Transact};
        let text = offline.get_or_insert_text("text");
        let mut txn = offline.transact_mut();
        text.push(&mut txn, "offline;");
    }
    store.set_failing(false);
    wait_all_written(&server).await?;
    let again = YClient::open(&url, offline.clone()).await?;
    again.wait_synced().await?;
    reader
        .wait_until("the offline edit", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "0;1;2;3;offline;"
        })
        .await?;
    wait_all_written(&server).await?;
    ensure!(
        stored_snapshot(store.inner(), "backlog").await? == ydoc::snapshot(&offline),
        "the database misses edits"
    );
    server.stop().await
}

/// With the backlog full, a read-only token still opens the document (it cannot add to the
/// backlog) while a write token is refused with 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_still_admits_read_only_tokens() -> Result<()> {
    use plait_server::auth::{Authenticator, Mode};
    plait_tests::init_tracing();
    const SECRET: &str = "plait-e2e-backlog-secret-0123456789abcdef-012345";
    let hour = Duration::from_secs(3600);
    let auth = Authenticator::new(SECRET.as_bytes());
    let mut config = Config::for_tests("memory").with_auth_secret(SECRET);
    config.max_pending_updates = 1;
    let store = Arc::new(FaultyStore::new(plait_storage::memory::MemoryStore::new()));
    let server = TestServer::start(config, store.clone()).await?;
    let url = |mode| -> Result<String> {
        let token = auth.mint("shared", mode, hour)?;
        Ok(format!("{}?token={token}", server.ws_url("shared")))
    };
    let editor = YClient::connect(&url(Mode::Write)?, 301).await?;
    store.set_failing(true);
    editor.push_text("text", "a;")?;
    eventually("the first edit pending", TIMEOUT, || async {
        let (_, pending) = readyz_pending(&server).await?;
        Ok((pending >= Some(1)).then_some(()))
    })
    .await?;
    editor.push_text("text", "b;")?;
    editor
        .wait_status("the close past the limit", TIMEOUT, |s| s.closed.is_some())
        .await?;
    ensure!(editor.status().closed == Some(codes::TRY_AGAIN_LATER));

    let refused = RawClient::try_connect(&url(Mode::Write)?, &[])
        .await?
        .status();
    ensure!(
        refused == 503,
        "write token with the backlog full: {refused}"
    );
    let reader = YClient::connect(&url(Mode::Read)?, 302).await?;
    ensure!(
        ydoc::text(&reader.doc(), "text") == "a;b;",
        "the reader misses what the server holds: {:?}",
        ydoc::text(&reader.doc(), "text")
    );
    store.set_failing(false);
    wait_all_written(&server).await?;
    server.stop().await
}
