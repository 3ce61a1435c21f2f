//! The Hocuspocus endpoint byte by byte: several documents on one socket with replies to the
//! exact address, tokens per document (refused, read-only, renewed, expired), and every bound a
//! hostile provider can hit. The real providers (3.x, 4.x) are in tests/js/hocuspocus.test.js.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use plait_protocol::codes;
use plait_server::auth::{Authenticator, Mode};
use plait_server::Config;
use plait_tests::raw::{update_frame, Incoming, RawClient};
use plait_tests::server::TestServer;
use plait_tests::{http, ydoc, TIMEOUT};
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::StateVector;

const SECRET: &str = "plait-e2e-auth-secret-0123456789abcdef-0123456789";

/// A frame as a provider writes it.
fn frame(address: &str, kind: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_string(address);
    out.write_var(kind);
    out.extend_from_slice(body);
    out
}

fn token_frame(address: &str, token: &str) -> Vec<u8> {
    let mut body = vec![0];
    body.write_string(token);
    body.write_string("4.8.0");
    frame(address, 2, &body)
}

fn step1_frame(address: &str) -> Vec<u8> {
    let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1();
    // The y-websocket message after the address is the type and the sync message.
    [frame(address, 0, &[])[..address.len() + 1].to_vec(), step1].concat()
}

fn update_frame_for(address: &str, update: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_string(address);
    out.extend_from_slice(&update_frame(update));
    out
}

/// A frame from the server: its address, type and the rest.
#[derive(Debug)]
struct Said {
    address: String,
    kind: u64,
    rest: Vec<u8>,
}

impl Said {
    fn parse(bytes: &[u8]) -> Result<Said> {
        let mut cursor = Cursor::new(bytes);
        let address = cursor.read_string().context("address")?.to_owned();
        let kind: u64 = cursor.read_var().context("type")?;
        Ok(Said {
            address,
            kind,
            rest: bytes[cursor.next..].to_vec(),
        })
    }

    /// Auth: (sub-type, string if any).
    fn auth(&self) -> Option<(u64, Option<String>)> {
        if self.kind != 2 {
            return None;
        }
        let mut cursor = Cursor::new(&self.rest);
        let sub: u64 = cursor.read_var().ok()?;
        let text = cursor.read_string().ok().map(str::to_owned);
        Some((sub, text))
    }
}

/// Reads frames until `matches` one (skipping application pings); fails on a close or silence.
async fn until(
    client: &mut RawClient,
    what: &str,
    matches: impl Fn(&Said) -> bool,
) -> Result<Said> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next(left).await? {
            Some(Incoming::Binary(bytes)) if bytes == [9] => continue,
            Some(Incoming::Binary(bytes)) => {
                let said = Said::parse(&bytes)?;
                if matches(&said) {
                    return Ok(said);
                }
            }
            other => bail!("waiting for {what}: {other:?}"),
        }
    }
}

fn hp_url(server: &TestServer) -> String {
    format!("ws://{}/hocuspocus", server.addr())
}

fn typed(client: u64, text: &str) -> Vec<u8> {
    ydoc::text_update(client, "t", text)
}

