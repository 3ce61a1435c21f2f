//! A document's past over HTTP on PostgreSQL (the JavaScript tests cover SQLite): `?at=` a
//! position gives the text the client had then, across compactions; `POST .../restore?at=`
//! brings it back live; with a short `--history-retention` the old positions answer 410 while
//! named versions and the current state stay; the memory store answers 501.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::db::PgDatabase;
use plait_tests::docs_api::{call, get_json, until};
use plait_tests::server::TestServer;
use plait_tests::TIMEOUT;
use serde_json::json;

fn text(doc: &yrs::Doc) -> String {
    plait_testkit::ydoc::text(doc, "t")
}

/// The text of `doc` at `at` and the position the answer names; `Err` with the status else.
async fn text_at(
    addr: SocketAddr,
    doc: &str,
    at: &str,
) -> Result<std::result::Result<(String, i64), u16>> {
    let res = call(addr, "GET", &format!("/api/docs/{doc}/update?at={at}"), b"").await?;
    if res.status != 200 {
        return Ok(Err(res.status));
    }
    let position = res
        .headers
        .iter()
        .find(|(name, _)| name == "plait-position")
        .and_then(|(_, v)| v.parse().ok())
        .context("a plait-position header")?;
    let rebuilt = plait_testkit::ydoc::doc_from_update(&res.body)?;
    Ok(Ok((text(&rebuilt), position)))
}

async fn last_seq(addr: SocketAddr, doc: &str) -> Result<i64> {
    get_json(addr, &format!("/api/docs/{doc}")).await?["last_seq"]
        .as_i64()
        .context("last_seq")
}

/// Appends each of `steps` from `client`, waits until it is stored, and returns the position
/// and the text after each.
async fn type_steps(
    addr: SocketAddr,
    client: &YClient,
    steps: &[&str],
) -> Result<Vec<(i64, String)>> {
    let mut seen: Vec<(i64, String)> = Vec::new();
    for step in steps {
        client.push_text("t", step)?;
        client.wait_acked(TIMEOUT).await?;
        let seq = last_seq(addr, "spec").await?;
        ensure!(
            seen.last().is_none_or(|(s, _)| seq > *s),
            "a new position after {step:?}"
        );
        seen.push((seq, text(&client.doc())));
    }
    Ok(seen)
}

#[tokio::test]
async fn points_of_the_past_on_postgres() -> Result<()> {
    let db = PgDatabase::create().await?;
    let mut config = Config::for_tests(db.url()?);
    config.snapshot_threshold = 2;
    let server = TestServer::start_with_database(config).await?;
    let addr = server.addr();
    let client = YClient::connect(&server.ws_url("spec"), 41).await?;
    let seen = type_steps(addr, &client, &["one", " two", " three", " four", " five"]).await?;
    let stats = get_json(addr, "/api/docs/spec").await?;
    ensure!(
        stats["snapshot_seq"].as_i64().unwrap_or(0) > seen[0].0,
        "compacted past the first steps: {stats}"
    );
    for (seq, expected) in &seen {
        assert_eq!(
            text_at(addr, "spec", &seq.to_string()).await?,
            Ok((expected.clone(), *seq))
        );
    }
    assert_eq!(text_at(addr, "spec", "0").await?, Ok((String::new(), 0)));
    assert_eq!(text_at(addr, "spec", "soon").await?, Err(400));
    assert_eq!(text_at(addr, "nothing", "1").await?, Err(404));

    let res = call(
        addr,
        "POST",
        &format!("/api/docs/spec/restore?at={}", seen[1].0),
        b"",
    )
    .await?;
    ensure!(res.status == 200, "restore: {} {}", res.status, res.text());
    let body = res.json()?;
    assert_eq!(body["at"], json!(seen[1].0));
    client
        .wait_until("the restored text, live", TIMEOUT, |doc| {
            text(doc) == "one two"
        })
        .await?;
    server.stop().await
}

#[tokio::test]
async fn past_the_retention_window_on_postgres() -> Result<()> {
    let db = PgDatabase::create().await?;
    let mut config = Config::for_tests(db.url()?);
    config.snapshot_threshold = 2;
    config.history_retention = Duration::from_secs(2);
    let server = TestServer::start_with_database(config).await?;
    let addr = server.addr();
    let client = YClient::connect(&server.ws_url("spec"), 42).await?;
    let seen = type_steps(addr, &client, &["a", "b", "c"]).await?;
    let res = call(
        addr,
        "POST",
        "/api/docs/spec/versions",
        br#"{"name":"keep"}"#,
    )
    .await?;
    ensure!(res.status == 201, "{}", res.text());

    until("the first position pruned", || async {
        Ok(text_at(addr, "spec", &seen[0].0.to_string()).await? == Err(410))
    })
    .await?;
    let long_ago = "2020-01-01T00:00:00Z";
    assert_eq!(text_at(addr, "spec", long_ago).await?, Err(410));
    let last = seen.last().context("steps")?;
    assert_eq!(
        text_at(addr, "spec", &last.0.to_string()).await?,
        Ok((last.1.clone(), last.0))
    );
    let versions = get_json(addr, "/api/docs/spec/versions").await?;
    assert_eq!(versions["versions"][0]["name"], json!("keep"), "{versions}");
    // Every compacted row leaves the window: the history table shrinks to the base.
    until("only the base left in document_history", || async {
        Ok(count(&db, "SELECT COUNT(*) FROM document_history").await? == 1)
    })
    .await?;
    server.stop().await
}

#[tokio::test]
async fn the_memory_store_keeps_no_past() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let client = YClient::connect(&server.ws_url("spec"), 43).await?;
    client.push_text("t", "x")?;
    client.wait_acked(TIMEOUT).await?;
    assert_eq!(text_at(server.addr(), "spec", "1").await?, Err(501));
    server.stop().await
}

async fn count(db: &PgDatabase, sql: &str) -> Result<i64> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let conn = Database::connect(db.url()?).await?;
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .context("a row")?;
    let n: i64 = row.try_get_by_index(0)?;
    conn.close().await?;
    Ok(n)
}
