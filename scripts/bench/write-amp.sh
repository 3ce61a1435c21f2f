#!/usr/bin/env bash
# Write amplification and durable rate (issue 27 row 5).
#
# amp: a ~311 KB document (the automerge-paper trace, `plait-bench bigdoc --doc NAME`) is loaded
#   into a fresh database and left to settle; then CLIENTS [10] clients type into THAT document
#   for DURATION [60] s at RATE [5] updates/s each (`plait-bench fanout --rooms 1 --doc NAME`;
#   each update one stamp of ~14 characters, PAYLOAD [0] pads it). Bytes written are divided by
#   the edit bytes: the Yjs updates the clients sent (fanout's `sent_update_bytes`, no framing).
#     plait-sqlite  Plait on a fresh SQLite file: growth of the file + its -wal, and the server's
#                   /proc/PID/io write_bytes (the honest figure: SQLite reuses the WAL file after
#                   a checkpoint, so file growth understates).
#     plait-pg      Plait on a fresh PostgreSQL database (created on $PG, dropped afterwards):
#                   WAL generated, pg_current_wal_lsn() difference (exact; the table's figure)
#                   and pg_stat_wal's wal_bytes and full-page images (backends report them up to
#                   10 s late: the window's lacks the last seconds, the session's is complete,
#                   11 s later); a CHECKPOINT before the typing makes full-page images start
#                   from the same point every run. The whole cluster's WAL is counted: nothing
#                   else should run on it. Also the sum of every postgres process's write_bytes.
#     hocus-sqlite  Hocuspocus 4.7.0 with @hocuspocus/extension-sqlite (scripts/bench/hocus-
#                   server.mjs with SQLITE=file; defaults: debounce 2 s, maxDebounce 10 s, so
#                   while edits keep coming the WHOLE document is stored every 10 s, and once
#                   more when the last client leaves), driven over the Hocuspocus protocol:
#                   growth of the file (+ -journal / -wal) and node's /proc/PID/io write_bytes.
#   Two figures each: "window", from just before the typing to FLUSH_WAIT [2] s after the last
#   client left (Plait's echoes, awaited by fanout, prove every update committed by then); and
#   "session", after the document was unloaded and writes stopped (Plait runs with --idle-unload
#   IDLE_UNLOAD [5s] and compacts the document at unload; Hocuspocus stores it at the last
#   disconnect, which already falls inside the window). Plait also compacts a document loaded
#   anew once its log has --snapshot-threshold (500) rows, before it knows the snapshot's size:
#   at 10 x 5 updates/s that is 10 s into the typing, inside the window. Plait's snapshot and the
#   log rows after it are printed before the typing and at the end of the session.
# durable: Plait only, per database: the highest rate of acknowledged updates. Plait echoes each
#   update to its sender once the transaction holding it committed (ARCHITECTURE.md "Durable
#   echo"), so `fanout --find-max --p99-of echo`: pass = p99 of send-schedule -> own echo
#   <= DURABLE_P99_MS [500] ms, <= 0.1 % of echoes or deliveries missing, >= 95 % of the planned
#   sends, on DURABLE_ROOMS [100] rooms x DURABLE_CLIENTS [4] clients (3 s trials). Then PROBE
#   [10] s at the rate found, measured over its middle (from 2 s in to 1 s before the end):
#   Plait's CPU and its busiest threads, with the time each waited for a CPU (schedstat: a
#   busy machine, not the server, shows there), the same wait for the load generator, the
#   PostgreSQL backends' CPU (and every postgres process's), what the database's sessions were
#   doing (pg_stat_activity sampled every 100 ms: on CPU, IO:WALSync, LWLock:WALWrite, a Lock,
#   or idle waiting for Plait), pg_stat_wal (wal_write / wal_sync and, with track_wal_io_timing
#   set on the benchmark database, their times; cluster-wide), and a second run of the same
#   probe under `strace -c -w -f -e trace=fsync,fdatasync,nanosleep,clock_nanosleep` for
#   STRACE_S [3] s (wall time in the calls; Plait's process on SQLite, where nanosleep is
#   SQLite's busy handler waiting for the write lock; the database's backends and the
#   walwriter on PostgreSQL; strace slows what it traces, so that run only counts syscalls).
#   The bottleneck column is a heuristic over these (Plait's CPU, or its CPU + its wait, near
#   100 %: its core; else CPU wait >= 20 %: contention; >= 50 % of the time in fsync; else the
#   serial commit path). SQLite runs with
#   synchronous=NORMAL in WAL mode: a commit does not fsync (only checkpoints do), so "durable"
#   there means surviving a crash of Plait, not of the machine.
#
# Usage: scripts/bench/write-amp.sh [amp] [durable]          (default: both)
# Environment (defaults in brackets):
#   REPS [3]  OUT [target/bench/write-amp]  DURATION [60]  CLIENTS [10]  RATE [5]  PAYLOAD [0]
#   SYSTEMS ["plait-sqlite plait-pg hocus-sqlite"]  DATABASES ["sqlite pg"] (durable)
#   FLUSH_WAIT [2]  IDLE_UNLOAD [5s]  DURABLE_ROOMS [100]  DURABLE_CLIENTS [4]
#   DURABLE_RATE [4] (find-max start, per client)  DURABLE_P99_MS [500]  PROBE [10]  STRACE_S [3]
#   PLAIT_BIN [target/release/plait]  BENCH_BIN [target/release/plait-bench]
#   BENCH_TRACE [../shared/bench/data/automerge-paper.json.gz]  PEERS [target/bench/peers]
#   HOCUS_DIR [$PEERS/hocus]  PG [postgres://postgres@127.0.0.1:5432]  SCRATCH [$TMPDIR or /tmp]
#   PLAIT_ARGS [as scripts/bench.sh: limits raised]  SERVER_CPU [0]  BENCH_CPU [1]
#   PLAIT_PORT [8000]  HOCUS_PORT [1235]
# The trace's updates are built once into $OUT/trace-updates.bin, which later runs read.
# Results: one JSON line per measurement in $OUT/results.jsonl, each run's output next to it
# (<system>.<step>.<rep>.log/.json); a summary table is printed at the end.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/target/bench/write-amp}"
DURATION="${DURATION:-60}"
CLIENTS="${CLIENTS:-10}"
RATE="${RATE:-5}"
PAYLOAD="${PAYLOAD:-0}"
SYSTEMS="${SYSTEMS:-plait-sqlite plait-pg hocus-sqlite}"
DATABASES="${DATABASES:-sqlite pg}"
FLUSH_WAIT="${FLUSH_WAIT:-2}"
IDLE_UNLOAD="${IDLE_UNLOAD:-5s}"
DURABLE_ROOMS="${DURABLE_ROOMS:-100}"
DURABLE_CLIENTS="${DURABLE_CLIENTS:-4}"
DURABLE_RATE="${DURABLE_RATE:-4}"
DURABLE_P99_MS="${DURABLE_P99_MS:-500}"
PROBE="${PROBE:-10}"
STRACE_S="${STRACE_S:-3}"
PEERS="${PEERS:-$ROOT/target/bench/peers}"
HOCUS_DIR="${HOCUS_DIR:-$PEERS/hocus}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
BENCH_TRACE="${BENCH_TRACE:-$ROOT/../shared/bench/data/automerge-paper.json.gz}"
PLAIT_ARGS="${PLAIT_ARGS:---message-rate 1000000 --message-burst 1000000 --max-connections-per-doc 2000}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
PLAIT_PORT="${PLAIT_PORT:-8000}"
HOCUS_PORT="${HOCUS_PORT:-1235}"
RUN="$(date +%s)-$$"
export RUN  # in every JSON line, so that the summary shows this run's lines only
RESULTS="$OUT/results.jsonl"
TMP="$(mktemp -d "$SCRATCH/write-amp-$RUN.XXXX")"
SRV_PID=""
PG_DB=""
mkdir -p "$OUT"

