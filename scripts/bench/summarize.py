#!/usr/bin/env python3
"""Summarizes scripts/bench.sh results: one Markdown table per step, each cell the
median (min-max) over the repetitions, plus Plait's ratio to the best peer; with plait-hocus
(Plait over the Hocuspocus protocol) in the results, also its ratios to Hocuspocus and to Plait.

Usage: python3 scripts/bench/summarize.py [RESULTS_DIR]   (default /tmp/plait-bench-results)
       python3 scripts/bench/summarize.py --compare DIR_A DIR_B ...   Plait's rows, one column per
         directory (e.g. one per binary, from scripts/bench/compare-binaries.sh), and the ratio of
         the last column's median to the first's
Standard library only.
"""
import glob
import json
import os
import statistics
import sys

SERVERS = ["plait", "plait-mem", "plait-hocus", "ywss", "hocus", "ysweet"]
PEERS = ["ywss", "hocus", "ysweet"]
NAMES = {
    "plait": "Plait (SQLite)",
    "plait-mem": "Plait (memory:)",
    "plait-hocus": "Plait (Hocuspocus protocol)",
    "ywss": "@y/websocket-server 0.1.1",
    "hocus": "Hocuspocus 4.7.0",
    "ysweet": "y-sweet 0.9.1",
}


