//! `idle`: memory per document and per connection, from the server's RSS.
//!
//! Phase 1 opens one connection per document, which seeds it with
//! `--seed-bytes` of text (RSS delta / D = KB per document, including its
//! first connection). Phase 2 opens the other N - D connections, each of
//! which must receive the seed (delta / (N - D) = KB per extra connection).
//! Phase 3 holds everything for `--hold` s and counts survivors.

use crate::client::{connect_many, Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_line, new_hist, record, Errors, Server};
use crate::walk::{for_each_string, new_doc};
use crate::wire::Protocol;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use yrs::{Text, Transact};

#[derive(clap::Args, Clone, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: Target,
    /// Total connections.
    #[arg(long, default_value_t = 2000)]
    pub conns: usize,
    /// Documents the connections are spread over.
    #[arg(long, default_value_t = 500)]
    pub docs: usize,
    /// Bytes of text seeded into each document.
    #[arg(long, default_value_t = 1024)]
    pub seed_bytes: usize,
    /// Seconds to hold all connections.
    #[arg(long, default_value_t = 20.0)]
    pub hold: f64,
    /// Seconds to let the server settle before each RSS reading.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "idle")]
    pub doc_prefix: String,
}

/// Keep a connection open until `stop`: read (tungstenite answers pings);
/// for Hocuspocus send an empty awareness update every 20 s, because it
/// closes sockets that stay silent for 60 s.
async fn hold(mut c: Client, mut stop: watch::Receiver<bool>, closed: Arc<AtomicU64>) -> Client {
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    keepalive.tick().await;
    let hocus = c.framer.protocol == Protocol::Hocuspocus;
    loop {
        tokio::select! {
            r = c.next_frame() => if r.is_err() { closed.fetch_add(1, Relaxed); break; },
            _ = keepalive.tick(), if hocus => {
                if c.send(c.framer.awareness(&[0])).await.is_err() { closed.fetch_add(1, Relaxed); break; }
            }
            _ = stop.changed() => break,
        }
    }
    c
}

fn per(delta_kb: Option<(u64, u64)>, n: usize) -> Option<f64> {
    let (a, b) = delta_kb?;
    (n > 0).then(|| (b as f64 - a as f64) / n as f64)
}

