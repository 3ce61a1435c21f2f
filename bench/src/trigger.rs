//! `trigger`: another program appends to the update log in SQL, and y-websocket clients of the
//! document (one per node: `--url` and every `--also-url`) must see each update live.
//!
//! The clients connect and sync first. Then a stock SQL client (see `writer`) appends `--writes`
//! real Yjs v1 updates, `--rate` per second, each inserting `#<i>#` padded with dots at the end
//! of the text of one writing document. A client applies every update it receives to its own yrs
//! document and records when each `#<i>#` first arrived; latency is from handing the statement
//! to the SQL client to that moment (so it includes the SQL client, the commit, the database's
//! trigger or Plait's poll, and the relay). At the end each client's text must equal the
//! writer's. The first `--warmup` writes (the one that creates the documents row among them)
//! are not counted.

use crate::client::{connect_many, Client, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, hist_json, hist_line, new_hist, record, run_id};
use crate::walk::{for_each_string, new_doc};
use crate::wire::{messages, Incoming};
use crate::writer::{Writer, WriterKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use yrs::updates::decoder::Decode;
use yrs::{GetString, ReadTxn, Text, Transact, Update};

#[derive(clap::Args, Debug)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub target: Target,
    /// The SQL client that writes.
    #[arg(long, value_enum)]
    pub writer: WriterKind,
    /// psql: connection URL of Plait's database; sqlite3: path of Plait's SQLite file.
    #[arg(long)]
    pub database: String,
    /// Appends measured (after the warm-up).
    #[arg(long, default_value_t = 200)]
    pub writes: usize,
    /// Appends per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Appends before the measured ones, not counted.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Characters each append inserts (its update is this plus ~10 bytes).
    #[arg(long, default_value_t = 30)]
    pub size: usize,
    /// Seconds to wait for late updates after the last append.
    #[arg(long, default_value_t = 3.0)]
    pub drain: f64,
    /// Document name prefix (a run id is appended).
    #[arg(long, default_value = "trigger")]
    pub doc_prefix: String,
}

/// What one client saw.
struct Seen {
    /// When each append's marker first arrived.
    at: Vec<Option<Instant>>,
    text: String,
    updates: usize,
}

/// The text append `i` inserts: `#i#` and dots up to `size` characters.
fn marker(i: usize, size: usize) -> String {
    let mut s = format!("#{i}#");
    let pad = size.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('.', pad));
    s
}

/// Every append index named in an inserted string (consecutive appends may arrive merged).
fn markers(s: &str, mut f: impl FnMut(usize)) {
    for part in s.split('#').skip(1).step_by(2) {
        if let Ok(i) = part.parse() {
            f(i);
        }
    }
}

async fn receive(mut c: Client, total: usize, mut stop: watch::Receiver<bool>) -> Result<Seen> {
    let doc = yrs::Doc::new();
    let text = doc.get_or_insert_text("text");
    let mut seen = Seen {
        at: vec![None; total],
        text: String::new(),
        updates: 0,
    };
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            f = c.next_frame() => f?,
        };
        let now = Instant::now();
        for m in messages(c.framer.protocol, &frame) {
            let (Incoming::Update(u) | Incoming::Step2(u)) = m? else {
                continue;
            };
            let update = Update::decode_v1(u).map_err(|e| BenchError::Update(e.to_string()))?;
            doc.transact_mut()
                .apply_update(update)
                .map_err(|e| BenchError::Update(e.to_string()))?;
            seen.updates += 1;
            for_each_string(u, |_, s| {
                markers(s, |i| {
                    if let Some(slot @ None) = seen.at.get_mut(i) {
                        *slot = Some(now);
                    }
                })
            })?;
        }
    }
    seen.text = text.get_string(&doc.transact());
    c.close().await;
    Ok(seen)
}

/// When each append was handed to the SQL client and when it answered (committed).
struct Written {
    sent: Vec<Instant>,
    committed: Vec<Instant>,
    last_position: Option<i64>,
    bytes: usize,
    /// The writer's text at the end: what every client must have.
    text: String,
}

/// Append `total` updates to `doc` through the SQL client, `a.rate` per second.
async fn write_all(a: &TriggerArgs, doc: &str, total: usize) -> Result<Written> {
    let (mut writer, mut answers) = Writer::spawn(a.writer, &a.database).await?;
    let answered = tokio::spawn(async move {
        let mut at = Vec::with_capacity(total);
        for _ in 0..total {
            let position = answers.next().await?;
            at.push((position, Instant::now()));
        }
        Ok::<_, BenchError>(at)
    });
    let wdoc = new_doc();
    let wtext = wdoc.get_or_insert_text("text");
    let mut sent = Vec::with_capacity(total);
    let mut bytes = 0;
    let epoch = Instant::now();
    for i in 0..total {
        let update = {
            let mut txn = wdoc.transact_mut();
            let before = txn.state_vector();
            wtext.push(&mut txn, &marker(i, a.size));
            txn.encode_diff_v1(&before)
        };
        bytes += update.len();
        let due = epoch + Duration::from_secs_f64(i as f64 / a.rate);
        tokio::time::sleep_until(due.into()).await;
        sent.push(Instant::now());
        writer.write(doc, &update).await?;
    }
    let limit = Duration::from_secs(30);
    let answered = tokio::time::timeout(limit, answered)
        .await
        .map_err(|_| BenchError::Timeout {
            what: "the writer's answers".into(),
            after: limit,
        })?
        .map_err(|e| BenchError::Runtime(e.to_string()))??;
    writer.finish().await?;
    let text = wtext.get_string(&wdoc.transact());
    Ok(Written {
        sent,
        last_position: answered.last().map(|(p, _)| *p),
        committed: answered.into_iter().map(|(_, at)| at).collect(),
        bytes,
        text,
    })
}

