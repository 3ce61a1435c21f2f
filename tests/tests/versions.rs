//! Versions over HTTP, against a server on a SQLite file: a named version is kept and read back;
//! restoring one reaches a connected client live, is stored, and is undone by restoring the
//! version cut before it; an offline client's edits merge after a restore; automatic versions
//! are cut once a document changed and the interval passed, and not while it stays unchanged.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plait_server::auth::Mode;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::docs_api::{call, get_json, start_sqlite as start, token, until};
use plait_tests::TIMEOUT;
use serde_json::{json, Value};

fn text(doc: &yrs::Doc) -> String {
    plait_testkit::ydoc::text(doc, "t")
}

async fn versions(addr: std::net::SocketAddr, doc: &str) -> Result<Vec<Value>> {
    let body = get_json(addr, &format!("/api/docs/{doc}/versions")).await?;
    Ok(body["versions"].as_array().context("versions")?.clone())
}

#[tokio::test]
async fn a_restore_is_live_stored_and_undone_by_the_version_before_it() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let url = format!(
        "{}?token={}",
        server.ws_url("spec"),
        token("*", Mode::Write)?
    );
    let client = YClient::connect(&url, 11).await?;
    client.push_text("t", "the whole spec")?;
    client.wait_acked(TIMEOUT).await?;

    let res = call(
        addr,
        "POST",
        "/api/docs/spec/versions",
        br#"{"name":"before review"}"#,
    )
    .await?;
    ensure!(
        res.status == 201,
        "POST versions: {} {}",
        res.status,
        res.text()
    );
    let named = res.json()?;
    assert_eq!(named["kind"], json!("named"));
    assert_eq!(named["name"], json!("before review"));
    let id = named["id"].as_i64().context("an id")?;

    // Someone deletes half the spec.
    let t = client.doc().get_or_insert_text("t");
    client.edit(|_, txn| {
        use yrs::Text;
        t.remove_range(txn, 9, 5);
    })?;
    client.wait_acked(TIMEOUT).await?;
    assert_eq!(text(&client.doc()), "the whole");
    assert_eq!(
        get_json(addr, &format!("/api/docs/spec/versions/{id}/json")).await?,
        json!({"t": "the whole spec"})
    );

    let res = call(
        addr,
        "POST",
        &format!("/api/docs/spec/versions/{id}/restore"),
        b"",
    )
    .await?;
    ensure!(res.status == 200, "restore: {} {}", res.status, res.text());
    let restored = res.json()?;
    ensure!(restored["seq"].as_i64().is_some(), "stored: {restored}");
    let undo = restored["undo_version"]
        .as_i64()
        .context("an undo version")?;
    client
        .wait_until("the restored text", TIMEOUT, |doc| {
            text(doc) == "the whole spec"
        })
        .await?;
    assert_eq!(
        get_json(addr, "/api/docs/spec/json").await?,
        json!({"t": "the whole spec"})
    );
    let kinds: Vec<Value> = versions(addr, "spec")
        .await?
        .iter()
        .map(|v| v["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("named"), json!("restore")]);

    // Undo: restore the version cut just before.
    let res = call(
        addr,
        "POST",
        &format!("/api/docs/spec/versions/{undo}/restore"),
        b"",
    )
    .await?;
    ensure!(res.status == 200, "undo: {} {}", res.status, res.text());
    client
        .wait_until("the undone restore", TIMEOUT, |doc| {
            text(doc) == "the whole"
        })
        .await?;

    let res = call(addr, "POST", "/api/docs/spec/versions/9999/restore", b"").await?;
    ensure!(res.status == 404, "no such version: {}", res.status);
    let res = call(addr, "GET", "/api/docs/spec/versions/x/update", b"").await?;
    ensure!(res.status == 400, "a bad id: {}", res.status);
    for body in [&b"{}"[..], br#"{"name":""}"#, b"not json"] {
        let res = call(addr, "POST", "/api/docs/spec/versions", body).await?;
        ensure!(res.status == 400, "a bad body: {}", res.status);
    }
    let res = call(
        addr,
        "DELETE",
        &format!("/api/docs/spec/versions/{id}"),
        b"",
    )
    .await?;
    ensure!(res.status == 204, "delete: {}", res.status);
    let res = call(
        addr,
        "GET",
        &format!("/api/docs/spec/versions/{id}/update"),
        b"",
    )
    .await?;
    ensure!(res.status == 404, "deleted: {}", res.status);
    server.stop().await
}

#[tokio::test]
async fn an_offline_clients_edits_merge_after_a_restore() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let url = format!(
        "{}?token={}",
        server.ws_url("merge"),
        token("*", Mode::Write)?
    );
    let online = YClient::connect(&url, 21).await?;
    online.push_text("t", "version one")?;
    online.wait_acked(TIMEOUT).await?;
    let res = call(
        addr,
        "POST",
        "/api/docs/merge/versions",
        br#"{"name":"v1"}"#,
    )
    .await?;
    let id = res.json()?["id"].as_i64().context("an id")?;
    online.push_text("t", " and two")?;
    online.wait_acked(TIMEOUT).await?;

    // A client that synced, then went offline and kept typing.
    let offline = YClient::connect(&url, 22).await?;
    let replica = offline.doc();
    drop(offline);
    let res = call(
        addr,
        "POST",
        &format!("/api/docs/merge/versions/{id}/restore"),
        b"",
    )
    .await?;
    ensure!(res.status == 200, "restore: {} {}", res.status, res.text());
    online
        .wait_until("the restore", TIMEOUT, |doc| text(doc) == "version one")
        .await?;
    {
        use yrs::{Text, Transact};
        let t = replica.get_or_insert_text("t");
        let mut txn = replica.transact_mut();
        t.push(&mut txn, " offline");
    }
    // It comes back: no error, its edit merges into the restored document everywhere.
    let back = YClient::open(&url, replica).await?;
    back.wait_synced().await?;
    back.wait_acked(TIMEOUT).await?;
    online
        .wait_until("the offline edit", TIMEOUT, |doc| {
            text(doc).contains("offline")
        })
        .await?;
    assert_eq!(text(&online.doc()), text(&back.doc()));
    assert!(back.status().error.is_none() && back.status().closed.is_none());
    server.stop().await
}

