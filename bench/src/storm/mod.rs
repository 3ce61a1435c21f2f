//! `storm`: a reconnect storm. N stock clients on D documents connect, sync and make one edit
//! each; then the server is restarted from outside (scripts/bench.sh: SIGTERM, start on the same
//! database). Every client behaves like y-websocket's `WebsocketProvider`: it keeps editing its
//! local Y.Doc while disconnected (`--edits-while-down`), retries after
//! `min(100 ms * 2^unsuccessful, 2500 ms)`, and on reconnect sends step1 and answers the server's
//! step1 with a step2 that carries its pending edits.
//!
//! Measured from the instant the new process listens (our own TCP probe, every 5 ms) until each
//! client has the server's step2 and has sent its own: p50/p99/max, how many within 1 s. Then a
//! fresh verifier per document checks that every edit of every client is there.
//!
//! The bench prints `  ready ...` once every client is synced and its first edit reached the
//! other members of its document: the script's signal to restart the server.

mod probe;
mod tab;
mod verify;

use probe::{listen_addr, probe};
use tab::{key, run_client, Event, Plan, Tab, Tally};
use verify::verify;

use crate::client::{connect_many, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_json, hist_line, new_hist, record, Errors};
use crate::walk::new_doc;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct StormArgs {
    #[command(flatten)]
    pub target: Target,
    /// Clients (one socket each).
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Documents the clients are spread over (client i on document i mod D).
    #[arg(long, default_value_t = 200)]
    pub docs: usize,
    /// Edits each client makes into its local document while disconnected.
    #[arg(long, default_value_t = 1)]
    pub edits_while_down: usize,
    /// Seconds allowed for each phase: all clients ready; the connection loss after that;
    /// every client synced again after the loss.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Handshakes in flight at once on the FIRST connect (reconnects follow the backoff alone).
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "storm")]
    pub doc_prefix: String,
}

/// What the scenario has heard from the clients so far.
#[derive(Default)]
struct Progress {
    ready: usize,
    lost: Option<Instant>,
    synced: Vec<Instant>,
}

impl Progress {
    /// Take events until `done` holds; false if `deadline` passed first.
    async fn until(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Event>,
        deadline: Instant,
        done: impl Fn(&Progress) -> bool,
    ) -> bool {
        while !done(self) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Event::Ready)) => self.ready += 1,
                Ok(Some(Event::Lost(at))) => {
                    self.lost.get_or_insert(at);
                }
                Ok(Some(Event::Synced(at))) => self.synced.push(at),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }
}

