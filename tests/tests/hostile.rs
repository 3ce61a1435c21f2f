//! Hostile input on a raw socket: each bad frame closes only that connection with the
//! documented close code; the server stays up, the good clients of the same document keep
//! converging, and the stored document is intact after a restart.

use anyhow::{ensure, Context, Result};
use plait_protocol::codes;
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::raw::RawClient;
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};

/// Small so the oversize case stays cheap.
const MAX_MESSAGE: usize = 64 * 1024;

/// What the hostile client sends.
enum Attack {
    Binary(Vec<u8>),
    Text(&'static str),
}

/// Runs one attack (possibly several connections) against a document two good clients edit.
/// `expected` lists the acceptable close codes for every connection.
async fn survive(attacks: Vec<Attack>, expected: &[u16]) -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let mut config = Config::for_tests(file.url());
    config.max_message_size = MAX_MESSAGE;
    let server = TestServer::start_with_database(config.clone()).await?;
    let url = server.ws_url("target");
    let a = YClient::connect(&url, 71).await?;
    let b = YClient::connect(&url, 72).await?;
    a.push_text("text", "before ")?;
    b.wait_until("a's first edit", TIMEOUT, |doc| {
        ydoc::text(doc, "text") == "before "
    })
    .await?;

    for (i, attack) in attacks.into_iter().enumerate() {
        let mut raw = RawClient::connect(&url).await?;
        let description = match attack {
            Attack::Binary(bytes) => {
                let description = format!("attack {i}: binary {:?}", &bytes[..bytes.len().min(16)]);
                raw.send_binary(bytes).await.context(description.clone())?;
                description
            }
            Attack::Text(text) => {
                raw.send_text(text).await?;
                format!("attack {i}: text frame")
            }
        };
        let (code, _) = raw
            .expect_close(TIMEOUT)
            .await
            .context(description.clone())?;
        ensure!(
            expected.contains(&code),
            "{description}: close code {code}, expected one of {expected:?}"
        );

        // Only that connection closed: the good clients still edit and converge.
        a.push_text("text", &format!("a{i} "))?;
        b.set_map("map", &format!("after-{i}"), "ok")?;
        a.wait_until("b's edit after the attack", TIMEOUT, |doc| {
            ydoc::map(doc, "map").contains_key(&format!("after-{i}"))
        })
        .await?;
        b.wait_until("a's edit after the attack", TIMEOUT, |doc| {
            ydoc::text(doc, "text").ends_with(&format!("a{i} "))
        })
        .await?;
        ensure!(
            a.status().closed.is_none() && b.status().closed.is_none(),
            "a good client was closed"
        );
        let health = http::get(server.addr(), "/healthz").await?;
        ensure!(
            health.status == 200,
            "healthz after {description}: {}",
            health.status
        );
    }
    let expected_state = ydoc::snapshot(&a.doc());
    ensure!(ydoc::snapshot(&b.doc()) == expected_state);
    server.stop().await?;

    // The stored document is exactly the good clients' document.
    let server = TestServer::start_with_database(config).await?;
    let stored = http::get(server.addr(), "/api/docs/target/update").await?;
    ensure!(stored.status == 200, "GET after restart: {}", stored.status);
    ensure!(
        ydoc::snapshot(&ydoc::doc_from_update(&stored.body)?) == expected_state,
        "stored document differs from the good clients' document"
    );
    let c = YClient::connect(&server.ws_url("target"), 73).await?;
    ensure!(ydoc::snapshot(&c.doc()) == expected_state);
    server.stop().await
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failure can be replayed.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_close_only_that_connection() -> Result<()> {
    let attacks = (1..=6u64)
        .map(|seed| {
            let mut bytes = random_bytes(seed, 64);
            // Keep the first message a sync or awareness message so the payload is exercised,
            // not just the type byte.
            bytes[0] %= 2;
            Attack::Binary(bytes)
        })
        .collect();
    survive(attacks, &[codes::PROTOCOL_ERROR, codes::INVALID_PAYLOAD]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_messages_close_with_protocol_error() -> Result<()> {
    let update = ydoc::text_update(9, "text", "will be cut");
    let mut truncated_update = plait_tests::raw::update_frame(&update);
    truncated_update.truncate(truncated_update.len() - 3);
    let attacks = vec![
        Attack::Binary(vec![0]),              // sync without its sub-type
        Attack::Binary(vec![0, 0]),           // step 1 without its state vector
        Attack::Binary(vec![0, 2, 10, 1, 2]), // declares 10 bytes, carries 2
        Attack::Binary(truncated_update),
        Attack::Binary(vec![1, 5, 1]), // awareness cut inside its entries
        Attack::Binary(vec![0, 2, 0x80]), // varint cut in the middle
    ];
    survive(attacks, &[codes::PROTOCOL_ERROR]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_close_with_protocol_error() -> Result<()> {
    let attacks = vec![
        Attack::Binary(vec![7, 0]),
        Attack::Binary(vec![0x7f, 1, 2, 3]),
        Attack::Binary(vec![0, 9, 0]), // unknown sync sub-type
    ];
    survive(attacks, &[codes::PROTOCOL_ERROR]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_update_closes_with_invalid_payload() -> Result<()> {
    let attacks = vec![
        Attack::Binary(plait_tests::raw::update_frame(&[0xff; 40])),
        // Claims 2^28 clients.
        Attack::Binary(plait_tests::raw::update_frame(&[
            0x80, 0x80, 0x80, 0x80, 0x01, 1, 2,
        ])),
    ];
    survive(attacks, &[codes::INVALID_PAYLOAD]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_length_prefix_closes_with_protocol_error() -> Result<()> {
    let attacks = vec![
        // Update declaring ~2^35 bytes.
        Attack::Binary(vec![0, 2, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
        // Update declaring u64::MAX bytes.
        Attack::Binary(vec![
            0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]),
        // Awareness payload declaring 2^32 bytes.
        Attack::Binary(vec![1, 0x80, 0x80, 0x80, 0x80, 0x10, 0]),
    ];
    survive(attacks, &[codes::PROTOCOL_ERROR]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_over_the_size_limit_closes_with_message_too_big() -> Result<()> {
    // A well-formed update frame, just too large.
    let big = ydoc::text_update(11, "text", &"x".repeat(MAX_MESSAGE * 2));
    let attacks = vec![Attack::Binary(plait_tests::raw::update_frame(&big))];
    survive(attacks, &[codes::MESSAGE_TOO_LARGE]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_frame_closes_with_unsupported_data() -> Result<()> {
    survive(
        vec![Attack::Text("hello"), Attack::Text("{\"type\":\"sync\"}")],
        &[codes::UNSUPPORTED_DATA],
    )
    .await
}
