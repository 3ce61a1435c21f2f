//! The documents-as-data API as the tests call it: requests with a token of a known secret, and
//! the names a list or a search answered.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Result};
use plait_server::auth::{Authenticator, Mode};
use serde_json::Value;

use crate::http::{self, HttpResponse};

/// The auth secret of the servers these helpers talk to.
pub const SECRET: &str = "plait-e2e-documents-secret-0123456789abcdef-0123";

/// A token for `scope` and `mode`, signed with [`SECRET`].
pub fn token(scope: &str, mode: Mode) -> Result<String> {
    Ok(Authenticator::new(SECRET.as_bytes()).mint(scope, mode, Duration::from_secs(3600))?)
}

/// `Authorization` header value for `scope` and `mode`.
pub fn bearer(scope: &str, mode: Mode) -> Result<String> {
    Ok(format!("Bearer {}", token(scope, mode)?))
}

/// A request with a write token for every document.
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<HttpResponse> {
    let auth = bearer("*", Mode::Write)?;
    http::request_with_headers(addr, method, path, &[("Authorization", &auth)], body).await
}

/// `GET path` with a write token for every document, which must answer 200 with JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Result<Value> {
    let res = call(addr, "GET", path, b"").await?;
    ensure!(
        res.status == 200,
        "GET {path}: {} {}",
        res.status,
        res.text()
    );
    res.json()
}

/// The `name` of each entry of the list `list` in `body` (`documents`, `results`).
pub fn names(body: &Value, list: &str) -> Vec<String> {
    body[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A server on the SQLite file `file`, with authentication ([`SECRET`]) and `config` applied.
pub async fn start_sqlite(
    file: &crate::db::SqliteFile,
    config: impl FnOnce(plait_server::Config) -> plait_server::Config,
) -> Result<crate::server::TestServer> {
    let base = plait_server::Config::for_tests(file.url()).with_auth_secret(SECRET);
    crate::server::TestServer::start_with_database(config(base)).await
}

/// Waits until `check` says true, for at most [`crate::TIMEOUT`].
pub async fn until<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    crate::eventually(what, crate::TIMEOUT, || {
        let checked = check();
        async move { Ok(checked.await?.then_some(())) }
    })
    .await
}

/// Two nodes on one fresh PostgreSQL database, both holding the document `shared` (text `t`:
/// "from b", written by a client of `b`), with a client each: `(db, a, b, on_a, on_b)`.
pub async fn two_nodes_sharing_a_document() -> Result<(
    crate::db::PgDatabase,
    crate::server::TestServer,
    crate::server::TestServer,
    crate::client::YClient,
    crate::client::YClient,
)> {
    use crate::client::YClient;
    use crate::server::TestServer;
    let db = crate::db::PgDatabase::create().await?;
    let url = db.url()?;
    let a = TestServer::start_with_database(plait_server::Config::for_tests(&url)).await?;
    let b = TestServer::start_with_database(plait_server::Config::for_tests(&url)).await?;
    http::wait_other_nodes(a.addr(), 1).await?;
    http::wait_other_nodes(b.addr(), 1).await?;
    let on_b = YClient::connect(&b.ws_url("shared"), 301).await?;
    on_b.push_text("t", "from b")?;
    on_b.wait_acked(crate::TIMEOUT).await?;
    // a holds it too: what a does to it reaches b as it reaches any node holding a document.
    let on_a = YClient::connect(&a.ws_url("shared"), 302).await?;
    on_a.wait_until("b's text", crate::TIMEOUT, |doc| {
        plait_testkit::ydoc::text(doc, "t") == "from b"
    })
    .await?;
    Ok((db, a, b, on_a, on_b))
}