pub async fn run(a: StormArgs) -> Result<Value> {
    let run = stats::run_id();
    let docs = a.docs.clamp(1, a.clients.max(1));
    let names: Vec<String> = (0..docs)
        .map(|d| format!("{}-{run}-{d}", a.doc_prefix))
        .collect();
    let addr = listen_addr(&a.target.url)?;
    let phase = Duration::from_secs_f64(a.timeout);
    let mut errors = Errors::default();

    let t0 = Instant::now();
    let wanted = (0..a.clients).map(|i| names[i % docs].clone()).collect();
    let results = connect_many(&a.target, wanted, a.connect_concurrency).await;
    let connect_s = t0.elapsed().as_secs_f64();
    let mut members = vec![0usize; docs];
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); docs];
    let mut tabs = Vec::new();
    for (idx, r) in results.into_iter().enumerate() {
        let s = match r {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let ydoc = new_doc();
        let map = ydoc.get_or_insert_map("storm");
        let tab = Tab {
            idx,
            doc_no: idx % docs,
            name: s.client.doc.clone(),
            ydoc,
            map,
            lost: false,
            ready_sent: false,
            synced_sent: false,
        };
        tab.apply(&s.step2, &mut errors);
        members[tab.doc_no] += 1;
        expected[tab.doc_no].extend((0..=a.edits_while_down).map(|n| key(idx, n)));
        tabs.push((tab, s.client));
    }
    let connected = tabs.len();
    if connected == 0 {
        return Err(BenchError::NoClients(errors.samples.concat()));
    }

    let (events, mut rx) = mpsc::unbounded_channel();
    let plan = Arc::new(Plan {
        target: a.target.clone(),
        edits_while_down: a.edits_while_down,
        members,
        events,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for (tab, c) in tabs {
        tasks.spawn(run_client(tab, c, plan.clone(), stop_rx.clone()));
    }
    let mut p = Progress::default();
    if !p
        .until(&mut rx, Instant::now() + phase, |p| p.ready == connected)
        .await
    {
        return Err(BenchError::Timeout {
            what: format!("first edits ({} of {connected} clients ready)", p.ready),
            after: phase,
        });
    }
    let ready_s = t0.elapsed().as_secs_f64();
    // The script's marker (scripts/bench.sh step_storm): restart the server now.
    println!("  ready          {connected} clients connected and synced, 1 edit each, in {ready_s:.2} s; waiting for the server to stop");
    // From now, not from the first loss: a server that closes its listener before its
    // connections, and restarts fast, is refusing and listening again before the loss is seen.
    let listen = tokio::spawn(probe(addr, Instant::now() + 2 * phase));
    if !p
        .until(&mut rx, Instant::now() + phase, |p| p.lost.is_some())
        .await
    {
        return Err(BenchError::Timeout {
            what: "the connection loss (was the server stopped?)".into(),
            after: phase,
        });
    }
    let lost_at = p.lost.unwrap_or_else(Instant::now);
    let deadline = lost_at + phase;
    let all_synced = p
        .until(&mut rx, deadline, |p| p.synced.len() == connected)
        .await;
    let (refused_at, listen_at) = match listen.await {
        Ok(Some((r, l))) => (Some(r), Some(l)),
        _ => (None, None),
    };

    // Also from the first loss: defined even when the probe missed a very short outage.
    let mut after_loss = new_hist();
    for s in &p.synced {
        record(
            &mut after_loss,
            s.saturating_duration_since(lost_at).as_micros() as u64,
        );
    }
    let mut after_listen = new_hist();
    let mut within_1s = 0;
    if let Some(l) = listen_at {
        for s in &p.synced {
            let d = s.saturating_duration_since(l);
            within_1s += usize::from(d <= Duration::from_secs(1));
            record(&mut after_listen, d.as_micros() as u64);
        }
    }
    let all_synced_ms = (all_synced && listen_at.is_some()).then(|| stats::ms(after_listen.max()));

    let (found, rounds) = verify(
        &a.target,
        a.connect_concurrency,
        &names,
        &expected,
        &mut errors,
    )
    .await;
    let edits_expected: usize = expected.iter().map(Vec::len).sum();
    let lost = edits_expected - found.min(edits_expected);

    let _ = stop_tx.send(true);
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let t = joined.map_err(|e| BenchError::Runtime(e.to_string()))?;
        total.failed_connects += t.failed_connects;
        total.opens += t.opens;
        errors.absorb(t.errors);
    }
    // Signed: the listener may close before the first connection does.
    let since_loss = |at: Option<Instant>| {
        at.map(|t| {
            if t >= lost_at {
                stats::ms(t.duration_since(lost_at).as_micros() as u64)
            } else {
                -stats::ms(lost_at.duration_since(t).as_micros() as u64)
            }
        })
    };

    println!(
        "storm: {connected}/{} clients on {docs} documents, {} edit(s) each while down",
        a.clients, a.edits_while_down
    );
    println!("  connected      in {connect_s:.2} s");
    match (since_loss(refused_at), since_loss(listen_at)) {
        (Some(r), Some(l)) => println!("  outage         port closed {r:.1} ms, listening again {l:.1} ms after the first loss"),
        _ => println!("  outage         the new server was not seen listening"),
    }
    println!(
        "  synced         {}/{connected}{}; {within_1s} within 1 s of listen",
        p.synced.len(),
        all_synced_ms.map_or(String::new(), |m| format!(", all {m:.1} ms after listen")),
    );
    println!("  after listen   {}", hist_line(&after_listen));
    println!("  after loss     {}", hist_line(&after_loss));
    println!(
        "  reconnects     {} opened, {} failed connects",
        total.opens, total.failed_connects
    );
    println!("  edits          {found}/{edits_expected} found by the verifier ({rounds} round(s)), lost {lost}");
    errors.print();
    Ok(json!({
        "scenario": "storm", "label": a.target.label, "protocol": a.target.protocol, "url": a.target.url,
        "clients": a.clients, "docs": docs, "edits_while_down": a.edits_while_down,
        "connected": connected, "connect_s": connect_s, "ready_s": ready_s,
        "port_closed_after_loss_ms": since_loss(refused_at), "listen_after_loss_ms": since_loss(listen_at),
        "synced": p.synced.len(), "not_synced": connected - p.synced.len(),
        "synced_after_listen": hist_json(&after_listen), "synced_within_1s": within_1s,
        "all_synced_ms": all_synced_ms, "synced_after_loss": hist_json(&after_loss),
        "failed_connects": total.failed_connects, "reconnect_opens": total.opens,
        "edits_expected": edits_expected, "edits_found": found, "lost": lost, "verify_rounds": rounds,
        "errors": errors.count, "error_samples": errors.samples,
    }))
}

#[cfg(test)]
mod tests {
    use super::tab::{backoff, MAX_BACKOFF};
    use super::*;

    #[test]
    fn backoff_follows_y_websocket() {
        let ms: Vec<u128> = (0..8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2500, 2500, 2500]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn probe_address_from_the_url_template() {
        let addr = listen_addr("ws://127.0.0.1:8000/ws/{doc}").unwrap();
        assert_eq!(addr, "127.0.0.1:8000");
        assert_eq!(listen_addr("ws://localhost/{doc}").unwrap(), "localhost:80");
        assert!(listen_addr("not a url").is_err());
    }
}
