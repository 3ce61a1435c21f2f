//! Sync over real WebSockets: convergence, late joiners, awareness, room isolation, the HTTP
//! document API and client ids of both widths.

use anyhow::{ensure, Result};
use plait_tests::client::YClient;
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};
use yrs::{ReadTxn, Transact};

/// Three clients edit one text and one map concurrently (nobody waits for anybody); all three
/// end with identical CRDT state holding every edit, and the server's stored state equals it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_from_three_clients_converge() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let url = server.ws_url("converge");
    let clients = [
        YClient::connect(&url, 1_001).await?,
        YClient::connect(&url, 2_002).await?,
        YClient::connect(&url, 3_003).await?,
    ];
    let rounds = 25;
    let mut expected_len = 0;
    let mut chunks = Vec::new();
    for round in 0..rounds {
        for client in &clients {
            let id = client.client_id();
            let chunk = format!("<{id}:{round}>");
            expected_len += chunk.len();
            chunks.push(chunk.clone());
            // Positions differ per client so inserts interleave inside each other's text.
            client.insert_text("text", (round * 7 + id as u32) % 50, &chunk)?;
            client.set_map(
                "map",
                &format!("shared-{}", round % 4),
                &format!("{id}:{round}"),
            )?;
            client.set_map("map", &format!("own-{id}"), &round.to_string())?;
        }
    }
    let last = (rounds - 1).to_string();
    for client in &clients {
        client
            .wait_until("every edit of every client", TIMEOUT, |doc| {
                let map = ydoc::map(doc, "map");
                ydoc::text(doc, "text").len() == expected_len
                    && clients
                        .iter()
                        .all(|c| map.get(&format!("own-{}", c.client_id())) == Some(&last))
            })
            .await?;
    }
    let reference = ydoc::snapshot(&clients[0].doc());
    for client in &clients[1..] {
        ensure!(
            ydoc::snapshot(&client.doc()) == reference,
            "replicas diverged"
        );
        ensure!(ydoc::text(&client.doc(), "text") == ydoc::text(&clients[0].doc(), "text"));
        ensure!(ydoc::map(&client.doc(), "map") == ydoc::map(&clients[0].doc(), "map"));
    }
    // Inserts land inside each other's chunks, so compare the characters, not the chunks.
    let mut expected_chars: Vec<char> = chunks.concat().chars().collect();
    let mut got_chars: Vec<char> = ydoc::text(&clients[0].doc(), "text").chars().collect();
    expected_chars.sort_unstable();
    got_chars.sort_unstable();
    ensure!(
        got_chars == expected_chars,
        "some inserted characters are missing or extra"
    );
    let stored = http::get(server.addr(), "/api/docs/converge/update").await?;
    ensure!(stored.status == 200, "GET state: {}", stored.status);
    ensure!(ydoc::snapshot(&ydoc::doc_from_update(&stored.body)?) == reference);
    Ok(())
}

/// A client joining after edits receives the full state in the handshake itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_gets_full_state() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let url = server.ws_url("late");
    let a = YClient::connect(&url, 11).await?;
    let b = YClient::connect(&url, 12).await?;
    for i in 0..10 {
        a.push_text("text", &format!("a{i} "))?;
        b.set_map("map", &format!("b{i}"), "x")?;
    }
    a.wait_until("b's edits", TIMEOUT, |doc| {
        ydoc::map(doc, "map").len() == 10
    })
    .await?;
    b.wait_until("a's edits", TIMEOUT, |doc| {
        ydoc::text(doc, "text").matches(' ').count() == 10
    })
    .await?;
    a.close().await?;
    let late = YClient::connect(&url, 13).await?;
    // No wait: step 2 carried everything.
    ensure!(
        ydoc::snapshot(&late.doc()) == ydoc::snapshot(&b.doc()),
        "late joiner is missing state"
    );
    ensure!(ydoc::text(&late.doc(), "text") == ydoc::text(&b.doc(), "text"));
    ensure!(ydoc::map(&late.doc(), "map").len() == 10);
    Ok(())
}

