//! Every limit, hit on purpose: the offender gets the documented close code or HTTP status, the
//! document stays as it was, the other clients keep converging and the server stays up with
//! bounded memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use plait_protocol::codes;
use plait_server::Config;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::process::PlaitProcess;
use plait_tests::raw::{update_frame, RawClient, Upgrade};
use plait_tests::server::TestServer;
use plait_tests::tcp_ws::TcpWs;
use plait_tests::{http, ydoc, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yrs::encoding::write::Write;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{ClientID, Doc, Map, MapPrelim, StateVector, Transact};

async fn start(config: Config) -> Result<TestServer> {
    TestServer::in_memory_with(config).await
}

fn config() -> Config {
    Config::for_tests("memory")
}

/// Two good clients on `doc`, already sharing one edit.
async fn pair(server_url: &str, ids: (u64, u64)) -> Result<(YClient, YClient)> {
    let a = YClient::connect(server_url, ids.0).await?;
    let b = YClient::connect(server_url, ids.1).await?;
    a.push_text("text", "before ")?;
    b.wait_until("a's first edit", TIMEOUT, |d| {
        ydoc::text(d, "text") == "before "
    })
    .await?;
    Ok((a, b))
}

/// Both good clients still edit, converge and stay connected.
async fn still_converging(a: &YClient, b: &YClient, tag: &str) -> Result<()> {
    a.push_text("text", &format!("a-{tag} "))?;
    b.set_map("map", tag, "ok")?;
    a.wait_until(&format!("b's edit {tag}"), TIMEOUT, |d| {
        ydoc::map(d, "map").contains_key(tag)
    })
    .await?;
    b.wait_until(&format!("a's edit {tag}"), TIMEOUT, |d| {
        ydoc::text(d, "text").contains(&format!("a-{tag} "))
    })
    .await?;
    ensure!(
        ydoc::snapshot(&a.doc()) == ydoc::snapshot(&b.doc()),
        "{tag}: the good clients diverged"
    );
    ensure!(
        a.status().closed.is_none() && b.status().closed.is_none(),
        "{tag}: a good client was closed: {:?} {:?}",
        a.status(),
        b.status()
    );
    Ok(())
}

async fn healthy(addr: std::net::SocketAddr) -> Result<()> {
    let r = http::get(addr, "/healthz").await?;
    ensure!(r.status == 200, "healthz answered {}", r.status);
    Ok(())
}

/// A text update from a fresh client of `len` bytes of content.
fn big_update(client_id: u64, len: usize) -> Vec<u8> {
    ydoc::text_update(client_id, "text", &"x".repeat(len))
}

/// An update over `--max-message-size` closes its sender with 4413; the others go on; an
/// immediate reconnect to the same document is refused with 429 and `Retry-After`, another
/// document is not; a client that reconnects and resends in a loop gets through only a few times.
#[tokio::test]
async fn oversized_message_closes_4413_and_the_resend_loop_is_bounded() -> Result<()> {
    let mut config = config();
    config.max_message_size = 64 * 1024;
    let server = start(config).await?;
    let url = server.ws_url("big");
    let (a, b) = pair(&url, (101, 102)).await?;
    let oversized = update_frame(&big_update(103, 100 * 1024));

    let mut raw = RawClient::connect(&url).await?;
    raw.send_binary(oversized.clone()).await?;
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::MESSAGE_TOO_LARGE, "closed with {code}");
    still_converging(&a, &b, "after-4413").await?;
    ensure!(
        !ydoc::text(&a.doc(), "text").contains("xxxx"),
        "the oversized update was applied"
    );

    match RawClient::try_connect(&url, &[]).await? {
        Upgrade::Accepted(_) => bail!("an immediate reconnect after 4413 was accepted"),
        Upgrade::Refused(r) => {
            ensure!(
                r.status == 429,
                "immediate reconnect: {} {}",
                r.status,
                r.text()
            );
            let retry: u64 = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .context("429 without a numeric Retry-After")?;
            ensure!((1..=60).contains(&retry), "Retry-After {retry}");
        }
    }
    match RawClient::try_connect(&server.ws_url("elsewhere"), &[]).await? {
        Upgrade::Accepted(raw) => raw.close().await,
        Upgrade::Refused(r) => bail!("another document was refused: {}", r.status),
    }

    // A stock provider of old: reconnect at once, resend the same update, forever. Time is the
    // subject here, so the loop runs for a fixed period with a fixed retry delay.
    let period = Duration::from_secs(4);
    let started = Instant::now();
    let (mut accepted, mut refused) = (0, 0);
    while started.elapsed() < period {
        match RawClient::try_connect(&url, &[]).await? {
            Upgrade::Accepted(mut raw) => {
                accepted += 1;
                raw.send_binary(oversized.clone()).await?;
                let (code, _) = raw.expect_close(TIMEOUT).await?;
                ensure!(code == codes::MESSAGE_TOO_LARGE, "loop: closed with {code}");
            }
            Upgrade::Refused(r) => {
                ensure!(r.status == 429, "loop: refused with {}", r.status);
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        accepted <= 3 && refused >= 20,
        "in {period:?}: {accepted} accepted, {refused} refused (the penalty must back off)"
    );
    still_converging(&a, &b, "after-loop").await?;
    healthy(server.addr()).await?;
    server.stop().await
}

/// Behind a trusted reverse proxy the reconnect penalty follows the client named in
/// `X-Forwarded-For`, not the proxy's address: the others behind the same proxy still connect.
/// From an untrusted peer the header changes nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_the_penalty_is_per_client() -> Result<()> {
    let mut config = config();
    config.max_message_size = 64 * 1024;
    config.trusted_proxies = plait_server::client_addr::TrustedProxies::parse("127.0.0.1")
        .map_err(anyhow::Error::msg)?;
    let server = start(config).await?;
    let url = server.ws_url("proxied");
    let oversized = update_frame(&big_update(121, 100 * 1024));
    let offender = [("x-forwarded-for", "198.51.100.5")];
    let colleague = [("x-forwarded-for", "198.51.100.6")];

    let Upgrade::Accepted(mut raw) = RawClient::try_connect(&url, &offender).await? else {
        bail!("the first connection was refused");
    };
    raw.send_binary(oversized).await?;
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::MESSAGE_TOO_LARGE, "closed with {code}");

    let again = RawClient::try_connect(&url, &offender).await?;
    ensure!(
        again.status() == 429,
        "the offender reconnected: {}",
        again.status()
    );
    for (who, headers) in [
        ("a colleague", &colleague[..]),
        ("the proxy itself", &[][..]),
    ] {
        match RawClient::try_connect(&url, headers).await? {
            Upgrade::Accepted(raw) => raw.close().await,
            Upgrade::Refused(r) => bail!("{who} was refused with {}", r.status),
        }
    }
    server.stop().await?;

    // Without --trusted-proxies the header is the client's own claim and is ignored.
    let mut config = self::config();
    config.max_message_size = 64 * 1024;
    let server = start(config).await?;
    let url = server.ws_url("direct");
    let Upgrade::Accepted(mut raw) = RawClient::try_connect(&url, &offender).await? else {
        bail!("the first connection was refused");
    };
    raw.send_binary(update_frame(&big_update(122, 100 * 1024)))
        .await?;
    raw.expect_close(TIMEOUT).await?;
    let forged = RawClient::try_connect(&url, &colleague).await?;
    ensure!(
        forged.status() == 429,
        "a forged X-Forwarded-For escaped the penalty: {}",
        forged.status()
    );
    server.stop().await
}