[ -x "$BENCH_BIN" ] || { echo "missing $BENCH_BIN: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }
[ -x "$PLAIT_BIN" ] || { echo "missing $PLAIT_BIN" >&2; exit 1; }
[ -f "$BENCH_TRACE" ] || { echo "missing the trace $BENCH_TRACE (set BENCH_TRACE)" >&2; exit 1; }

# --- measuring -----------------------------------------------------------------------------------
# snap PID PGDB FILE...: one JSON reading of the server process (/proc io, CPU, threads), the
# files' sizes and, if PGDB is set, PostgreSQL's WAL position, pg_stat_wal, and its processes.
SNAP_PY='
import json, os, subprocess, sys, time
pid, pgdb, files = sys.argv[1], sys.argv[2], sys.argv[3:]
pg = os.environ["PG"]
def ticks(p):
    try:
        f = open(f"/proc/{p}/stat").read()
        f = f[f.rfind(")") + 2:].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0
def io(p):
    try:
        return {k: int(v) for k, v in (l.split(": ") for l in open(f"/proc/{p}/io"))}
    except OSError:
        return {}
def q(sql):
    return subprocess.run(["psql", pg + "/postgres", "-XAtqc", sql], capture_output=True,
                          text=True, check=True).stdout.strip()
def tasks(p):
    """Per thread: name, CPU ticks, and ns on a CPU / waiting for one (schedstat)."""
    out = {}
    for tid in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []:
        try:
            run, wait = (int(x) for x in open(f"/proc/{p}/task/{tid}/schedstat").read().split()[:2])
            out[tid] = [open(f"/proc/{p}/task/{tid}/comm").read().strip(),
                        ticks(f"{p}/task/{tid}"), run, wait]
        except (OSError, ValueError):
            pass
    return out
out = {"t": time.time(), "cpu_ticks": ticks(pid), "io": io(pid), "threads": tasks(pid),
       "files": {f: (os.path.getsize(f) if os.path.exists(f) else 0) for f in files}}
if os.environ.get("EXTRA_PID"):  # the load generator
    out["extra"] = {"threads": tasks(os.environ["EXTRA_PID"])}
if pgdb:
    cols = ["wal_records", "wal_fpi", "wal_bytes", "wal_write", "wal_sync", "wal_write_time",
            "wal_sync_time"]
    row = q("SELECT pg_current_wal_lsn(), " + ", ".join(cols) + " FROM pg_stat_wal").split("|")
    hi, lo = row[0].split("/")
    backends = [int(p) for p in q("SELECT pid FROM pg_stat_activity WHERE datname = "
                                  f"$${pgdb}$$ AND pid <> pg_backend_pid()").split() if p]
    allpg = [int(p) for p in subprocess.run(["ps", "-u", "postgres", "-o", "pid="],
                                            capture_output=True, text=True).stdout.split()]
    out["pg"] = {"lsn": row[0], "lsn_bytes": (int(hi, 16) << 32) + int(lo, 16),
                 "wal": {c: float(v) for c, v in zip(cols, row[1:])},
                 "backends": len(backends), "backend_ticks": sum(ticks(p) for p in backends),
                 "all_ticks": sum(ticks(p) for p in allpg),
                 "procs_write_bytes": sum(io(p).get("write_bytes", 0) for p in allpg)}
print(json.dumps(out))
'
snap() { PG="$PG" EXTRA_PID="${EXTRA_PID:-}" python3 -c "$SNAP_PY" "$@"; }

# settle PID PGDB: wait (at most 120 s) until the server is idle: for 1 s no CPU to speak of, no
# new write_bytes and (PostgreSQL) no new WAL.
settle() {
  local pid="$1" pgdb="$2" i prev="" cur
  for i in $(seq 120); do
    cur="$(snap "$pid" "$pgdb" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["cpu_ticks"] // 3, s["io"].get("write_bytes"), s.get("pg", {}).get("lsn"))')"
    if [ "$cur" = "$prev" ] && [ "$i" -gt 2 ]; then return 0; fi
    prev="$cur"; sleep 1
  done
  echo "   (not idle after 120 s, measuring anyway)"
}

# --- servers -------------------------------------------------------------------------------------
pg_create() { psql "$PG/postgres" -qXc "CREATE DATABASE $1"; }
pg_drop() { psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true; }

# start SYSTEM TAG: a fresh server for SYSTEM (plait-sqlite, plait-pg, hocus-sqlite) on CPU
# $SERVER_CPU; sets SRV_PID, URL, PROTO, PORT, FILES (what the file figure measures), PG_DB.
start() {
  local sys="$1" tag="$2" log="$OUT/server.$1.log" dburl
  PG_DB=""; FILES=()
  local port="$PLAIT_PORT"
  [ "$sys" = hocus-sqlite ] && port="$HOCUS_PORT"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "   port $port is taken by another program (set PLAIT_PORT / HOCUS_PORT)"; return 1
  fi
  case "$sys" in
    plait-sqlite|plait-pg)
      PORT="$PLAIT_PORT"; URL="ws://127.0.0.1:$PORT/ws/{doc}"; PROTO=yws
      if [ "$sys" = plait-pg ]; then
        PG_DB="plait_wamp_${RUN//-/_}_${tag}"
        pg_create "$PG_DB"
        # Times of the WAL writes and syncs of this database's sessions (Plait's); superuser only.
        psql "$PG/postgres" -qXc "ALTER DATABASE $PG_DB SET track_wal_io_timing = on" >/dev/null 2>&1 \
          || echo "   (track_wal_io_timing cannot be set: wal_write_time / wal_sync_time stay 0)"
        dburl="$PG/$PG_DB"
      else
        local db="$TMP/plait-$tag.db"
        rm -f "$db" "$db-wal" "$db-shm"
        FILES=("$db" "$db-wal")
        dburl="sqlite://$db?mode=rwc"
      fi
      # shellcheck disable=SC2086
      RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind "127.0.0.1:$PORT" \
        --database-url "$dburl" --idle-unload "$IDLE_UNLOAD" --unsaved-file "$TMP/unsaved.bin" \
        $PLAIT_ARGS >>"$log" 2>&1 &
      ;;
    hocus-sqlite)
      [ -d "$HOCUS_DIR/node_modules/@hocuspocus/extension-sqlite" ] \
        || { echo "-- skip hocus-sqlite: @hocuspocus/extension-sqlite not installed in $HOCUS_DIR"; return 1; }
      PORT="$HOCUS_PORT"; URL="ws://127.0.0.1:$PORT/{doc}"; PROTO=hocuspocus
      local db="$TMP/hocus-$tag.sqlite"
      rm -f "$db" "$db-journal" "$db-wal" "$db-shm"
      FILES=("$db" "$db-journal" "$db-wal")
      cp "$ROOT/scripts/bench/hocus-server.mjs" "$HOCUS_DIR/server-write-amp.mjs"
      (cd "$HOCUS_DIR" && SQLITE="$db" HOST=127.0.0.1 PORT="$PORT" exec taskset -c "$SERVER_CPU" \
        node server-write-amp.mjs) >>"$log" 2>&1 &
      ;;
    *) echo "-- unknown system $sys" >&2; return 1 ;;
  esac
  SRV_PID=$!
  local i
  for i in $(seq 300); do  # up to 30 s
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then sleep 0.5; return 0; fi
    kill -0 "$SRV_PID" 2>/dev/null || { echo "   $sys exited, see $log"; SRV_PID=""; return 1; }
    sleep 0.1
  done
  echo "   $sys did not listen within 30 s"; return 1
}

