//! `crowd`: as many connections as the file limit allows (issue 27, row 6).
//!
//! Phase 1 opens `--conns` connections over `--docs` documents as fast as the server takes them
//! (`--connect-concurrency` in flight), round-robin from `--sources` loopback addresses
//! (127.0.0.1, .2, ...): one source address has only ~28 k ephemeral ports towards one server
//! port, and many addresses look like many clients. Accept rate = connections / time from the
//! first connect to the last completed WebSocket upgrade; "synced" adds the sync exchange.
//! Phase 2: `--typing-fraction` of the connections, spread over the documents, insert a stamped
//! string `--rate` times a second for `--duration` s; every other connection of the document must
//! receive it. Latency is taken from the scheduled send instant, as in `fanout`. The rest only
//! read (they must: the deliveries arrive there, and tungstenite answers pings while reading).
//! The server's RSS after connecting, during and after the hold; its CPU over the hold.

mod connect;

use crate::client::{Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_json, hist_line, new_hist, record, Errors, Server};
use crate::typing::Typing;
use crate::walk::{for_each_stamp, for_each_string, new_doc, stamp};
use crate::wire::{messages, Incoming, Protocol};
use connect::{destination, open, raise_nofile};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Text, TextRef, Transact};

#[derive(clap::Args, Clone, Debug)]
pub struct CrowdArgs {
    #[command(flatten)]
    pub target: Target,
    /// Total connections.
    #[arg(long, default_value_t = 18_000)]
    pub conns: usize,
    /// Documents the connections are spread over (connection i opens document i mod D).
    #[arg(long, default_value_t = 2000)]
    pub docs: usize,
    /// Share of the connections that type; the others only read.
    #[arg(long, default_value_t = 0.01)]
    pub typing_fraction: f64,
    /// Updates per second sent by each typist.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    #[command(flatten)]
    pub typing: Typing,
    /// Source addresses 127.0.0.1 ..= 127.0.0.N, round-robin; 0: let the kernel choose
    /// (needed for a server that is not on loopback). IPv4 servers only.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(0..=254))]
    pub sources: u8,
    /// Connects (TCP + upgrade + sync) in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Seconds to let the server settle after connecting, before its RSS is read.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "crowd")]
    pub doc_prefix: String,
}

/// What the connections' tasks are told: they read from the start (the server pings, Hocuspocus
/// drops silent sockets), typists start on the plan, everyone stops on `Stop`.
#[derive(Clone)]
enum Phase {
    Connecting,
    Hold(Arc<Plan>),
    Stop,
}

struct Plan {
    epoch: Instant,
    start: Instant,
    send_end: Instant,
    warmup_us: u64,
    period: Duration,
    payload: usize,
    typists: usize,
}

#[derive(Default)]
struct Counts {
    /// Typists whose schedule has not ended yet (the drain waits for them).
    typing: AtomicU64,
    to_idle: AtomicU64,
    to_typists: AtomicU64,
    echoes: AtomicU64,
    closed: AtomicU64,
}

/// Tallies of all connections. One set, not one per connection: 18,000 histograms would cost
/// the load generator ~400 MB; deliveries are few (typists x rate x members), so the locks are
/// uncontended.
struct Shared {
    sent_by_doc: Vec<AtomicU64>,
    n: Counts,
    /// From the schedule, from the actual send, send lag.
    hists: Mutex<[Histogram<u64>; 3]>,
    errors: Mutex<Errors>,
}

/// A panicked task cannot leave a histogram or tally half-written in a way that matters here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A typist's own document: it makes the updates and answers a server's re-sync request.
struct Typist {
    ordinal: usize,
    doc: yrs::Doc,
    text: TextRef,
}