def get(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or obj.get(key) is None:
            return None
        obj = obj[key]
    return obj


def max_trial(j):
    return j.get("max") if j.get("find_max") else j


def frames_per_s(j):
    t = max_trial(j)
    if not t or not t.get("duration_s"):
        return None
    return t["frames_in"] / t["duration_s"]


# (step, row label, value function, higher_is_better, number format)
ROWS = [
    ("fixed", "1x50 @ 10/s: p50 latency (ms)", lambda j: get(j, "latency.p50_ms"), False, "{:.2f}"),
    ("fixed", "1x50 @ 10/s: p99 latency (ms)", lambda j: get(j, "latency.p99_ms"), False, "{:.2f}"),
    ("fixed", "1x50 @ 10/s: server CPU (%)", lambda j: get(j, "server_cpu_pct"), False, "{:.0f}"),
    ("max1x50", "1x50 max deliveries/s (p99 <= 50 ms)", lambda j: get(max_trial(j) or {}, "delivered_per_s"), True, "{:,.0f}"),
    ("max1x50", "1x50 at max: frames received/s", frames_per_s, None, "{:,.0f}"),
    ("max1x50", "1x50 at max: server CPU (%)", lambda j: get(max_trial(j) or {}, "server_cpu_pct"), None, "{:.0f}"),
    ("max100x4", "100x4 max deliveries/s (p99 <= 50 ms)", lambda j: get(max_trial(j) or {}, "delivered_per_s"), True, "{:,.0f}"),
    ("max100x4", "100x4 at max: server CPU (%)", lambda j: get(max_trial(j) or {}, "server_cpu_pct"), None, "{:.0f}"),
    ("max100x4", "100x4 at max: load generator CPU (%)", lambda j: get(max_trial(j) or {}, "loadgen_cpu_pct"), None, "{:.0f}"),
    ("cpu100x4", "100x4 @ 25/s (10 k updates/s): server CPU (%)", lambda j: get(j, "server_cpu_pct"), False, "{:.0f}"),
    ("cpu100x4", "100x4 @ 25/s: p99 latency (ms)", lambda j: get(j, "latency.p99_ms"), False, "{:.2f}"),
    ("idle", "idle: KB per extra connection", lambda j: get(j, "per_extra_conn_kb"), False, "{:.1f}"),
    ("idle", "idle: KB per document", lambda j: get(j, "per_doc_kb"), False, "{:.1f}"),
    ("idle", "idle: anonymous KB per document (RssAnon)", lambda j: get(j, "per_doc_anon_kb"), False, "{:.1f}"),
    ("bigdoc", "bigdoc: fresh client, step2 received (ms)", lambda j: get(j, "step2_median_ms"), False, "{:.2f}"),
    ("bigdoc", "bigdoc: fresh client synced + verified (ms)", lambda j: get(j, "sync_median_ms"), False, "{:.2f}"),
    ("bigdoc", "bigdoc: 50 joiners, all step2 in (ms)", lambda j: get(j, "joiners.all_step2_ms"), False, "{:.1f}"),
    ("bigdoc", "bigdoc: distinct step2 payloads among 50 joiners", lambda j: get(j, "joiners.distinct_step2_payloads"), None, "{:.0f}"),
    ("bigdoc", "bigdoc: trace ingest (s)", lambda j: get(j, "ingest_s"), False, "{:.2f}"),
    ("hugedoc", "hugedoc (HUGE_REPEAT copies of the trace): replay ingested (s)", lambda j: get(j, "ingest_s"), False, "{:.1f}"),
    ("hugedoc", "hugedoc: fresh client, step2 received (ms)", lambda j: get(j, "step2_median_ms"), False, "{:.0f}"),
    ("hugedoc", "hugedoc: HUGE_JOINERS [150] joiners, all step2 in (s)", lambda j: j["joiners"]["all_step2_ms"] / 1000 if j.get("joiners") else None, False, "{:.1f}"),
    ("hugedoc", "hugedoc: server CPU until the last joiner's step2 (s)", lambda j: get(j, "joiners.server_cpu_s"), None, "{:.1f}"),
    ("hugedoc", "hugedoc: RSS growth once loaded, per byte of the encoded document", lambda j: (j["rss_loaded_kb"] - j["rss0_kb"]) * 1024 / j["full_update_bytes"] if j.get("rss_loaded_kb") and j.get("rss0_kb") else None, False, "{:.1f}"),
    ("awareness", "awareness 500 clients @ 1/s: server CPU (%)", lambda j: get(j, "server_cpu_pct"), False, "{:.1f}"),
    ("awareness", "awareness: entries delivered within the run + 2 s (%)", lambda j: 100.0 * j["received_entries"] / j["entries_for_others"] if j.get("entries_for_others") else None, True, "{:.0f}"),
    ("awareness", "awareness: p50 latency (ms)", lambda j: get(j, "latency_from_schedule.p50_ms"), False, "{:.1f}"),
    ("crowd", "crowd (CROWD_CONNS [18,000] conns, 1 % typing): accept rate (connections/s)", lambda j: get(j, "accept_per_s"), True, "{:,.0f}"),
    ("crowd", "crowd: all connected and synced (s)", lambda j: get(j, "synced_s"), False, "{:.1f}"),
    ("crowd", "crowd: connections that failed", lambda j: get(j, "connect_errors"), False, "{:.0f}"),
    ("crowd", "crowd: p99 latency of the typists' updates (ms)", lambda j: get(j, "latency_from_schedule.p99_ms"), False, "{:.2f}"),
    ("crowd", "crowd: deliveries lost (%)", lambda j: 100.0 * j["lost"] / j["expected_deliveries"] if j.get("expected_deliveries") else None, False, "{:.2f}"),
    ("crowd", "crowd: server RSS, all connected (MB)", lambda j: j["rss_connected_kb"] / 1024, False, "{:.0f}"),
    ("crowd", "crowd: server RSS at the end (MB)", lambda j: j["rss_end_kb"] / 1024, False, "{:.0f}"),
    ("crowd", "crowd: server CPU while typing (%)", lambda j: get(j, "server_cpu_pct"), False, "{:.1f}"),
    ("restart", "restart: cold fresh sync from SQL, step2 (ms)", lambda j: get(j, "cold_sync.step2_ms"), False, "{:.1f}"),
    ("restart", "restart: warm fresh sync, step2 (ms)", lambda j: statistics.median([s["step2_ms"] for s in j["warm_syncs"]]) if j.get("warm_syncs") else None, False, "{:.1f}"),
    # curve: latency against load, at a share of each server's own max (scripts/bench.sh curve)
    *[row for shape in ("100x4", "1x50") for pct in (10, 30, 60, 90) for row in (
        (f"curve{shape}-{pct}", f"{shape} at {pct} % of its own max: p99 latency (ms)", lambda j: get(j, "latency.p99_ms"), False, "{:.2f}"),
        (f"curve{shape}-{pct}", f"{shape} at {pct} % of its own max: deliveries/s", lambda j: get(j, "delivered_per_s"), None, "{:,.0f}"),
    )],
    # storm: Plait on SQLite next to the peers; storm-pg: Plait on PostgreSQL alone
    *[row for step, db in (("storm", ""), ("storm-pg", ", PostgreSQL")) for row in (
        (step, f"storm{db}: p99 synced again after the new process listens (ms)", lambda j: get(j, "synced_after_listen.p99_ms"), False, "{:.0f}"),
        (step, f"storm{db}: last client synced after listen (ms)", lambda j: get(j, "synced_after_listen.max_ms"), False, "{:.0f}"),
        (step, f"storm{db}: clients synced within 1 s of listen (%)", lambda j: 100.0 * j["synced_within_1s"] / j["connected"], True, "{:.1f}"),
        (step, f"storm{db}: last client synced after the first loss (ms)", lambda j: get(j, "synced_after_loss.max_ms"), False, "{:.0f}"),
        (step, f"storm{db}: edits lost", lambda j: get(j, "lost"), False, "{:.0f}"),
    )],
    # scripts/bench/database-steps.sh (Plait only)
    ("trigger-sqlite", "trigger, SQLite (sqlite3 INSERT): p50 latency (ms)", lambda j: get(j["per_node"][0], "latency.p50_ms"), False, "{:.1f}"),
    ("trigger-sqlite", "trigger, SQLite (sqlite3 INSERT): p99 latency (ms)", lambda j: get(j["per_node"][0], "latency.p99_ms"), False, "{:.1f}"),
    ("trigger-sqlite", "trigger, SQLite: sqlite3's commit answer p50 (ms)", lambda j: get(j, "commit.p50_ms"), False, "{:.2f}"),
    ("trigger-sqlite", "trigger, SQLite: from the commit answer, p50 (ms)", lambda j: get(j["per_node"][0], "after_commit.p50_ms"), False, "{:.1f}"),
    ("trigger-sqlite", "trigger, SQLite: from the commit answer, p99 (ms)", lambda j: get(j["per_node"][0], "after_commit.p99_ms"), False, "{:.1f}"),
    ("trigger-pg", "trigger, PostgreSQL (psql plait_write), node A: p50 latency (ms)", lambda j: get(j["per_node"][0], "latency.p50_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node A: p99 latency (ms)", lambda j: get(j["per_node"][0], "latency.p99_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node B: p50 latency (ms)", lambda j: get(j["per_node"][1], "latency.p50_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node B: p99 latency (ms)", lambda j: get(j["per_node"][1], "latency.p99_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, on both nodes: p99 latency (ms)", lambda j: get(j, "every_node.p99_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL: psql's commit answer p50 (ms)", lambda j: get(j, "commit.p50_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL: psql's commit answer p99 (ms)", lambda j: get(j, "commit.p99_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node A: from the commit answer, p50 (ms)", lambda j: get(j["per_node"][0], "after_commit.p50_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node A: from the commit answer, p99 (ms)", lambda j: get(j["per_node"][0], "after_commit.p99_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node B: from the commit answer, p50 (ms)", lambda j: get(j["per_node"][1], "after_commit.p50_ms"), False, "{:.2f}"),
    ("trigger-pg", "trigger, PostgreSQL, node B: from the commit answer, p99 (ms)", lambda j: get(j["per_node"][1], "after_commit.p99_ms"), False, "{:.2f}"),
    ("feed-sqlite-pages", "feed, SQLite, pages of 10000: changes/s", lambda j: get(j, "changes_per_s"), True, "{:,.0f}"),
    ("feed-sqlite-stream", "feed, SQLite, SSE stream: changes/s", lambda j: get(j, "changes_per_s"), True, "{:,.0f}"),
    ("feed-pg-pages", "feed, PostgreSQL, pages of 10000: changes/s", lambda j: get(j, "changes_per_s"), True, "{:,.0f}"),
    ("feed-pg-stream", "feed, PostgreSQL, SSE stream: changes/s", lambda j: get(j, "changes_per_s"), True, "{:,.0f}"),
]


def load(out):
    runs = {}
    for path in glob.glob(os.path.join(out, "*.json")):
        name = os.path.basename(path)[: -len(".json")]
        parts = name.split(".")
        if len(parts) != 3:
            continue
        server, step, _rep = parts
        try:
            with open(path) as f:
                runs.setdefault((server, step), []).append(json.load(f))
        except (OSError, json.JSONDecodeError):
            continue
    return runs


def cell(values, fmt):
    if not values:
        return "–", None
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med), med
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})", med


def values(runs, server, step, fn):
    vals = []
    for j in runs.get((server, step), []):
        try:
            v = fn(j)
        except (KeyError, TypeError, ValueError, IndexError):
            v = None
        if v is not None:
            vals.append(float(v))
    return vals


def compare(dirs):
    """Plait's rows, one column per directory, and last / first."""
    all_runs = [load(d) for d in dirs]
    print(f"Plait: median (min–max) per directory; ratio = {dirs[-1]} / {dirs[0]}.\n")
    print("| row | " + " | ".join(os.path.basename(d.rstrip("/")) for d in dirs) + " | ratio |")
    print("|---" * (len(dirs) + 2) + "|")
    for server in ("plait", "plait-mem", "plait-hocus"):
        for step, label, fn, _higher, fmt in ROWS:
            cols = [values(r, server, step, fn) for r in all_runs]
            if not any(cols):
                continue
            cells = [cell(v, fmt) for v in cols]
            first, last = cells[0][1], cells[-1][1]
            ratio = f"{last / first:.2f}" if first and last is not None else "–"
            name = f"{label} ({NAMES[server]}, n={max(len(v) for v in cols)})"
            print(f"| {name} | " + " | ".join(c[0] for c in cells) + f" | {ratio} |")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--compare":
        compare(sys.argv[2:])
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/plait-bench-results"
    runs = load(out)
    present = [s for s in SERVERS if any(k[0] == s for k in runs)]
    print(f"Results from {out}: median (min–max) over the repetitions; n = repetitions.\n")
    # Plait over the Hocuspocus protocol: against Hocuspocus itself and against Plait's y-websocket.
    extra = [("plait-hocus", "hocus"), ("plait-hocus", "plait")] if "plait-hocus" in present else []
    extra_heads = "".join(f" {a} / {b} |" for a, b in extra)
    print("| scenario | " + " | ".join(NAMES[s] for s in present) + " | Plait / best peer |" + extra_heads)
    print("|---" * (len(present) + 2 + len(extra)) + "|")
    for step, label, fn, higher, fmt in ROWS:
        cells, medians, counts = [], {}, []
        for s in present:
            vals = values(runs, s, step, fn)
            text, med = cell(vals, fmt)
            cells.append(text)
            counts.append(len(vals))
            if med is not None:
                medians[s] = med
        if not any(counts):
            continue
        ratio = "–"
        peer_meds = {p: medians[p] for p in PEERS if p in medians}
        if higher is not None and "plait" in medians and peer_meds:
            best = (max if higher else min)(peer_meds, key=peer_meds.get)
            if peer_meds[best]:
                ratio = f"{medians['plait'] / peer_meds[best]:.2f}× {best}"
        for a, b in extra:
            ok = higher is not None and medians.get(a) is not None and medians.get(b)
            ratio += f" | {medians[a] / medians[b]:.2f}×" if ok else " | –"
        n = max(counts)
        print(f"| {label} (n={n}) | " + " | ".join(cells) + f" | {ratio} |")
    if "plait" in medians_of(runs, "max1x50") and "plait-mem" in medians_of(runs, "max1x50"):
        m = medians_of(runs, "max1x50")
        print(f"\nPersistence cost (1x50 max deliveries/s, SQLite / memory:): {m['plait'] / m['plait-mem']:.2f}")
    idle_slopes(runs, present)


def slope(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


def idle_slopes(runs, present):
    """scripts/bench.sh idleslope: KB per extra document, the least-squares slope of the server's
    RSS once every document has its first connection (rss1_kb) against the document count, over
    every run of every repetition."""
    fits = {}
    for s in present:
        js = [j for (server, step), runs_ in runs.items() if server == s and step.startswith("idle")
              and step[4:].isdigit() for j in runs_]
        pts = {key: [(j["docs"], j[key]) for j in js if j.get(key) is not None] for key in ("rss1_kb", "anon1_kb")}
        if len({x for x, _ in pts["rss1_kb"]}) >= 2:
            fits[s] = (slope(pts["rss1_kb"]), slope(pts["anon1_kb"]) if pts["anon1_kb"] else None, len(pts["rss1_kb"]))
    if not fits:
        return
    print("\nIdle memory per extra document (least-squares slope of RSS against D over every run):\n")
    print("| server | KB per extra document | anonymous KB (RssAnon) | runs |")
    print("|---|---|---|---|")
    for s, (rss, anon, n) in fits.items():
        anon_text = f"{anon:.1f}" if anon is not None else "–"
        print(f"| {NAMES[s]} | {rss:.1f} | {anon_text} | {n} |")
    if "plait" in fits and "ysweet" in fits and fits["ysweet"][0]:
        print(f"\nPlait / y-sweet: {fits['plait'][0] / fits['ysweet'][0]:.2f}×")

def medians_of(runs, step):
    meds = {}
    for s in SERVERS:
        vals = [get(max_trial(j) or {}, "delivered_per_s") for j in runs.get((s, step), [])]
        vals = [v for v in vals if v is not None]
        if vals:
            meds[s] = statistics.median(vals)
    return meds


if __name__ == "__main__":
    main()