stop() {
  if [ -n "$SRV_PID" ]; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
  fi
  if [ -n "$PG_DB" ]; then pg_drop "$PG_DB"; PG_DB=""; fi
  rm -f "$TMP"/*.db "$TMP"/*.db-wal "$TMP"/*.db-shm "$TMP"/*.sqlite* "$TMP/unsaved.bin"
  sleep 0.3
}
trap 'stop; rm -rf "$TMP"' EXIT

# bench BASE ARGS...: plait-bench on CPU $BENCH_CPU, output to BASE.log, its JSON to BASE.json.
bench() {
  local base="$1"; shift
  if taskset -c "$BENCH_CPU" "$BENCH_BIN" "$@" >"$base.log" 2>&1; then
    tail -n 1 "$base.log" >"$base.json"
  else
    echo "   FAILED (see $base.log)"; tail -n 3 "$base.log" | sed 's/^/   /'; return 1
  fi
}

# --- amp -----------------------------------------------------------------------------------------
# plait_state SYSTEM DOC WHEN: Plait's snapshot of DOC and the log rows after it (compacted?).
plait_state() {
  local q="SELECT length(snapshot), (SELECT count(*) FROM document_updates u WHERE u.document_id = d.id AND u.seq > d.snapshot_seq) FROM documents d WHERE name = '$2'"
  case "$1" in
    plait-sqlite) python3 -c 'import sqlite3, sys; print("|".join(map(str, sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())))' "${FILES[0]}" "$q" ;;
    plait-pg) psql "$PG/$PG_DB" -XAtqc "$q" ;;
    *) return 0 ;;
  esac 2>/dev/null | awk -F'|' -v w="$3" '{printf "   %s: snapshot %s B, %s log rows after it\n", w, $1, $2}' || true
}
amp_one() {
  local sys="$1" rep="$2" base="$OUT/$1.amp.$2" doc="wamp-$RUN-$2" unload_s
  echo "== $sys amp rep $rep"
  start "$sys" "amp$rep" || { stop; return 0; }
  bench "$base.load" bigdoc --url "$URL" --protocol "$PROTO" --server-pid "$SRV_PID" --label "$sys" \
    --trace "$BENCH_TRACE" --syncs 1 --doc "$doc" --cache "$OUT/trace-updates.bin" || { stop; return 0; }
  # Settle: Plait unloads the idle document (and compacts it) after IDLE_UNLOAD; Hocuspocus
  # stores it when the loader leaves. PostgreSQL: a checkpoint, so that every run's full-page
  # images start from the same point.
  case "$sys" in plait-*) sleep "$(python3 -c 'import sys; print(float(sys.argv[1].rstrip("s")) + 0.5)' "$IDLE_UNLOAD")" ;; esac
  settle "$SRV_PID" "$PG_DB"
  if [ -n "$PG_DB" ]; then psql "$PG/postgres" -qXc "CHECKPOINT"; settle "$SRV_PID" "$PG_DB"; fi
  plait_state "$sys" "$doc" settled
  snap "$SRV_PID" "$PG_DB" "${FILES[@]}" >"$TMP/before.json"
  local echo_args=()
  case "$sys" in plait-*) echo_args=(--p99-of echo) ;; esac  # waits for every durable echo
  if bench "$base" fanout --url "$URL" --protocol "$PROTO" --server-pid "$SRV_PID" --label "$sys" \
      --rooms 1 --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" --payload "$PAYLOAD" \
      --doc "$doc" --drain 10 "${echo_args[@]}"; then
    grep -E "^  (sent|deliveries|from schedule|echo|server)" "$base.log" | sed 's/^/   /' || true
    sleep "$FLUSH_WAIT"
    snap "$SRV_PID" "$PG_DB" "${FILES[@]}" >"$TMP/window.json"
    # The session: until the document is unloaded (Plait: IDLE_UNLOAD after the last client
    # left, then its compaction) and writes stop; PostgreSQL's statistics need up to 10 s more.
    unload_s="$(python3 -c 'import sys; print(float(sys.argv[1].rstrip("s")) + 1)' "$IDLE_UNLOAD")"
    case "$sys" in plait-pg) unload_s=11 ;; hocus-*) unload_s=1 ;; esac
    sleep "$unload_s"
    settle "$SRV_PID" "$PG_DB"
    snap "$SRV_PID" "$PG_DB" "${FILES[@]}" >"$TMP/session.json"
    plait_state "$sys" "$doc" "session end"
    python3 - "$RESULTS" "$sys" "$rep" "$base.load.json" "$base.json" "$TMP/before.json" \
        "$TMP/window.json" "$TMP/session.json" <<'EOF'
import json, os, sys
results, sys_, rep, load, run, b, w, s = sys.argv[1:]
load, run = json.loads(open(load).read()), json.loads(open(run).read())
b, w, s = (json.load(open(p)) for p in (b, w, s))
edit = run["sent_update_bytes"]
def diff(a, z):
    d = {"seconds": z["t"] - a["t"],
         "files_growth": sum(z["files"].values()) - sum(a["files"].values()),
         "files_after": z["files"],
         "proc_write_bytes": z["io"].get("write_bytes", 0) - a["io"].get("write_bytes", 0),
         "proc_cancelled_write_bytes":
             z["io"].get("cancelled_write_bytes", 0) - a["io"].get("cancelled_write_bytes", 0),
         "server_cpu_s": (z["cpu_ticks"] - a["cpu_ticks"]) / 100}
    d["files_per_edit_byte"] = d["files_growth"] / edit
    d["proc_per_edit_byte"] = d["proc_write_bytes"] / edit
    if "pg" in a:
        pa, pz = a["pg"], z["pg"]
        d["pg_lsn_bytes"] = pz["lsn_bytes"] - pa["lsn_bytes"]
        d["pg_lsn_per_edit_byte"] = d["pg_lsn_bytes"] / edit
        d["pg_stat_wal"] = {k: pz["wal"][k] - pa["wal"][k] for k in pa["wal"]}
        d["pg_stat_wal_bytes_per_edit_byte"] = d["pg_stat_wal"]["wal_bytes"] / edit
        d["pg_procs_write_bytes"] = pz["procs_write_bytes"] - pa["procs_write_bytes"]
        d["pg_procs_per_edit_byte"] = d["pg_procs_write_bytes"] / edit
    return d
keep = ("sent", "sent_per_s", "sent_update_bytes", "self_echoes", "echoes_missing", "lost",
        "errors", "server_cpu_pct", "latency_from_schedule", "echo")
r = {"kind": "amp", "run": os.environ["RUN"], "system": sys_, "rep": int(rep), "doc": load["doc"],
     "doc_bytes": load["full_update_bytes"], "clients": run["clients_per_room"],
     "rate_per_client": run["rate_per_client"], "duration_s": run["duration_s"],
     "edit_bytes": edit, "fanout": {k: run.get(k) for k in keep},
     "window": diff(b, w), "session": diff(b, s)}
with open(results, "a") as f:
    f.write(json.dumps(r) + "\n")
for k in ("window", "session"):
    w = r[k]
    parts = ["files {:,} B ({:.2f}/edit B)".format(w["files_growth"], w["files_per_edit_byte"]),
             "/proc write_bytes {:,} B ({:.2f}/edit B)".format(w["proc_write_bytes"],
                                                              w["proc_per_edit_byte"])]
    if "pg_lsn_bytes" in w:
        parts = ["PG WAL {:,} B ({:.2f}/edit B), pg_stat_wal wal_bytes {:,.0f} B, {:.0f} full-page"
                 " images".format(w["pg_lsn_bytes"], w["pg_lsn_per_edit_byte"],
                                  w["pg_stat_wal"]["wal_bytes"], w["pg_stat_wal"]["wal_fpi"])]
    print("   {:8} edits {:,} B: {}".format(k, edit, "; ".join(parts)))
EOF
  fi
  stop
}

# --- durable -------------------------------------------------------------------------------------
# probe_args RATE: the fanout of the probes.
probe_args() {
  echo --url "$URL" --server-pid "$SRV_PID" --rooms "$DURABLE_ROOMS" --clients "$DURABLE_CLIENTS" \
    --rate "$1" --payload "$PAYLOAD" --p99-of echo --p99-target-ms "$DURABLE_P99_MS" --drain 5
}

durable_one() {
  local db="$1" rep="$2" sys="plait-$1" base="$OUT/plait-$1.durable.$2" max pids
  echo "== $sys durable rep $rep"
  start "$sys" "dur$rep" || { stop; return 0; }
  if ! bench "$base" fanout --url "$URL" --server-pid "$SRV_PID" --label "$sys" \
      --rooms "$DURABLE_ROOMS" --clients "$DURABLE_CLIENTS" --rate "$DURABLE_RATE" \
      --payload "$PAYLOAD" --p99-of echo --p99-target-ms "$DURABLE_P99_MS" \
      --find-max --duration 3 --drain 3 --bisect 3; then stop; return 0; fi
  grep -E "^  trial|^max passing|^no rate" "$base.log" | sed 's/^/   /' || true
  max="$(python3 -c 'import json,sys; m = json.load(open(sys.argv[1]))["max"]; print(m["rate_per_client"] if m else "")' "$base.json")"
  if [ -z "$max" ]; then stop; return 0; fi
  # Probe at the rate found, measured over its middle.
  # shellcheck disable=SC2046
  taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout $(probe_args "$max") --label "$sys" \
    --duration "$PROBE" >"$base.probe.log" 2>&1 &
  local bpid=$!
  sleep 2
  EXTRA_PID=$bpid snap "$SRV_PID" "$PG_DB" >"$TMP/p0.json"
  local window
  # PostgreSQL: the sampler's own start and end take about a second more.
  window="$(python3 -c 'import sys; print(max(1.0, float(sys.argv[1]) - (4.5 if sys.argv[2] else 3)))' "$PROBE" "$PG_DB")"
  : >"$TMP/waits.txt"
  if [ -n "$PG_DB" ]; then
    # What the database's sessions are doing, sampled every 100 ms: on CPU (active, no wait
    # event), waiting for WAL I/O, a lock, or idle waiting for Plait (Client:ClientRead).
    psql "$PG/postgres" -qX 2>"$TMP/waits.txt" <<SQL || true
DO \$\$ DECLARE r text[] := '{}'; x text; t0 timestamptz := clock_timestamp(); BEGIN
  WHILE clock_timestamp() < t0 + interval '$window seconds' LOOP
    PERFORM pg_stat_clear_snapshot();
    r := r || ARRAY(SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' (' || state || ')'
                    FROM pg_stat_activity WHERE datname = '$PG_DB' AND pid <> pg_backend_pid());
    PERFORM pg_sleep(0.1);
  END LOOP;
  SELECT json_object_agg(w, n) INTO x FROM (SELECT w, count(*) n FROM unnest(r) w GROUP BY w) t;
  RAISE NOTICE 'WAITS %', x;
END \$\$;
SQL
  else
    sleep "$window"
  fi
  EXTRA_PID=$bpid snap "$SRV_PID" "$PG_DB" >"$TMP/p1.json"
  wait "$bpid" || echo "   probe FAILED (see $base.probe.log)"
  tail -n 1 "$base.probe.log" >"$base.probe.json"
  if [ -n "$PG_DB" ]; then sleep 11; snap "$SRV_PID" "$PG_DB" >"$TMP/p2.json"; else cp "$TMP/p1.json" "$TMP/p2.json"; fi
  # The same probe again, with strace counting the fsyncs for STRACE_S seconds.
  : >"$TMP/strace.txt"
  if command -v strace >/dev/null; then
    settle "$SRV_PID" "$PG_DB"
    # shellcheck disable=SC2046
    taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout $(probe_args "$max") --label "$sys" \
      --duration "$((STRACE_S + 3))" >"$base.strace-run.log" 2>&1 &
    bpid=$!
    sleep 2
    if [ -n "$PG_DB" ]; then
      pids="$(psql "$PG/postgres" -XAtqc "SELECT string_agg('-p ' || pid, ' ') FROM pg_stat_activity WHERE (datname = '$PG_DB' OR backend_type = 'walwriter') AND pid <> pg_backend_pid()")"
    else
      pids="-p $SRV_PID"
    fi
    # shellcheck disable=SC2086
    # nanosleep on SQLite: its busy handler sleeping on a lock another connection holds (tokio
    # itself never sleeps in a syscall of that name).
    timeout -s INT "$STRACE_S" strace -c -w -f -e trace=fsync,fdatasync,nanosleep,clock_nanosleep \
      -o "$TMP/strace.txt" $pids \
      >/dev/null 2>&1 || true
    wait "$bpid" || true
  else
    echo "   (strace not installed: no fsync counts)"
  fi
  python3 - "$RESULTS" "$db" "$rep" "$base.json" "$base.probe.json" "$TMP/p0.json" "$TMP/p1.json" \
      "$TMP/p2.json" "$TMP/strace.txt" "$STRACE_S" "$DURABLE_P99_MS" "$TMP/waits.txt" <<'EOF'
import json, os, sys
results, db, rep, fm, probe, p0, p1, p2, st, st_s, target, waits = sys.argv[1:]
fm, probe = json.load(open(fm)), json.loads(open(probe).read() or "{}")
p0, p1, p2 = (json.load(open(p)) for p in (p0, p1, p2))
m = fm["max"]
secs = p1["t"] - p0["t"]
def by_name(a, z):
    """CPU % and run-queue wait % (of the wall time) per thread name, from schedstat."""
    out = {}
    if not z:
        return None
    for tid, (name, _, run1, wait1) in z.items():
        _, _, run0, wait0 = a.get(tid, [name, 0, 0, 0])
        cpu, wait = out.get(name, (0, 0))
        out[name] = (cpu + (run1 - run0) / 1e9 / secs * 100, wait + (wait1 - wait0) / 1e9 / secs * 100)
    return out
threads = by_name(p0["threads"], p1["threads"])
top = [(n, round(c, 1), round(w, 1)) for n, (c, w) in sorted(threads.items(), key=lambda kv: -kv[1][0])[:6]]
srv_wait = sum(w for _, w in threads.values())
gen = by_name(p0.get("extra", {}).get("threads", {}), p1.get("extra", {}).get("threads", {}))
gen_wait = sum(w for _, w in gen.values()) if gen else 0
pr = {"rate_per_client": probe.get("rate_per_client"), "seconds_measured": secs,
      "acked_per_s": probe.get("self_echoes", 0) / max(probe.get("duration_s", 1), 1e-9),
      "echo": probe.get("echo"), "echo_from_schedule": probe.get("echo_from_schedule"),
      "echoes_missing": probe.get("echoes_missing"), "errors": probe.get("errors"),
      "server_cpu_pct": (p1["cpu_ticks"] - p0["cpu_ticks"]) / 100 / secs * 100,
      "loadgen_cpu_pct": probe.get("loadgen_cpu_pct") or 0, "top_threads": top,
      "server_runqueue_wait_pct": srv_wait, "loadgen_runqueue_wait_pct": gen_wait if gen else None}
for line in open(waits):
    if "WAITS" in line:
        try:
            w = json.loads(line.split("WAITS", 1)[1].strip() or "null") or {}
            n = sum(w.values()) or 1
            pr["pg_session_states_pct"] = {k: round(v * 100 / n, 1) for k, v in
                                           sorted(w.items(), key=lambda kv: -kv[1])}
        except ValueError:
            pass
if "pg" in p0:
    pr["pg_backends"] = p1["pg"]["backends"]
    pr["pg_backend_cpu_pct"] = (p1["pg"]["backend_ticks"] - p0["pg"]["backend_ticks"]) / secs
    pr["pg_all_cpu_pct"] = (p1["pg"]["all_ticks"] - p0["pg"]["all_ticks"]) / secs
    # pg_stat_wal: from the probe's start to 11 s after it (statistics arrive late); per second
    # of the whole probe.
    w = {k: p2["pg"]["wal"][k] - p0["pg"]["wal"][k] for k in p0["pg"]["wal"]}
    dur = probe.get("duration_s") or 1
    pr["pg_stat_wal"] = w
    pr["pg_stat_wal_per_s"] = {k: round(v / dur, 1) for k, v in w.items()}
    if w["wal_sync"]:
        pr["pg_ms_per_sync"] = w["wal_sync_time"] / w["wal_sync"]
strace = {}
for line in open(st):
    f = line.split()
    if f and f[-1] in ("fsync", "fdatasync", "nanosleep", "clock_nanosleep"):
        try:
            strace[f[-1]] = {"calls": int(f[3]), "seconds": float(f[1]),
                             "calls_per_s": int(f[3]) / float(st_s),
                             "busy_fraction": float(f[1]) / float(st_s)}
        except (ValueError, IndexError):
            pass
busy = sum(v["busy_fraction"] for k, v in strace.items() if "sleep" not in k)
# Plait is pinned to one core. When its threads ran or waited for a CPU nearly all the time,
# that core is the limit: they wait for each other (the runtime's worker, SQLite's thread) and
# for PostgreSQL's backends, which are not pinned.
if pr["server_cpu_pct"] >= 90 or pr["server_cpu_pct"] + srv_wait >= 95:
    neck = (f"CPU: Plait's core (its threads ran {pr['server_cpu_pct']:.0f} % and waited"
            f" {srv_wait:.0f} % of the time for a CPU)")
elif srv_wait >= 20 or gen_wait >= 20:
    neck = (f"CPU contention (a busy machine): Plait's threads waited {srv_wait:.0f} %, the load"
            f" generator's {gen_wait:.0f} % of the time for a CPU" if gen else
            f"CPU contention (a busy machine): Plait's threads waited {srv_wait:.0f} % of the time"
            " for a CPU")
elif pr.get("pg_backend_cpu_pct", 0) >= 90:
    neck = f"CPU: PostgreSQL backends at {pr['pg_backend_cpu_pct']:.0f} %"
elif busy >= 0.5:
    neck = f"fsync: {busy * 100:.0f} % of the time in fsync/fdatasync"
elif pr["loadgen_cpu_pct"] >= 90:
    neck = f"the load generator at {pr['loadgen_cpu_pct']:.0f} % of its core"
else:
    neck = "none of CPU / fsync saturated: lock or latency (see the threads)"
r = {"kind": "durable", "run": os.environ["RUN"], "db": db, "rep": int(rep), "rooms": m["rooms"],
     "clients": m["clients_per_room"],
     "criterion": f"p99 (send schedule -> own echo) <= {target} ms, <= 0.1 % missing",
     "max_rate_per_client": m["rate_per_client"], "acked_per_s": m["sent_per_s"],
     "max_echo_p99_ms": (m.get("echo_from_schedule") or {}).get("p99_ms"),
     "max_server_cpu_pct": m.get("server_cpu_pct"), "max_loadgen_cpu_pct": m.get("loadgen_cpu_pct"),
     "probe": pr, "strace": strace, "bottleneck": neck}
with open(results, "a") as f:
    f.write(json.dumps(r) + "\n")
p = pr
print("   max {:,.0f} acknowledged updates/s ({}x{} @ {}/s per client, echo p99 {} ms)".format(
    r["acked_per_s"], r["rooms"], r["clients"], r["max_rate_per_client"], r["max_echo_p99_ms"]))
line = "   probe: {:,.0f}/s acked, Plait CPU {:.0f} %, load generator {:.0f} %".format(
    p["acked_per_s"], p["server_cpu_pct"], p["loadgen_cpu_pct"])
if "pg_backend_cpu_pct" in p:
    line += ", PG backends {:.0f} % (all postgres {:.0f} %)".format(p["pg_backend_cpu_pct"],
                                                                   p["pg_all_cpu_pct"])
print(line)
print("   Plait threads (CPU %, waiting for a CPU %): " + ", ".join(
    "{} {:.0f}/{:.0f}".format(n, c, w) for n, c, w in p["top_threads"]))
if "pg_session_states_pct" in p:
    print("   PostgreSQL sessions of the database (% of samples): " + json.dumps(p["pg_session_states_pct"]))
if "pg_stat_wal_per_s" in p:
    print("   pg_stat_wal per s: " + json.dumps(p["pg_stat_wal_per_s"]))
print("   strace: " + json.dumps(strace))
print("   bottleneck (heuristic): " + neck)
EOF
  stop
}

# --- summary -------------------------------------------------------------------------------------
summary() {
  [ -f "$RESULTS" ] || return 0
  python3 - "$RESULTS" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("run") == os.environ["RUN"]]
def med(v, fmt="{:.2f}"):
    v = sorted(x for x in v if x is not None)
    if not v:
        return "–"
    n = len(v); m = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return fmt.format(m) + (f" ({fmt.format(v[0])}–{fmt.format(v[-1])})" if n > 1 else "")
amp = [r for r in rows if r["kind"] == "amp"]
if amp:
    print("\nWrite amplification: bytes written per byte of client edits, median (min–max); window ="
          " typing + FLUSH_WAIT, session = until unloaded and idle")
    print("| system | n | edit bytes | window: db+wal growth | window: server /proc write_bytes"
          " | window: PG WAL (LSN) | session: /proc write_bytes or PG WAL (LSN) |")
    print("|---|---|---|---|---|---|---|")
    for s in dict.fromkeys(r["system"] for r in amp):
        rs = [r for r in amp if r["system"] == s]
        pg = "pg_lsn_bytes" in rs[0]["window"]
        col = lambda k, part="window": med([r[part].get(k) for r in rs])
        print(f"| {s} | {len(rs)} | {med([r['edit_bytes'] for r in rs], '{:,.0f}')} "
              f"| {'–' if pg else col('files_per_edit_byte')} "
              f"| {'–' if pg else col('proc_per_edit_byte')} "
              f"| {col('pg_lsn_per_edit_byte') if pg else '–'} "
              f"| {col('pg_lsn_per_edit_byte' if pg else 'proc_per_edit_byte', 'session')} |")
dur = [r for r in rows if r["kind"] == "durable"]
if dur:
    print("\nDurable rate: acknowledged (echoed after commit) updates/s, median (min–max)")
    print("| database | n | rooms x clients | max acked updates/s | echo p99 at max (ms) | probe: Plait CPU %"
          " | probe: Plait waiting for a CPU % (summed over threads) | probe: PG backends CPU % | fsync+fdatasync calls/s"
          " (strace) | time in fsync | nanosleep calls/s | bottleneck (heuristic, first rep) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in dict.fromkeys(r["db"] for r in dur):
        rs = [r for r in dur if r["db"] == d]
        fs = lambda r, k: [v[k] for n, v in r["strace"].items() if "sleep" not in n]
        calls = [sum(fs(r, "calls_per_s")) if r["strace"] else None for r in rs]
        busy = [sum(fs(r, "busy_fraction")) * 100 if r["strace"] else None for r in rs]
        sleeps = [sum(v["calls_per_s"] for n, v in r["strace"].items() if "sleep" in n)
                  if r["strace"] else None for r in rs]
        print(f"| {d} | {len(rs)} | {rs[0]['rooms']}x{rs[0]['clients']} "
              f"| {med([r['acked_per_s'] for r in rs], '{:,.0f}')} "
              f"| {med([r['max_echo_p99_ms'] for r in rs])} "
              f"| {med([r['probe']['server_cpu_pct'] for r in rs], '{:.0f}')} "
              f"| {med([r['probe']['server_runqueue_wait_pct'] for r in rs], '{:.0f}')} "
              f"| {med([r['probe'].get('pg_backend_cpu_pct') for r in rs], '{:.0f}')} "
              f"| {med(calls, '{:.0f}')} | {med(busy, '{:.0f} %')} | {med(sleeps, '{:.0f}')} "
              f"| {rs[0]['bottleneck']} |")
    print(f"criterion: {dur[0]['criterion']}")
EOF
}

STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(amp durable)
echo "results in $RESULTS (reps: $REPS; amp: $SYSTEMS, ${DURATION} s, $CLIENTS clients @ $RATE/s; durable: $DATABASES)"
for rep in $(seq "$REPS"); do
  for step in "${STEPS[@]}"; do
    case "$step" in
      amp) for s in $SYSTEMS; do amp_one "$s" "$rep"; done ;;
      durable) for d in $DATABASES; do durable_one "$d" "$rep"; done ;;
      *) echo "unknown step $step (amp, durable)" >&2; exit 1 ;;
    esac
  done
done
summary
