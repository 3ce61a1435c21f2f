//! Nodes on one PostgreSQL database killed while clients edit: an edit a node acknowledged (its
//! durable echo) is in the database afterwards, even when it was built on another node's update
//! that node never stored (issue 20, D3).
//!
//! Clients that leave are what makes a loss permanent: a client that is still connected sends
//! what a restarted server lacks in its next sync. So the edits are made by short sessions that
//! type, wait for their echo, and leave for good, like a tab that is closed once "saved" shows.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use plait_tests::client::YClient;
use plait_tests::db::PgDatabase;
use plait_tests::process::PlaitProcess;
use plait_tests::{http, ydoc, TIMEOUT};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

/// Waits until `node` hears from `others` other nodes.
async fn wait_other_nodes(node: &PlaitProcess, others: u64) -> Result<()> {
    http::wait_other_nodes(node.addr(), others).await
}

/// Waits until `node` knows that another node has `doc` open (it relays live updates then).
async fn wait_open_elsewhere(node: &PlaitProcess, doc: &str) -> Result<()> {
    let addr = node.addr();
    let path = format!("/api/docs/{doc}");
    plait_tests::eventually(&format!("{doc} open elsewhere"), TIMEOUT, || {
        let path = path.clone();
        async move {
            let r = http::get(addr, &path).await?;
            Ok((r.json()?["other_nodes"].as_u64() >= Some(1)).then_some(()))
        }
    })
    .await
}

/// The text of `doc` as `node` serves it (`GET /api/docs/{doc}/update`).
async fn stored_text(node: &PlaitProcess, doc: &str) -> Result<String> {
    let r = http::get(node.addr(), &format!("/api/docs/{doc}/update")).await?;
    ensure!(r.status == 200, "GET {doc}: {}", r.status);
    let fresh = Doc::new();
    let update = Update::decode_v1(&r.body).context("the served state decodes")?;
    fresh
        .transact_mut()
        .apply_update(update)
        .context("the served state applies")?;
    Ok(ydoc::text(&fresh, "text"))
}

/// Issue 20's sequence: node A commits only every 2 s; a client on A types twice and A is
/// killed before it stores the second edit; a client on B, which relayed both, types after them
/// and gets its echo. B is killed and started again: everything is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_edit_built_on_a_dead_nodes_update_survives() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let mut a = PlaitProcess::start(&url, &["--flush-interval", "2s"]).await?;
    let mut b = PlaitProcess::start(&url, &[]).await?;
    wait_other_nodes(&a, 1).await?;
    wait_other_nodes(&b, 1).await?;

    let on_b = YClient::connect(&b.ws_url("d3"), 301).await?;
    on_b.push_text("text", "base.")?;
    on_b.wait_acked(TIMEOUT).await?;
    let on_a = YClient::connect(&a.ws_url("d3"), 302).await?;
    wait_open_elsewhere(&a, "d3").await?;
    on_a.push_text("text", "fromA1.")?;
    // A's first commit goes at once; the next waits out the 2 s interval.
    on_a.wait_acked(TIMEOUT).await?;
    on_a.push_text("text", "fromA2.")?;
    on_b.wait_until("A's edits, relayed live", TIMEOUT, |doc| {
        ydoc::text(doc, "text") == "base.fromA1.fromA2."
    })
    .await?;
    a.kill9()?;

    on_b.push_text("text", "fromB-after.")?;
    on_b.wait_acked(TIMEOUT).await?;
    b.kill9()?;
    drop((on_a, on_b));

    let again = PlaitProcess::start(&url, &[]).await?;
    let text = stored_text(&again, "d3").await?;
    ensure!(
        text == "base.fromA1.fromA2.fromB-after.",
        "after the restart the document reads {text:?}"
    );
    Ok(())
}

/// How long the nodes are killed and started again while sessions type.
const SOAK: Duration = Duration::from_secs(24);
/// How often a node is killed (then started again at once).
const KILL_EVERY: Duration = Duration::from_millis(2500);
/// Edits per session; a session waits this long between them.
const SESSION_EDITS: usize = 6;
const TYPING_PAUSE: Duration = Duration::from_millis(40);

/// Three nodes; one session at a time on each, on a node picked in turn, each typing a few
/// words, waiting for their echo and leaving; a node killed and started again every 2.5 s. At
/// the end, with every client gone, one fresh node serves every acknowledged word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_edits_survive_nodes_killed_under_three_nodes_of_typing() -> Result<()> {
    plait_tests::init_tracing();
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(PlaitProcess::start(&url, &[]).await?);
    }
    for node in &nodes {
        wait_other_nodes(node, 2).await?;
    }
    let addrs: Vec<_> = nodes.iter().map(|n| n.ws_url("soak")).collect();
    let addrs = std::sync::Arc::new(std::sync::Mutex::new(addrs));

    let deadline = tokio::time::Instant::now() + SOAK;
    let mut typists = Vec::new();
    for lane in 0..3u64 {
        let addrs = addrs.clone();
        typists.push(tokio::spawn(async move {
            let mut acked = BTreeSet::new();
            let mut session = 0u64;
            while tokio::time::Instant::now() < deadline {
                session += 1;
                let url = {
                    let addrs = addrs.lock().unwrap_or_else(|p| p.into_inner());
                    addrs[((lane + session) % 3) as usize].clone()
                };
                // A session whose node dies just ends: only what was echoed counts.
                let _ = type_session(&url, lane, session, &mut acked).await;
            }
            acked
        }));
    }
    let mut victim = 0;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(KILL_EVERY).await;
        victim = (victim + 1) % 3;
        nodes[victim].kill9()?;
        let fresh = PlaitProcess::start(&url, &[]).await?;
        addrs.lock().unwrap_or_else(|p| p.into_inner())[victim] = fresh.ws_url("soak");
        nodes[victim] = fresh;
    }
    let mut acked = BTreeSet::new();
    for typist in typists {
        acked.extend(typist.await?);
    }
    ensure!(
        acked.len() > 30,
        "only {} edits were acknowledged",
        acked.len()
    );
    for node in &mut nodes {
        node.kill9()?;
    }
    let survivor = PlaitProcess::start(&url, &[]).await?;
    let text = stored_text(&survivor, "soak").await?;
    let lost: Vec<&String> = acked
        .iter()
        .filter(|w| !text.contains(w.as_str()))
        .collect();
    if !lost.is_empty() {
        bail!(
            "{} of {} acknowledged edits are missing after the kills, among them {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(12)]
        );
    }
    Ok(())
}

/// One session: connects, types [`SESSION_EDITS`] words, waits for their echo and leaves,
/// adding the words the server acknowledged to `acked`.
async fn type_session(
    url: &str,
    lane: u64,
    session: u64,
    acked: &mut BTreeSet<String>,
) -> Result<()> {
    let client_id = 10_000 + lane * 100_000 + session;
    let client = YClient::connect(url, client_id).await?;
    let mut words = Vec::new();
    for n in 0..SESSION_EDITS {
        let word = format!("<{lane}.{session}.{n}>");
        client.push_text("text", &word)?;
        let doc = client.doc();
        let own = doc.client_id();
        let end = doc.transact().state_vector().get(&own);
        words.push((word, end));
        tokio::time::sleep(TYPING_PAUSE).await;
    }
    let _ = client.wait_acked(Duration::from_secs(5)).await;
    let clock = client.status().acked_clock;
    acked.extend(
        words
            .into_iter()
            .filter(|(_, end)| *end <= clock)
            .map(|(word, _)| word),
    );
    client.close().await
}
