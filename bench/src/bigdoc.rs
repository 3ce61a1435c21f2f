//! `bigdoc`: replay a real editing trace into one document through one
//! writer, then time fresh clients' sync (connect, step2 arrival, synced and
//! verified against the trace's endContent), and optionally `--joiners N`
//! clients joining at the same instant.

use crate::client::{binary_frame, connect, Client, Synced, Target};
use crate::error::{BenchError, Result};
use crate::stats::{self, Server};
use crate::trace;
use crate::wire::{messages, Incoming};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use yrs::updates::decoder::Decode;
use yrs::{GetString, Transact, Update};

#[derive(clap::Args, Clone, Debug)]
pub struct BigdocArgs {
    #[command(flatten)]
    pub target: Target,
    /// Editing trace (.json or .json.gz), e.g. automerge-paper.json.gz from
    /// github.com/josephg/editing-traces (sequential_traces/).
    #[arg(long)]
    pub trace: String,
    /// Trace transactions per update sent by the writer.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Fresh clients that sync the finished document one after another.
    #[arg(long, default_value_t = 5)]
    pub syncs: usize,
    /// Clients that join the finished document at the same instant (0 = skip).
    #[arg(long, default_value_t = 0)]
    pub joiners: usize,
    /// Document-name prefix (a run id is appended).
    #[arg(long, default_value = "bigdoc")]
    pub doc_prefix: String,
    /// The document's exact name instead of `<doc-prefix>-<run id>` (for a later run, e.g.
    /// `fanout --doc NAME`, to edit it); it should not exist yet.
    #[arg(long)]
    pub doc: Option<String>,
    /// Type the trace this many times into the document, each copy by another client into a
    /// text of its own (a huge document: 65 copies of automerge-paper encode to ~20 MB).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Keep the built updates in this file and read them from it on later runs (building 65
    /// copies takes the generator minutes; the same updates then serve every server and run).
    #[arg(long)]
    pub cache: Option<String>,
}

/// The updates that type the trace (`repeat` copies) and the document they make: built, or read
/// from `cache` when an earlier run wrote it.
fn updates_for(a: &BigdocArgs, tr: &trace::Trace) -> Result<trace::Built> {
    if let Some(built) = a.cache.as_deref().and_then(|p| read_cache(p).ok()) {
        return Ok(built);
    }
    let built = trace::build_repeated(tr, a.batch, a.repeat)?;
    if let Some(path) = &a.cache {
        use yrs::encoding::write::Write;
        let mut buf = Vec::new();
        buf.write_var(built.updates.len() as u64);
        for update in &built.updates {
            buf.write_buf(update);
        }
        buf.write_buf(&built.state);
        std::fs::write(path, buf).map_err(|e| BenchError::Runtime(format!("cache {path}: {e}")))?;
    }
    Ok(built)
}

/// A cache file: the number of updates, each update, then the final state (all lib0 buffers).
/// A file of another layout (an earlier version wrote no state) is an error, so it is rebuilt.
fn read_cache(path: &str) -> Result<trace::Built> {
    use yrs::encoding::read::{Cursor, Read};
    let bad = |e: yrs::encoding::read::Error| BenchError::Update(format!("cache {path}: {e}"));
    let bytes = std::fs::read(path).map_err(|e| BenchError::Runtime(e.to_string()))?;
    let mut cursor = Cursor::new(&bytes);
    let n: u64 = cursor.read_var().map_err(bad)?;
    let mut updates = Vec::new();
    for _ in 0..n {
        updates.push(cursor.read_buf().map_err(bad)?.to_vec());
    }
    let state = cursor.read_buf().map_err(bad)?.to_vec();
    Ok(trace::Built { updates, state })
}

