//! Measurement helpers: server CPU/RSS from /proc, latency histograms, error
//! tallies.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// USER_HZ: /proc reports CPU time in these ticks; 100 on every mainstream
/// Linux build (x86-64, arm64).
const TICKS_PER_S: f64 = 100.0;

/// One reading of a process: why it exists is that CPU % and memory per
/// connection are differences between two readings.
#[derive(Clone, Copy, Debug)]
pub struct ProcSample {
    pub rss_kb: u64,
    /// RssAnon: resident heap and stacks, without the executable's and libraries' pages (which
    /// the kernel maps around each page fault depending on the page cache, so VmRSS also moves
    /// with how much of the binary happens to be cached). None on kernels that lack the field.
    pub anon_kb: Option<u64>,
    pub cpu_ticks: u64,
    pub at: Instant,
}

/// Read `/proc/<pid>/status` (VmRSS, RssAnon) and `/proc/<pid>/stat` (utime +
/// stime of all threads). `None` when the process is gone or unreadable.
pub fn read_proc(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |field: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let rss_kb = kb("VmRSS:")?;
    let anon_kb = kb("RssAnon:");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ProcSample {
        rss_kb,
        anon_kb,
        cpu_ticks: cpu_ticks(&stat)?,
        at: Instant::now(),
    })
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name may hold
/// spaces and parentheses, so fields are counted after the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // after ")": field 3 (state) is index 0, so utime (14) is 11, stime (15) 12
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU between two readings, in % of one core.
pub fn cpu_pct(a: &ProcSample, b: &ProcSample) -> f64 {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / TICKS_PER_S / secs * 100.0
}

/// CPU seconds between two readings.
pub fn cpu_s(a: &ProcSample, b: &ProcSample) -> f64 {
    b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / TICKS_PER_S
}

/// A settled memory reading of the server.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_kb: u64,
    pub anon_kb: Option<u64>,
}

/// The server under test, if `--server-pid` was given: every method is a
/// no-op without a PID so scenarios need not branch.
#[derive(Clone, Copy, Debug)]
pub struct Server(pub Option<u32>);

impl Server {
    pub fn sample(&self) -> Option<ProcSample> {
        self.0.and_then(read_proc)
    }

    /// Median RSS of three readings 300 ms apart: smooths the jitter of
    /// garbage-collected servers.
    pub async fn settled_rss_kb(&self) -> Option<u64> {
        self.settled_memory().await.map(|m| m.rss_kb)
    }

    /// [`Server::settled_rss_kb`] with the anonymous part (median of the same readings).
    pub async fn settled_memory(&self) -> Option<Memory> {
        self.0?;
        let (mut rss, mut anon) = (Vec::new(), Vec::new());
        for i in 0..3 {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if let Some(s) = self.sample() {
                rss.push(s.rss_kb as f64);
                anon.extend(s.anon_kb.map(|a| a as f64));
            }
        }
        Some(Memory {
            rss_kb: median(&mut rss)? as u64,
            anon_kb: median(&mut anon).map(|m| m as u64),
        })
    }

    /// Wait (at most `max`) until the server uses under 5 % CPU over 300 ms,
    /// so that an overloaded trial's backlog does not spill into the next.
    pub async fn wait_quiet(&self, max: Duration) {
        let Some(mut prev) = self.sample() else {
            return;
        };
        let end = Instant::now() + max;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let Some(cur) = self.sample() else { return };
            if cpu_pct(&prev, &cur) < 5.0 {
                return;
            }
            prev = cur;
        }
    }
}

pub fn cpu_between(a: Option<ProcSample>, b: Option<ProcSample>) -> Option<f64> {
    Some(cpu_pct(&a?, &b?))
}

/// Microsecond histogram, 1 µs to 10 min at 2 significant digits: 1 %
/// resolution keeps one histogram per client cheap.
pub fn new_hist() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2*low).
    Histogram::new_with_bounds(1, 600_000_000, 2).unwrap_or_else(|_| unreachable!())
}

pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn p(h: &Histogram<u64>, q: f64) -> f64 {
    ms(h.value_at_quantile(q))
}

pub fn hist_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "count": h.len(), "p50_ms": p(h, 0.5), "p90_ms": p(h, 0.9), "p99_ms": p(h, 0.99),
        "p999_ms": p(h, 0.999), "max_ms": ms(h.max()), "mean_ms": h.mean() / 1000.0,
    })
}

pub fn hist_line(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms  (n={})",
        p(h, 0.5),
        p(h, 0.9),
        p(h, 0.99),
        p(h, 0.999),
        ms(h.max()),
        h.len()
    )
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Counts failures but keeps only the first few messages, so that a run
/// where thousands of clients fail still prints a readable summary.
#[derive(Debug, Default)]
pub struct Errors {
    pub count: usize,
    pub samples: Vec<String>,
}

impl Errors {
    const KEEP: usize = 5;

    pub fn push(&mut self, e: impl ToString) {
        self.count += 1;
        if self.samples.len() < Self::KEEP {
            self.samples.push(e.to_string());
        }
    }

    pub fn absorb(&mut self, other: Errors) {
        self.count += other.count;
        let room = Self::KEEP.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }

    pub fn print(&self) {
        println!("  errors         {}", self.count);
        for e in &self.samples {
            println!("    {e}");
        }
    }
}

/// A short id that makes document names unique per run: servers with
/// persistence keep old documents.
pub fn run_id() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{:x}{:04x}",
        micros % 0xffff_ffff,
        std::process::id() % 0xffff
    )
}

/// Copy every key of `from` into `into` (both JSON objects).
pub fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_the_name() {
        let stat = "42 (my (odd) srv) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 4 0";
        assert_eq!(cpu_ticks(stat), Some(280));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let s = read_proc(std::process::id()).unwrap();
        assert!(s.rss_kb > 0);
    }

    #[test]
    fn median_and_error_tally() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        let mut e = Errors::default();
        for i in 0..8 {
            e.push(i);
        }
        let mut f = Errors::default();
        f.push("x");
        e.absorb(f);
        assert_eq!((e.count, e.samples.len()), (9, 5));
    }
}
