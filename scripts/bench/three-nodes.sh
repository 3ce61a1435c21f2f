#!/usr/bin/env bash
# Three nodes on one PostgreSQL database: cross-node latency, the most cross-node updates/s, and
# what NOTIFY and the nodes' listeners cost (issue 27, row 4).
#   notify before any node starts: PostgreSQL's NOTIFY alone, pgbench sending NOTIFY_BATCHES
#          Plait-sized notifications per statement from 3 connections (one per node) as fast as
#          it can, heard by 1 or by 3 listeners (this script's own, which count what they hear):
#          the NOTIFY limit, and PostgreSQL's CPU per notifying transaction, per notification and
#          per listener (a straight line through the two batch sizes);
#   alone  node A (first of PORTS) by itself, ROOMS rooms x 3 clients all on it, at each total rate of
#          RATES (updates/s over all clients; per client: total / clients): what a single
#          PostgreSQL node costs;
#   three  nodes B and C start too; the same rooms with one client of every room
#          on each node (`--also-url`): every delivery crosses from one node to another through
#          PostgreSQL (broadcast NOTIFY, then the log trigger's NOTIFY and the rows read);
#   max    `fanout --find-max` on the three-node layout: the most cross-node updates/s with p99
#          (from schedule) <= P99_TARGET ms, no loss, >= 95 % of planned sends.
# Every fixed-rate trial records plait-bench's latency (p50/p99 from send; p99 from schedule too),
# deliveries and loss, each node's CPU and PostgreSQL's (every process of its cluster, reaped
# backends included), sampled from /proc over the sending window after the warm-up second, the
# notifications heard on the nodes' channel by an extra listener (by kind: `live` is a node's
# broadcast of an update, `stored` the log trigger's, one per INSERT statement; the same
# connection times a notifying commit every 0.5 s, like a node's broadcast round trip, and tallies
# what the database's busy backends wait on) and the database's commits and rows. The end prints a Markdown table (median (min-max) over REPS) and
# the capacity model derived from it (updates/s per node core, PostgreSQL CPU per update and per
# NOTIFY, hence updates/s per database on N cores).
#
# Usage: scripts/bench/three-nodes.sh
# Environment: REPS [3]  DURATION [10] (seconds of sending per trial)  OUT [target/bench/three-nodes]
#   PG [postgres://postgres@127.0.0.1:5432] (trust authentication: the listeners speak the
#   protocol themselves)  PLAIT_BIN [target/release/plait]  BENCH_BIN [target/release/plait-bench]
#   PLAIT_ARGS [limits raised as in scripts/bench.sh]  SERVER_CPU [0] (the three nodes)
#   BENCH_CPU [1] (plait-bench, pgbench)  ROOMS [100]  RATES ["2000 10000"]  P99_TARGET [50]
#   MAX_START [500] (total updates/s of find-max's first trial; it doubles from there)
#   PORTS ["8000 8001 8002"] (nodes A, B, C; each must be free)
#   IDLE_UNLOAD [1s] (the nodes' --idle-unload) SETTLE [5] (seconds after each trial: its
#   documents unload, each rendering its projection and compacting, before the next trial; with
#   the default 30 s they unloaded inside the next trials' windows, ~300 at once)
#   STALL [0] (seconds node B is stopped, SIGSTOP then SIGCONT, 3 s into each three-node trial:
#   a stand-in for a node's pause, a slow disk or a busy core, to see the durable echo recover)
#   NOTIFY_BATCHES ["1 64"] (notifications per pgbench statement, one transaction each; a node
#   sends 1 to 64 per round trip)  NOTIFY_PAYLOAD [160] (bytes each, about a node's `live` one)
# Needs psql, pgbench, python3 and a PostgreSQL server on which PG may create a database (dropped
# at the end). PostgreSQL is not pinned; its CPU is that of the whole cluster, so anything else
# using it during the run counts too.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
REPS="${REPS:-3}"
DURATION="${DURATION:-10}"
OUT="${OUT:-target/bench/three-nodes}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
PLAIT_ARGS="${PLAIT_ARGS:---message-rate 1000000 --message-burst 1000000 --max-connections-per-doc 2000}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
ROOMS="${ROOMS:-100}"
RATES="${RATES:-2000 10000}"
P99_TARGET="${P99_TARGET:-50}"
MAX_START="${MAX_START:-500}"
PORTS="${PORTS:-8000 8001 8002}"
STALL="${STALL:-0}"
NOTIFY_BATCHES="${NOTIFY_BATCHES:-1 64}"
NOTIFY_PAYLOAD="${NOTIFY_PAYLOAD:-160}"
IDLE_UNLOAD="${IDLE_UNLOAD:-1s}"
SETTLE="${SETTLE:-5}"
DB="plait_bench_three_$$"
CLIENTS=3
mkdir -p "$OUT"
for bin in "$PLAIT_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }
done
for tool in psql pgbench python3 taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
TMP="$(mktemp -d)"
TOOL="$TMP/three_nodes.py"

# The helper: LISTEN counters, the /proc sampler, and the per-trial and final arithmetic.
cat >"$TOOL" <<'PY'
import json, os, signal, socket, statistics, struct, sys, time, urllib.parse

# The script runs from the repository's root: the tables' cells come from summarize.py.
sys.path.insert(0, os.path.join(os.getcwd(), "scripts", "bench"))
from summarize import cell  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")
stop = False