fn micros(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_micros() as u64
}

/// One node's client: latency from the hand-over and from the commit answer, printed and as JSON.
fn node_report(n: usize, seen: &Seen, w: &Written, warmup: usize) -> Value {
    let mut latency = new_hist();
    // From the writer's commit answer: what the server adds once the row is committed.
    let mut after_commit = new_hist();
    let mut missing = 0;
    for (i, at) in seen.at.iter().enumerate().skip(warmup) {
        match at {
            Some(at) => {
                record(&mut latency, micros(w.sent[i], *at));
                record(&mut after_commit, micros(w.committed[i], *at));
            }
            None => missing += 1,
        }
    }
    let same = seen.text == w.text;
    println!(
        "  node {n}: latency  {}  missing {missing}, {} updates received, text {}",
        hist_line(&latency),
        seen.updates,
        if same { "equal" } else { "DIFFERENT" }
    );
    println!(
        "  node {n}: after the commit answer  {}  min {:.2} ms",
        hist_line(&after_commit),
        stats::ms(after_commit.min())
    );
    json!({
        "node": n, "latency": hist_json(&latency), "latency_min_ms": stats::ms(latency.min()),
        "after_commit": hist_json(&after_commit),
        "after_commit_min_ms": stats::ms(after_commit.min()), "missing": missing,
        "updates_received": seen.updates, "text_equal": same,
    })
}

pub async fn run(a: TriggerArgs) -> Result<Value> {
    let doc = format!("{}-{}", a.doc_prefix, run_id());
    let nodes = 1 + a.target.also_urls.len();
    let total = a.warmup + a.writes;
    let mut clients = Vec::new();
    for s in connect_many(&a.target, vec![doc.clone(); nodes], nodes).await {
        clients.push(s?.client);
    }
    let (stop, stopped) = watch::channel(false);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(receive(c, total, stopped.clone())))
        .collect();
    let started = Instant::now();
    let w = write_all(&a, &doc, total).await?;
    tokio::time::sleep(Duration::from_secs_f64(a.drain)).await;
    let _ = stop.send(true);

    let mut commit = new_hist();
    for i in a.warmup..total {
        record(&mut commit, micros(w.sent[i], w.committed[i]));
    }
    println!(
        "trigger: {} appends by {:?} at {}/s into {doc}, {} B each on average, {nodes} node(s)",
        a.writes,
        a.writer,
        a.rate,
        w.bytes / total.max(1)
    );
    println!("  writer's commit answer  {}", hist_line(&commit));
    let mut per_node = Vec::new();
    // When each append had reached every node (None: some node never got it).
    let mut everywhere: Vec<Option<Instant>> = vec![Some(started); total];
    let mut mismatches = 0;
    for (n, r) in readers.into_iter().enumerate() {
        let seen = r.await.map_err(|e| BenchError::Runtime(e.to_string()))??;
        for (all, at) in everywhere.iter_mut().zip(&seen.at) {
            *all = all.zip(*at).map(|(x, y)| x.max(y));
        }
        mismatches += usize::from(seen.text != w.text);
        per_node.push(node_report(n, &seen, &w, a.warmup));
    }
    let mut every = new_hist();
    for (i, at) in everywhere.iter().enumerate().skip(a.warmup) {
        if let Some(at) = at {
            record(&mut every, micros(w.sent[i], *at));
        }
    }
    if nodes > 1 {
        println!("  on every node: latency  {}", hist_line(&every));
    }
    let result = json!({
        "scenario": "trigger", "label": a.target.label, "writer": a.writer, "doc": doc,
        "writes": a.writes, "warmup": a.warmup, "rate": a.rate, "nodes": nodes,
        "update_bytes_mean": w.bytes as f64 / total.max(1) as f64,
        "commit": hist_json(&commit), "per_node": per_node, "every_node": hist_json(&every),
        "last_position": w.last_position, "elapsed_s": started.elapsed().as_secs_f64(),
    });
    if mismatches > 0 {
        return Err(BenchError::Mismatch(format!(
            "{mismatches} client(s) ended with a text other than the writer's: {result}"
        )));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_survive_merging() {
        let s = format!("{}{}", marker(7, 12), marker(123, 3));
        let mut got = Vec::new();
        markers(&s, |i| got.push(i));
        assert_eq!(got, [7, 123]);
        assert_eq!(marker(1, 6), "#1#...");
    }
}