pub async fn run(a: IdleArgs) -> Result<Value> {
    let server = Server(a.target.server_pid);
    let docs = a.docs.clamp(1, a.conns.max(1));
    let settle = Duration::from_secs_f64(a.settle);
    let run = stats::run_id();
    let name = |i: usize| format!("{}-{run}-{}", a.doc_prefix, i % docs);
    let mut errors = Errors::default();
    let mut hs = new_hist();
    let rss0_mem = server.settled_memory().await;
    let rss0 = rss0_mem.map(|m| m.rss_kb);

    // Phase 1: one seeding connection per document.
    let t1 = Instant::now();
    let first = connect_many(
        &a.target,
        (0..docs).map(name).collect(),
        a.connect_concurrency,
    )
    .await;
    let mut held = Vec::new();
    for r in first {
        let s = match r {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        record(&mut hs, s.step2_at.as_micros() as u64);
        let mut c = s.client;
        let doc = new_doc();
        let text = doc.get_or_insert_text("text");
        let update = {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, &"x".repeat(a.seed_bytes));
            txn.encode_update_v1()
        };
        match c.send(c.framer.update(&update)).await {
            Ok(()) => held.push(c),
            Err(e) => errors.push(e),
        }
    }
    if held.is_empty() {
        return Err(BenchError::NoClients(errors.samples.concat()));
    }
    // The answer to a step1 after the seed proves the server applied it.
    for c in &mut held {
        let waited = async {
            c.send(c.framer.step1(&[0])).await?;
            c.wait_step2().await
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(30), waited)
            .await
            .unwrap_or_else(|_| {
                Err(BenchError::Timeout {
                    what: "seed acknowledgement".into(),
                    after: Duration::from_secs(30),
                })
            })
        {
            errors.push(e);
        }
    }
    let phase1_s = t1.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss1_mem = server.settled_memory().await;
    let rss1 = rss1_mem.map(|m| m.rss_kb);

    // Phase 2: the remaining connections; each must receive the seed.
    let t2 = Instant::now();
    let rest = connect_many(
        &a.target,
        (docs..a.conns).map(name).collect(),
        a.connect_concurrency,
    )
    .await;
    for r in rest {
        match r {
            Ok(s) => {
                record(&mut hs, s.step2_at.as_micros() as u64);
                let mut chars = 0;
                if let Err(e) = for_each_string(&s.step2, |_, t| chars += t.len()) {
                    errors.push(e);
                }
                if chars < a.seed_bytes {
                    errors.push(format!(
                        "{}: step2 held {chars} of {} seed bytes",
                        s.client.doc, a.seed_bytes
                    ));
                }
                held.push(s.client);
            }
            Err(e) => errors.push(e),
        }
    }
    let phase2_s = t2.elapsed().as_secs_f64();
    let open = held.len();
    tokio::time::sleep(settle).await;
    let rss2_mem = server.settled_memory().await;
    let rss2 = rss2_mem.map(|m| m.rss_kb);

    // Phase 3: hold.
    let (stop_tx, stop_rx) = watch::channel(false);
    let closed = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for c in held {
        tasks.spawn(hold(c, stop_rx.clone(), closed.clone()));
    }
    let cpu0 = server.sample();
    // The event a profiler waits for (scripts/bench/memory-owners.sh): everything is open and
    // settled, and stays so for `--hold` seconds.
    println!("  holding        {open} connections for {} s", a.hold);
    tokio::time::sleep(Duration::from_secs_f64(a.hold)).await;
    let cpu1 = server.sample();
    let rss_end_mem = server.settled_memory().await;
    let rss_end = rss_end_mem.map(|m| m.rss_kb);
    let _ = stop_tx.send(true);
    while let Some(c) = tasks.join_next().await {
        if let Ok(c) = c {
            tokio::spawn(c.close());
        }
    }
    let still_open = open as u64 - closed.load(Relaxed);
    let idle_cpu = stats::cpu_between(cpu0, cpu1);
    let per_doc = per(rss0.zip(rss1), docs);
    let per_extra = per(rss1.zip(rss2), open.saturating_sub(docs));
    let per_conn = per(rss0.zip(rss_end), open);
    let anon = |m: Option<stats::Memory>| m.and_then(|m| m.anon_kb);
    let per_doc_anon = per(anon(rss0_mem).zip(anon(rss1_mem)), docs);
    let per_extra_anon = per(
        anon(rss1_mem).zip(anon(rss2_mem)),
        open.saturating_sub(docs),
    );

    println!(
        "idle: {} connections over {docs} documents, {} B seed each",
        a.conns, a.seed_bytes
    );
    println!("  phase 1        {docs} docs seeded in {phase1_s:.2} s; phase 2: {} more in {phase2_s:.2} s", open.saturating_sub(docs));
    println!("  handshake      {}", hist_line(&hs));
    println!(
        "  open           {open} connected, {still_open} still open after {} s",
        a.hold
    );
    let kb = |v: Option<f64>| v.map_or("? (no --server-pid)".into(), |v| format!("{v:.1} KB"));
    println!(
        "  memory         per doc {}  per extra connection {}  per connection overall {}",
        kb(per_doc),
        kb(per_extra),
        kb(per_conn)
    );
    if let (Some(d), Some(e)) = (per_doc_anon, per_extra_anon) {
        println!("  anonymous      per doc {d:.1} KB  per extra connection {e:.1} KB  (RssAnon: without code pages)");
    }
    if let (Some(r0), Some(r1), Some(r2), Some(re)) = (rss0, rss1, rss2, rss_end) {
        println!(
            "  server rss     {r0} -> {r1} -> {r2} -> {re} KB; idle cpu {:.1} %",
            idle_cpu.unwrap_or(0.0)
        );
    }
    errors.print();
    Ok(json!({
        "scenario": "idle", "label": a.target.label, "protocol": a.target.protocol, "url": a.target.url,
        "conns": a.conns, "docs": docs, "seed_bytes": a.seed_bytes, "hold_s": a.hold,
        "connected": open, "open_after_hold": still_open,
        "rss0_kb": rss0, "rss1_kb": rss1, "rss2_kb": rss2, "rss_end_kb": rss_end,
        "per_doc_kb": per_doc, "per_extra_conn_kb": per_extra, "per_conn_overall_kb": per_conn,
        "anon0_kb": anon(rss0_mem), "anon1_kb": anon(rss1_mem), "anon2_kb": anon(rss2_mem),
        "per_doc_anon_kb": per_doc_anon, "per_extra_conn_anon_kb": per_extra_anon,
        "idle_server_cpu_pct": idle_cpu, "handshake": stats::hist_json(&hs),
        "phase1_s": phase1_s, "phase2_s": phase2_s,
        "errors": errors.count, "error_samples": errors.samples,
    }))
}