/// Awareness states are relayed both ways, sent to late joiners, and removed for everyone when
/// the client that introduced them disconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_is_relayed_and_removed_on_disconnect() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let url = server.ws_url("presence");
    let a = YClient::connect(&url, 21).await?;
    let b = YClient::connect(&url, 22).await?;
    a.set_awareness(r#"{"user":"alice"}"#)?;
    b.set_awareness(r#"{"user":"bob"}"#)?;
    b.wait_awareness("alice", |s| s.get(&21).is_some_and(|j| j.contains("alice")))
        .await?;
    a.wait_awareness("bob", |s| s.get(&22).is_some_and(|j| j.contains("bob")))
        .await?;

    let c = YClient::connect(&url, 23).await?;
    c.wait_awareness("both existing states in the greeting", |s| {
        s.contains_key(&21) && s.contains_key(&22)
    })
    .await?;

    a.close().await?;
    b.wait_awareness("alice removed", |s| {
        !s.contains_key(&21) && s.contains_key(&22)
    })
    .await?;
    c.wait_awareness("alice removed", |s| {
        !s.contains_key(&21) && s.contains_key(&22)
    })
    .await?;
    Ok(())
}

/// Edits of one document never reach clients of another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_isolated() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let a1 = YClient::connect(&server.ws_url("room-a"), 31).await?;
    let a2 = YClient::connect(&server.ws_url("room-a"), 32).await?;
    let b1 = YClient::connect(&server.ws_url("room-b"), 33).await?;
    a1.push_text("text", "only in a")?;
    a2.wait_until("a1's edit", TIMEOUT, |doc| {
        ydoc::text(doc, "text") == "only in a"
    })
    .await?;
    b1.push_text("text", "only in b")?;
    let b2 = YClient::connect(&server.ws_url("room-b"), 34).await?;
    b2.wait_until("b1's edit", TIMEOUT, |doc| {
        ydoc::text(doc, "text") == "only in b"
    })
    .await?;
    b1.wait_until("its durable echo", TIMEOUT, |_| {
        b1.status().updates_received == 1
    })
    .await?;
    ensure!(ydoc::text(&b1.doc(), "text") == "only in b");
    ensure!(ydoc::text(&a1.doc(), "text") == "only in a");
    ensure!(ydoc::text(&a2.doc(), "text") == "only in a");
    // a2 got exactly a1's update, b1 exactly its own echo: nothing crossed rooms.
    ensure!(a2.status().updates_received == 1, "a2: {:?}", a2.status());
    ensure!(b1.status().updates_received == 1, "b1: {:?}", b1.status());
    let a_state = ydoc::doc_from_update(
        &http::get(server.addr(), "/api/docs/room-a/update")
            .await?
            .body,
    )?;
    ensure!(ydoc::text(&a_state, "text") == "only in a");
    ensure!(
        http::get(server.addr(), "/api/docs/room-c/update")
            .await?
            .status
            == 404
    );
    Ok(())
}

/// POST an update: a connected client receives it and GET returns the same state. Unknown
/// documents are 404, malformed bodies 400 with nothing changed, bad names 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_round_trip() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let addr = server.addr();
    let client = YClient::connect(&server.ws_url("api-doc"), 41).await?;

    let update = ydoc::text_update(4_242, "text", "posted over http");
    let posted = http::post(addr, "/api/docs/api-doc/update", &update).await?;
    ensure!(
        posted.status == 200,
        "POST: {} {}",
        posted.status,
        posted.text()
    );
    client
        .wait_until("the posted update", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "posted over http"
        })
        .await?;
    let got = http::get(addr, "/api/docs/api-doc/update").await?;
    ensure!(got.status == 200, "GET: {}", got.status);
    let expected = ydoc::snapshot(&ydoc::doc_from_update(&update)?);
    ensure!(
        ydoc::snapshot(&ydoc::doc_from_update(&got.body)?) == expected,
        "GET differs from POST"
    );
    ensure!(ydoc::snapshot(&client.doc()) == expected);

    // Never written.
    let missing = http::get(addr, "/api/docs/never-written/update").await?;
    ensure!(
        missing.status == 404,
        "never-written doc: {}",
        missing.status
    );

    // Malformed body: 400, and neither the state nor the connected client changes.
    let received_before = client.status().updates_received;
    for garbage in [
        &b"\xff\xff\xff\xff\xff"[..],
        b"not an update",
        &[0x01, 0x05, 0x01],
    ] {
        let bad = http::post(addr, "/api/docs/api-doc/update", garbage).await?;
        ensure!(
            bad.status == 400,
            "malformed body {garbage:?}: {} {}",
            bad.status,
            bad.text()
        );
        ensure!(!bad.text().is_empty(), "a 400 must say why");
    }
    let after = http::get(addr, "/api/docs/api-doc/update").await?;
    ensure!(
        after.body == got.body,
        "a rejected POST changed the document"
    );
    // A valid update after the bad ones is the next thing the client receives.
    let second = ydoc::text_update(4_343, "other", "x");
    ensure!(
        http::post(addr, "/api/docs/api-doc/update", &second)
            .await?
            .status
            == 200
    );
    client
        .wait_until("the second post", TIMEOUT, |doc| {
            ydoc::text(doc, "other") == "x"
        })
        .await?;
    ensure!(
        client.status().updates_received == received_before + 1,
        "{:?}",
        client.status()
    );

    // A malformed body to a never-written document does not create it.
    ensure!(
        http::post(addr, "/api/docs/fresh-doc/update", b"\xff\x00garbage")
            .await?
            .status
            == 400
    );
    ensure!(http::get(addr, "/api/docs/fresh-doc/update").await?.status == 404);

    // Names: 255 bytes is the limit; longer, with a control character or not UTF-8 once
    // percent-decoded is a 400 with the reason in the JSON body.
    let longest = "n".repeat(255);
    ensure!(
        http::get(addr, &format!("/api/docs/{longest}/update"))
            .await?
            .status
            == 404
    );
    for bad in [
        "n".repeat(256),
        "line%0Abreak".to_string(),
        "nul%00byte".to_string(),
        "latin1-%E9t%E9".to_string(),
    ] {
        let r = http::get(addr, &format!("/api/docs/{bad}/update")).await?;
        ensure!(r.status == 400, "name {bad:?}: {}", r.status);
        let reason = r.json()?["error"].as_str().unwrap_or_default().to_owned();
        ensure!(
            reason.starts_with("invalid document name: "),
            "name {bad:?}: {reason:?}"
        );
        let r = http::post(addr, &format!("/api/docs/{bad}/update"), &update).await?;
        ensure!(r.status == 400, "POST name {bad:?}: {}", r.status);
        match tokio_tungstenite::connect_async(server.ws_url(&bad)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                ensure!(
                    response.status() == 400,
                    "ws name {bad:?}: {}",
                    response.status()
                )
            }
            other => anyhow::bail!(
                "ws name {bad:?} was not refused with 400: {:?}",
                other.map(|_| ())
            ),
        }
    }
    Ok(())
}

