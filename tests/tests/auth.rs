//! Access control end to end: tokens refused before the upgrade and on `/api` with a status and a
//! reason, read-only connections that see everything but change nothing, expiry while connected,
//! the origin check, logs that never hold a token, and the `plait token` command.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use plait_protocol::codes;
use plait_server::auth::{Authenticator, Claims, Mode};
use plait_server::config::AllowedOrigins;
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::http::{self, HttpResponse};
use plait_tests::process::{binary_path, PlaitProcess};
use plait_tests::raw::{RawClient, Upgrade};
use plait_tests::server::TestServer;
use plait_tests::{ydoc, TIMEOUT};

const SECRET: &str = "plait-e2e-auth-secret-0123456789abcdef-0123456789";
const HOUR: Duration = Duration::from_secs(3600);

fn auth() -> Authenticator {
    Authenticator::new(SECRET.as_bytes())
}

fn token(doc: &str, mode: Mode) -> Result<String> {
    Ok(auth().mint(doc, mode, HOUR)?)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token whose `exp` is `offset` seconds from now (negative: in the past).
fn token_expiring_in(doc: &str, offset: i64) -> Result<String> {
    let exp = now_secs().saturating_add_signed(offset);
    Ok(auth().sign(&Claims {
        sub: None,
        doc: doc.to_owned(),
        mode: Mode::Write,
        exp,
        iat: exp.saturating_sub(3600) as f64,
    })?)
}

async fn start() -> Result<TestServer> {
    TestServer::in_memory_with(Config::for_tests("memory").with_auth_secret(SECRET)).await
}

/// Base64url without padding, as JWT segments are written (no crate for four lines).
fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A refusal must carry a JSON reason, and never echo the token.
fn check_refusal(what: &str, response: &HttpResponse, status: u16, token: &str) -> Result<()> {
    ensure!(
        response.status == status,
        "{what}: status {} (expected {status}), body {}",
        response.status,
        response.text()
    );
    let reason = response
        .json()
        .with_context(|| what.to_owned())?
        .get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
        .unwrap_or_default();
    ensure!(
        !reason.is_empty(),
        "{what}: no reason in {}",
        response.text()
    );
    ensure!(
        token.is_empty() || !response.text().contains(token),
        "{what}: the body echoes the token"
    );
    Ok(())
}

/// Every refused token, on the upgrade (query parameter and Bearer header) and on the three
/// `/api` routes.
#[tokio::test]
async fn bad_tokens_are_refused_with_a_status_and_a_reason() -> Result<()> {
    let server = start().await?;
    let addr = server.addr();
    let doc = "team-a/notes";
    let path_doc = "team-a%2Fnotes";
    let claims = format!(
        r#"{{"doc":"{doc}","mode":"write","exp":{}}}"#,
        now_secs() + 3600
    );
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.as_bytes())
    );
    let valid_read = token(doc, Mode::Read)?;
    // Same signature, payload switched to write: the signature no longer matches.
    let tampered = {
        let parts: Vec<&str> = valid_read.split('.').collect();
        let payload = b64url(claims.as_bytes());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("no token", String::new(), 401),
        ("not a JWT", "hello".to_owned(), 401),
        ("garbage segments", "a.b.c".to_owned(), 401),
        (
            "wrong secret",
            Authenticator::new(b"another-secret-another-secret-another!!").mint(
                doc,
                Mode::Write,
                HOUR,
            )?,
            401,
        ),
        ("alg none", alg_none, 401),
        ("tampered payload", tampered, 401),
        ("expired", token_expiring_in(doc, -60)?, 401),
        ("other document", token("team-a/other", Mode::Write)?, 403),
        ("other prefix", token("team-b/*", Mode::Write)?, 403),
        ("prefix without slash", token("team-a", Mode::Write)?, 403),
    ];
    for (what, token, status) in &cases {
        let query = if token.is_empty() {
            String::new()
        } else {
            format!("?token={token}")
        };
        let url = format!("{}{query}", server.ws_url(path_doc));
        match RawClient::try_connect(&url, &[]).await? {
            Upgrade::Accepted(_) => anyhow::bail!("{what}: upgrade with ?token= accepted"),
            Upgrade::Refused(r) => {
                check_refusal(&format!("{what}: ws ?token="), &r, *status, token)?
            }
        }
        let auth_header = bearer(token);
        let headers: Vec<(&str, &str)> = if token.is_empty() {
            vec![]
        } else {
            vec![("Authorization", auth_header.as_str())]
        };
        match RawClient::try_connect(&server.ws_url(path_doc), &headers).await? {
            Upgrade::Accepted(_) => anyhow::bail!("{what}: upgrade with Bearer accepted"),
            Upgrade::Refused(r) => {
                check_refusal(&format!("{what}: ws Bearer"), &r, *status, token)?
            }
        }
        let update = ydoc::text_update(5, "text", "x");
        for (method, route, body) in [
            (
                "POST",
                format!("/api/docs/{path_doc}/update"),
                update.as_slice(),
            ),
            ("GET", format!("/api/docs/{path_doc}/update"), &[][..]),
            ("GET", format!("/api/docs/{path_doc}"), &[][..]),
        ] {
            let r = http::request_with_headers(addr, method, &route, &headers, body).await?;
            check_refusal(&format!("{what}: {method} {route}"), &r, *status, token)?;
        }
    }
    // Nothing was written by any of them.
    let write = token(doc, Mode::Write)?;
    let state = http::request_with_headers(
        addr,
        "GET",
        &format!("/api/docs/{path_doc}/update"),
        &[("Authorization", &bearer(&write))],
        &[],
    )
    .await?;
    ensure!(state.status == 404, "the document exists: {}", state.status);
    server.stop().await
}