/// An update that would grow the document past `--max-doc-size` closes its sender with 4422 and
/// leaves the document exactly as it was; POSTing it answers 413.
#[tokio::test]
async fn document_size_limit_refuses_growth_and_keeps_the_document() -> Result<()> {
    let mut config = config();
    config.max_doc_size = 16 * 1024;
    let server = start(config).await?;
    let url = server.ws_url("grow");
    let (a, b) = pair(&url, (111, 112)).await?;
    let state = |addr| async move {
        let r = http::get(addr, "/api/docs/grow/update").await?;
        ensure!(r.status == 200, "GET state: {}", r.status);
        Ok(ydoc::snapshot(&ydoc::doc_from_update(&r.body)?))
    };
    let before = state(server.addr()).await?;
    let growth = big_update(113, 32 * 1024);

    let mut raw = RawClient::connect(&url).await?;
    raw.send_binary(update_frame(&growth)).await?;
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(code == codes::DOCUMENT_TOO_LARGE, "closed with {code}");
    ensure!(
        state(server.addr()).await? == before,
        "the document changed after 4422"
    );

    let r = http::post(server.addr(), "/api/docs/grow/update", &growth).await?;
    ensure!(
        r.status == 413,
        "POST of the growth: {} {}",
        r.status,
        r.text()
    );
    ensure!(
        state(server.addr()).await? == before,
        "the document changed after 413"
    );
    still_converging(&a, &b, "after-4422").await?;
    ensure!(
        !ydoc::text(&a.doc(), "text").contains("xxxx"),
        "the growth reached a client"
    );
    healthy(server.addr()).await?;
    server.stop().await
}