/// Apply a step2 into an empty document and compare every copy's text with the expected one.
fn verify(step2: &[u8], expected: &str, repeat: usize) -> Result<()> {
    let doc = crate::walk::new_doc();
    let update = Update::decode_v1(step2).map_err(|e| BenchError::Update(e.to_string()))?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| BenchError::Update(e.to_string()))?;
    for k in 0..repeat.max(1) {
        let text = doc.get_or_insert_text(trace::root_name(k).as_str());
        let got = text.get_string(&doc.transact());
        if got != expected {
            return Err(BenchError::Mismatch(format!(
                "synced text {} has {} chars, expected {}",
                trace::root_name(k),
                got.len(),
                expected.len()
            )));
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// N clients connect at once; returns (all step2 in, verification time, rows).
async fn joiners(t: &Target, doc: &str, n: usize, expected: &str, repeat: usize) -> Result<Value> {
    let server = Server(t.server_pid);
    let (srv0, me0) = (server.sample(), stats::read_proc(std::process::id()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (t, doc) = (t.clone(), doc.to_owned());
        // Only the handshake runs concurrently: verifying inside the tasks
        // would let our own CPU work delay the other joiners' reads.
        tasks.spawn(async move { connect(&t, &doc).await.map(|s| (s, Instant::now())) });
    }
    let mut done: Vec<(Synced, Instant)> = Vec::new();
    while let Some(j) = tasks.join_next().await {
        done.push(j.map_err(|e| BenchError::Runtime(e.to_string()))??);
    }
    let all_step2 = done
        .iter()
        .map(|(_, at)| at.duration_since(start))
        .max()
        .unwrap_or_default();
    // Whose CPU the joiners took (until the last step 2 arrived): a server that waits for its
    // clients' reads is not the bottleneck.
    let (srv1, me1) = (server.sample(), stats::read_proc(std::process::id()));
    let server_cpu_s = srv0.zip(srv1).map(|(a, b)| stats::cpu_s(&a, &b));
    let loadgen_cpu_s = me0.zip(me1).map(|(a, b)| stats::cpu_s(&a, &b));
    let t_verify = Instant::now();
    // Each distinct payload is applied and checked once: the same bytes hold the same text
    // (150 applies of a 20 MB document would take minutes of the generator's time).
    let mut distinct: Vec<&[u8]> = Vec::new();
    for (s, _) in &done {
        if !distinct.contains(&s.step2.as_slice()) {
            verify(&s.step2, expected, repeat)?;
            distinct.push(&s.step2);
        }
    }
    let verify_all = t_verify.elapsed();
    let mut step2s: Vec<f64> = done
        .iter()
        .map(|(_, at)| ms(at.duration_since(start)))
        .collect();
    let median = stats::median(&mut step2s);
    println!(
        "  {n} joiners     all step2 in {:.2} ms (median {:.2} ms); all verified {:.2} ms later ({} distinct step2 payloads)",
        ms(all_step2),
        median.unwrap_or(f64::NAN),
        ms(verify_all),
        distinct.len()
    );
    println!(
        "  joiners' cpu   server {:.2} s, load generator {:.2} s",
        server_cpu_s.unwrap_or(f64::NAN),
        loadgen_cpu_s.unwrap_or(f64::NAN)
    );
    let distinct_payloads = distinct.len();
    for (s, _) in done {
        tokio::spawn(s.client.close());
    }
    Ok(json!({
        "joiners": n, "all_step2_ms": ms(all_step2), "median_step2_ms": median,
        "verify_all_ms": ms(verify_all), "all_synced_ms": ms(all_step2 + verify_all),
        "distinct_step2_payloads": distinct_payloads,
        "server_cpu_s": server_cpu_s, "loadgen_cpu_s": loadgen_cpu_s,
    }))
}

/// Sends `frames`, then `step1`, while reading what the server sends back, until the answer to
/// `step1` arrived. Reading and writing at once matters: a server that echoes every update (Plait,
/// once stored) fills the writer's socket, and a writer that only wrote would stall it (it stops
/// reading a connection it cannot write to: 223 MB of replay deadlocked that way). Returns the
/// task that keeps the socket open and drained.
async fn replay(
    w: Client,
    frames: Vec<Vec<u8>>,
    step1: Vec<u8>,
) -> Result<tokio::task::JoinHandle<()>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (protocol, doc) = (w.framer.protocol, w.doc);
    let (mut sink, mut stream) = w.ws.split();
    let sender = tokio::spawn(async move {
        for f in frames.into_iter().chain([step1]) {
            sink.send(Message::binary(f)).await?;
        }
        Ok::<_, BenchError>(sink)
    });
    'answer: loop {
        let Some(frame) = binary_frame(stream.next().await)? else {
            continue;
        };
        for m in messages(protocol, &frame) {
            match m? {
                Incoming::Step2(_) => break 'answer,
                Incoming::Refused(reason) => return Err(BenchError::Refused { doc, reason }),
                _ => {}
            }
        }
    }
    let sink = sender
        .await
        .map_err(|e| BenchError::Runtime(e.to_string()))??;
    Ok(tokio::spawn(async move {
        let _open = sink;
        while let Some(Ok(_)) = stream.next().await {}
    }))
}

pub async fn run(a: BigdocArgs) -> Result<Value> {
    let server = Server(a.target.server_pid);
    let tr = trace::load(&a.trace)?;
    let patches: usize = tr.txns.iter().map(|t| t.patches.len()).sum();
    let name = a
        .doc
        .clone()
        .unwrap_or_else(|| format!("{}-{}", a.doc_prefix, stats::run_id()));
    let rss0 = server.settled_rss_kb().await;

    // Build every update first: the timed replay then measures the server.
    let t_build = Instant::now();
    let trace::Built { updates, state } = updates_for(&a, &tr)?;
    let (expected, repeat) = (tr.end_content.clone(), a.repeat.max(1));
    let build_s = t_build.elapsed().as_secs_f64();
    let full_bytes = state.len();
    let state_vector = yrs::encode_state_vector_from_update_v1(&state)
        .map_err(|e| BenchError::Update(e.to_string()))?;
    drop(state);

    let w: Client = connect(&a.target, &name).await?.client;
    let frames: Vec<Vec<u8>> = updates.iter().map(|u| w.framer.update(u)).collect();
    drop(updates);
    let replay_bytes: usize = frames.iter().map(Vec::len).sum();
    let (n_frames, srv0, t_replay) = (frames.len(), server.sample(), Instant::now());
    // The answer to a step1 sent after the last update proves the server
    // processed everything before it on this socket.
    let step1 = w.framer.step1(&state_vector);
    let limit = Duration::from_secs(300);
    // Keep the writer connected (some servers unload documents nobody
    // holds) and keep draining its socket.
    let writer = tokio::time::timeout(limit, replay(w, frames, step1))
        .await
        .map_err(|_| BenchError::Timeout {
            what: "writer's final step2".into(),
            after: limit,
        })??;
    let ingest_s = t_replay.elapsed().as_secs_f64();
    let ingest_cpu = srv0.zip(server.sample()).map(|(a, b)| stats::cpu_s(&a, &b));
    let rss_loaded = server.settled_rss_kb().await;

    println!(
        "bigdoc: {} txns / {patches} patches -> {} chars, {full_bytes} B as one update",
        tr.txns.len() * repeat,
        expected.len() * repeat
    );
    println!("  replay         {n_frames} updates ({:.1} MB) ingested in {ingest_s:.3} s, server cpu {:.2} s (built locally in {build_s:.2} s)", replay_bytes as f64 / 1e6, ingest_cpu.unwrap_or(f64::NAN));
    let mut rows = Vec::new();
    for i in 0..a.syncs {
        let t0 = Instant::now();
        let s = connect(&a.target, &name).await?;
        verify(&s.step2, &expected, repeat)?;
        let synced = t0.elapsed();
        println!(
            "  fresh sync {i}   connect {:.2} ms  step2 at {:.2} ms  synced+verified {:.2} ms  ({} B)",
            ms(s.connect), ms(s.step2_at), ms(synced), s.step2.len()
        );
        rows.push(json!({"connect_ms": ms(s.connect), "step2_ms": ms(s.step2_at), "synced_ms": ms(synced), "step2_bytes": s.step2.len()}));
        s.client.close().await;
    }
    let col = |k: &str| {
        let mut v: Vec<f64> = rows.iter().filter_map(|r| r[k].as_f64()).collect();
        stats::median(&mut v)
    };
    let (step2_med, synced_med) = (col("step2_ms"), col("synced_ms"));
    if !rows.is_empty() {
        println!(
            "  median         step2 at {:.2} ms, synced+verified {:.2} ms",
            step2_med.unwrap_or(f64::NAN),
            synced_med.unwrap_or(f64::NAN)
        );
    }
    let joined = if a.joiners > 0 {
        Some(joiners(&a.target, &name, a.joiners, &expected, repeat).await?)
    } else {
        None
    };
    let rss_end = server.settled_rss_kb().await;
    writer.abort();
    if let (Some(r0), Some(r1), Some(r2)) = (rss0, rss_loaded, rss_end) {
        println!("  server rss     before {r0} KB, loaded {r1} KB, after syncs {r2} KB");
    }
    Ok(json!({
        "scenario": "bigdoc", "label": a.target.label, "doc": name, "protocol": a.target.protocol, "url": a.target.url,
        "trace": a.trace, "repeat": a.repeat, "txns": tr.txns.len(), "patches": patches, "final_chars": expected.len() * repeat,
        "full_update_bytes": full_bytes, "batch": a.batch, "replay_frames": n_frames, "replay_bytes": replay_bytes,
        "local_build_s": build_s, "ingest_s": ingest_s, "ingest_server_cpu_s": ingest_cpu,
        "step2_median_ms": step2_med, "sync_median_ms": synced_med, "syncs": rows, "joiners": joined,
        "rss0_kb": rss0, "rss_loaded_kb": rss_loaded, "rss_end_kb": rss_end,
    }))
}