#[tokio::test]
async fn automatic_versions_follow_changes_and_the_interval() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |mut c| {
        c.version_interval = Duration::from_millis(500);
        c
    })
    .await?;
    let addr = server.addr();
    let update = plait_testkit::ydoc::text_update(1, "t", "draft");
    let res = call(addr, "POST", "/api/docs/auto/update", &update).await?;
    ensure!(res.status == 200, "{}", res.status);
    until("a first automatic version", || async {
        Ok(versions(addr, "auto").await?.len() == 1)
    })
    .await?;
    let first = versions(addr, "auto").await?;
    assert_eq!(first[0]["kind"], json!("auto"));
    // Unchanged: no more, however many intervals pass (here: four looks).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(versions(addr, "auto").await?.len(), 1, "unchanged since");
    let more = plait_testkit::ydoc::text_update(2, "t", "more");
    call(addr, "POST", "/api/docs/auto/update", &more).await?;
    until("a version of the change", || async {
        Ok(versions(addr, "auto").await?.len() == 2)
    })
    .await?;
    server.stop().await
}

/// Attribution: each log row names every client whose updates it holds (the token's subject
/// and the protocol), HTTP writes included.
#[tokio::test]
async fn every_row_names_its_authors() -> Result<()> {
    use plait_server::auth::Authenticator;
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let auth = Authenticator::new(plait_tests::docs_api::SECRET.as_bytes());
    let url = |sub: &str| -> Result<String> {
        let token = auth.mint_for(sub, "*", Mode::Write, Duration::from_secs(600))?;
        Ok(format!("{}?token={token}", server.ws_url("team")))
    };
    let alice = YClient::connect(&url("alice")?, 31).await?;
    alice.push_text("t", "from alice")?;
    alice.wait_acked(TIMEOUT).await?;
    let bob = YClient::connect(&url("bob")?, 32).await?;
    bob.push_text("t", " and bob")?;
    bob.wait_acked(TIMEOUT).await?;
    let update = plait_testkit::ydoc::text_update(33, "u", "over http");
    let res = call(addr, "POST", "/api/docs/team/update", &update).await?;
    ensure!(res.status == 200, "{}", res.status);

    let page = get_json(addr, "/api/docs/team/history").await?;
    let authors: Vec<Value> = page["changes"]
        .as_array()
        .context("changes")?
        .iter()
        .flat_map(|c| c["authors"].as_array().cloned().unwrap_or_default())
        .collect();
    for who in [
        json!({"sub": "alice", "via": "ws"}),
        json!({"sub": "bob", "via": "ws"}),
        json!({"sub": "anonymous", "via": "http"}),
    ] {
        assert!(authors.contains(&who), "{who} in {authors:?}");
    }
    let first = &page["changes"][0];
    assert!(first["seq"].as_i64().is_some() && first["bytes"].as_u64().unwrap_or(0) > 0);
    assert!(first["at"].is_string());
    let next = page["next"].as_i64().context("next")?;
    let rest = get_json(addr, &format!("/api/docs/team/history?after={next}")).await?;
    assert!(rest["changes"].as_array().is_some_and(Vec::is_empty));
    server.stop().await
}
