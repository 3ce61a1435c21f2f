#!/usr/bin/env bash
# Reproduces every row of BENCHMARKS.md: Plait and the peer servers side by side.
#
# Each measurement starts a FRESH server pinned to CPU $SERVER_CPU (Plait and peers alike), runs
# plait-bench pinned to CPU $BENCH_CPU, then stops the server by its PID. Within one repetition the
# servers take turns (plait, peer, peer, ...), and the whole round is repeated REPS times, so slow
# phases of a noisy machine are spread over every server. Each run's last stdout line (JSON) goes to
# $OUT/<server>.<step>.<rep>.json next to its full output (.log); scripts/bench/summarize.py turns
# the directory into median (min-max) tables.
#
# Servers (SERVERS): plait (y-websocket protocol at /ws/{doc}), plait-hocus (the same binary and
# arguments, a fresh SQLite file too, driven over the Hocuspocus protocol at the fixed path
# /hocuspocus: the document name travels inside every frame, not in the URL), plait-mem (added to
# max1x50 when plait is listed: --database-url memory:), ywss, hocus, ysweet.
#
# Usage: scripts/bench.sh [STEP...]      (default: every step)
#   fixed      1 room x 50 clients @ 10 updates/s each: latency p50/p99
#   max1x50    1x50 find-max (deliveries/s with p99 <= 50 ms); also Plait with persistence off
#   max100x4   100 rooms x 4 clients find-max
#   cpu100x4   100x4 at a fixed offered load every server sustains: server CPU %
#   idle       2000 idle connections over 500 seeded documents: KB per connection / document
#   bigdoc     automerge-paper trace: fresh client synced, 50 simultaneous joiners
#   awareness  500 clients in one room, presence once per second: server CPU %
#   hugedoc    not in the default list: the trace typed HUGE_REPEAT [65] times into one document
#              (~20 MB encoded), then HUGE_JOINERS [150] clients join at once: all synced, server
#              RSS for the loaded document (the updates are built once, into
#              target/hugedoc-<repeat>.bin, which later runs read)
#   restart    Plait only: ingest the trace, SIGTERM, restart on the same SQLite file, time a
#              fresh client's sync of the document loaded from SQL
# Not in the default list (they need psql and sqlite3; see scripts/bench/database-steps.sh):
#   trigger    Plait only: appends made in SQL by another program (sqlite3 INSERT on the file;
#              psql SELECT plait_write with two nodes), until each node's client has them
#   feed       Plait only: FEED_ROWS [1000000] log rows, the change feed read from the beginning
#              page by page and as SSE: changes/s
#
# Environment (defaults in brackets):
#   REPS [3]  OUT [target/bench/results]  SERVERS ["plait ywss hocus ysweet"; also plait-hocus]
#   PEERS [target/bench/peers]  YWSS_DIR [$PEERS/ywss]  HOCUS_DIR [$PEERS/hocus]
#   YSWEET_BIN [$PEERS/ysweet/bin/y-sweet]  PLAIT_BIN [target/release/plait]
#   BENCH_BIN [target/release/plait-bench]  BENCH_TRACE [../shared/bench/data/automerge-paper.json.gz]
#   PLAIT_ARGS [limits raised so the load generator is not throttled, see below]
#   SERVER_CPU [0]  BENCH_CPU [1]
#   PLAIT_DB [sqlite]: `pg` runs Plait on a fresh PostgreSQL database per run (created on $PG,
#     dropped after it) instead of a fresh SQLite file
#   PG [postgres://postgres@127.0.0.1:5432]  DATABASES ["sqlite pg"] (trigger, feed)  FEED_ROWS
# A peer that is not installed is skipped with a message.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/target/bench/results}"
SERVERS="${SERVERS:-plait ywss hocus ysweet}"
PEERS="${PEERS:-$ROOT/target/bench/peers}"
YWSS_DIR="${YWSS_DIR:-$PEERS/ywss}"
HOCUS_DIR="${HOCUS_DIR:-$PEERS/hocus}"
YSWEET_BIN="${YSWEET_BIN:-$PEERS/ysweet/bin/y-sweet}"
# Databases and y-sweet's data of the runs (the OS temp directory, not the results).
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
BENCH_TRACE="${BENCH_TRACE:-$ROOT/../shared/bench/data/automerge-paper.json.gz}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
# Plait's per-connection abuse limits (200 messages/s, 500 connections per document) would throttle
# the load generator, which deliberately exceeds them; the peers have no such limits.
PLAIT_ARGS="${PLAIT_ARGS:---message-rate 1000000 --message-burst 1000000 --max-connections-per-doc 2000}"
PLAIT_DB="${PLAIT_DB:-sqlite}"
RUN="$(date +%s)-$$"
PG_RUN_DB=""
mkdir -p "$OUT"

