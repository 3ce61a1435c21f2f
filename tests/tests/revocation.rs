//! Revocation pushed from the database: a row in `revocations` (a plain SQL INSERT from another
//! program, or `POST /api/revocations` on another node) closes the subject's open connections
//! with 4401 on every node, on both protocols, and refuses its tokens issued before it; tokens
//! issued after it work. On SQLite and on two PostgreSQL nodes.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use plait_protocol::codes;
use plait_server::auth::{Authenticator, Mode};
use plait_server::Config;
use plait_storage::SeaStore;
use plait_tests::cli::plait;
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::raw::{Incoming, RawClient, Upgrade};
use plait_tests::server::TestServer;
use plait_tests::{http, TIMEOUT};
use sea_orm::ConnectionTrait;
use yrs::encoding::write::Write;

const SECRET: &str = "plait-e2e-auth-secret-0123456789abcdef-0123456789";
const HOUR: Duration = Duration::from_secs(3600);
/// What the issue asks: closed within 1 s of the row's commit. The bound here leaves room for a
/// loaded CI machine; the measured time is printed.
const CLOSE_BOUND: Duration = Duration::from_secs(3);

fn auth() -> Authenticator {
    Authenticator::new(SECRET.as_bytes())
}

fn token(sub: &str) -> Result<String> {
    Ok(auth().mint_for(sub, "*", Mode::Write, HOUR)?)
}

fn ws(server: &TestServer, doc: &str, token: &str) -> String {
    format!("{}?token={token}", server.ws_url(doc))
}

async fn editor(server: &TestServer, doc: &str, token: &str) -> Result<RawClient> {
    let mut client = RawClient::connect(&ws(server, doc, token)).await?;
    client.handshake().await?;
    Ok(client)
}

/// Waits for the server to close `client`; returns the code and how long it took.
async fn closed(client: &mut RawClient) -> Result<(u16, Duration)> {
    let started = Instant::now();
    let (code, _) = client.expect_close(CLOSE_BOUND).await?;
    Ok((code, started.elapsed()))
}

/// A Hocuspocus socket with `token` for `doc`, authenticated.
async fn provider(server: &TestServer, doc: &str, token: &str) -> Result<RawClient> {
    let mut client = RawClient::connect(&format!("ws://{}/hocuspocus", server.addr())).await?;
    let mut frame = Vec::new();
    frame.write_string(doc);
    frame.write_var(2u8);
    frame.write_var(0u8);
    frame.write_string(token);
    client.send_binary(frame).await?;
    match client.next(TIMEOUT).await? {
        Some(Incoming::Binary(bytes)) => {
            // address, Auth (2), Authenticated (2)
            ensure!(
                bytes[1 + doc.len()..].starts_with(&[2, 2]),
                "not authenticated: {bytes:?}"
            );
        }
        other => anyhow::bail!("no answer to the token: {other:?}"),
    }
    Ok(client)
}

async fn still_served(client: &mut RawClient) -> Result<()> {
    client
        .handshake()
        .await
        .map(|_| ())
        .context("a connection of another subject was closed")
}

#[tokio::test]
async fn a_row_inserted_by_another_program_closes_and_refuses_on_sqlite() -> Result<()> {
    let file = SqliteFile::new()?;
    let config = Config::for_tests(file.url()).with_auth_secret(SECRET);
    let server = TestServer::start_with_database(config).await?;
    let old = token("alice")?;
    let mut alice = editor(&server, "revoked", &old).await?;
    let mut alice_hp = provider(&server, "revoked-hp", &old).await?;
    let mut bob = editor(&server, "revoked", &token("bob")?).await?;

    // Another program, its own connection to the file.
    let other = SeaStore::connect(&file.url()).await?;
    other
        .connection()
        .execute_unprepared("INSERT INTO revocations (subject, reason) VALUES ('alice', 'left')")
        .await?;
    let (code, took) = closed(&mut alice).await?;
    eprintln!("SQLite: y-websocket connection closed {took:?} after the INSERT");
    assert_eq!(code, codes::UNAUTHORIZED);
    let (code, _) = closed(&mut alice_hp).await?;
    assert_eq!(code, codes::UNAUTHORIZED, "the Hocuspocus socket");
    still_served(&mut bob).await?;

    let refused = RawClient::try_connect(&ws(&server, "revoked", &old), &[]).await?;
    assert_eq!(
        refused.status(),
        401,
        "a token issued before the revocation"
    );
    let fresh = token("alice")?;
    let Upgrade::Accepted(_) = RawClient::try_connect(&ws(&server, "revoked", &fresh), &[]).await?
    else {
        anyhow::bail!("a token issued after the revocation was refused");
    };

    // `plait revoke`, another process on the same file.
    let url = file.url();
    let printed = plait(&[
        "revoke",
        "--sub",
        "bob",
        "--reason",
        "cli",
        "--database-url",
        &url,
    ])
    .await?
    .ok()?;
    assert!(printed.stdout.contains("revoked \"bob\""), "{printed}");
    let (code, _) = closed(&mut bob).await?;
    assert_eq!(
        code,
        codes::UNAUTHORIZED,
        "bob, revoked by the command line"
    );
    Ok(())
}

#[tokio::test]
async fn a_revocation_posted_to_one_node_closes_connections_on_the_other() -> Result<()> {
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let a =
        TestServer::start_with_database(Config::for_tests(&url).with_auth_secret(SECRET)).await?;
    let b =
        TestServer::start_with_database(Config::for_tests(&url).with_auth_secret(SECRET)).await?;
    let old = token("carol")?;
    let mut on_b = editor(&b, "shared", &old).await?;
    let mut hp_on_b = provider(&b, "shared", &old).await?;

    let admin = auth().mint("*", Mode::Write, HOUR)?;
    let bearer = format!("Bearer {admin}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let body = br#"{"sub":"carol","reason":"offboarded"}"#;
    let posted =
        http::request_with_headers(a.addr(), "POST", "/api/revocations", &headers, body).await?;
    assert_eq!(
        posted.status,
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );
    let answer: serde_json::Value = serde_json::from_slice(&posted.body)?;
    assert_eq!(answer["sub"], "carol");
    assert!(answer["revoked_at_ms"].as_i64().is_some());

    let (code, took) = closed(&mut on_b).await?;
    eprintln!("PostgreSQL: closed on the other node {took:?} after the POST answered");
    assert_eq!(code, codes::UNAUTHORIZED);
    assert_eq!(closed(&mut hp_on_b).await?.0, codes::UNAUTHORIZED);
    for node in [&a, &b] {
        let refused = RawClient::try_connect(&ws(node, "shared", &old), &[]).await?;
        assert_eq!(refused.status(), 401);
    }
    let fresh = token("carol")?;
    let Upgrade::Accepted(_) = RawClient::try_connect(&ws(&b, "shared", &fresh), &[]).await? else {
        anyhow::bail!("a token issued after the revocation was refused");
    };

    // Only an admin token (scope `*`, write) may revoke.
    let reader = auth().mint("*", Mode::Read, HOUR)?;
    let bearer = format!("Bearer {reader}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let refused =
        http::request_with_headers(a.addr(), "POST", "/api/revocations", &headers, body).await?;
    assert_eq!(refused.status, 403);
    drop((a, b));
    drop(db);
    Ok(())
}