/// `--max-connections-per-doc`: the next upgrade to that document gets 503, other documents are
/// fine, and a slot frees when a client leaves.
#[tokio::test]
async fn per_document_connection_limit_answers_503() -> Result<()> {
    let mut config = config();
    config.max_connections_per_doc = 3;
    let server = start(config).await?;
    let url = server.ws_url("hot");
    let mut clients = Vec::new();
    for id in 121..124 {
        clients.push(YClient::connect(&url, id).await?);
    }
    match RawClient::try_connect(&url, &[]).await? {
        Upgrade::Accepted(_) => bail!("a fourth connection to the document was accepted"),
        Upgrade::Refused(r) => {
            ensure!(
                r.status == 503,
                "fourth connection: {} {}",
                r.status,
                r.text()
            );
            ensure!(r.json()?.get("error").is_some(), "no reason: {}", r.text());
        }
    }
    let other = YClient::connect(&server.ws_url("cold"), 125).await?;
    other.close().await?;
    if let Some(first) = clients.pop() {
        first.close().await?;
    }
    let replacement = plait_tests::eventually("a free slot", TIMEOUT, || async {
        Ok(match RawClient::try_connect(&url, &[]).await? {
            Upgrade::Accepted(raw) => Some(raw),
            Upgrade::Refused(_) => None,
        })
    })
    .await?;
    replacement.close().await;
    server.stop().await
}

/// `--max-connections`: the next upgrade anywhere gets 503.
#[tokio::test]
async fn total_connection_limit_answers_503() -> Result<()> {
    let mut config = config();
    config.max_connections = 3;
    let server = start(config).await?;
    let mut clients = Vec::new();
    for (i, id) in (131..134).enumerate() {
        clients.push(YClient::connect(&server.ws_url(&format!("doc-{i}")), id).await?);
    }
    let refused = RawClient::try_connect(&server.ws_url("doc-new"), &[]).await?;
    ensure!(
        refused.status() == 503,
        "fourth connection: {}",
        refused.status()
    );
    healthy(server.addr()).await?;
    for c in clients {
        c.close().await?;
    }
    server.stop().await
}

/// One awareness frame from `client` at `clock`.
fn awareness_frame(client: u64, clock: u32) -> Vec<u8> {
    let mut clients = HashMap::new();
    clients.insert(
        ClientID::new(client),
        AwarenessUpdateEntry {
            clock,
            json: format!(r#"{{"n":{clock}}}"#).into(),
        },
    );
    Message::Awareness(AwarenessUpdate { clients }).encode_v1()
}

/// A flood of thousands of tiny awareness messages closes the flooder with 4429; the others
/// keep converging and the server stays healthy.
#[tokio::test]
async fn message_flood_closes_4429() -> Result<()> {
    let mut config = config();
    config.message_rate = 50;
    config.message_burst = 100;
    let server = start(config).await?;
    let url = server.ws_url("chatty");
    let (a, b) = pair(&url, (141, 142)).await?;
    let mut raw = RawClient::connect(&url).await?;
    let mut sent = 0;
    for clock in 1..=5000u32 {
        // The server closes mid-flood; later sends may fail.
        if raw.send_binary(awareness_frame(143, clock)).await.is_err() {
            break;
        }
        sent += 1;
    }
    let (code, _) = raw.expect_close(TIMEOUT).await?;
    ensure!(
        code == codes::RATE_LIMITED,
        "closed with {code} after {sent} messages"
    );
    still_converging(&a, &b, "after-flood").await?;
    healthy(server.addr()).await?;
    server.stop().await
}

/// A socket that upgrades and never speaks is closed with 4002 after `--handshake-timeout`; a
/// slowloris dribbling header bytes is disconnected after the same time.
#[tokio::test]
async fn handshake_timeout_closes_silent_sockets_and_slowloris() -> Result<()> {
    let timeout = Duration::from_secs(1);
    let mut config = config();
    config.handshake_timeout = timeout;
    let server = start(config).await?;

    let started = Instant::now();
    let mut silent = RawClient::connect(&server.ws_url("quiet")).await?;
    let (code, _) = silent.expect_close(TIMEOUT).await?;
    let elapsed = started.elapsed();
    ensure!(code == codes::HANDSHAKE_TIMEOUT, "closed with {code}");
    ensure!(
        elapsed >= timeout - Duration::from_millis(100) && elapsed < timeout * 5,
        "closed after {elapsed:?}"
    );

    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await?;
    tcp.write_all(b"GET /ws/quiet HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    let disconnected = loop {
        ensure!(
            started.elapsed() < TIMEOUT,
            "a slowloris kept its connection for {TIMEOUT:?}"
        );
        // One header byte every 200 ms, reading in between: what a slowloris does.
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            // A 408 before the close is fine too; keep reading until the close.
            Ok(Ok(_)) => continue,
            Err(_) => {}
        }
        if tcp.write_all(b"X").await.is_err() {
            break started.elapsed();
        }
    };
    ensure!(
        disconnected < timeout * 5,
        "slowloris disconnected only after {disconnected:?}"
    );
    healthy(server.addr()).await?;
    server.stop().await
}