def on_term(*_):
    global stop
    stop = True


# Sampled by the counting listener every PROBE_EVERY s: what the database's client backends that
# are not idle are waiting on (no wait event: on CPU), by the start of their statement.
WAITS_SQL = (
    "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ' (' || state"
    " || ') ' || left(regexp_replace(query, '\s+', ' ', 'g'), 50), count(*)::text FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
    " AND backend_type = 'client backend' GROUP BY 1")
PROBE_EVERY = 0.5


def query(s, sql):
    q = sql.encode() + b"\0"
    s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)


def pg_listen(url, db, channel, ready, out, kinds):
    """A LISTEN connection speaking the protocol (v3, trust authentication only); counts what it
    hears in 0.1 s buckets, by the payload's second word if `kinds`, and writes JSON to `out` on
    SIGTERM. With `kinds` it also probes, every PROBE_EVERY s, how long a notifying commit takes
    (`SELECT pg_notify` on a channel nobody hears: a node's broadcast round trip) and samples the
    backends' wait events."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432))
    params = b"user\0" + (u.username or "postgres").encode() + b"\0database\0" + db.encode() + b"\0\0"
    s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    s.settimeout(0.05)
    signal.signal(signal.SIGTERM, on_term)
    buf = bytearray()
    state = "startup"  # startup, listen, idle, probe, waits
    counts, sizes, buckets, waits, probes = {}, {}, {}, {}, []
    total, samples, sent_at, next_probe = 0, 0, 0.0, 0.0
    while not stop:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            chunk = b""
        else:
            if not chunk:
                sys.exit("listener: connection closed")
        buf += chunk
        pos = 0
        now = time.time()
        while len(buf) - pos >= 5:
            kind = buf[pos]
            (length,) = struct.unpack_from("!i", buf, pos + 1)
            if len(buf) - pos < 1 + length:
                break
            body = bytes(buf[pos + 5:pos + 1 + length])
            pos += 1 + length
            if kind == 0x41:  # 'A' NotificationResponse: pid, channel, payload
                total += 1
                b = int(now * 10)
                buckets[b] = buckets.get(b, 0) + 1
                if kinds:
                    end = body.index(b"\0", 4)
                    payload = body[end + 1:-1]
                    parts = payload.split(b" ", 2)
                    word = parts[1].decode() if len(parts) > 1 else "?"
                    counts[word] = counts.get(word, 0) + 1
                    sizes[word] = sizes.get(word, 0) + len(payload)
            elif kind == 0x44 and state == "waits":  # 'D' DataRow: key, count
                (n,) = struct.unpack_from("!h", body, 0)
                cols, at = [], 2
                for _ in range(n):
                    (ln,) = struct.unpack_from("!i", body, at)
                    cols.append(body[at + 4:at + 4 + ln].decode(errors="replace") if ln >= 0 else "")
                    at += 4 + max(ln, 0)
                waits[cols[0]] = waits.get(cols[0], 0) + int(cols[1])
            elif kind == 0x52:  # 'R' authentication
                (code,) = struct.unpack_from("!i", body, 0)
                if code != 0:
                    sys.exit(f"listener: the server asks for authentication {code}; only trust is supported")
            elif kind == 0x45:  # 'E' error
                sys.exit("listener: " + body.decode(errors="replace"))
            elif kind == 0x5A:  # 'Z' ReadyForQuery
                if state == "startup":
                    query(s, f'LISTEN "{channel}"')
                    state = "listen"
                elif state == "listen":
                    open(ready, "w").close()
                    state, next_probe = "idle", now + PROBE_EVERY
                elif state == "probe":
                    probes.append((now - sent_at) * 1000)
                    query(s, WAITS_SQL)
                    state = "waits"
                elif state == "waits":
                    samples += 1
                    state = "idle"
        del buf[:pos]
        if kinds and state == "idle" and now >= next_probe:
            sent_at, next_probe = time.time(), now + PROBE_EVERY
            query(s, "SELECT pg_notify('plait_bench_probe', 'p')")
            state = "probe"
    with open(out, "w") as f:
        json.dump({"total": total, "kinds": counts, "bytes": sizes,
                   "buckets": {str(k): v for k, v in buckets.items()},
                   "probe_ms": probes, "waits": waits, "wait_samples": samples}, f)


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def pg_ticks(postmaster):
    """CPU ticks of the whole PostgreSQL cluster: the postmaster with the children it reaped,
    and every live child."""
    me = stat(postmaster)
    if me is None:
        return 0
    total = me[1] + me[2]
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(name)
            if st and st[0] == postmaster:
                total += st[1]
    return total


def sample(out, *args):
    """Every 0.2 s until SIGTERM: time, each pid's ticks, the PostgreSQL cluster's ticks (the
    last argument is its postmaster)."""
    pids, postmaster = args[:-1], args[-1]
    signal.signal(signal.SIGTERM, on_term)
    with open(out, "w") as f:
        while not stop:
            row = [time.time()] + [(stat(p) or (0, 0, 0))[1] for p in pids] + [pg_ticks(int(postmaster))]
            f.write(" ".join(map(str, row)) + "\n")
            f.flush()
            time.sleep(0.2)


def at(rows, t, col):
    """Column `col` interpolated at time `t`."""
    for a, b in zip(rows, rows[1:]):
        if a[0] <= t <= b[0]:
            return a[col] + (b[col] - a[col]) * (t - a[0]) / max(b[0] - a[0], 1e-9)
    return rows[0][col] if t < rows[0][0] else rows[-1][col]


def cpu_pcts(path, t0, t1):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    if len(rows) < 2:
        return None
    t0, t1 = max(t0, rows[0][0]), min(t1, rows[-1][0])
    if t1 - t0 < 0.5:
        return None
    return [(at(rows, t1, c) - at(rows, t0, c)) / TCK / (t1 - t0) * 100 for c in range(1, len(rows[0]))]


def in_window(counts, t0, t1):
    return sum(v for k, v in counts["buckets"].items() if t0 <= int(k) / 10 < t1)


def pgstat(s):
    return dict(zip(["xact_commit", "tup_inserted", "tup_returned", "tup_fetched", "rows", "other_commits"],
                    map(int, s.split("|"))))


def emit(results, r, line):
    with open(results, "a") as f:
        f.write(json.dumps(r) + "\n")
    print("   " + line)


def fmt(x, f="{:.0f}"):
    return "-" if x is None else f.format(x)


def trial(results, layout, total, rep, log, samples, listen, launch, before, after, duration, nodes):
    """One fixed-rate trial's JSON line from plait-bench's JSON, the samples and the listener."""
    j = json.loads(open(log).read().strip().splitlines()[-1])
    start = float(launch) + j["connect_s"] + 0.2
    t0, t1 = start + 1.0, start + float(duration)
    cpu = cpu_pcts(samples, t0, t1) or [None] * (int(nodes) + 1)
    heard = json.load(open(listen))
    b, a = pgstat(before), pgstat(after)
    sent = j["sent"] or 1
    window = t1 - t0
    r = {
        "layout": layout, "rate_total": int(total), "rep": int(rep),
        "sent": j["sent"], "sent_per_s": j["sent_per_s"], "target_per_s": j["target_per_s"],
        "deliveries": j["received_deliveries"], "expected": j["expected_deliveries"],
        "lost": j["lost"], "errors": j["errors"], "delivered_per_s": j["delivered_per_s"],
        "p50_ms": (j.get("latency") or {}).get("p50_ms"), "p99_ms": (j.get("latency") or {}).get("p99_ms"),
        "sched_p50_ms": (j.get("latency_from_schedule") or {}).get("p50_ms"),
        "sched_p99_ms": (j.get("latency_from_schedule") or {}).get("p99_ms"),
        "echo_p50_ms": (j.get("echo") or {}).get("p50_ms"), "echoes_missing": j.get("echoes_missing"),
        "node_cpu_pct": cpu[:-1], "nodes_cpu_pct": sum(c for c in cpu[:-1] if c is not None) if cpu[0] is not None else None,
        "pg_cpu_pct": cpu[-1], "bench_node_a_cpu_pct": j.get("server_cpu_pct"),
        "loadgen_cpu_pct": j.get("loadgen_cpu_pct"), "window_s": window,
        "notify_per_s": in_window(heard, t0, t1) / window,
        "notify_total": heard["total"], "notify_per_update": heard["total"] / sent,
        "notify_kinds": heard["kinds"],
        "notify_mean_bytes": {k: heard["bytes"][k] / v for k, v in heard["kinds"].items() if v},
        "xact_per_update": (a["xact_commit"] - b["xact_commit"]) / sent,
        "rows_per_update": (a["rows"] - b["rows"]) / sent,
        # Commits in the cluster's other databases meanwhile: their PostgreSQL CPU counts too.
        "other_db_commits": a["other_commits"] - b["other_commits"],
        "notify_commit_ms": {"n": len(heard["probe_ms"]), "p50": pct(heard["probe_ms"], 0.5),
                             "p90": pct(heard["probe_ms"], 0.9), "max": max(heard["probe_ms"], default=None)},
        # Average number of the database's client backends in each state (not idle) per sample.
        "pg_waits": {k: v / max(heard["wait_samples"], 1) for k, v in
                     sorted(heard["waits"].items(), key=lambda kv: -kv[1])},
        "tup_read_per_update": (a["tup_returned"] + a["tup_fetched"] - b["tup_returned"] - b["tup_fetched"]) / sent,
    }
    emit(results, r, f"cpu % nodes {' / '.join(fmt(c) for c in r['node_cpu_pct'])}, PostgreSQL {fmt(r['pg_cpu_pct'])}; "
         f"NOTIFY {r['notify_per_s']:,.0f}/s ({r['notify_per_update']:.2f} per update: {r['notify_kinds']}); "
         f"{r['xact_per_update']:.2f} commits, {r['rows_per_update']:.3f} rows per update"
         + (f"; {r['other_db_commits']} commits in other databases meanwhile" if r["other_db_commits"] > 50 else ""))
    nc = r["notify_commit_ms"]
    print(f"   notifying commit (probe, n={nc['n']}): p50 {fmt(nc['p50'], '{:.1f}')} p90 {fmt(nc['p90'], '{:.1f}')} "
          f"max {fmt(nc['max'], '{:.1f}')} ms; backends busy (average count): "
          + "; ".join(f"{k} {v:.1f}" for k, v in list(r["pg_waits"].items())[:4]))


def notify_trial(results, listeners, rep, pgbench_log, samples, launch, duration, batch, payload, *listens):
    """The NOTIFY-only trial's JSON line: pgbench's rate, what each listener heard, PG's CPU."""
    txs, tps = None, None
    for line in open(pgbench_log):
        if line.startswith("number of transactions actually processed:"):
            txs = int(line.split(":")[1].split("/")[0])
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    sent = (txs or 0) * int(batch)
    t0, t1 = float(launch) + 1.0, float(launch) + float(duration)
    cpu = cpu_pcts(samples, t0, t1) or [None]
    heard = [json.load(open(p)) for p in listens]
    window = t1 - t0
    r = {
        "layout": "notify", "listeners": int(listeners), "rep": int(rep),
        "batch": int(batch), "payload_bytes": int(payload), "sent": sent, "tps": tps,
        "sent_per_s": (tps or 0) * int(batch),
        "heard_each": [h["total"] for h in heard],
        "heard_per_s": statistics.mean(in_window(h, t0, t1) for h in heard) / window,
        "pg_cpu_pct": cpu[-1], "window_s": window,
    }
    emit(results, r, f"sent {r['sent_per_s']:,.0f} NOTIFY/s, heard {r['heard_per_s']:,.0f}/s per listener in the window "
         f"(totals {r['heard_each']} of {sent}), PostgreSQL CPU {fmt(r['pg_cpu_pct'])} %")