/// One connection from its sync to `Stop`: read everything; a typist also sends on schedule.
async fn member(
    mut c: Client,
    doc_idx: usize,
    typist: Option<Typist>,
    mut phase: watch::Receiver<Phase>,
    sh: Arc<Shared>,
) {
    let me = typist.as_ref().map(|t| t.doc.client_id());
    let mut plan: Option<Arc<Plan>> = None;
    let mut next: Option<Instant> = None;
    // Counted in `Counts::typing` until past the end of the schedule (or gone).
    let mut typing = typist.is_some();
    // Hocuspocus closes sockets that stay silent for 60 s (see `idle`).
    let hocus = c.framer.protocol == Protocol::Hocuspocus;
    let every = Duration::from_secs(20);
    let mut keepalive = tokio::time::interval_at(Instant::now() + every, every);
    let ended: Option<BenchError> = loop {
        tokio::select! {
            frame = c.next_frame() => {
                let frame = match frame { Ok(f) => f, Err(e) => break Some(e) };
                let now = Instant::now();
                let (mut stamps, mut reply) = (Vec::new(), None);
                for m in messages(c.framer.protocol, &frame) {
                    match m {
                        Ok(Incoming::Update(u) | Incoming::Step2(u)) => {
                            let r = for_each_string(u, |client, s| match Some(client) == me {
                                true => _ = sh.n.echoes.fetch_add(1, Relaxed),
                                false => for_each_stamp(s, |sched, lag| stamps.push((sched, lag))),
                            });
                            if let Err(e) = r { lock(&sh.errors).push(e); }
                        }
                        // A server re-asking for our state: send what it misses.
                        Ok(Incoming::Step1(sv)) => reply = Some(match (&typist, StateVector::decode_v1(sv)) {
                            (Some(t), Ok(sv)) => t.doc.transact().encode_diff_v1(&sv),
                            _ => yrs::Update::EMPTY_V1.to_vec(),
                        }),
                        Ok(Incoming::Refused(r)) => lock(&sh.errors).push(format!("refused: {r}")),
                        Ok(_) => {}
                        Err(e) => lock(&sh.errors).push(e),
                    }
                }
                let to = if typist.is_some() { &sh.n.to_typists } else { &sh.n.to_idle };
                to.fetch_add(stamps.len() as u64, Relaxed);
                if let Some(p) = plan.as_ref().filter(|_| !stamps.is_empty()) {
                    let now_us = now.duration_since(p.epoch).as_micros() as u64;
                    let mut h = lock(&sh.hists);
                    for (sched, lag) in stamps.into_iter().filter(|s| s.0 >= p.warmup_us) {
                        record(&mut h[0], now_us.saturating_sub(sched));
                        record(&mut h[1], now_us.saturating_sub(sched + lag));
                    }
                }
                if let Some(diff) = reply {
                    if let Err(e) = c.send(c.framer.step2(&diff)).await { break Some(e); }
                }
            }
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let (Some(p), Some(t), Some(at)) = (&plan, &typist, next) else { break None };
                if at >= p.send_end {
                    (next, typing) = (None, false);
                    sh.n.typing.fetch_sub(1, Relaxed);
                    continue;
                }
                let sched_us = at.duration_since(p.epoch).as_micros() as u64;
                let lag_us = Instant::now().saturating_duration_since(at).as_micros() as u64;
                record(&mut lock(&sh.hists)[2], lag_us);
                let update = {
                    let mut txn = t.doc.transact_mut();
                    let end = t.text.len(&txn);
                    t.text.insert(&mut txn, end, &stamp(sched_us, lag_us, p.payload));
                    txn.encode_update_v1()
                };
                if let Err(e) = c.send(c.framer.update(&update)).await { break Some(e); }
                sh.sent_by_doc[doc_idx].fetch_add(1, Relaxed);
                // Open loop: late sends go out at once; the schedule never slips.
                next = Some(at + p.period);
            }
            _ = keepalive.tick(), if hocus => {
                if let Err(e) = c.send(c.framer.awareness(&[0])).await { break Some(e); }
            }
            changed = phase.changed() => {
                let Ok(()) = changed else { break None };
                match phase.borrow_and_update().clone() {
                    Phase::Connecting => {}
                    Phase::Hold(p) => {
                        // Spread the typists' send instants over one period.
                        next = typist.as_ref().map(|t| {
                            p.start + p.period.mul_f64(t.ordinal as f64 / p.typists as f64)
                        });
                        plan = Some(p);
                    }
                    Phase::Stop => break None,
                }
            }
        }
    };
    if typing {
        sh.n.typing.fetch_sub(1, Relaxed);
    }
    if let Some(e) = ended {
        sh.n.closed.fetch_add(1, Relaxed);
        lock(&sh.errors).push(e);
    }
    // `c` is dropped, not closed: 18,000 close handshakes would only load the server after the
    // measurement; dropping the socket sends a FIN.
}

