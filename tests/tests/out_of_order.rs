//! A row stored before the row it depends on, on both databases.
//!
//! A node stores its drains at once and holds only their acknowledgement until the other nodes'
//! updates they may depend on are stored (`document::unconfirmed`), so for a moment the log may
//! hold a row whose dependency is still on its way to another node's commit. A document loaded
//! in that moment is served without the row; it must get it once the dependency is stored, and
//! nothing may move the row to quarantine meanwhile. Here another program plays the two nodes,
//! appending the dependent row first and its dependency a moment later.

use anyhow::{ensure, Result};
use plait_server::Config;
use plait_storage::{DocStore, NewUpdate, SeaStore};
use plait_tests::client::YClient;
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Text, Transact, Update};

/// Appends `text` to `doc`'s "text" and returns the update.
fn type_into(doc: &Doc, text: &str) -> Vec<u8> {
    let shared = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    let len = shared.get_string(&txn).len() as u32;
    shared.insert(&mut txn, len, text);
    txn.encode_update_v1()
}

fn row(data: Vec<u8>) -> NewUpdate {
    NewUpdate {
        doc: "late".into(),
        data: data.into(),
        authors: None,
    }
}

async fn a_row_stored_before_its_dependency_is_served_once_that_is_stored(
    url: String,
) -> Result<()> {
    // Node one's client types "first. "; node two's client, having seen it, types "second.".
    let one = Doc::with_client_id(501);
    let first = type_into(&one, "first. ");
    let two = Doc::with_client_id(502);
    two.transact_mut()
        .apply_update(Update::decode_v1(&first)?)?;
    let second = type_into(&two, "second.");

    let server = TestServer::start_with_database(Config::for_tests(&url)).await?;
    let store = SeaStore::connect(&url).await?;
    // Node two commits first.
    store.append(&[row(second)]).await?;
    let reader = YClient::connect(&server.ws_url("late"), 503).await?;
    ensure!(
        ydoc::text(&reader.doc(), "text").is_empty(),
        "served without the row whose dependency is not stored"
    );
    // Node one's commit follows. Its notification names only its own row: the one before it
    // was read already, and is read again.
    store.append(&[row(first)]).await?;
    reader
        .wait_until("both rows", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "first. second."
        })
        .await?;
    let r = http::get(server.addr(), "/api/docs/late").await?;
    ensure!(r.status == 200, "GET /api/docs/late: {}", r.status);
    let figures = r.json()?;
    ensure!(
        figures["quarantined"] == 0,
        "nothing quarantined: {figures}"
    );
    server.stop().await?;

    // Compacted at the stop: the snapshot holds both.
    let stored = store.load("late").await?;
    let Some(stored) = stored else {
        anyhow::bail!("the document is stored");
    };
    ensure!(stored.updates.is_empty(), "the log was folded");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_stored_before_its_dependency_is_served_once_that_is_stored_on_sqlite() -> Result<()>
{
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    a_row_stored_before_its_dependency_is_served_once_that_is_stored(file.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_stored_before_its_dependency_is_served_once_that_is_stored_on_postgres() -> Result<()>
{
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    a_row_stored_before_its_dependency_is_served_once_that_is_stored(db.url()?).await
}