def find_max(results, rep, log):
    j = json.loads(open(log).read().strip().splitlines()[-1])
    m = j.get("max") or {}
    r = {
        "layout": "max", "rep": int(rep), "passed": bool(m),
        "sent_per_s": m.get("sent_per_s"), "delivered_per_s": m.get("delivered_per_s"),
        "p50_ms": (m.get("latency") or {}).get("p50_ms"), "p99_ms": (m.get("latency") or {}).get("p99_ms"),
        "sched_p99_ms": (m.get("latency_from_schedule") or {}).get("p99_ms"),
        "node_a_cpu_pct": m.get("server_cpu_pct"), "lost": m.get("lost"),
        "trials": [{"rate_total": t["target_per_s"], "sent_per_s": t["sent_per_s"],
                    "sched_p99_ms": (t.get("latency_from_schedule") or {}).get("p99_ms"),
                    "lost": t["lost"], "pass": t["pass"]} for t in j.get("trials", [])],
    }
    emit(results, r, f"max {fmt(r['sent_per_s'], '{:,.0f}')} cross-node updates/s sent, p99 from schedule {fmt(r['sched_p99_ms'], '{:.2f}')} ms")


def med(values, fmt):
    """Median (min–max) of the values that were measured, as summarize.py writes it."""
    return cell([x for x in values if x is not None], fmt)[0]


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def report(results, duration, target):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    reps = max((r["rep"] for r in rows), default=0)
    print(f"\n### Three Plait nodes on one PostgreSQL: median (min–max) over {reps} repetition(s), {duration} s of sending per trial\n")
    fixed = [r for r in rows if r["layout"] in ("alone", "three")]
    keys = sorted({(r["layout"], r["rate_total"]) for r in fixed}, key=lambda k: (k[0] != "alone", k[1]))
    print("| layout | updates/s planned | sent/s | deliveries/s | lost | p50 ms | p99 ms | p99 ms from schedule "
          "| nodes CPU % (A / B / C) | PostgreSQL CPU % | NOTIFY/s (per update: live, stored) | commits per update (approx.) "
          "| notifying commit ms p50 / max (probe) | durable echo p50 ms (echoes missing) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for layout, rate in keys:
        g = [r for r in fixed if (r["layout"], r["rate_total"]) == (layout, rate)]
        per_node = " / ".join(med([r["node_cpu_pct"][i] for r in g], "{:.0f}") for i in range(len(g[0]["node_cpu_pct"])))
        name = "alone (1 node, 3 clients on it)" if layout == "alone" else "three (1 client per node)"
        print(f"| {name} | {rate:,} | {med([r['sent_per_s'] for r in g], '{:,.0f}')} "
              f"| {med([r['delivered_per_s'] for r in g], '{:,.0f}')} | {med([r['lost'] for r in g], '{:.0f}')} "
              f"| {med([r['p50_ms'] for r in g], '{:.2f}')} | {med([r['p99_ms'] for r in g], '{:.2f}')} "
              f"| {med([r['sched_p99_ms'] for r in g], '{:.2f}')} "
              f"| {per_node} (sum {med([r['nodes_cpu_pct'] for r in g], '{:.0f}')}) "
              f"| {med([r['pg_cpu_pct'] for r in g], '{:.0f}')} "
              f"| {med([r['notify_per_s'] for r in g], '{:,.0f}')} ({med([r['notify_per_update'] for r in g], '{:.2f}')}: "
              f"{med([r['notify_kinds'].get('live', 0) / max(r['sent'], 1) for r in g], '{:.2f}')} live, "
              f"{med([r['notify_kinds'].get('stored', 0) / max(r['sent'], 1) for r in g], '{:.3f}')} stored) "
              f"| {med([r['xact_per_update'] for r in g], '{:.2f}')} "
              f"| {med([r['notify_commit_ms']['p50'] for r in g], '{:.1f}')} / {med([r['notify_commit_ms']['max'] for r in g], '{:.0f}')} "
              f"| {med([r.get('echo_p50_ms') for r in g], '{:.0f}')} ({med([r.get('echoes_missing') for r in g], '{:.0f}')}) |")
    mx = [r for r in rows if r["layout"] == "max"]
    if mx:
        print(f"| three, find-max (p99 from schedule ≤ target) | – | {med([r['sent_per_s'] for r in mx], '{:,.0f}')} "
              f"| {med([r['delivered_per_s'] for r in mx], '{:,.0f}')} | {med([r['lost'] for r in mx], '{:.0f}')} "
              f"| {med([r['p50_ms'] for r in mx], '{:.2f}')} | {med([r['p99_ms'] for r in mx], '{:.2f}')} "
              f"| {med([r['sched_p99_ms'] for r in mx], '{:.2f}')} | A: {med([r['node_a_cpu_pct'] for r in mx], '{:.0f}')} | – | – | – | – | – |")
    nt = sorted({(r["batch"], r["listeners"]) for r in rows if r["layout"] == "notify"})
    if nt:
        size = next(r["payload_bytes"] for r in rows if r["layout"] == "notify")
        print(f"\n| NOTIFY only (pgbench, 3 senders, {size} B each) | listeners | NOTIFY/s sent | transactions/s "
              "| heard/s per listener | PostgreSQL CPU % | PostgreSQL µs per NOTIFY | µs per transaction |")
        print("|---|---|---|---|---|---|---|---|")
        for batch, n in nt:
            g = [r for r in rows if r["layout"] == "notify" and (r["batch"], r["listeners"]) == (batch, n)]
            us = [r["pg_cpu_pct"] / 100 / r["sent_per_s"] * 1e6 if r["pg_cpu_pct"] and r["sent_per_s"] else None for r in g]
            ut = [r["pg_cpu_pct"] / 100 / r["tps"] * 1e6 if r["pg_cpu_pct"] and r["tps"] else None for r in g]
            print(f"| {batch} per statement | {n} | {med([r['sent_per_s'] for r in g], '{:,.0f}')} "
                  f"| {med([r['tps'] for r in g], '{:,.0f}')} | {med([r['heard_per_s'] for r in g], '{:,.0f}')} "
                  f"| {med([r['pg_cpu_pct'] for r in g], '{:.0f}')} | {med(us, '{:.1f}')} | {med(ut, '{:.1f}')} |")
    model(rows, target)


def model(rows, target):
    three = [r for r in rows if r["layout"] == "three"]
    if not three:
        return

    def cell(layout, rate, key):
        return median([r[key] for r in rows if r["layout"] == layout and r.get("rate_total") == rate])

    def per_update(rate, kind):
        return median([r["notify_kinds"].get(kind, 0) / max(r["sent"], 1) for r in three if r["rate_total"] == rate])

    rates = sorted({r["rate_total"] for r in three})
    # The model's figures come from the highest rate both layouts kept up with (p99 from schedule
    # within the target, nothing lost, the broadcasts not skipped): past it a starved process
    # shows less CPU than the work needs.
    def kept_up(rate):
        return all(v is not None for v in (cell("three", rate, "sched_p99_ms"), cell("alone", rate, "sched_p99_ms"))) \
            and cell("three", rate, "sched_p99_ms") <= float(target) and cell("alone", rate, "sched_p99_ms") <= float(target) \
            and cell("three", rate, "lost") == 0 and per_update(rate, "live") >= 0.5
    healthy = [rate for rate in rates if kept_up(rate)]
    # Failing that, the lowest rate (its work was done in the window; fixed costs weigh more).
    R = healthy[-1] if healthy else rates[0]
    s3, s1 = cell("three", R, "sent_per_s"), cell("alone", R, "sent_per_s")
    nodes3, node1 = cell("three", R, "nodes_cpu_pct"), cell("alone", R, "nodes_cpu_pct")
    pg3, pg1 = cell("three", R, "pg_cpu_pct"), cell("alone", R, "pg_cpu_pct")
    n3, n1 = cell("three", R, "notify_per_s"), cell("alone", R, "notify_per_s")
    if None in (s3, s1, nodes3, node1, pg3, pg1, n3, n1):
        print("\n(capacity model: figures missing, see results.jsonl)")
        return
    us = lambda pct, rate: pct / 100 / rate * 1e6  # CPU µs per update
    c1, c3 = us(node1, s1), us(nodes3, s3)
    p1, p3 = us(pg1, s1), us(pg3, s3)
    npu = {rate: cell("three", rate, "notify_per_update") for rate in rates}
    n = max(npu.values())  # the most NOTIFY per update seen: drains that merge updates only lower it
    skipped = [rate for rate in rates if per_update(rate, "live") < 0.5]

    def per_tx(listeners, batch):  # PostgreSQL CPU µs per notifying transaction
        g = [r for r in rows if r["layout"] == "notify" and r["listeners"] == listeners
             and r["batch"] == batch and r["pg_cpu_pct"] and r["tps"]]
        return median([r["pg_cpu_pct"] / 100 / r["tps"] * 1e6 for r in g])

    def notify_rate(listeners, batch):
        return median([r["sent_per_s"] for r in rows if r["layout"] == "notify"
                       and r["listeners"] == listeners and r["batch"] == batch])

    batches = sorted({r["batch"] for r in rows if r["layout"] == "notify"})
    line = {}  # listeners: (µs per transaction, µs per NOTIFY), through the smallest and largest batch
    if len(batches) >= 2:
        lo, hi = batches[0], batches[-1]
        for k in (1, 3):
            tl, th = per_tx(k, lo), per_tx(k, hi)
            if tl and th:
                m = (th - tl) / (hi - lo)
                line[k] = (tl - lo * m, m)
    limit = notify_rate(3, batches[-1]) if batches else None
    limit_lo = notify_rate(3, batches[0]) if batches else None
    mx = median([r["sent_per_s"] for r in rows if r["layout"] == "max"])
    goal = cell("three", 10000, "p99_ms")

    print("\n### Capacity model\n")
    if goal is not None:
        print(f"Goal, cross-node p99 <= 10 ms at 10 k updates/s: measured p99 {goal:.2f} ms from send "
              f"({cell('three', 10000, 'sched_p99_ms'):.2f} ms from schedule): {'met' if goal <= 10 else 'NOT met'} on this machine.\n")
    print(f"Figures, at {R:,} updates/s planned ({s3:,.0f} sent/s with three nodes, {s1:,.0f} with one), CPU from /proc "
          "over the sending window; "
          + (f"the highest rate both layouts kept up with (p99 from schedule <= {float(target):g} ms, no loss, broadcasts "
             "not skipped):" if healthy else
             f"NO rate kept up (p99 from schedule <= {float(target):g} ms, no loss, broadcasts not skipped), so these "
             "figures come from the lowest rate, whose latency says the machine was short of CPU for it (other "
             "programs); per update they overstate the cost where fixed costs weigh:"))
    print(f"- Node CPU per update: {c1:.1f} µs on a lone node (ingest + 2 local deliveries), i.e. {1e6 / c1:,.0f} "
          f"updates/s per node core; {c3:.1f} µs summed over the three nodes when every room spans them (ingest and "
          f"broadcast on one node, applied and delivered on the other two), i.e. {1e6 / c3:,.0f} cluster updates/s per "
          "node core.")
    print(f"- Crossing nodes costs the nodes {c3 - c1:.1f} µs per update (three minus alone, same rate and clients): "
          "the broadcaster, and each listener parsing every notification (its own skipped at once), applying the "
          "others' updates and reading the rows each `stored` names"
          + (f"; {(nodes3 - node1) / 100 / (3 * n3) * 1e6:.1f} µs per notification heard per node ({n3:,.0f} NOTIFY/s x 3 listeners)." if n3 > 0 else "."))
    print(f"- PostgreSQL CPU per update: {p1:.1f} µs alone, {p3:.1f} µs with three nodes, i.e. "
          + ", ".join(f"{cell('three', rate, 'pg_cpu_pct') / (cell('three', rate, 'sent_per_s') / 1000):.1f} % of a core per 1,000 updates/s at {rate:,}"
                      for rate in rates if cell('three', rate, 'pg_cpu_pct') is not None) + ".")
    print("- NOTIFY per update with three nodes: "
          + ", ".join(f"{npu[rate]:.2f} at {rate:,}/s ({per_update(rate, 'live'):.2f} `live` + {per_update(rate, 'stored'):.3f} `stored`)" for rate in rates)
          + (f"; PostgreSQL's CPU three minus alone is {(pg3 - pg1) / 100 / (n3 - n1) * 1e6:.1f} µs per extra NOTIFY, "
             "an upper bound of a NOTIFY's cost in place (it also pays the feeds' row reads and the extra commits)."
             if n3 > n1 and pg3 > pg1 else "; PostgreSQL's CPU was no higher with three nodes than with one (the "
             "NOTIFY's cost is below the noise here)."))
    if skipped:
        print(f"- At {', '.join(f'{r:,}' for r in skipped)} updates/s most updates were NOT broadcast (`live` < 0.5 per "
              "update): the broadcaster's queue was full and the other nodes got them from the `stored` path (the "
              "commit, then a read), so latency there is the flush interval plus the read, not the NOTIFY.")
    for rate in rates:
        g = [r for r in three if r["rate_total"] == rate and r.get("pg_waits") is not None]
        if not g:
            continue
        keys = {k for r in g for k in r["pg_waits"]}
        busy = sorted(((median([r["pg_waits"].get(k, 0) for r in g]), k) for k in keys), reverse=True)[:4]
        print(f"- With three nodes at {rate:,}/s a notifying commit (the probe, like a broadcast round trip) took "
              f"p50 {median([r['notify_commit_ms']['p50'] for r in g]) or 0:.1f} ms, max "
              f"{median([r['notify_commit_ms']['max'] for r in g]) or 0:.0f} ms; the database's busy backends, "
              "on average: " + "; ".join(f"{v:.1f} {k}" for v, k in busy) + ".")
    if 1 in line and 3 in line:
        (a1, m1), (a3, m3) = line[1], line[3]
        print(f"- NOTIFY alone (pgbench, 3 senders, {batches[0]} and {batches[-1]} per transaction): PostgreSQL CPU = "
              f"{a3:.1f} µs per notifying transaction + {m3:.1f} µs per NOTIFY with 3 listeners ({a1:.1f} + {m1:.1f} "
              f"with 1), so ~{(m3 - m1) / 2:.1f} µs per NOTIFY per extra listener. Measured limit to 3 listeners on this "
              f"machine: {limit:,.0f} NOTIFY/s at {batches[-1]} per transaction, {limit_lo:,.0f}/s at {batches[0]} (2 cores "
              "shared by PostgreSQL, pgbench and the listeners; a notifying commit takes an XID and one database-wide "
              "lock held until its commit is flushed, so the limit does not grow with cores as the rest does).")
    print(f"\nModel: an update in rooms that span the nodes costs c3 = {c3:.1f} µs of node CPU (spread over the nodes: "
          "each node applies every other node's updates, so more nodes add capacity only for rooms that stay on one "
          f"node, at c1 = {c1:.1f} µs), p3 = {p3:.1f} µs of PostgreSQL CPU and n = {n:.2f} NOTIFY. "
          f"Per database on N cores: min(N x 1e6 / p3, NOTIFY limit / n) updates/s"
          + (f" = min(N x {1e6 / p3:,.0f}, {limit / n:,.0f}):" if limit and n else ":"))
    for N in (2, 4, 8, 16):
        cpu_bound = N * 1e6 / p3
        notify_bound = limit / n if limit and n else None
        print(f"- N = {N:>2}: {min(cpu_bound, notify_bound or cpu_bound):,.0f} updates/s"
              f" ({'NOTIFY' if notify_bound and notify_bound < cpu_bound else 'CPU'} bound)")
    if mx:
        print(f"\nMeasured: find-max passed at {mx:,.0f} cross-node updates/s on this 2-core machine (three nodes on "
              f"one core, PostgreSQL unpinned, the load generator on the other); the model's bound for the nodes' one "
              f"core is {1e6 / c3:,.0f}/s and for PostgreSQL's share of 2 cores {2e6 / p3:,.0f}/s.")
    else:
        print("\nMeasured: find-max found no passing rate (the lowest tried failed), see max.*.log.")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "listen":
        pg_listen(args[0], args[1], args[2], args[3], args[4], args[5] == "kinds")
    elif cmd == "sample":
        sample(*args)
    elif cmd == "trial":
        trial(*args)
    elif cmd == "notify":
        notify_trial(*args)
    elif cmd == "max":
        find_max(*args)
    elif cmd == "report":
        report(*args)
    else:
        sys.exit(f"unknown command {cmd}")
PY

PIDS=()   # the nodes, A first
HELPERS=()  # listeners and samplers still running
cleanup() {
  for pid in "${HELPERS[@]}" "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${HELPERS[@]}" "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$TMP"
}
trap cleanup EXIT
psql "$PG/postgres" -qXc "CREATE DATABASE $DB"

# PostgreSQL's postmaster: the parent of its checkpointer (a backend's pid is gone once psql ends).
POSTMASTER="$(psql "$PG/postgres" -XAtc \
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" \
  | { read -r p; awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true; })"
