//! The change feed over HTTP: a token's scope limits what both endpoints show, the stream
//! delivers new changes as they commit and resumes after `Last-Event-ID`, and bad queries get a
//! 400 with the reason.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plait_server::auth::{Authenticator, Mode};
use plait_server::Config;
use plait_tests::db::SqliteFile;
use plait_tests::http;
use plait_tests::server::TestServer;
use plait_tests::{ydoc, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yrs::Doc;

const SECRET: &str = "plait-e2e-changes-secret-0123456789abcdef-012345";

fn token(scope: &str, mode: Mode) -> Result<String> {
    Ok(Authenticator::new(SECRET.as_bytes()).mint(scope, mode, Duration::from_secs(3600))?)
}

async fn start(file: &SqliteFile) -> Result<TestServer> {
    TestServer::start_with_database(Config::for_tests(file.url()).with_auth_secret(SECRET)).await
}

/// Posts one edit of `doc` with a write token for everything.
async fn write(addr: SocketAddr, doc: &str, text: &str) -> Result<()> {
    let bearer = format!("Bearer {}", token("*", Mode::Write)?);
    let update = ydoc::edit(&Doc::new(), text);
    let path = format!("/api/docs/{}/update", doc.replace('/', "%2F"));
    let res =
        http::request_with_headers(addr, "POST", &path, &[("Authorization", &bearer)], &update)
            .await?;
    ensure!(
        res.status == 200,
        "POST {doc}: {} {}",
        res.status,
        res.text()
    );
    Ok(())
}

/// The documents of one page of `GET /api/changes` read with `scope`.
async fn page_docs(addr: SocketAddr, scope: &str, query: &str) -> Result<(u16, Vec<String>)> {
    let bearer = format!("Bearer {}", token(scope, Mode::Read)?);
    let res = http::request_with_headers(
        addr,
        "GET",
        &format!("/api/changes?{query}"),
        &[("Authorization", &bearer)],
        b"",
    )
    .await?;
    if res.status != 200 {
        return Ok((res.status, Vec::new()));
    }
    let body = res.json()?;
    let docs = body["changes"]
        .as_array()
        .context("changes is a list")?
        .iter()
        .filter_map(|c| c["doc"].as_str().map(str::to_owned))
        .collect();
    Ok((res.status, docs))
}

#[tokio::test]
async fn a_token_scope_limits_the_feed_on_both_endpoints() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file).await?;
    let addr = server.addr();
    for (doc, text) in [("team-a/x", "a1"), ("team-b/y", "b1"), ("team-a/z", "a2")] {
        write(addr, doc, text).await?;
    }
    assert_eq!(
        page_docs(addr, "team-a/*", "").await?,
        (200, vec!["team-a/x".into(), "team-a/z".into()])
    );
    assert_eq!(
        page_docs(addr, "team-a/*", "prefix=team-b/").await?,
        (200, vec![])
    );
    assert_eq!(
        page_docs(addr, "team-a/x", "").await?,
        (200, vec!["team-a/x".into()])
    );
    assert_eq!(page_docs(addr, "*", "prefix=team-b").await?.1, ["team-b/y"]);
    let anonymous = http::get(addr, "/api/changes").await?;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());

    // The stream: what exists, then new changes, never another team's.
    let mut stream = Sse::open(
        addr,
        "/api/changes/stream",
        &token("team-a/*", Mode::Read)?,
        None,
    )
    .await?;
    stream.wait_for("\"doc\":\"team-a/z\"").await?;
    write(addr, "team-b/y", "b2").await?;
    write(addr, "team-a/x", "a3").await?;
    stream.wait_for("\"doc\":\"team-a/x\",\"seq\":5").await?;
    ensure!(
        !stream.text.contains("team-b"),
        "team-b leaked: {}",
        stream.text
    );
    ensure!(
        stream.text.contains("id: 5\n"),
        "event ids are cursors: {}",
        stream.text
    );

    // Resuming after the cursor the stream gave: only what came after it.
    let mut resumed = Sse::open(
        addr,
        "/api/changes/stream",
        &token("*", Mode::Read)?,
        Some("4"),
    )
    .await?;
    resumed.wait_for("\"seq\":5").await?;
    ensure!(!resumed.text.contains("\"seq\":4"), "{}", resumed.text);
    server.stop().await
}

#[tokio::test]
async fn bad_queries_get_a_reason_and_the_memory_store_has_no_feed() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = TestServer::start_with_database(Config::for_tests(file.url())).await?;
    for query in ["after=x", "after=-3", "limit=0", "limit=many"] {
        let res = http::get(server.addr(), &format!("/api/changes?{query}")).await?;
        assert_eq!(res.status, 400, "{query}");
        assert!(res.json()?["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let capped = http::get(server.addr(), "/api/changes?limit=99999").await?;
    assert_eq!(capped.status, 200, "a limit above the maximum is capped");
    server.stop().await?;

    let memory = TestServer::in_memory().await?;
    let res = http::get(memory.addr(), "/api/changes").await?;
    assert_eq!(res.status, 501, "{}", res.text());
    memory.stop().await
}

/// A server-sent event stream read raw: everything received so far.
struct Sse {
    socket: TcpStream,
    text: String,
}

impl Sse {
    async fn open(addr: SocketAddr, path: &str, token: &str, last: Option<&str>) -> Result<Sse> {
        let mut socket = TcpStream::connect(addr).await?;
        let resume = last.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
             Authorization: Bearer {token}\r\n{resume}\r\n"
        );
        socket.write_all(head.as_bytes()).await?;
        Ok(Sse {
            socket,
            text: String::new(),
        })
    }

    /// Reads until `needle` has arrived (bounded by [`TIMEOUT`]).
    async fn wait_for(&mut self, needle: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let mut buf = [0u8; 8192];
        while !self.text.contains(needle) {
            let n = tokio::time::timeout_at(deadline, self.socket.read(&mut buf))
                .await
                .with_context(|| format!("{needle:?} not received; got {}", self.text))??;
            ensure!(n > 0, "the stream ended; got {}", self.text);
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        Ok(())
    }
}
