//! `awareness`: N clients in one room, each publishing its presence once per
//! `--interval` seconds (cursor-style awareness updates). Reports the
//! server's CPU over the run, which is what presence traffic costs a server,
//! plus how many presence entries reached the other clients and how late.

use crate::client::{connect_many, Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_json, hist_line, new_hist, record, Errors, Server};
use crate::walk::{for_each_stamp, random_client_id, stamp};
use crate::wire::{awareness_entry, for_each_awareness_entry, messages, Incoming};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct AwarenessArgs {
    #[command(flatten)]
    pub target: Target,
    /// Clients in the room.
    #[arg(long, default_value_t = 500)]
    pub clients: usize,
    /// Seconds between two presence updates of one client.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds after the last publish to keep reading.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "presence")]
    pub doc_prefix: String,
}

struct Plan {
    epoch: Instant,
    start: Instant,
    end: Instant,
    stop_reading: Instant,
    period: Duration,
    clients: usize,
}

struct Tally {
    sent: u64,
    received: u64,
    echoes: u64,
    latency: Histogram<u64>,
    errors: Errors,
}

/// The JSON state a browser would publish: a user and a cursor; the cursor
/// carries the stamp so receivers can time it.
fn presence(client: u64, stamp: &str) -> String {
    format!(
        r##"{{"user":{{"name":"bench-{client}","color":"#30bced"}},"cursor":{{"anchor":"{stamp}"}}}}"##
    )
}

async fn run_client(mut c: Client, plan: Arc<Plan>, idx: usize) -> (Tally, Client) {
    let me = random_client_id();
    let mut clock = 0u64;
    let mut t = Tally {
        sent: 0,
        received: 0,
        echoes: 0,
        latency: new_hist(),
        errors: Errors::default(),
    };
    let mut next = plan.start + plan.period.mul_f64(idx as f64 / plan.clients as f64);
    loop {
        let publishing = next < plan.end;
        tokio::select! {
            frame = c.next_frame() => {
                let frame = match frame { Ok(f) => f, Err(e) => { t.errors.push(e); break; } };
                let now_us = Instant::now().duration_since(plan.epoch).as_micros() as u64;
                for m in messages(c.framer.protocol, &frame) {
                    match m {
                        Ok(Incoming::Awareness(u)) => {
                            let r = for_each_awareness_entry(u, |client, state| for_each_stamp(state, |sched, _| {
                                if client == me {
                                    t.echoes += 1;
                                } else {
                                    t.received += 1;
                                    record(&mut t.latency, now_us.saturating_sub(sched));
                                }
                            }));
                            if let Err(e) = r { t.errors.push(e); }
                        }
                        Ok(Incoming::Refused(r)) => t.errors.push(format!("refused: {r}")),
                        Ok(_) => {}
                        Err(e) => t.errors.push(e),
                    }
                }
            }
            _ = tokio::time::sleep_until(next), if publishing => {
                let sched = next.duration_since(plan.epoch).as_micros() as u64;
                let lag = Instant::now().saturating_duration_since(next).as_micros() as u64;
                clock += 1;
                let update = awareness_entry(me, clock, &presence(me, &stamp(sched, lag, 0)));
                if let Err(e) = c.send(c.framer.awareness(&update)).await { t.errors.push(e); break; }
                t.sent += 1;
                next += plan.period;
            }
            _ = tokio::time::sleep_until(plan.stop_reading), if !publishing => break,
        }
    }
    (t, c)
}

pub async fn run(a: AwarenessArgs) -> Result<Value> {
    let server = Server(a.target.server_pid);
    let doc = format!("{}-{}", a.doc_prefix, stats::run_id());
    let results = connect_many(&a.target, vec![doc; a.clients], a.connect_concurrency).await;
    let mut errors = Errors::default();
    let mut clients = Vec::new();
    for r in results {
        match r {
            Ok(s) => clients.push(s.client),
            Err(e) => errors.push(e),
        }
    }
    if clients.is_empty() {
        return Err(BenchError::NoClients(errors.samples.concat()));
    }
    let n = clients.len();
    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(500);
    let end = start + Duration::from_secs_f64(a.duration);
    let plan = Arc::new(Plan {
        epoch,
        start,
        end,
        stop_reading: end + Duration::from_secs_f64(a.drain),
        period: Duration::from_secs_f64(a.interval),
        clients: n,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in clients.into_iter().enumerate() {
        let plan = plan.clone();
        tasks.spawn(run_client(c, plan, i));
    }
    tokio::time::sleep_until(start).await;
    let (srv0, me0) = (server.sample(), stats::read_proc(std::process::id()));
    tokio::time::sleep_until(end).await;
    let (srv1, me1) = (server.sample(), stats::read_proc(std::process::id()));
    let (mut sent, mut received, mut echoes, mut latency) = (0, 0, 0, new_hist());
    while let Some(j) = tasks.join_next().await {
        let (t, c) = j.map_err(|e| BenchError::Runtime(e.to_string()))?;
        tokio::spawn(c.close());
        sent += t.sent;
        received += t.received;
        echoes += t.echoes;
        let _ = latency.add(&t.latency);
        errors.absorb(t.errors);
    }
    // A server may coalesce presence (only the latest state matters), so a
    // shortfall here is informational, not loss of data.
    let published_for_others = sent * (n as u64).saturating_sub(1);
    let srv_cpu = stats::cpu_between(srv0, srv1);
    let me_cpu = stats::cpu_between(me0, me1);
    println!(
        "awareness: {n}/{} clients in one room, one presence update each per {} s for {} s",
        a.clients, a.interval, a.duration
    );
    println!(
        "  sent           {sent} ({:.0}/s)",
        sent as f64 / a.duration
    );
    println!("  received       {received} of {published_for_others} entries for others ({:.0}/s), self-echoes {echoes}", received as f64 / a.duration);
    println!("  latency        {}", hist_line(&latency));
    match srv_cpu {
        Some(c) => println!("  server         cpu {c:.1} % of a core"),
        None => println!("  server         cpu ? (no --server-pid)"),
    }
    if let Some(c) = me_cpu {
        println!("  load generator cpu {c:.0} % of a core");
    }
    errors.print();
    Ok(json!({
        "scenario": "awareness", "label": a.target.label, "protocol": a.target.protocol, "url": a.target.url,
        "clients": a.clients, "connected": n, "interval_s": a.interval, "duration_s": a.duration,
        "sent": sent, "received_entries": received, "entries_for_others": published_for_others, "self_echoes": echoes,
        "latency_from_schedule": hist_json(&latency),
        "server_cpu_pct": srv_cpu, "loadgen_cpu_pct": me_cpu,
        "errors": errors.count, "error_samples": errors.samples,
    }))
}
