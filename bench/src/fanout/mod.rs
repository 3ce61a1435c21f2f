//! `fanout`: R rooms x C clients, each inserting a stamped string into a
//! Y.Text at a fixed rate (open loop); every other member of the room must
//! receive it. Latency is measured from the *scheduled* send instant, so a
//! generator or server that falls behind cannot hide it (no coordinated
//! omission).

mod tally;

use crate::client::{connect_many, Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_json, hist_line, new_hist, record, Errors, Server};
use crate::typing::Typing;
use crate::walk::{new_doc, stamp};
use crate::wire::{messages, Incoming};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tally::{Tally, Timing};
use tokio::time::Instant;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Text, Transact};

#[derive(clap::Args, Clone, Debug)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: Target,
    /// Rooms (documents).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Clients per room.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Updates per second sent by EACH client (the start rate of --find-max).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[command(flatten)]
    pub typing: Typing,
    /// Also run yrs' full Update::decode_v1 on every received update.
    #[arg(long)]
    pub validate: bool,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Search the highest per-client rate that passes: double from --rate
    /// until a trial fails, then bisect.
    #[arg(long)]
    pub find_max: bool,
    /// --find-max pass criterion: p99 latency from schedule, ms.
    #[arg(long, default_value_t = 50.0)]
    pub p99_target_ms: f64,
    /// --find-max upper bound, updates/s per client.
    #[arg(long, default_value_t = 100_000.0)]
    pub max_rate: f64,
    /// --find-max bisection steps after the doubling phase.
    #[arg(long, default_value_t = 3)]
    pub bisect: usize,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "fanout")]
    pub doc_prefix: String,
    /// Type into this existing document instead of fresh ones (e.g. one `bigdoc --doc` loaded):
    /// with --rooms 1 the name as given, otherwise `NAME-r<i>`; every trial uses the same.
    #[arg(long)]
    pub doc: Option<String>,
    /// What --find-max's p99 is taken of: `delivery` (to the other members, from schedule) or
    /// `echo` (a sender's own update coming back, from schedule: Plait echoes it once committed,
    /// so this is the durable acknowledgement; missing echoes then count as lost).
    #[arg(long, value_enum, default_value = "delivery")]
    pub p99_of: P99Of,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum P99Of {
    Delivery,
    Echo,
}

/// What every client of one trial shares.
struct Plan {
    /// What a client needs to time and check what it receives.
    timing: Timing,
    start: Instant,
    send_end: Instant,
    give_up: Instant,
    period: Duration,
    payload: usize,
    clients: usize,
    finished_sending: AtomicUsize,
    /// --p99-of echo: a client also waits for its own echoes before it stops.
    await_echoes: bool,
}

/// Send on schedule and read everything until all expected deliveries
/// arrived or the drain deadline passed.
async fn run_client(
    mut c: Client,
    plan: Arc<Plan>,
    room_sent: Arc<AtomicU64>,
    idx: usize,
) -> (Tally, Client) {
    let doc = new_doc();
    let text = doc.get_or_insert_text("text");
    let me = doc.client_id();
    let mut t = Tally::new();
    // Spread send instants evenly over one period so clients do not burst together.
    let mut next = plan.start + plan.period.mul_f64(idx as f64 / plan.clients as f64);
    let mut sending = true;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            frame = c.next_frame() => {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => { t.errors.push(e); break; }
                };
                let now = Instant::now();
                t.frames += 1;
                t.bytes += frame.len() as u64;
                let mut reply = None;
                for m in messages(c.framer.protocol, &frame) {
                    match m {
                        Ok(Incoming::Update(u) | Incoming::Step2(u)) => t.on_update(u, me, now, &plan.timing),
                        // A server re-asking for our state: send what it misses.
                        Ok(Incoming::Step1(sv)) => reply = Some(match StateVector::decode_v1(sv) {
                            Ok(sv) => doc.transact().encode_diff_v1(&sv),
                            Err(_) => yrs::Update::EMPTY_V1.to_vec(),
                        }),
                        Ok(Incoming::Refused(r)) => t.errors.push(format!("refused: {r}")),
                        Ok(_) => {}
                        Err(e) => t.errors.push(e),
                    }
                }
                if let Some(diff) = reply {
                    if let Err(e) = c.send(c.framer.step2(&diff)).await { t.errors.push(e); break; }
                }
            }
            _ = tokio::time::sleep_until(next), if sending => {
                if next >= plan.send_end {
                    sending = false;
                    plan.finished_sending.fetch_add(1, Relaxed);
                    continue;
                }
                let sched_us = next.duration_since(plan.timing.epoch).as_micros() as u64;
                let lag_us = Instant::now().saturating_duration_since(next).as_micros() as u64;
                record(&mut t.send_lag, lag_us);
                let update = {
                    let mut txn = doc.transact_mut();
                    let end = text.len(&txn);
                    text.insert(&mut txn, end, &stamp(sched_us, lag_us, plan.payload));
                    txn.encode_update_v1()
                };
                if let Err(e) = c.send(c.framer.update(&update)).await { t.errors.push(e); break; }
                t.sent += 1;
                t.sent_update_bytes += update.len() as u64;
                room_sent.fetch_add(1, Relaxed);
                // Open loop: late sends go out at once; the schedule never slips.
                next += plan.period;
            }
            _ = poll.tick(), if !sending => {
                if Instant::now() >= plan.give_up { break; }
                if plan.finished_sending.load(Relaxed) == plan.clients
                    && t.delivered >= room_sent.load(Relaxed).saturating_sub(t.sent)
                    && (!plan.await_echoes || t.echoes >= t.sent) { break; }
            }
        }
    }
    if sending {
        plan.finished_sending.fetch_add(1, Relaxed);
    }
    (t, c)
}