[ -x "$BENCH_BIN" ] || { echo "missing $BENCH_BIN: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }

# --- servers -------------------------------------------------------------------------------------
# installed NAME: true if the server can be started (prints why not otherwise).
installed() {
  case "$1" in
    plait|plait-mem|plait-hocus) [ -x "$PLAIT_BIN" ] || { echo "-- skip $1: $PLAIT_BIN not built"; return 1; } ;;
    ywss) [ -f "$YWSS_DIR/node_modules/@y/websocket-server/src/server.js" ] \
            || { echo "-- skip ywss: not installed in $YWSS_DIR"; return 1; } ;;
    hocus) [ -d "$HOCUS_DIR/node_modules/@hocuspocus/server" ] \
            || { echo "-- skip hocus: not installed in $HOCUS_DIR"; return 1; } ;;
    ysweet) [ -x "$YSWEET_BIN" ] || { echo "-- skip ysweet: $YSWEET_BIN not installed"; return 1; } ;;
    *) echo "-- unknown server $1" >&2; return 1 ;;
  esac
}

# start_server NAME [DB]: starts NAME on CPU $SERVER_CPU; sets SRV_PID, URL, PROTO, PORT.
# Plait (and plait-hocus) uses a fresh SQLite file unless DB (a path) is given; plait-mem keeps
# nothing. plait-hocus: no {doc} in the URL, so every client connects to /hocuspocus and
# plait-bench's Hocuspocus framing puts the document name in each frame.
start_server() {
  local name="$1" db="${2:-}" log="$OUT/server.$1.log"
  case "$name" in
    plait|plait-mem|plait-hocus)
      URL='ws://127.0.0.1:8000/ws/{doc}'; PROTO=yws; PORT=8000
      if [ "$name" = plait-hocus ]; then URL='ws://127.0.0.1:8000/hocuspocus'; PROTO=hocuspocus; fi
      local dburl="memory:"
      if [ "$name" != plait-mem ] && [ "$PLAIT_DB" = pg ] && [ -z "$db" ]; then
        PG_RUN_DB="plait_bench_${RUN//-/_}_$((++PG_RUNS))"
        pg_create "$PG_RUN_DB"
        dburl="$PG/$PG_RUN_DB"
      elif [ "$name" != plait-mem ]; then
        if [ -z "$db" ]; then db="$SCRATCH/plait-bench-$RUN.db"; rm -f "$db" "$db-wal" "$db-shm"; fi
        dburl="sqlite://$db?mode=rwc"
      fi
      # shellcheck disable=SC2086
      RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind 127.0.0.1:8000 \
        --database-url "$dburl" $PLAIT_ARGS >>"$log" 2>&1 &
      ;;
    ywss)
      URL='ws://127.0.0.1:1234/{doc}'; PROTO=yws; PORT=1234
      (cd "$YWSS_DIR" && HOST=127.0.0.1 PORT=1234 exec taskset -c "$SERVER_CPU" \
        node node_modules/@y/websocket-server/src/server.js) >>"$log" 2>&1 &
      ;;
    hocus)
      URL='ws://127.0.0.1:1235/{doc}'; PROTO=hocuspocus; PORT=1235
      cp "$ROOT/scripts/bench/hocus-server.mjs" "$HOCUS_DIR/server.mjs"
      (cd "$HOCUS_DIR" && HOST=127.0.0.1 PORT=1235 exec taskset -c "$SERVER_CPU" node server.mjs) >>"$log" 2>&1 &
      ;;
    ysweet)  # filesystem storage in a fresh directory (its default mode)
      URL='ws://127.0.0.1:8080/d/{doc}/ws/{doc}'; PROTO=yws; PORT=8080
      rm -rf "$SCRATCH/ysweet-bench-data"; mkdir -p "$SCRATCH/ysweet-bench-data"
      RUST_LOG=warn taskset -c "$SERVER_CPU" "$YSWEET_BIN" serve "$SCRATCH/ysweet-bench-data" \
        --host 127.0.0.1 --port 8080 >>"$log" 2>&1 &
      ;;
  esac
  SRV_PID=$!
  local i
  for i in $(seq 150); do  # wait up to 15 s for the port
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$SRV_PID" 2>/dev/null || { echo "   server $name exited, see $log"; return 1; }
    sleep 0.1
  done
  sleep 0.5
}