[ -n "$POSTMASTER" ] && [ -r "/proc/$POSTMASTER/stat" ] \
  || { echo "cannot find PostgreSQL's postmaster in /proc (is PG on this machine?)" >&2; exit 1; }

# start_listener NAME CHANNEL MODE CPU: an extra LISTEN connection; waits until it listens.
start_listener() {
  local name="$1" channel="$2" mode="$3" cpu="$4"
  rm -f "$TMP/$name.ready" "$TMP/$name.json"
  taskset -c "$cpu" python3 "$TOOL" listen "$PG" "$DB" "$channel" "$TMP/$name.ready" \
    "$TMP/$name.json" "$mode" &
  HELPERS+=("$!")
  for _ in $(seq 100); do [ -e "$TMP/$name.ready" ] && return 0; sleep 0.1; done
  echo "listener $name did not start" >&2; exit 1
}

# stop_helpers: ends the listeners and samplers started since the last call, in order.
stop_helpers() {
  for pid in "${HELPERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  HELPERS=()
}

pg_stat() {
  psql "$PG/$DB" -XAtc "SELECT xact_commit, tup_inserted, tup_returned, tup_fetched,
      (SELECT coalesce(max(seq), 0) FROM document_updates),
      (SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname <> current_database())
    FROM pg_stat_database WHERE datname = current_database()"
}