/// One trial at one rate: the pass/fail inputs plus the full JSON.
pub struct Trial {
    pub rate: f64,
    pub p99_ms: f64,
    pub lost: u64,
    pub expected: u64,
    pub errors: usize,
    pub sent_per_s: f64,
    pub target_per_s: f64,
    pub delivered_per_s: f64,
    pub json: Value,
}

impl Trial {
    /// The --find-max criteria.
    pub fn passes(&self, p99_target_ms: f64) -> bool {
        self.errors == 0
            && self.expected > 0
            && self.lost as f64 <= 0.001 * self.expected as f64
            && self.p99_ms <= p99_target_ms
            && self.sent_per_s >= 0.95 * self.target_per_s
    }
}

pub async fn trial(a: &FanoutArgs, rate: f64, tag: &str, verbose: bool) -> Result<Trial> {
    let server = Server(a.target.server_pid);
    let run = stats::run_id();
    let docs = (0..a.rooms * a.clients)
        .map(|i| match &a.doc {
            Some(name) if a.rooms == 1 => name.clone(),
            Some(name) => format!("{name}-r{}", i / a.clients),
            None => format!("{}-{run}{tag}-r{}", a.doc_prefix, i / a.clients),
        })
        .collect();
    let t0 = std::time::Instant::now();
    let results = connect_many(&a.target, docs, a.connect_concurrency).await;
    let connect_s = t0.elapsed().as_secs_f64();
    let mut errors = Errors::default();
    let mut handshake = new_hist();
    let mut members = vec![0u64; a.rooms];
    let mut clients = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(s) => {
                record(&mut handshake, s.step2_at.as_micros() as u64);
                members[i / a.clients] += 1;
                clients.push((i / a.clients, s.client));
            }
            Err(e) => errors.push(e),
        }
    }
    if clients.is_empty() {
        return Err(BenchError::NoClients(errors.samples.concat()));
    }

    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(200);
    let send_end = start + Duration::from_secs_f64(a.typing.duration);
    let plan = Arc::new(Plan {
        timing: Timing {
            epoch,
            warmup_us: (Duration::from_millis(200) + Duration::from_secs_f64(a.typing.warmup))
                .as_micros() as u64,
            validate: a.validate,
        },
        start,
        send_end,
        give_up: send_end + Duration::from_secs_f64(a.typing.drain),
        period: Duration::from_secs_f64(1.0 / rate),
        payload: a.typing.payload,
        clients: clients.len(),
        finished_sending: AtomicUsize::new(0),
        await_echoes: a.p99_of == P99Of::Echo,
    });
    let room_sent: Vec<Arc<AtomicU64>> = (0..a.rooms).map(|_| Arc::default()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (idx, (room, c)) in clients.into_iter().enumerate() {
        let (plan, sent) = (plan.clone(), room_sent[room].clone());
        tasks.spawn(async move { (room, run_client(c, plan, sent, idx).await) });
    }
    tokio::time::sleep_until(start).await;
    let (srv0, me0) = (server.sample(), stats::read_proc(std::process::id()));
    tokio::time::sleep_until(send_end).await;
    let (srv1, me1) = (server.sample(), stats::read_proc(std::process::id()));

    let mut total = Tally::new();
    let mut sent_by_room = vec![0u64; a.rooms];
    let mut open = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (room, (t, c)) = joined.map_err(|e| BenchError::Runtime(e.to_string()))?;
        open.push(c);
        sent_by_room[room] += t.sent;
        total.absorb(&t);
        errors.absorb(t.errors);
    }
    for c in open {
        tokio::spawn(c.close());
    }
    let last = total.last_delivery.unwrap_or(start).max(start);
    // Every update must reach every other member of its room.
    let expected: u64 = sent_by_room
        .iter()
        .zip(&members)
        .map(|(s, m)| s * m.saturating_sub(1))
        .sum();
    let lost = expected.saturating_sub(total.delivered);
    let echoes_missing = total.sent.saturating_sub(total.echoes);
    let connected: u64 = members.iter().sum();
    let target_per_s = rate * connected as f64;
    let sent_per_s = total.sent as f64 / a.typing.duration;
    let delivered_per_s = total.delivered as f64
        / last
            .duration_since(start)
            .as_secs_f64()
            .max(a.typing.duration);
    let judged = match a.p99_of {
        P99Of::Delivery => &total.from_schedule,
        P99Of::Echo => &total.echo_from_schedule,
    };
    let p99_ms = if judged.is_empty() {
        f64::INFINITY
    } else {
        stats::p(judged, 0.99)
    };
    let srv_cpu = stats::cpu_between(srv0, srv1);
    let me_cpu = stats::cpu_between(me0, me1);
    let srv_rss = server.sample().map(|s| s.rss_kb);
    if verbose {
        println!(
            "fanout: {} rooms x {} clients @ {rate} updates/s per client for {} s",
            a.rooms, a.clients, a.typing.duration
        );
        println!(
            "  connected      {connected}/{} in {connect_s:.2} s; handshake {}",
            a.rooms * a.clients,
            hist_line(&handshake)
        );
        println!(
            "  sent           {} ({sent_per_s:.0}/s of {target_per_s:.0}/s planned); send lag {}",
            total.sent,
            hist_line(&total.send_lag)
        );
        println!(
            "  deliveries     {}/{expected} ({delivered_per_s:.0}/s), lost {lost}, self-echoes {}",
            total.delivered, total.echoes
        );
        println!("  from schedule  {}", hist_line(&total.from_schedule));
        println!("  from send      {}", hist_line(&total.from_send));
        println!(
            "  echo           {} (from send); missing {echoes_missing}",
            hist_line(&total.echo)
        );
        println!(
            "  sent updates   {} bytes ({:.1} per update)",
            total.sent_update_bytes,
            total.sent_update_bytes as f64 / total.sent.max(1) as f64
        );
        println!(
            "  frames in      {} ({:.1} MB)",
            total.frames,
            total.bytes as f64 / 1e6
        );
        if let Some(c) = srv_cpu {
            println!(
                "  server         cpu {c:.0} % of a core, rss {:.1} MB",
                srv_rss.unwrap_or(0) as f64 / 1024.0
            );
        }
        if let Some(c) = me_cpu {
            println!("  load generator cpu {c:.0} % of a core");
        }
        errors.print();
    }
    let mut json = json!({
        "rooms": a.rooms, "clients_per_room": a.clients, "rate_per_client": rate, "duration_s": a.typing.duration,
        "payload_bytes": a.typing.payload, "connected": connected, "connect_s": connect_s, "handshake": hist_json(&handshake),
        "sent": total.sent, "sent_per_s": sent_per_s, "target_per_s": target_per_s,
        "expected_deliveries": expected, "received_deliveries": total.delivered, "lost": lost,
        "delivered_per_s": delivered_per_s, "self_echoes": total.echoes,
        "frames_in": total.frames, "bytes_in": total.bytes,
        "latency_from_schedule": hist_json(&total.from_schedule), "latency": hist_json(&total.from_send),
        "send_lag": hist_json(&total.send_lag),
        "server_cpu_pct": srv_cpu, "server_rss_kb": srv_rss, "loadgen_cpu_pct": me_cpu,
        "errors": errors.count, "error_samples": errors.samples,
    });
    // A second object: one json! of every field exceeds the macro's recursion limit.
    stats::merge(
        &mut json,
        json!({
            "echoes_missing": echoes_missing, "sent_update_bytes": total.sent_update_bytes,
            "p99_of": format!("{:?}", a.p99_of).to_lowercase(),
            "echo": hist_json(&total.echo), "echo_from_schedule": hist_json(&total.echo_from_schedule),
        }),
    );
    // --p99-of echo: every sent update must also come back to its sender.
    let (lost, expected) = match a.p99_of {
        P99Of::Delivery => (lost, expected),
        P99Of::Echo => (lost + echoes_missing, expected + total.sent),
    };
    Ok(Trial {
        rate,
        p99_ms,
        lost,
        expected,
        errors: errors.count,
        sent_per_s,
        target_per_s,
        delivered_per_s,
        json,
    })
}