# stop_server [SIGNAL]: stops the server started last and waits for it to exit.
stop_server() {
  kill "-${1:-TERM}" "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  rm -f "$SCRATCH/plait-bench-$RUN.db" "$SCRATCH/plait-bench-$RUN.db-wal" "$SCRATCH/plait-bench-$RUN.db-shm"
  if [ -n "$PG_RUN_DB" ]; then pg_drop "$PG_RUN_DB"; PG_RUN_DB=""; fi
  sleep 0.3
}

# run NAME STEP REP SCENARIO ARGS...: one plait-bench run against a fresh server.
run() {
  local name="$1" step="$2" rep="$3" scen="$4"; shift 4
  installed "$name" || return 0
  local base="$OUT/$name.$step.$rep"
  echo "== $name $step rep $rep"
  start_server "$name" || return 0
  if taskset -c "$BENCH_CPU" "$BENCH_BIN" "$scen" --url "$URL" --protocol "$PROTO" \
      --server-pid "$SRV_PID" --label "$name" "$@" >"$base.log" 2>&1; then
    tail -n 1 "$base.log" >"$base.json"
    grep -E "^  (latency  |deliveries|per doc|median  |[0-9]+ joiners)|^max passing|^no rate|server cpu" \
      "$base.log" | sed 's/^/   /' || true
  else
    echo "   FAILED (see $base.log)"; tail -n 3 "$base.log" | sed 's/^/   /'
  fi
  stop_server
}

# --- steps -----------------------------------------------------------------------------------------
PG_RUNS=0
# trigger, feed; and pg_create / pg_drop for PLAIT_DB=pg.
# shellcheck source=scripts/bench/database-steps.sh
source "$ROOT/scripts/bench/database-steps.sh"
FANOUT_SHORT=(--drain 2)
FIND_MAX=(--find-max --duration 3 --drain 2 --bisect 2)
FIND_MAX_FINE=(--find-max --duration 3 --drain 2 --bisect 4)