/// A client that completes the handshake, sends step 1 and then never answers anything (not
/// even the pings, which this raw socket reads but ignores) is closed with 4001 after
/// `--idle-timeout`.
#[tokio::test]
async fn idle_timeout_closes_a_client_that_stops_answering() -> Result<()> {
    let idle = Duration::from_secs(1);
    let mut config = config();
    config.idle_timeout = idle;
    config.ping_interval = Duration::from_millis(300);
    let server = start(config).await?;
    let mut ws = TcpWs::upgrade(server.addr(), "/ws/idle", None).await?;
    ws.send_binary(&Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1())
        .await?;
    let started = Instant::now();
    let (code, pings) = ws.read_until_close(TIMEOUT).await?;
    let elapsed = started.elapsed();
    ensure!(
        code == codes::IDLE_TIMEOUT,
        "closed with {code} after {elapsed:?}"
    );
    ensure!(pings >= 1, "no ping was sent before the idle close");
    ensure!(
        elapsed >= idle - Duration::from_millis(100) && elapsed < idle * 5,
        "closed after {elapsed:?}"
    );
    healthy(server.addr()).await?;
    server.stop().await
}

/// A client that never reads (tiny receive buffer, no reads at all) fills its outbound queue
/// and is dropped with 4000, while the others keep converging.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_with_4000() -> Result<()> {
    let mut config = config();
    // Small, but above the bursts the good clients see (4 edits and their echoes at a time).
    config.outbound_queue = 64;
    config.message_rate = 100_000;
    config.message_burst = 100_000;
    // Long enough that only the queue can end the connection.
    config.handshake_timeout = Duration::from_secs(60);
    let server = start(config).await?;
    let url = server.ws_url("slow");
    let (a, b) = pair(&url, (151, 152)).await?;
    let mut slow = TcpWs::upgrade(server.addr(), "/ws/slow", Some(4096)).await?;
    slow.send_binary(&Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1())
        .await?;
    let connections = |addr| async move {
        let r = http::get(addr, "/api/docs/slow").await?;
        r.json()?
            .get("connections")
            .and_then(|c| c.as_u64())
            .context("no connections field")
    };
    plait_tests::eventually("the slow client to join", TIMEOUT, || async {
        Ok((connections(server.addr()).await? == 3).then_some(()))
    })
    .await?;

    let chunk = "y".repeat(16 * 1024);
    let mut pushed = 0;
    let dropped = loop {
        ensure!(pushed < 2000, "the slow client was never dropped");
        for _ in 0..4 {
            a.push_text("bulk", &chunk)?;
            pushed += 1;
        }
        b.wait_until("a's bulk edits", TIMEOUT, |d| {
            ydoc::text(d, "bulk").len() == pushed * chunk.len()
        })
        .await?;
        ensure!(
            a.status().closed.is_none() && b.status().closed.is_none(),
            "a good client was dropped instead: {:?} {:?}",
            a.status(),
            b.status()
        );
        if connections(server.addr()).await? == 2 {
            break pushed;
        }
    };
    still_converging(&a, &b, "after-slow").await?;
    // Now read: what the server had queued, then its close frame.
    let (code, _) = slow.read_until_close(TIMEOUT).await?;
    ensure!(
        code == codes::SLOW_CONSUMER,
        "closed with {code} after {dropped} pushes"
    );
    healthy(server.addr()).await?;
    server.stop().await
}

