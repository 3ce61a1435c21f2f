//! Webhooks end to end: the real `plait` binary posting to a local receiver.
//!
//! - A receiver that refuses the first attempts: every event arrives, signed (checked with the
//!   Standard Webhooks reference library), under the same id on every retry; a burst of edits is
//!   one `document.changed` event with the right count and cursors.
//! - `kill -9` after the edits were acknowledged and before they were delivered loses nothing.
//! - A receiver that never accepts: the events end up in `/api/webhooks/failed` (with auth: only
//!   for a `*` token), and a requeued one is delivered once the receiver is back.
//! - PostgreSQL, two servers on one database: each event is accepted exactly once.
//!
//! Every wait is bounded; none is a fixed sleep.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use plait_server::auth::{Authenticator, Mode};
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::process::PlaitProcess;
use plait_tests::{eventually, http, ydoc};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use yrs::Doc;

/// A plain-string secret (its UTF-8 bytes are the HMAC key).
const SECRET: &str = "webhook-test-secret-0123456789abcdef";
/// The same kind of key in the Standard Webhooks form (24 random bytes, base64).
const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const AUTH_SECRET: &str = "auth-secret-for-the-webhook-tests-0123456789";

/// Deliveries take debounce + retries: longer than the harness's usual bound.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// The receiver

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    body: Value,
    raw_body: Vec<u8>,
    /// The reference library accepted the signature.
    signature_valid: bool,
    /// What the receiver answered: accepted (2xx) or refused.
    accepted: bool,
}

#[derive(Debug, Default)]
struct Log {
    deliveries: Vec<Delivery>,
}

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    /// Refuse (500) this many attempts of each event before accepting; `usize::MAX`: never
    /// accept.
    refuse_first: Arc<Mutex<usize>>,
    /// Verifies signatures: the reference library, with the key Plait should have used.
    verifier: Arc<standardwebhooks::Webhook>,
    /// Answer this late (so two nodes' deliveries would overlap if both held an event).
    delay: Duration,
}