/// Valid tokens work both ways (Bearer and `?token=`), a prefix scope covers its documents, and
/// a read token may read but not POST.
#[tokio::test]
async fn valid_tokens_work_by_header_and_query_and_read_cannot_post() -> Result<()> {
    let server = start().await?;
    let addr = server.addr();
    let write = token("team-a/*", Mode::Write)?;
    let read = token("team-a/*", Mode::Read)?;
    let route = "/api/docs/team-a%2Fdoc/update";

    let first = ydoc::text_update(11, "text", "hello");
    let r = http::request_with_headers(
        addr,
        "POST",
        route,
        &[("Authorization", &bearer(&write))],
        &first,
    )
    .await?;
    ensure!(
        r.status == 200,
        "POST with a write Bearer token: {} {}",
        r.status,
        r.text()
    );
    let r = http::request_with_headers(
        addr,
        "POST",
        &format!("{route}?token={write}"),
        &[],
        &ydoc::text_update(12, "text", "!"),
    )
    .await?;
    ensure!(
        r.status == 200,
        "POST with ?token=: {} {}",
        r.status,
        r.text()
    );

    let before = http::request_with_headers(
        addr,
        "GET",
        route,
        &[("Authorization", &bearer(&read))],
        &[],
    )
    .await?;
    ensure!(
        before.status == 200,
        "GET with a read token: {}",
        before.status
    );
    let via_query =
        http::request_with_headers(addr, "GET", &format!("{route}?token={read}"), &[], &[]).await?;
    ensure!(
        via_query.status == 200,
        "GET with ?token=: {}",
        via_query.status
    );

    let refused = http::request_with_headers(
        addr,
        "POST",
        route,
        &[("Authorization", &bearer(&read))],
        &ydoc::text_update(13, "text", " evil"),
    )
    .await?;
    check_refusal("POST with a read token", &refused, 403, &read)?;
    let after = http::request_with_headers(
        addr,
        "GET",
        route,
        &[("Authorization", &bearer(&read))],
        &[],
    )
    .await?;
    let text = ydoc::text(&ydoc::doc_from_update(&after.body)?, "text");
    ensure!(
        !text.contains("evil"),
        "a read token changed the document: {text:?}"
    );
    ensure!(
        ydoc::snapshot(&ydoc::doc_from_update(&before.body)?)
            == ydoc::snapshot(&ydoc::doc_from_update(&after.body)?),
        "the document changed after a refused POST"
    );

    // WebSocket: Bearer header and query parameter both upgrade and sync.
    let url = server.ws_url("team-a%2Fdoc");
    match RawClient::try_connect(&url, &[("Authorization", &bearer(&read))]).await? {
        Upgrade::Accepted(mut raw) => {
            raw.handshake()
                .await
                .context("handshake with a Bearer token")?;
            raw.close().await;
        }
        Upgrade::Refused(r) => anyhow::bail!("Bearer upgrade refused: {} {}", r.status, r.text()),
    }
    let client = YClient::connect(&format!("{url}?token={write}"), 14).await?;
    ensure!(
        ydoc::text(&client.doc(), "text").contains("hello"),
        "the client got the document"
    );
    client.close().await?;
    server.stop().await
}