/// With a document queue of one message, clients that edit as fast as they can keep finding it
/// full, so their connections keep waiting for room while the document keeps queuing frames for
/// them (which the wait goes on writing). Every edit still arrives everywhere, and nobody is
/// dropped.
#[tokio::test]
async fn a_full_document_queue_slows_senders_without_dropping_them() -> Result<()> {
    let mut config = config();
    config.doc_queue = 1;
    config.outbound_queue = 256;
    config.message_rate = 100_000;
    config.message_burst = 100_000;
    let server = start(config).await?;
    let url = server.ws_url("full");
    let (a, b) = pair(&url, (161, 162)).await?;
    let c = YClient::connect(&url, 163).await?;
    const EDITS: usize = 300;
    for i in 0..EDITS {
        a.set_map("a", &i.to_string(), "x")?;
        b.set_map("b", &i.to_string(), "x")?;
        c.set_map("c", &i.to_string(), "x")?;
    }
    for (client, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        client
            .wait_until("every edit of every client", TIMEOUT, |d| {
                ["a", "b", "c"]
                    .iter()
                    .all(|m| ydoc::map(d, m).len() == EDITS)
            })
            .await
            .with_context(|| format!("client {name}: {:?}", client.status()))?;
        ensure!(
            client.status().closed.is_none(),
            "client {name} was dropped: {:?}",
            client.status()
        );
    }
    healthy(server.addr()).await?;
    server.stop().await
}

/// An update whose delete set has `ranges` ranges (of a client never seen: all pending).
fn delete_set_bomb(ranges: u32) -> Vec<u8> {
    let mut encoder = EncoderV1::new();
    encoder.write_var(0u32); // no structs
    encoder.write_var(1u32); // one client in the delete set
    encoder.write_var(987_654u64);
    encoder.write_var(ranges);
    for i in 0..ranges {
        encoder.write_var(u64::from(i) * 2); // clock
        encoder.write_var(1u32); // len
    }
    encoder.to_vec()
}

/// An update with `depth` nested Y.Maps, built on a thread with a large stack in case yrs
/// recurses over the nesting.
fn deep_bomb(depth: usize) -> Result<Vec<u8>> {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            let doc = Doc::with_client_id(7);
            let root = doc.get_or_insert_map("deep");
            let mut txn = doc.transact_mut();
            let mut current = root.insert(&mut txn, "n", MapPrelim::default());
            for _ in 0..depth {
                current = current.insert(&mut txn, "n", MapPrelim::default());
            }
            txn.encode_update_v1()
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("building the deep update panicked"))
}

/// Update bombs against the real binary: a huge delete set and 10 000 levels of nesting. The
/// server stays up, the other clients' document is intact and memory growth stays bounded.
#[tokio::test]
async fn update_bombs_leave_the_server_up_and_memory_bounded() -> Result<()> {
    let file = SqliteFile::new()?;
    let mut process = PlaitProcess::start(&file.url(), &["--max-message-size", "33554432"]).await?;
    let url = process.ws_url("bombed");
    let (a, b) = pair(&url, (161, 162)).await?;
    let rss_before = process.rss_kib()?;

    let bombs = [
        ("delete set of 1M ranges", delete_set_bomb(1_000_000)),
        ("10 000 nested maps", deep_bomb(10_000)?),
    ];
    for (what, bomb) in bombs {
        for doc in ["bombed", "bomb-alone"] {
            let mut raw = RawClient::connect(&process.ws_url(doc)).await?;
            raw.send_binary(update_frame(&bomb))
                .await
                .with_context(|| format!("{what} to {doc}"))?;
            // Accepted (applied, or kept pending) or refused with a close: either is fine; a
            // step 1 afterwards proves the connection was served, then it is closed normally.
            raw.send_binary(
                Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1(),
            )
            .await
            .ok();
            let _ = raw.next(TIMEOUT).await;
            raw.close().await;
            ensure!(
                process.is_running(),
                "plait died on {what} to {doc}:\n{}",
                process.log_text()
            );
            healthy(process.addr())
                .await
                .with_context(|| format!("after {what} to {doc}"))?;
            // The server can still serialise the document (snapshot, new peers).
            let r = http::get(process.addr(), &format!("/api/docs/{doc}/update")).await?;
            ensure!(
                r.status == 200 || r.status == 404,
                "GET {doc} after {what}: {}",
                r.status
            );
        }
        still_converging(&a, &b, &what.replace(' ', "-")).await?;
    }
    let state = http::get(process.addr(), "/api/docs/bombed/update").await?;
    let text = ydoc::text(&ydoc::doc_from_update(&state.body)?, "text");
    ensure!(
        text.starts_with("before ") && text.contains("a-10-000-nested-maps"),
        "the good clients' document was damaged: {text:?}"
    );
    let rss_after = process.rss_kib()?;
    let growth_mib = rss_after.saturating_sub(rss_before) / 1024;
    ensure!(
        growth_mib < 500,
        "memory grew by {growth_mib} MiB ({rss_before} KiB -> {rss_after} KiB)"
    );
    ensure!(process.is_running(), "plait exited");
    Ok(())
}
