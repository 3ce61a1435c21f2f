//! The `fanout` scenario, and with `--find-max` the highest per-client rate that still passes
//! (p99 from schedule <= target, loss <= 0.1 %, no errors, >= 95 % of the
//! planned send rate). Doubles from `--rate` until a trial fails, then
//! bisects between the last pass and the first failure.

use crate::error::Result;
use crate::fanout::{trial, FanoutArgs, Trial};
use crate::stats::{self, Server};
use serde_json::{json, Value};
use std::time::Duration;

async fn attempt(
    a: &FanoutArgs,
    rate: f64,
    k: usize,
    log: &mut Vec<Value>,
) -> Result<(Trial, bool)> {
    if k > 0 {
        // Let the previous trial's backlog drain before measuring again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Server(a.target.server_pid)
            .wait_quiet(Duration::from_secs(15))
            .await;
    }
    let t = trial(a, rate, &format!("t{k}"), false).await?;
    let ok = t.passes(a.p99_target_ms);
    println!(
        "  trial {k:>2}: {rate:>9.1}/s per client  sent {:>9.0}/s  delivered {:>9.0}/s  p99 {:>8.2} ms  lost {}  errors {}  {}",
        t.sent_per_s,
        t.delivered_per_s,
        t.p99_ms,
        t.lost,
        t.errors,
        if ok { "PASS" } else { "FAIL" }
    );
    let mut j = t.json.clone();
    j["pass"] = json!(ok);
    log.push(j);
    Ok((t, ok))
}

pub async fn search(a: &FanoutArgs) -> Result<Value> {
    println!(
        "find-max: {} rooms x {} clients, {} s trials; pass = p99 <= {} ms, loss <= 0.1 %, no errors, >= 95 % of planned sends",
        a.rooms, a.clients, a.typing.duration, a.p99_target_ms
    );
    let mut log = Vec::new();
    let mut best: Option<Trial> = None;
    let mut failed_at = None;
    let mut rate = a.rate;
    let mut k = 0;
    loop {
        let (t, ok) = attempt(a, rate, k, &mut log).await?;
        k += 1;
        if !ok {
            failed_at = Some(rate);
            break;
        }
        best = Some(t);
        if rate * 2.0 > a.max_rate {
            break;
        }
        rate *= 2.0;
    }
    if let (Some(mut lo), Some(mut hi)) = (best.as_ref().map(|b| b.rate), failed_at) {
        for _ in 0..a.bisect {
            let mid = (lo + hi) / 2.0;
            let (t, ok) = attempt(a, mid, k, &mut log).await?;
            k += 1;
            if ok {
                lo = mid;
                best = Some(t);
            } else {
                hi = mid;
            }
        }
    }
    match &best {
        Some(b) => println!(
            "max passing rate: {:.1}/s per client = {:.0} sent/s, {:.0} deliveries/s, p99 {:.2} ms",
            b.rate, b.sent_per_s, b.delivered_per_s, b.p99_ms
        ),
        None => println!("no rate passed (lowest tried: {}/s per client)", a.rate),
    }
    Ok(json!({
        "find_max": true, "p99_target_ms": a.p99_target_ms,
        "max": best.map(|b| b.json), "trials": log,
    }))
}

/// The `fanout` scenario: one trial at the given rate, or with `--find-max` the search for the
/// highest rate the server keeps up with.
pub async fn run(a: FanoutArgs) -> Result<Value> {
    let mut out = json!({"scenario": "fanout", "label": a.target.label, "protocol": a.target.protocol, "url": a.target.url, "also_urls": a.target.also_urls});
    if a.find_max {
        stats::merge(&mut out, search(&a).await?);
    } else {
        stats::merge(&mut out, trial(&a, a.rate, "", true).await?.json);
    }
    Ok(out)
}