/// A read-only client receives the document, live updates and presence; its own updates are
/// dropped: never relayed, never stored (checked after a restart).
#[tokio::test]
async fn read_only_clients_see_everything_and_change_nothing() -> Result<()> {
    plait_tests::init_tracing();
    let file = SqliteFile::new()?;
    let config = Config::for_tests(file.url()).with_auth_secret(SECRET);
    let server = TestServer::start_with_database(config.clone()).await?;
    let write = token("ro", Mode::Write)?;
    let read = token("ro", Mode::Read)?;
    let writer = YClient::connect(&format!("{}?token={write}", server.ws_url("ro")), 21).await?;
    writer.push_text("text", "first ")?;
    writer
        .wait_status("the echo of the first edit", TIMEOUT, |s| {
            s.updates_received > 0
        })
        .await?;

    let reader = YClient::connect(&format!("{}?token={read}", server.ws_url("ro")), 22).await?;
    ensure!(
        ydoc::text(&reader.doc(), "text") == "first ",
        "the reader got the document"
    );
    let observer = YClient::connect(&format!("{}?token={read}", server.ws_url("ro")), 23).await?;

    writer.push_text("text", "live ")?;
    reader
        .wait_until("the writer's live edit", TIMEOUT, |d| {
            ydoc::text(d, "text") == "first live "
        })
        .await?;

    // The reader edits, then announces presence on the same connection: once others see the
    // presence, the server has handled the edit too (one connection's messages are in order).
    reader.set_map("map", "reader", "was here")?;
    reader.push_text("text", "READER")?;
    reader.set_awareness(r#"{"user":"reader"}"#)?;
    for other in [&writer, &observer] {
        other
            .wait_awareness("the reader's presence", |states| states.contains_key(&22))
            .await?;
    }
    writer.push_text("text", "end")?;
    observer
        .wait_until("the writer's last edit", TIMEOUT, |d| {
            ydoc::text(d, "text").ends_with("end")
        })
        .await?;
    // The reader's replica also holds its own (dropped) local edit.
    reader
        .wait_until("the writer's last edit", TIMEOUT, |d| {
            ydoc::text(d, "text").contains("end")
        })
        .await?;
    for other in [&writer, &observer] {
        let doc = other.doc();
        ensure!(
            ydoc::text(&doc, "text") == "first live end" && ydoc::map(&doc, "map").is_empty(),
            "the reader's edit was relayed: text={:?} map={:?}",
            ydoc::text(&doc, "text"),
            ydoc::map(&doc, "map")
        );
    }
    ensure!(
        reader.status().closed.is_none(),
        "the reader stays connected"
    );

    for c in [writer, reader, observer] {
        c.close().await?;
    }
    server.stop().await?;
    let server = TestServer::start_with_database(config).await?;
    let stored = http::request_with_headers(
        server.addr(),
        "GET",
        "/api/docs/ro/update",
        &[("Authorization", &bearer(&write))],
        &[],
    )
    .await?;
    ensure!(stored.status == 200, "GET after restart: {}", stored.status);
    let doc = ydoc::doc_from_update(&stored.body)?;
    ensure!(
        ydoc::text(&doc, "text") == "first live end" && ydoc::map(&doc, "map").is_empty(),
        "the reader's edit was stored: text={:?} map={:?}",
        ydoc::text(&doc, "text"),
        ydoc::map(&doc, "map")
    );
    ensure!(
        !ydoc::update_mentions_client(&stored.body, 22)?,
        "the stored state holds operations of the read-only client"
    );
    server.stop().await
}

/// A token that expires while connected closes the connection with 4401; one expired by more
/// than the 5 s leeway is refused at the upgrade, one within the leeway is accepted.
#[tokio::test]
async fn expiry_closes_the_connection_and_the_leeway_is_five_seconds() -> Result<()> {
    let server = start().await?;
    let short = auth().mint("exp", Mode::Write, Duration::from_secs(2))?;
    let client = YClient::connect(&format!("{}?token={short}", server.ws_url("exp")), 31).await?;
    let started = Instant::now();
    client
        .wait_status("the close at expiry", Duration::from_secs(10), |s| {
            s.closed.is_some()
        })
        .await
        .or_else(|e| {
            if client.status().closed.is_some() {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    ensure!(
        client.status().closed == Some(codes::UNAUTHORIZED),
        "closed with {:?}, expected 4401",
        client.status().closed
    );
    ensure!(
        started.elapsed() <= Duration::from_secs(4),
        "closed only after {:?}",
        started.elapsed()
    );

    let stale = token_expiring_in("exp", -8)?;
    let refused =
        RawClient::try_connect(&format!("{}?token={stale}", server.ws_url("exp")), &[]).await?;
    ensure!(
        refused.status() == 401,
        "a token 8 s past expiry: {}",
        refused.status()
    );

    let skewed = token_expiring_in("exp", -2)?;
    match RawClient::try_connect(&format!("{}?token={skewed}", server.ws_url("exp")), &[]).await? {
        Upgrade::Accepted(mut raw) => {
            // Accepted thanks to the leeway, then closed at once: its real expiry has passed.
            let (code, _) = raw.expect_close(TIMEOUT).await?;
            ensure!(code == codes::UNAUTHORIZED, "closed with {code}");
        }
        Upgrade::Refused(r) => anyhow::bail!("a token 2 s past expiry was refused: {}", r.status),
    }
    server.stop().await
}

/// `--allowed-origins`: a listed origin and no origin upgrade, any other is refused with 403.
#[tokio::test]
async fn allowed_origins_guard_the_upgrade() -> Result<()> {
    let mut config = Config::for_tests("memory").with_auth_secret(SECRET);
    config.allowed_origins = AllowedOrigins::parse("https://app.example.com,http://localhost:5173")
        .map_err(anyhow::Error::msg)?;
    let server = TestServer::in_memory_with(config).await?;
    let url = format!("{}?token={}", server.ws_url("o"), token("o", Mode::Write)?);
    for (origin, status) in [
        (Some("https://app.example.com"), 101),
        (Some("http://localhost:5173"), 101),
        (None, 101),
        (Some("https://evil.example"), 403),
        (Some("https://app.example.com.evil.example"), 403),
        (Some("null"), 403),
    ] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let upgrade = RawClient::try_connect(&url, &headers).await?;
        ensure!(
            upgrade.status() == status,
            "origin {origin:?}: {}",
            upgrade.status()
        );
        match upgrade {
            Upgrade::Accepted(mut raw) => {
                raw.handshake().await?;
                raw.close().await;
            }
            Upgrade::Refused(r) => check_refusal(&format!("origin {origin:?}"), &r, 403, "")?,
        }
    }
    server.stop().await
}

/// The real binary's log, at debug level, never holds a token or the secret, whatever happened
/// to the token (accepted, refused, expired, by header or query).
#[tokio::test]
async fn the_server_log_never_contains_a_token() -> Result<()> {
    let file = SqliteFile::new()?;
    let secret_arg = format!("--auth-secret={SECRET}");
    let process = PlaitProcess::start_with_env(
        &file.url(),
        &[&secret_arg],
        &[("RUST_LOG", "debug,sqlx=warn,sea_orm=warn")],
    )
    .await?;
    let addr = process.addr();
    let good = token("logged", Mode::Write)?;
    let read = token("logged", Mode::Read)?;
    let wrong = Authenticator::new(b"another-secret-another-secret-another!!").mint(
        "logged",
        Mode::Write,
        HOUR,
    )?;
    let expired = token_expiring_in("logged", -60)?;
    let scope = token("elsewhere", Mode::Write)?;

    let client =
        YClient::connect(&format!("{}?token={good}", process.ws_url("logged")), 41).await?;
    client.push_text("text", "hi")?;
    client
        .wait_status("the echo", TIMEOUT, |s| s.updates_received > 0)
        .await?;
    for t in [&read, &wrong, &expired, &scope, &good] {
        let _ =
            RawClient::try_connect(&format!("{}?token={t}", process.ws_url("logged")), &[]).await?;
        let _ = RawClient::try_connect(&process.ws_url("logged"), &[("Authorization", &bearer(t))])
            .await?;
        for method in ["GET", "POST"] {
            let body = ydoc::text_update(42, "text", "x");
            let _ = http::request_with_headers(
                addr,
                method,
                &format!("/api/docs/logged/update?token={t}"),
                &[],
                &body,
            )
            .await?;
            let _ = http::request_with_headers(
                addr,
                method,
                "/api/docs/logged/update",
                &[("Authorization", &bearer(t))],
                &body,
            )
            .await?;
        }
    }
    client.close().await?;
    // The refusals are logged (the log is not simply empty)...
    let log = plait_tests::eventually("the refusals in the log", TIMEOUT, || async {
        let log = process.log_text();
        Ok(log.contains("refused").then_some(log))
    })
    .await?;
    // ...but no token, nor any of its signature segments, nor the secret.
    for t in [&good, &read, &wrong, &expired, &scope] {
        let signature = t.rsplit('.').next().unwrap_or(t);
        ensure!(
            !log.contains(t.as_str()) && !log.contains(signature),
            "the log contains a token:\n{log}"
        );
    }
    ensure!(!log.contains(SECRET), "the log contains the secret");
    Ok(())
}

/// `plait token` prints one token the server accepts (scope, mode and ttl as asked), and exits
/// with 2 without a secret.
#[tokio::test]
async fn the_token_command_mints_verifiable_tokens() -> Result<()> {
    let binary = binary_path()?;
    let run = |args: &[&str], secret: Option<&str>| -> Result<std::process::Output> {
        let mut command = std::process::Command::new(&binary);
        command
            .arg("token")
            .args(args)
            .env_remove("PLAIT_AUTH_SECRET")
            .env_remove("PLAIT_AUTH_SECRET_FILE");
        if let Some(secret) = secret {
            command.env("PLAIT_AUTH_SECRET", secret);
        }
        command.output().context("run plait token")
    };
    let out = run(
        &["--doc", "team-a/*", "--mode", "read", "--ttl", "15m"],
        Some(SECRET),
    )?;
    ensure!(out.status.success(), "plait token failed: {out:?}");
    let stdout = String::from_utf8(out.stdout)?;
    let minted = stdout.trim_end_matches('\n');
    ensure!(
        stdout.ends_with('\n') && !minted.contains(char::is_whitespace),
        "stdout is not exactly one token line: {stdout:?}"
    );
    let access = auth().verify(minted, "team-a/x")?;
    ensure!(access.mode == Mode::Read, "mode {:?}", access.mode);
    let left = access
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    ensure!(
        left > Duration::from_secs(14 * 60) && left <= Duration::from_secs(15 * 60 + 1),
        "ttl 15m gave {left:?}"
    );
    ensure!(
        auth().verify(minted, "team-b/x").is_err(),
        "scope not enforced"
    );
    ensure!(
        Authenticator::new(b"another-secret-another-secret-another!!")
            .verify(minted, "team-a/x")
            .is_err(),
        "verifies with another secret"
    );

    let server = start().await?;
    let out = run(&["--doc", "cli", "--mode", "write"], Some(SECRET))?;
    let minted = String::from_utf8(out.stdout)?;
    let client = YClient::connect(
        &format!("{}?token={}", server.ws_url("cli"), minted.trim()),
        51,
    )
    .await?;
    client.close().await?;

    let out = run(&["--doc", "cli", "--mode", "write"], None)?;
    ensure!(
        out.status.code() == Some(2),
        "without a secret: {:?}",
        out.status
    );
    ensure!(out.stdout.is_empty(), "printed something without a secret");
    ensure!(!out.stderr.is_empty(), "no explanation on stderr");
    let out = run(&["--doc", "cli", "--mode", "write"], Some("short"))?;
    ensure!(
        out.status.code() == Some(2),
        "with a short secret: {:?}",
        out.status
    );
    server.stop().await
}
