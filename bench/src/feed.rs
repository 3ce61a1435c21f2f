//! `feed`: read Plait's change feed from the beginning, as a consumer catching up would, and
//! time it: `--mode pages` follows `GET /api/changes?after=<next>&limit=N` page after page on
//! one keep-alive connection until a page comes back empty; `--mode stream` reads
//! `GET /api/changes/stream` (server-sent events) until `--expect` changes have arrived.
//!
//! Every change is parsed (serde) and checked: positions strictly increase, and each carries a
//! non-empty update. The result is changes per second over the whole read, with the time this
//! process spent parsing (it runs on its own core, in series with the server in pages mode).

use crate::error::{BenchError, Result};
use crate::http::Http;
use crate::stats::{cpu_between, Server};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedMode {
    Pages,
    Stream,
}

#[derive(clap::Args, Debug)]
pub struct FeedArgs {
    /// Plait's HTTP address (host:port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    #[arg(long, value_enum, default_value = "pages")]
    pub mode: FeedMode,
    /// Changes per page (pages mode; the server allows at most 10000).
    #[arg(long, default_value_t = 10_000)]
    pub limit: usize,
    /// Changes to read: required in stream mode (the stream never ends); in pages mode the run
    /// fails unless exactly this many arrived.
    #[arg(long)]
    pub expect: Option<u64>,
    /// Bearer token, if the server requires one.
    #[arg(long)]
    pub token: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// PID of the server, to sample its CPU.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Free text copied into the JSON result.
    #[arg(long, default_value = "")]
    pub label: String,
}

#[derive(Deserialize)]
struct Change {
    seq: i64,
    doc: String,
    kind: String,
    update: String,
    #[allow(dead_code)] // parsed as a consumer would; not checked
    at: String,
    #[allow(dead_code)]
    cursor: String,
}

#[derive(Deserialize)]
struct Page {
    changes: Vec<Change>,
    next: String,
}

/// What was read, checked as it arrives.
#[derive(Default)]
struct Tally {
    changes: u64,
    snapshots: u64,
    update_bytes: u64,
    last_seq: i64,
    docs: HashSet<String>,
    parse: Duration,
}

impl Tally {
    fn take(&mut self, c: Change) -> Result<()> {
        if c.seq <= self.last_seq {
            return Err(BenchError::Mismatch(format!(
                "position {} after {}",
                c.seq, self.last_seq
            )));
        }
        if c.update.is_empty() {
            return Err(BenchError::Mismatch(format!("empty update at {}", c.seq)));
        }
        self.last_seq = c.seq;
        self.changes += 1;
        self.snapshots += u64::from(c.kind == "snapshot");
        let pad = c.update.bytes().rev().take_while(|b| *b == b'=').count();
        self.update_bytes += (c.update.len() / 4 * 3 - pad) as u64;
        if !self.docs.contains(&c.doc) {
            self.docs.insert(c.doc);
        }
        Ok(())
    }
}

fn headers(a: &FeedArgs) -> Vec<String> {
    let mut h = vec!["Connection: keep-alive".to_owned()];
    if let Some(t) = &a.token {
        h.push(format!("Authorization: Bearer {t}"));
    }
    h
}

async fn pages(a: &FeedArgs, http: &mut Http, t: &mut Tally) -> Result<u64> {
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let path = if after.is_empty() {
            format!("/api/changes?limit={}", a.limit)
        } else {
            format!("/api/changes?after={after}&limit={}", a.limit)
        };
        let head = http.get(&path, &headers(a)).await?;
        let body = http.body(&head).await?;
        if head.status != 200 {
            return Err(BenchError::Runtime(format!(
                "{path}: HTTP {}: {}",
                head.status,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        let started = Instant::now();
        let page: Page =
            serde_json::from_slice(&body).map_err(|e| BenchError::Runtime(e.to_string()))?;
        pages += 1;
        let empty = page.changes.is_empty();
        for c in page.changes {
            t.take(c)?;
        }
        t.parse += started.elapsed();
        if empty {
            return Ok(pages);
        }
        after = page.next;
    }
}

async fn stream(a: &FeedArgs, http: &mut Http, t: &mut Tally, expect: u64) -> Result<u64> {
    let head = http.get("/api/changes/stream", &headers(a)).await?;
    if head.status != 200 || !head.content_type.starts_with("text/event-stream") {
        return Err(BenchError::Runtime(format!(
            "stream: HTTP {} ({})",
            head.status, head.content_type
        )));
    }
    let mut buf = Vec::with_capacity(1 << 20);
    let mut events = 0;
    while t.changes < expect {
        if !http.chunk(&mut buf).await? {
            return Err(BenchError::Closed("the stream ended".into()));
        }
        let started = Instant::now();
        let mut from = 0;
        while let Some(end) = find(&buf[from..], b"\n\n") {
            let event = &buf[from..from + end];
            from += end + 2;
            for line in event.split(|b| *b == b'\n') {
                if let Some(data) = line.strip_prefix(b"data:") {
                    let c: Change = serde_json::from_slice(data.trim_ascii_start())
                        .map_err(|e| BenchError::Runtime(e.to_string()))?;
                    t.take(c)?;
                    events += 1;
                }
            }
        }
        buf.drain(..from);
        t.parse += started.elapsed();
    }
    Ok(events)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub async fn run(a: FeedArgs) -> Result<Value> {
    let server = Server(a.server_pid);
    let mut http = Http::connect(&a.addr).await?;
    let mut t = Tally::default();
    let cpu0 = server.sample();
    let started = Instant::now();
    let limit = Duration::from_secs_f64(a.timeout);
    let read = async {
        match a.mode {
            FeedMode::Pages => pages(&a, &mut http, &mut t).await,
            FeedMode::Stream => {
                let expect = a.expect.ok_or(BenchError::Runtime(
                    "--mode stream needs --expect (the stream never ends)".into(),
                ))?;
                stream(&a, &mut http, &mut t, expect).await
            }
        }
    };
    let requests = tokio::time::timeout(limit, read)
        .await
        .map_err(|_| BenchError::Timeout {
            what: "reading the feed".into(),
            after: limit,
        })??;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_between(cpu0, server.sample());
    let rate = t.changes as f64 / elapsed;
    println!(
        "feed ({:?}): {} changes ({} snapshots) of {} documents, {:.1} MB of updates in {elapsed:.2} s",
        a.mode,
        t.changes,
        t.snapshots,
        t.docs.len(),
        t.update_bytes as f64 / 1e6
    );
    println!(
        "  changes/s {rate:.0}  (parsing here {:.2} s)  server cpu {}",
        t.parse.as_secs_f64(),
        cpu.map_or("-".into(), |c| format!("{c:.0} %"))
    );
    if let Some(want) = a.expect {
        if t.changes != want {
            return Err(BenchError::Mismatch(format!(
                "read {} changes, expected {want}",
                t.changes
            )));
        }
    }
    Ok(json!({
        "scenario": "feed", "label": a.label, "mode": a.mode, "limit": a.limit,
        "changes": t.changes, "snapshots": t.snapshots, "documents": t.docs.len(),
        "update_bytes": t.update_bytes, "elapsed_s": elapsed, "changes_per_s": rate,
        "requests_or_events": requests, "client_parse_s": t.parse.as_secs_f64(),
        "server_cpu_pct": cpu, "last_seq": t.last_seq,
    }))
}
