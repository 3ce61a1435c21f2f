//! The trash over HTTP: `DELETE /api/docs/{doc}` closes the document's clients with 4410 (on
//! every node) and keeps them out, reads answer 410, the change feed shows it, `undelete` brings
//! the document back whole, and `--trash-retention` purges it.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plait_server::auth::Mode;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::docs_api::{bearer, call, get_json, names, start_sqlite as start, until};
use plait_tests::http;
use plait_tests::TIMEOUT;
use serde_json::json;

#[tokio::test]
async fn delete_closes_clients_keeps_them_out_and_undelete_restores() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let token = bearer("*", Mode::Write)?.replace("Bearer ", "");
    let url = format!("{}?token={token}", server.ws_url("doomed"));
    let client = YClient::connect(&url, 5).await?;
    client.wait_synced().await?;
    client.push_text("t", "keep me")?;
    client.wait_acked(TIMEOUT).await?;

    let res = call(addr, "DELETE", "/api/docs/doomed", b"").await?;
    ensure!(res.status == 200, "DELETE: {} {}", res.status, res.text());
    let body = res.json()?;
    ensure!(
        body["seq"].as_i64().is_some() && body["purge_after"].is_string(),
        "{body}"
    );
    client
        .wait_status("closed with 4410", TIMEOUT, |s| s.closed == Some(4410))
        .await?;
    // A reconnect is closed the same way; reads answer 410; the list and search skip it.
    let again = YClient::open(&url, yrs::Doc::with_client_id(6)).await?;
    again
        .wait_status("closed with 4410", TIMEOUT, |s| s.closed == Some(4410))
        .await?;
    for path in ["/api/docs/doomed/update", "/api/docs/doomed/json"] {
        let res = call(addr, "GET", path, b"").await?;
        ensure!(
            res.status == 410,
            "GET {path}: {} {}",
            res.status,
            res.text()
        );
    }
    ensure!(!names(&get_json(addr, "/api/docs").await?, "documents").contains(&"doomed".into()));
    let res = call(addr, "DELETE", "/api/docs/doomed", b"").await?;
    ensure!(
        res.status == 200 && res.json()?["seq"].is_null(),
        "deleting twice changes nothing"
    );
    let res = call(addr, "DELETE", "/api/docs/nobody", b"").await?;
    ensure!(res.status == 404, "{}", res.status);
    let reader = bearer("*", Mode::Read)?;
    let res = http::request_with_headers(
        addr,
        "POST",
        "/api/docs/doomed/undelete",
        &[("Authorization", &reader)],
        b"",
    )
    .await?;
    ensure!(
        res.status == 403,
        "a read token cannot undelete: {}",
        res.status
    );

    // The change feed shows the deletion; undelete brings the content back.
    let feed = get_json(addr, "/api/changes?prefix=doomed").await?;
    let kinds: Vec<&str> = feed["changes"]
        .as_array()
        .context("changes")?
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    ensure!(kinds.last() == Some(&"delete"), "{kinds:?}");
    let res = call(addr, "POST", "/api/docs/doomed/undelete", b"").await?;
    ensure!(
        res.status == 200 && res.json()?["restored"] == json!(true),
        "{}",
        res.text()
    );
    assert_eq!(
        get_json(addr, "/api/docs/doomed/json").await?,
        json!({"t": "keep me"})
    );
    let back = YClient::connect(&url, 8).await?;
    back.wait_synced().await?;
    back.wait_until("the old content", TIMEOUT, |doc| {
        plait_testkit::ydoc::text(doc, "t") == "keep me"
    })
    .await?;
    server.stop().await
}

#[tokio::test]
async fn the_trash_is_purged_after_the_retention() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |mut c| {
        c.trash_retention = Duration::from_secs(1);
        c
    })
    .await?;
    let addr = server.addr();
    let update = plait_testkit::ydoc::text_update(1, "t", "short-lived");
    let res = call(addr, "POST", "/api/docs/brief/update", &update).await?;
    ensure!(res.status == 200, "{}", res.status);
    let res = call(addr, "DELETE", "/api/docs/brief", b"").await?;
    ensure!(res.status == 200, "{}", res.status);
    // 410 while in the trash, 404 once purged (and nothing left to undelete).
    until("the purge", || async {
        let res = call(addr, "GET", "/api/docs/brief/update", b"").await?;
        ensure!(matches!(res.status, 404 | 410), "{}", res.status);
        Ok(res.status == 404)
    })
    .await?;
    let res = call(addr, "POST", "/api/docs/brief/undelete", b"").await?;
    ensure!(res.status == 404, "purged: {}", res.status);
    server.stop().await
}

/// Two nodes on PostgreSQL: a deletion through one closes the document's clients on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_deletion_closes_the_clients_of_every_node() -> Result<()> {
    let (_db, a, b, on_a, on_b) = plait_tests::docs_api::two_nodes_sharing_a_document().await?;

    let res = http::request(a.addr(), "DELETE", "/api/docs/shared", b"").await?;
    ensure!(res.status == 200, "DELETE: {} {}", res.status, res.text());
    for client in [&on_a, &on_b] {
        client
            .wait_status("closed with 4410", TIMEOUT, |s| s.closed == Some(4410))
            .await?;
    }
    let res = http::get(b.addr(), "/api/docs/shared/json").await?;
    ensure!(res.status == 410, "b serves it no more: {}", res.status);
    a.stop().await?;
    b.stop().await
}