# start_node PORT: starts a node on PORT (which must be free) and waits for it.
start_node() {
  local port="$1" pid
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken by another program: set PORTS" >&2; exit 1
  fi
  # shellcheck disable=SC2086
  RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind "127.0.0.1:$port" \
    --database-url "$PG/$DB" $PLAIT_ARGS --idle-unload "$IDLE_UNLOAD" \
    --unsaved-file "$OUT/unsaved-$port.bin" >>"$OUT/server.$port.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 150); do  # up to 15 s for the port and the schema
    kill -0 "$pid" 2>/dev/null || { echo "node on $port exited, see $OUT/server.$port.log" >&2; exit 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
      && [ "$(psql "$PG/$DB" -XAtc "SELECT to_regclass('document_updates') IS NOT NULL")" = t ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "node on $port did not listen (or migrate) within 15 s" >&2; exit 1
}

# notify_trial LISTENERS BATCH REP: pgbench NOTIFYs as fast as it can, BATCH per statement, to
# LISTENERS listeners.
notify_trial() {
  local n="$1" batch="$2" rep="$3" base="$OUT/notify-$1-b$2.$3" i launch
  echo "== notify, $n listener(s), $batch per statement, rep $rep"
  for i in $(seq "$n"); do start_listener "notify$i" plait_bench_notify count "$SERVER_CPU"; done
  taskset -c "$BENCH_CPU" python3 "$TOOL" sample "$base.samples" "$POSTMASTER" &
  HELPERS+=("$!")
  launch="$(date +%s.%N)"
  taskset -c "$BENCH_CPU" pgbench -n -c 3 -j 1 -T "$DURATION" -f "$TMP/notify-$batch.sql" "$PG/$DB" \
    >"$base.log" 2>&1 || { tail -n 20 "$base.log" >&2; exit 1; }
  sleep 1  # the listeners catch up
  stop_helpers
  # shellcheck disable=SC2046
  python3 "$TOOL" notify "$RESULTS" "$n" "$rep" "$base.log" "$base.samples" "$launch" "$DURATION" \
    "$batch" "$NOTIFY_PAYLOAD" $(for i in $(seq "$n"); do echo "$TMP/notify$i.json"; done)
}

# trial LAYOUT TOTAL REP ARGS...: one fanout run at TOTAL updates/s over all clients.
trial() {
  local layout="$1" total="$2" rep="$3"; shift 3
  local base="$OUT/$layout-$total.$rep" per before after launch
  per="$(python3 -c "print($total / ($ROOMS * $CLIENTS))")"
  echo "== $layout, $total updates/s ($per per client), rep $rep"
  start_listener count plait_updates kinds "$BENCH_CPU"
  before="$(pg_stat)"
  taskset -c "$BENCH_CPU" python3 "$TOOL" sample "$base.samples" "${PIDS[@]}" "$POSTMASTER" &
  HELPERS+=("$!")
  launch="$(date +%s.%N)"
  if [ "$layout" = three ] && [ "$STALL" != 0 ]; then
    (sleep 3; kill -STOP "${PIDS[1]}"; sleep "$STALL"; kill -CONT "${PIDS[1]}") &
    HELPERS+=("$!")
  fi
  taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$A" "$@" --server-pid "${PIDS[0]}" \
    --label "$layout" --rooms "$ROOMS" --clients "$CLIENTS" --rate "$per" --duration "$DURATION" \
    --drain 2 --doc-prefix "three-$layout-$total-$rep" >"$base.log" 2>&1 \
    || { tail -n 20 "$base.log" >&2; exit 1; }
  [ "${#PIDS[@]}" -gt 1 ] && kill -CONT "${PIDS[1]}" 2>/dev/null || true
  after="$(pg_stat)"
  stop_helpers
  grep -E "^  (sent|deliveries|from schedule|from send) " "$base.log" | sed 's/^/   /' || true
  python3 "$TOOL" trial "$RESULTS" "$layout" "$total" "$rep" "$base.log" "$base.samples" \
    "$TMP/count.json" "$launch" "$before" "$after" "$DURATION" "${#PIDS[@]}"
  sleep "$SETTLE"  # the trial's documents settle (drains, last flush) and unload
}

# find_max REP: the most cross-node updates/s on the three-node layout.
find_max() {
  local rep="$1" base="$OUT/max.$1"
  echo "== max (three nodes, find-max, p99 from schedule <= $P99_TARGET ms), rep $rep"
  taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$A" --also-url "$B" --also-url "$C" \
    --server-pid "${PIDS[0]}" --label max --rooms "$ROOMS" --clients "$CLIENTS" \
    --rate "$(python3 -c "print($MAX_START / ($ROOMS * $CLIENTS))")" --duration "$DURATION" \
    --drain 2 --find-max --p99-target-ms "$P99_TARGET" --doc-prefix "three-max-$rep" \
    >"$base.log" 2>&1 || { tail -n 20 "$base.log" >&2; exit 1; }
  grep -E "^  trial|^max passing|^no rate" "$base.log" | sed 's/^/   /' || true
  python3 "$TOOL" max "$RESULTS" "$rep" "$base.log"
}

# pgbench's scripts: BATCH notifications of NOTIFY_PAYLOAD bytes per statement, each unique
# (PostgreSQL folds equal ones of one transaction), shaped like a node's `live` broadcast.
PAD="$(python3 -c "print('x' * max($NOTIFY_PAYLOAD - 40, 1))")"
for batch in $NOTIFY_BATCHES; do
  {
    echo '\set n random(1, 2000000000)'
    printf 'SELECT '
    for i in $(seq "$batch"); do
      [ "$i" -gt 1 ] && printf ', '
      printf "pg_notify('plait_bench_notify', '1a2b-17f0c0ffee123456 live %s ' || :n || ' %d')" "$PAD" "$i"
    done
    echo ';'
  } >"$TMP/notify-$batch.sql"
done

read -r PA PB PC <<<"$PORTS"
A="ws://127.0.0.1:$PA/ws/{doc}"
B="ws://127.0.0.1:$PB/ws/{doc}"
C="ws://127.0.0.1:$PC/ws/{doc}"
for rep in $(seq "$REPS"); do
  for batch in $NOTIFY_BATCHES; do
    notify_trial 1 "$batch" "$rep"
    notify_trial 3 "$batch" "$rep"
  done
done
start_node "$PA"
for rep in $(seq "$REPS"); do for total in $RATES; do trial alone "$total" "$rep"; done; done
start_node "$PB"
start_node "$PC"
sleep 1  # the nodes announce themselves to each other
for rep in $(seq "$REPS"); do
  for total in $RATES; do trial three "$total" "$rep" --also-url "$B" --also-url "$C"; done
done
for rep in $(seq "$REPS"); do find_max "$rep"; done
python3 "$TOOL" report "$RESULTS" "$DURATION" "$P99_TARGET" | tee "$OUT/report.md"