pub async fn run(a: CrowdArgs) -> Result<Value> {
    let nofile = raise_nofile();
    if let Some((soft, _)) = nofile.filter(|n| (n.0 as usize) < a.conns + 64) {
        eprintln!("crowd: open-file limit {soft} < {} connections", a.conns);
    }
    let t = &a.target;
    let server = Server(t.server_pid);
    let docs = a.docs.clamp(1, a.conns.max(1));
    let run = stats::run_id();
    let dest = destination(&t.url).await?;
    let limit = Duration::from_secs_f64(t.handshake_timeout);
    // Typists: with no more typists than documents, at most one per document, evenly spread
    // (connection i is on document i mod D, so i < D picks document i); otherwise the first ones.
    let typists = ((a.conns as f64 * a.typing_fraction).round() as usize).min(a.conns);
    let mut typist_of = vec![None; a.conns];
    for k in 0..typists {
        typist_of[k * docs.max(typists) / typists] = Some(k);
    }
    let sh = Arc::new(Shared {
        sent_by_doc: (0..docs).map(|_| AtomicU64::new(0)).collect(),
        n: Counts::default(),
        hists: Mutex::new([new_hist(), new_hist(), new_hist()]),
        errors: Mutex::new(Errors::default()),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let mut tasks = tokio::task::JoinSet::new();
    let mut members = vec![0u64; docs];
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let (mut connect_errors, mut handshake) = (Errors::default(), new_hist());
    let mut typists_connected = 0;

    // Phase 1: connect everyone; each connection reads from its sync on.
    let t0 = std::time::Instant::now();
    let (mut last_upgrade, mut last_synced) = (t0, t0);
    let mut results = futures_util::stream::iter((0..a.conns).map(|i| {
        let source = (a.sources > 0)
            .then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(a.sources)) as u8));
        let doc = format!("{}-{run}-{}", a.doc_prefix, i % docs);
        async move {
            let r = tokio::time::timeout(limit, open(t, dest, source, &doc)).await;
            (
                i,
                r.unwrap_or_else(|_| {
                    Err(BenchError::Timeout {
                        what: doc,
                        after: limit,
                    })
                }),
            )
        }
    }))
    .buffer_unordered(a.connect_concurrency.max(1));
    while let Some((i, r)) = results.next().await {
        let Ok((s, local, started)) = r.map_err(|e| connect_errors.push(e)) else {
            continue;
        };
        last_upgrade = last_upgrade.max(started + s.connect);
        last_synced = std::time::Instant::now();
        record(&mut handshake, s.step2_at.as_micros() as u64);
        *sources.entry(local.ip().to_string()).or_default() += 1;
        members[i % docs] += 1;
        let typist = typist_of[i].map(|ordinal| {
            let doc = new_doc();
            let text = doc.get_or_insert_text("text");
            sh.n.typing.fetch_add(1, Relaxed);
            typists_connected += 1;
            Typist { ordinal, doc, text }
        });
        let task = member(s.client, i % docs, typist, phase_rx.clone(), sh.clone());
        tasks.spawn(task);
    }
    let connected = tasks.len();
    if connected == 0 {
        return Err(BenchError::NoClients(connect_errors.samples.concat()));
    }
    let accept_s = last_upgrade.duration_since(t0).as_secs_f64();
    let synced_s = last_synced.duration_since(t0).as_secs_f64();
    let accept_per_s = connected as f64 / accept_s.max(1e-9);
    tokio::time::sleep(Duration::from_secs_f64(a.settle)).await;
    let rss_connected = server.settled_rss_kb().await;

    // Phase 2: type.
    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(200);
    let send_end = start + Duration::from_secs_f64(a.typing.duration);
    let warmup = start.duration_since(epoch) + Duration::from_secs_f64(a.typing.warmup);
    phase_tx.send_replace(Phase::Hold(Arc::new(Plan {
        epoch,
        start,
        send_end,
        warmup_us: warmup.as_micros() as u64,
        period: Duration::from_secs_f64(1.0 / a.rate.max(1e-6)),
        payload: a.typing.payload,
        typists: typists_connected.max(1),
    })));
    tokio::time::sleep_until(start).await;
    let (srv0, me0) = (server.sample(), stats::read_proc(std::process::id()));
    let mut rss_max = rss_connected;
    while Instant::now() < send_end {
        tokio::time::sleep_until(send_end.min(Instant::now() + Duration::from_secs(1))).await;
        rss_max = rss_max.max(server.sample().map(|s| s.rss_kb));
    }
    let (srv1, me1) = (server.sample(), stats::read_proc(std::process::id()));
    // Every update must reach every other member of its document.
    let expected = || -> u64 {
        let sent = sh.sent_by_doc.iter().map(|s| s.load(Relaxed));
        sent.zip(&members)
            .map(|(s, m)| s * m.saturating_sub(1))
            .sum()
    };
    let delivered = || sh.n.to_idle.load(Relaxed) + sh.n.to_typists.load(Relaxed);
    let give_up = send_end + Duration::from_secs_f64(a.typing.drain);
    while Instant::now() < give_up && (sh.n.typing.load(Relaxed) > 0 || delivered() < expected()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_end = server.settled_rss_kb().await;
    phase_tx.send_replace(Phase::Stop);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            lock(&sh.errors).push(BenchError::Runtime(e.to_string()));
        }
    }

    let (expected, delivered) = (expected(), delivered());
    let lost = expected.saturating_sub(delivered);
    let sent: u64 = sh.sent_by_doc.iter().map(|s| s.load(Relaxed)).sum();
    let n = |c: &AtomicU64| c.load(Relaxed);
    let (to_idle, to_typists) = (n(&sh.n.to_idle), n(&sh.n.to_typists));
    let (echoes, closed) = (n(&sh.n.echoes), n(&sh.n.closed));
    let (srv_cpu, me_cpu) = (stats::cpu_between(srv0, srv1), stats::cpu_between(me0, me1));
    let [from_schedule, from_send, send_lag] = &*lock(&sh.hists);
    let errors = std::mem::take(&mut *lock(&sh.errors));
    let mb = |kb: Option<u64>| kb.map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    let (rss0, rss_top, rss1) = (mb(rss_connected), mb(rss_max), mb(rss_end));
    let cpu = srv_cpu.unwrap_or(f64::NAN);
    let (my_cpu, my_rss) = (me_cpu.unwrap_or(f64::NAN), mb(me1.map(|s| s.rss_kb)));
    let (lat, lat_send) = (hist_line(from_schedule), hist_line(from_send));
    let (ce, ce_samples) = (connect_errors.count, &connect_errors.samples);
    let (conns, rate, duration, hs) = (a.conns, a.rate, a.typing.duration, hist_line(&handshake));
    println!("crowd: {conns} connections over {docs} documents from {} source addresses; {typists} typists @ {rate}/s for {duration} s", a.sources);
    println!("  accept         {connected}/{conns} connected; upgrades done in {accept_s:.2} s = {accept_per_s:.0}/s; all synced in {synced_s:.2} s");
    println!("  handshake      {hs}\n  sources        {sources:?}");
    println!("  deliveries     {delivered}/{expected} (to idle {to_idle}, to typists {to_typists}), lost {lost}, self-echoes {echoes}; sent {sent} by {typists_connected} typists");
    println!("  latency        from schedule {lat}\n  from send      {lat_send}");
    println!("  server         accept {accept_per_s:.0} connections/s; rss {rss0} connected, max {rss_top} during the hold, {rss1} at the end; server cpu {cpu:.1} % over the hold");
    println!("  load generator cpu {my_cpu:.0} %, rss {my_rss}; open-file limit {nofile:?}; {closed} connections closed during the hold");
    println!("  connect errors {ce} {ce_samples:?}");
    errors.print();
    // Two objects: one would pass serde_json's macro recursion limit.
    let mut out = json!({
        "scenario": "crowd", "label": t.label, "protocol": t.protocol, "url": t.url,
        "conns": a.conns, "docs": docs, "typists": typists, "typists_connected": typists_connected,
        "rate_per_typist": a.rate, "duration_s": a.typing.duration, "payload_bytes": a.typing.payload,
        "sources": a.sources, "source_addresses": sources, "connect_concurrency": a.connect_concurrency,
        "nofile_soft": nofile.map(|n| n.0), "nofile_hard": nofile.map(|n| n.1),
        "connected": connected, "connect_errors": connect_errors.count, "connect_error_samples": connect_errors.samples,
        "accept_s": accept_s, "accept_per_s": accept_per_s, "synced_s": synced_s,
        "handshake": hist_json(&handshake),
    });
    let more = json!({
        "sent": sent, "expected_deliveries": expected, "received_deliveries": delivered, "lost": lost,
        "delivered_to_idle": to_idle, "delivered_to_typists": to_typists, "self_echoes": echoes, "closed_during_hold": closed,
        "latency_from_schedule": hist_json(from_schedule), "latency": hist_json(from_send),
        "send_lag": hist_json(send_lag),
        "rss_connected_kb": rss_connected, "rss_max_kb": rss_max, "rss_end_kb": rss_end,
        "server_cpu_pct": srv_cpu, "loadgen_cpu_pct": me_cpu, "loadgen_rss_kb": me1.map(|s| s.rss_kb),
        "errors": errors.count, "error_samples": errors.samples,
    });
    stats::merge(&mut out, more);
    Ok(out)
}