step_fixed() {
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" fixed "$rep" fanout --rooms 1 --clients 50 --rate 10 --duration 10 "${FANOUT_SHORT[@]}"
  done; done
}
step_max1x50() {
  local list="$SERVERS"
  case " $SERVERS " in *" plait "*) list="$SERVERS plait-mem" ;; esac
  # Two more bisection steps than elsewhere (about 2 % resolution instead of 8 %): target 5
  # compares Plait with and without persistence here, and adjacent steps of a coarse search
  # differ by more than the 10 % the target allows.
  for rep in $(seq "$REPS"); do for s in $list; do
    run "$s" max1x50 "$rep" fanout --rooms 1 --clients 50 --rate 12 "${FIND_MAX_FINE[@]}"
  done; done
}
step_max100x4() {
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" max100x4 "$rep" fanout --rooms 100 --clients 4 --rate 8 "${FIND_MAX[@]}"
  done; done
}
step_cpu100x4() {  # 400 clients x 25/s = 10 k updates/s, 30 k deliveries/s: below every peer's max
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" cpu100x4 "$rep" fanout --rooms 100 --clients 4 --rate 25 --duration 10 "${FANOUT_SHORT[@]}"
  done; done
}
step_idle() {
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" idle "$rep" idle --conns 2000 --docs 500 --hold 10
  done; done
}
step_bigdoc() {
  [ -f "$BENCH_TRACE" ] || { echo "-- skip bigdoc: no trace at $BENCH_TRACE (set BENCH_TRACE)"; return 0; }
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" bigdoc "$rep" bigdoc --trace "$BENCH_TRACE" --syncs 5 --joiners 50
  done; done
}
step_hugedoc() {
  [ -f "$BENCH_TRACE" ] || { echo "-- skip hugedoc: no trace at $BENCH_TRACE (set BENCH_TRACE)"; return 0; }
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" hugedoc "$rep" bigdoc --trace "$BENCH_TRACE" --repeat "${HUGE_REPEAT:-65}" \
      --syncs 1 --joiners "${HUGE_JOINERS:-150}" --doc-prefix hugedoc \
      --cache "$ROOT/target/hugedoc-${HUGE_REPEAT:-65}.bin"
  done; done
}
step_awareness() {
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" awareness "$rep" awareness --clients 500 --interval 1 --duration 10 --drain 2
  done; done
}
# Plait only: the trace is ingested into a SQLite-backed server, which is stopped with SIGTERM
# (graceful: pending writes are flushed) and started again on the same file; then fresh clients
# sync the document, the first one loading it from SQL.
step_restart() {
  [ -f "$BENCH_TRACE" ] || { echo "-- skip restart: no trace at $BENCH_TRACE"; return 0; }
  installed plait || return 0
  local rep db base
  for rep in $(seq "$REPS"); do
    db="$SCRATCH/plait-bench-restart-$RUN.db"; rm -f "$db" "$db-wal" "$db-shm"
    base="$OUT/plait.restart.$rep"
    echo "== plait restart rep $rep"
    start_server plait "$db" || continue
    if ! taskset -c "$BENCH_CPU" "$BENCH_BIN" bigdoc --url "$URL" --server-pid "$SRV_PID" --label plait \
        --trace "$BENCH_TRACE" --syncs 1 --doc-prefix restart >"$base.ingest.log" 2>&1; then
      echo "   FAILED ingest (see $base.ingest.log)"; stop_server; continue
    fi
    stop_server TERM
    local doc
    doc="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select name from documents").fetchone()[0])' "$db")"
    start_server plait "$db" || continue
    {
      for i in 1 2 3; do
        taskset -c "$BENCH_CPU" python3 "$ROOT/scripts/bench/restart_sync.py" 127.0.0.1 8000 "/ws/$doc"
      done
    } >"$base.log" 2>&1 || echo "   FAILED (see $base.log)"
    python3 - "$base.log" "$base.ingest.log" >"$base.json" <<'EOF'
import json, sys
syncs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ingest = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(json.dumps({"scenario": "restart", "label": "plait", "cold_sync": syncs[0] if syncs else None,
                  "warm_syncs": syncs[1:], "step2_bytes_before_restart": ingest["syncs"][0]["step2_bytes"],
                  "sync_ms_before_restart": ingest["sync_median_ms"]}))
EOF
    sed 's/^/   /' "$base.log"
    stop_server
    rm -f "$db" "$db-wal" "$db-shm"
  done
}

STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(max1x50 fixed max100x4 cpu100x4 bigdoc idle awareness restart)
echo "results in $OUT (servers: $SERVERS; reps: $REPS)"
for s in "${STEPS[@]}"; do
  echo; echo "##### step $s ($(date -u +%H:%M:%S))"
  "step_$s"
done
echo; echo "done ($(date -u +%H:%M:%S)); summarize: python3 scripts/bench/summarize.py $OUT"