/// Yjs uses 32-bit client ids, yrs 53-bit ones: both survive relay, storage and the HTTP API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_of_32_and_53_bits_round_trip() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let url = server.ws_url("ids");
    let id32 = u64::from(u32::MAX);
    let id53 = (1u64 << 53) - 1;
    let small = YClient::connect(&url, id32).await?;
    let big = YClient::connect(&url, id53).await?;
    small.push_text("text", "small ")?;
    big.push_text("text", "big ")?;
    big.set_awareness(r#"{"user":"big"}"#)?;
    small
        .wait_until("big's edit", TIMEOUT, |doc| {
            ydoc::text(doc, "text").contains("big")
        })
        .await?;
    big.wait_until("small's edit", TIMEOUT, |doc| {
        ydoc::text(doc, "text").contains("small")
    })
    .await?;
    small
        .wait_awareness("big's awareness", |s| s.contains_key(&id53))
        .await?;

    let stored = http::get(server.addr(), "/api/docs/ids/update").await?.body;
    ensure!(
        ydoc::update_mentions_client(&stored, id32)?,
        "32-bit id lost"
    );
    ensure!(
        ydoc::update_mentions_client(&stored, id53)?,
        "53-bit id lost"
    );
    let late = YClient::connect(&url, 7).await?;
    let sv = late.doc().transact().state_vector();
    ensure!(
        sv.get(&yrs::ClientID::new(id32)) == 6 && sv.get(&yrs::ClientID::new(id53)) == 4,
        "{sv:?}"
    );
    ensure!(ydoc::snapshot(&late.doc()) == ydoc::snapshot(&small.doc()));
    Ok(())
}

/// A document unloads the idle delay after its last client leaves, even while something keeps
/// reading its figures (a dashboard polling `GET /api/docs/{doc}` every 20 ms, well inside the
/// delay), and stays loaded as long as a client is connected. After the unload a new client
/// gets everything back from storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_document_does_not_keep_it_in_memory() -> Result<()> {
    let idle = std::time::Duration::from_millis(300);
    let mut config = plait_server::Config::for_tests("memory");
    config.idle_unload = idle;
    let server = TestServer::in_memory_with(config).await?;
    let loaded = || async {
        let info = http::get(server.addr(), "/api/docs/polled").await?;
        ensure!(info.status == 200, "GET /api/docs/polled: {}", info.status);
        Ok::<bool, anyhow::Error>(info.json()?["loaded"] == serde_json::json!(true))
    };

    let writer = YClient::connect(&server.ws_url("polled"), 41).await?;
    writer.push_text("text", "still here")?;
    server.wait_all_written(TIMEOUT).await?;
    // That nothing happens can only be shown by waiting.
    tokio::time::sleep(idle * 2).await;
    ensure!(loaded().await?, "unloaded while a client was connected");
    writer.close().await?;

    // `eventually` asks every 20 ms.
    plait_tests::eventually("the document to unload", TIMEOUT, || async {
        Ok(if loaded().await? { None } else { Some(()) })
    })
    .await?;

    let reader = YClient::connect(&server.ws_url("polled"), 42).await?;
    reader
        .wait_until("the text from storage", TIMEOUT, |doc| {
            ydoc::text(doc, "text") == "still here"
        })
        .await?;
    Ok(())
}