#[tokio::test]
async fn documents_share_a_socket_and_replies_carry_the_exact_address() -> Result<()> {
    let server = TestServer::in_memory().await?;
    let mut client = RawClient::connect(&hp_url(&server)).await?;
    let session = "notes\0k3j4";
    for address in [session, "other"] {
        client.send_binary(token_frame(address, "")).await?;
        let said = until(&mut client, "Authenticated", |s| s.address == address).await?;
        assert_eq!(said.auth(), Some((2, Some("read-write".into()))));
        client.send_binary(step1_frame(address)).await?;
    }
    // The step 2 answer comes back under the session address, not the bare name.
    until(&mut client, "step 2", |s| {
        s.address == session && s.kind == 0 && s.rest.first() == Some(&1)
    })
    .await?;
    client
        .send_binary(update_frame_for(session, &typed(7, "hi")))
        .await?;
    let status = until(&mut client, "SyncStatus", |s| s.kind == 8).await?;
    assert_eq!(
        (status.address.as_str(), status.rest.as_slice()),
        (session, &[1][..])
    );
    // Stored (SyncStatus comes after the commit) under the document's name only.
    let notes = http::get(server.addr(), "/api/docs/notes/update").await?;
    assert_eq!(ydoc::text(&ydoc::doc_from_update(&notes.body)?, "t"), "hi");
    let other = http::get(server.addr(), "/api/docs/other/update").await?;
    assert_eq!(other.status, 404, "the other document got nothing");
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn what_comes_before_a_token_is_bounded() -> Result<()> {
    let mut config = Config::for_tests("memory");
    config.max_documents_per_socket = 2;
    let server = TestServer::in_memory_with(config).await?;

    // Messages without a token, for ever more documents: the third is refused, the socket stays.
    let mut client = RawClient::connect(&hp_url(&server)).await?;
    client.send_binary(frame("a", 3, &[])).await?;
    client.send_binary(frame("b", 3, &[])).await?;
    client.send_binary(frame("c", 3, &[])).await?;
    let refused = until(&mut client, "PermissionDenied", |s| s.address == "c").await?;
    let (sub, reason) = refused.auth().context("auth")?;
    assert_eq!(sub, 1);
    assert!(reason.unwrap_or_default().contains("at most 2 documents"));
    client.send_binary(token_frame("a", "")).await?;
    until(&mut client, "a authenticated", |s| {
        s.address == "a" && s.kind == 2
    })
    .await?;

    // A thousand and one messages held for a document that never authenticates: closed.
    let mut flood = RawClient::connect(&hp_url(&server)).await?;
    for _ in 0..1001 {
        flood.send_binary(frame("x", 3, &[])).await?;
    }
    let (code, _) = flood.expect_close(TIMEOUT).await?;
    assert_eq!(code, codes::MESSAGE_TOO_LARGE);
    // The first socket was not affected.
    client.send_binary(step1_frame("a")).await?;
    until(&mut client, "a's step 2", |s| {
        s.address == "a" && s.kind == 0
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn malformed_frames_close_the_socket_with_the_protocol_code() -> Result<()> {
    let server = TestServer::in_memory().await?;
    for (bytes, code) in [
        // BroadcastStateless is between servers.
        (frame("a", 6, &[1, b'x']), codes::PROTOCOL_ERROR),
        // An address that is not UTF-8.
        (vec![2, 0xff, 0xfe, 0], codes::PROTOCOL_ERROR),
        // An update that does not decode.
        (update_frame_for("a", &[1, 2, 3]), codes::INVALID_PAYLOAD),
    ] {
        let mut client = RawClient::connect(&hp_url(&server)).await?;
        client.send_binary(token_frame("a", "")).await?;
        client.send_binary(bytes.clone()).await?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        // A bad update closes its document (Close message); bad framing the socket.
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match client.next(left).await? {
                Some(Incoming::Closed(got)) => {
                    assert_eq!(got, code, "{bytes:?}");
                    break;
                }
                Some(Incoming::Binary(b)) if b != [9] => {
                    let said = Said::parse(&b)?;
                    if said.kind == 7 {
                        assert_eq!(code, codes::INVALID_PAYLOAD, "{bytes:?}");
                        break;
                    }
                }
                Some(Incoming::Binary(_)) => {}
                other => bail!("{bytes:?}: {other:?}"),
            }
        }
    }
    assert_eq!(http::get(server.addr(), "/healthz").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn tokens_are_per_document_refused_read_only_renewed_and_expire() -> Result<()> {
    let auth = Authenticator::new(SECRET.as_bytes());
    let server =
        TestServer::in_memory_with(Config::for_tests("memory").with_auth_secret(SECRET)).await?;
    let mut client = RawClient::connect(&hp_url(&server)).await?;

    // Refused for one document, granted for another on the same socket.
    let other_doc = auth.mint("elsewhere", Mode::Write, Duration::from_secs(3600))?;
    client.send_binary(token_frame("mine", &other_doc)).await?;
    let refused = until(&mut client, "refusal", |s| s.address == "mine").await?;
    assert_eq!(refused.auth().map(|a| a.0), Some(1));

    let read = auth.mint("view", Mode::Read, Duration::from_secs(3600))?;
    client.send_binary(token_frame("view", &read)).await?;
    let granted = until(&mut client, "readonly", |s| {
        s.address == "view" && s.kind == 2
    })
    .await?;
    assert_eq!(granted.auth(), Some((2, Some("readonly".into()))));
    client
        .send_binary(update_frame_for("view", &typed(3, "no")))
        .await?;
    let status = until(&mut client, "refused update", |s| s.kind == 8).await?;
    assert_eq!(
        status.rest,
        vec![0],
        "a read-only client's update is refused"
    );

    // A two-second token: the server asks for a fresh one before it expires.
    let short = auth.mint("short", Mode::Write, Duration::from_secs(2))?;
    client.send_binary(token_frame("short", &short)).await?;
    until(&mut client, "short authenticated", |s| {
        s.address == "short" && s.kind == 2
    })
    .await?;
    let asked = until(&mut client, "token request", |s| {
        s.address == "short" && s.kind == 2 && s.rest == [0]
    })
    .await?;
    assert_eq!(asked.auth().map(|a| a.0), Some(0));
    let fresh = auth.mint("short", Mode::Write, Duration::from_secs(3600))?;
    client.send_binary(token_frame("short", &fresh)).await?;
    // Past the first token's expiry the document is still served.
    tokio::time::sleep(Duration::from_secs(3)).await;
    client
        .send_binary(update_frame_for("short", &typed(4, "kept")))
        .await?;
    let status = until(&mut client, "renewed update", |s| {
        s.address == "short" && s.kind == 8
    })
    .await?;
    assert_eq!(status.rest, vec![1]);

    // A token that is not renewed: refused at its expiry, and the document closed.
    let brief = auth.mint("brief", Mode::Write, Duration::from_secs(1))?;
    client.send_binary(token_frame("brief", &brief)).await?;
    let expired = until(&mut client, "expiry", |s| {
        s.address == "brief" && s.auth().is_some_and(|a| a.0 == 1)
    })
    .await?;
    assert_eq!(
        expired.auth().and_then(|a| a.1).as_deref(),
        Some("access token expired")
    );
    until(&mut client, "close", |s| {
        s.address == "brief" && s.kind == 7
    })
    .await?;
    Ok(())
}