impl Receiver {
    fn new(secret: &str, refuse_first: usize, delay: Duration) -> Result<Receiver> {
        let verifier = if secret.starts_with("whsec_") {
            standardwebhooks::Webhook::new(secret)
        } else {
            standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec())
        }
        .map_err(|e| anyhow!("verifier: {e}"))?;
        Ok(Receiver {
            log: Arc::default(),
            refuse_first: Arc::new(Mutex::new(refuse_first)),
            verifier: Arc::new(verifier),
            delay,
        })
    }

    fn set_refuse_first(&self, n: usize) {
        *lock(&self.refuse_first) = n;
    }

    fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.log).deliveries.clone()
    }

    /// The accepted deliveries, by `webhook-id`.
    fn accepted(&self) -> BTreeMap<String, Vec<Delivery>> {
        let mut by_id: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for d in self.deliveries().into_iter().filter(|d| d.accepted) {
            by_id.entry(d.id.clone()).or_default().push(d);
        }
        by_id
    }

    /// The accepted events of `doc` of `kind`.
    fn accepted_of(&self, doc: &str, kind: &str) -> Vec<Delivery> {
        self.accepted()
            .into_values()
            .flatten()
            .filter(|d| d.body["type"] == kind && d.body["data"]["doc"] == doc)
            .collect()
    }

    /// Serves on `addr` (a port reserved by the test) until the handle is aborted.
    async fn serve(&self, addr: SocketAddr) -> Result<JoinHandle<()>> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("bind the receiver on {addr}"))?;
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(self.clone());
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !receiver.delay.is_zero() {
        tokio::time::sleep(receiver.delay).await;
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let signature_valid = receiver.verifier.verify(&body, &headers).is_ok();
    let refuse_first = *lock(&receiver.refuse_first);
    let mut log = lock(&receiver.log);
    let earlier = log.deliveries.iter().filter(|d| d.id == id).count();
    let accepted = earlier >= refuse_first && signature_valid;
    log.deliveries.push(Delivery {
        id,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw_body: body.to_vec(),
        signature_valid,
        accepted,
    });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// A loopback address nobody listens on (yet): connections to it are refused.
fn reserve_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

// ---------------------------------------------------------------------------------------------
// The server and its documents

/// `plait serve` flags for webhooks to `receiver` with short test timings.
fn webhook_flags(receiver: SocketAddr, secret: &str, debounce: &str) -> Vec<String> {
    [
        "--webhook-url",
        &format!("http://{receiver}/hook"),
        "--webhook-secret",
        secret,
        "--webhook-debounce",
        debounce,
        "--webhook-timeout",
        "2s",
        "--webhook-retry-first",
        "100ms",
        "--webhook-retry-max",
        "500ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn args(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// One edit of `doc` posted over HTTP and acknowledged durable; returns its log position.
async fn post_edit(
    addr: SocketAddr,
    name: &str,
    doc: &Doc,
    text: &str,
    token: Option<&str>,
) -> Result<i64> {
    let update = ydoc::edit(doc, text);
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    let response = http::request_with_headers(
        addr,
        "POST",
        &format!("/api/docs/{name}/update"),
        &headers,
        &update,
    )
    .await?;
    ensure!(
        response.status == 200,
        "POST {name}: {} {}",
        response.status,
        response.text()
    );
    let body = response.json()?;
    ensure!(body["durable"] == true, "not durable: {body}");
    body["seq"]
        .as_i64()
        .ok_or_else(|| anyhow!("no seq in {body}"))
}

/// `GET path` with an optional bearer token, as JSON.
async fn get_json(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<(u16, Value)> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    let response = http::request_with_headers(addr, "GET", path, &headers, &[]).await?;
    let json = response.json().unwrap_or(Value::Null);
    Ok((response.status, json))
}

/// Waits until `receiver` has accepted the created and the changed event of `doc`.
async fn wait_delivered(receiver: &Receiver, doc: &str) -> Result<()> {
    eventually(
        &format!("the events of {doc} to be accepted"),
        DELIVERY_TIMEOUT,
        || async move {
            let created = receiver.accepted_of(doc, "document.created");
            let changed = receiver.accepted_of(doc, "document.changed");
            Ok((!created.is_empty() && !changed.is_empty()).then_some(()))
        },
    )
    .await
}

/// The one accepted `document.changed` of `doc` covers exactly `seqs`.
fn assert_changed_covers(receiver: &Receiver, doc: &str, seqs: &[i64]) -> Result<()> {
    let changed = receiver.accepted_of(doc, "document.changed");
    ensure!(
        changed.len() == 1,
        "one changed event for the burst, got {changed:?}"
    );
    let data = &changed[0].body["data"];
    let first = seqs.iter().min().copied().unwrap_or_default();
    let last = seqs.iter().max().copied().unwrap_or_default();
    ensure!(data["updates"] == seqs.len() as i64, "updates in {data}");
    ensure!(
        data["after"].as_str() == Some(&*(first - 1).to_string()),
        "after in {data}"
    );
    ensure!(
        data["until"].as_str() == Some(&*last.to_string()),
        "until in {data}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The cases, each on SQLite and PostgreSQL

mod cases {
    use super::*;

    /// The receiver refuses each event twice, then accepts: both events of the document arrive,
    /// signed, under one id per event, and the burst is one changed event.
    pub async fn retried_until_accepted(url: String) -> Result<()> {
        let port = reserve_port()?;
        let receiver = Receiver::new(SECRET, 2, Duration::ZERO)?;
        let _serving = receiver.serve(port).await?;
        let flags = webhook_flags(port, SECRET, "1s");
        let server = PlaitProcess::start(&url, &args(&flags)).await?;
        let doc = Doc::new();
        let mut seqs = Vec::new();
        for i in 0..5 {
            seqs.push(post_edit(server.addr(), "burst", &doc, &format!("{i}"), None).await?);
        }
        wait_delivered(&receiver, "burst").await?;
        assert_changed_covers(&receiver, "burst", &seqs)?;

        let deliveries = receiver.deliveries();
        ensure!(
            deliveries.iter().all(|d| d.signature_valid),
            "every signature verifies: {deliveries:?}"
        );
        let ids: HashSet<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        ensure!(ids.len() == 2, "two events (created, changed): {ids:?}");
        for id in ids {
            let tries: Vec<&Delivery> = deliveries.iter().filter(|d| d.id == id).collect();
            ensure!(
                tries.len() >= 3,
                "{id}: refused twice then accepted: {tries:?}"
            );
            ensure!(
                tries.iter().all(|d| d.raw_body == tries[0].raw_body),
                "{id}: the same body on every retry"
            );
            ensure!(id.starts_with("evt_"), "{id}");
        }
        let created = receiver.accepted_of("burst", "document.created");
        ensure!(created[0].body["data"] == serde_json::json!({ "doc": "burst" }));
        ensure!(
            created[0].body["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
            "RFC 3339 timestamp: {}",
            created[0].body
        );
        Ok(())
    }

    /// Edits acknowledged durable, a delivery attempt refused (the receiver is down), then
    /// `kill -9`: after a restart with the receiver up, every event arrives.
    pub async fn kill_9_before_delivery_loses_nothing(url: String) -> Result<()> {
        let port = reserve_port()?;
        let flags = webhook_flags(port, WHSEC, "200ms");
        let mut server = PlaitProcess::start(&url, &args(&flags)).await?;
        let doc = Doc::new();
        let mut seqs = Vec::new();
        for i in 0..3 {
            seqs.push(post_edit(server.addr(), "killed", &doc, &format!("{i}"), None).await?);
        }
        // Between the commit and the delivery: the changed event is closed (due), and the
        // created one, which it waits behind, was tried and refused.
        let addr = server.addr();
        eventually(
            "a refused attempt, the changed event due",
            DELIVERY_TIMEOUT,
            || async move {
                let (_, pending) = get_json(addr, "/api/webhooks/pending", None).await?;
                let events = pending["events"].as_array().cloned().unwrap_or_default();
                let tried = events
                    .iter()
                    .any(|e| e["kind"] == "document.created" && e["attempts"].as_i64() >= Some(1));
                let due = events
                    .iter()
                    .any(|e| e["kind"] == "document.changed" && e["open"] == false);
                Ok((tried && due).then_some(()))
            },
        )
        .await?;
        server.kill9()?;

        let receiver = Receiver::new(WHSEC, 0, Duration::ZERO)?;
        let _serving = receiver.serve(port).await?;
        let _again = PlaitProcess::start(&url, &args(&flags)).await?;
        wait_delivered(&receiver, "killed").await?;
        assert_changed_covers(&receiver, "killed", &seqs)?;
        ensure!(receiver.deliveries().iter().all(|d| d.signature_valid));
        Ok(())
    }

    /// A receiver that never accepts: after the (shortened) retry window the events are failed
    /// and listed for a `*` token only; requeued, one is delivered once the receiver accepts.
    pub async fn never_accepted_events_are_listed_as_failed(url: String) -> Result<()> {
        let port = reserve_port()?;
        let receiver = Receiver::new(SECRET, usize::MAX, Duration::ZERO)?;
        let _serving = receiver.serve(port).await?;
        let mut flags = webhook_flags(port, SECRET, "100ms");
        flags.extend(
            ["--webhook-retry-window", "1s", "--auth-secret", AUTH_SECRET].map(String::from),
        );
        let server = PlaitProcess::start(&url, &args(&flags)).await?;
        let auth = Authenticator::new(AUTH_SECRET.as_bytes());
        let writer = auth.mint("lost", Mode::Write, Duration::from_secs(600))?;
        let admin = auth.mint("*", Mode::Write, Duration::from_secs(600))?;
        let scoped = auth.mint("lost*", Mode::Read, Duration::from_secs(600))?;
        post_edit(server.addr(), "lost", &Doc::new(), "x", Some(&writer)).await?;

        let addr = server.addr();
        let failed = eventually("both events failed", DELIVERY_TIMEOUT, || {
            let admin = admin.clone();
            async move {
                let (status, body) = get_json(addr, "/api/webhooks/failed", Some(&admin)).await?;
                ensure!(status == 200, "{status} {body}");
                let events = body["events"].as_array().cloned().unwrap_or_default();
                Ok((events.len() == 2).then_some(events))
            }
        })
        .await?;
        for event in &failed {
            ensure!(event["doc"] == "lost", "{event}");
            ensure!(event["attempts"].as_i64() >= Some(2), "retried: {event}");
            ensure!(
                event["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("500")),
                "{event}"
            );
            ensure!(event["failed_at"].is_string(), "{event}");
        }
        let (status, _) = get_json(addr, "/api/webhooks/failed", None).await?;
        ensure!(status == 401, "no token: {status}");
        let (status, _) = get_json(addr, "/api/webhooks/failed", Some(&scoped)).await?;
        ensure!(status == 403, "a token scoped to some documents: {status}");

        // Requeue the changed event with the receiver accepting: it is delivered, same id.
        receiver.set_refuse_first(0);
        let changed = failed
            .iter()
            .find(|e| e["kind"] == "document.changed")
            .ok_or_else(|| anyhow!("no changed event in {failed:?}"))?;
        let id = changed["id"].as_str().unwrap_or_default().to_owned();
        let bearer = format!("Bearer {admin}");
        let requeued = http::request_with_headers(
            addr,
            "POST",
            &format!("/api/webhooks/{id}/retry"),
            &[("Authorization", &bearer)],
            &[],
        )
        .await?;
        ensure!(requeued.status == 200, "requeue: {}", requeued.text());
        let (r, wanted) = (&receiver, &id);
        eventually(
            "the requeued event accepted",
            DELIVERY_TIMEOUT,
            || async move { Ok(r.accepted().contains_key(wanted).then_some(())) },
        )
        .await?;
        let (_, still_failed) = get_json(addr, "/api/webhooks/failed", Some(&admin)).await?;
        ensure!(
            still_failed["events"].as_array().map(Vec::len) == Some(1),
            "{still_failed}"
        );
        Ok(())
    }
}

async fn on_sqlite<F, Fut>(case: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let file = SqliteFile::new()?;
    case(file.url()).await
}

async fn on_postgres<F, Fut>(case: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let db = PgDatabase::create().await?;
    case(db.url()?).await
}

macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> Result<()> {
                    plait_tests::init_tracing();
                    on_sqlite(cases::$case).await
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> Result<()> {
                    plait_tests::init_tracing();
                    on_postgres(cases::$case).await
                }
            )*
        }
    };
}

on_both_databases!(
    retried_until_accepted,
    kill_9_before_delivery_loses_nothing,
    never_accepted_events_are_listed_as_failed,
);

/// PostgreSQL, two servers on one database, a receiver slow enough that their deliveries
/// overlap: each event is accepted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_once() -> Result<()> {
    plait_tests::init_tracing();
    const DOCS: usize = 20;
    let db = PgDatabase::create().await?;
    let url = db.url()?;
    let port = reserve_port()?;
    let receiver = Receiver::new(SECRET, 0, Duration::from_millis(50))?;
    let _serving = receiver.serve(port).await?;
    let flags = webhook_flags(port, SECRET, "100ms");
    let a = PlaitProcess::start(&url, &args(&flags)).await?;
    let b = PlaitProcess::start(&url, &args(&flags)).await?;
    let nodes = [a.addr(), b.addr()];
    for i in 0..DOCS {
        let doc = Doc::new();
        post_edit(nodes[i % 2], &format!("n{i}"), &doc, "x", None).await?;
    }
    let r = &receiver;
    eventually("every event accepted", DELIVERY_TIMEOUT, || async move {
        let accepted = r.accepted();
        let (_, pending) = get_json(nodes[0], "/api/webhooks/pending", None).await?;
        let none_pending = pending["events"].as_array().is_some_and(Vec::is_empty);
        Ok((accepted.len() == 2 * DOCS && none_pending).then_some(()))
    })
    .await?;
    // Nothing is pending any more, so no further delivery can come.
    let twice: Vec<(String, usize)> = receiver
        .accepted()
        .into_iter()
        .map(|(id, d)| (id, d.len()))
        .filter(|(_, n)| *n > 1)
        .collect();
    ensure!(
        twice.is_empty(),
        "events accepted more than once: {twice:?}"
    );
    ensure!(
        receiver.deliveries().len() == 2 * DOCS,
        "one POST per event: {}",
        receiver.deliveries().len()
    );
    Ok(())
}
