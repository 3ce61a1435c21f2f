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
#   crowd      not in the default list: CROWD_CONNS [18000] connections over CROWD_DOCS [2000]
#              documents from 8 source addresses (127.0.0.1-8), 1 % of them typing once a second
#              for 30 s, all reading: accept rate (connections/s), typists' p99 latency, server RSS.
#              The soft open-file limit is raised to the hard one (needs > CROWD_CONNS); Plait
#              gets --max-connections CROWD_CONNS + 100 (its default, 10,000, would refuse the rest)
#   hugedoc    not in the default list: the trace typed HUGE_REPEAT [65] times into one document
#              (~20 MB encoded), then HUGE_JOINERS [150] clients join at once: all synced, server
#              RSS for the loaded document (the updates are built once, into
#              target/hugedoc-<repeat>.bin, which later runs read)
#   curve      not in the default list: latency against load, 100x4 and 1x50 at CURVE_PCTS [10 30 60
#              90] % of each server's own max (from this OUT's max steps, or one find-max run);
#              scripts/bench/curve_plot.py OUT FILE.svg draws it
#   idleslope  not in the default list: idle with D documents (2 connections each) for D in
#              IDLE_DOCS [500 1000 2000]; summarize.py prints the slope, KB per extra document
#   restart    Plait only: ingest the trace, SIGTERM, restart on the same SQLite file, time a
#              fresh client's sync of the document loaded from SQL
# Not in the default list (they need psql and sqlite3; see scripts/bench/database-steps.sh):
#   trigger    Plait only: appends made in SQL by another program (sqlite3 INSERT on the file;
#              psql SELECT plait_write with two nodes), until each node's client has them
#   feed       Plait only: FEED_ROWS [1000000] log rows, the change feed read from the beginning
#              page by page and as SSE: changes/s
#   storm      STORM_CLIENTS [2000] clients on STORM_DOCS [200] documents connect, sync and edit
#              once; the server gets SIGTERM and is started again on the same database (Plait:
#              each of $DATABASES, PostgreSQL as step storm-pg; y-sweet: the same data directory;
#              ywss and hocus keep nothing, the clients' re-sent state restores them) while every
#              client makes STORM_EDITS [1] edits offline and reconnects with y-websocket's
#              backoff: time from the new process listening until each client is synced again;
#              edits lost (a fresh verifier per document)
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
#   PG [postgres://postgres@127.0.0.1:5432]  DATABASES ["sqlite pg"] (trigger, feed, storm)  FEED_ROWS
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
# plait-bench's Hocuspocus framing puts the document name in each frame. With KEEP_DB set (see
# restart_server) the database of the last start is kept: the same SQLite file or PostgreSQL
# database, y-sweet's data directory.
start_server() {
  local name="$1" db="${2:-}" log="$OUT/server.$1.log"
  case "$name" in
    plait|plait-mem|plait-hocus)
      URL='ws://127.0.0.1:8000/ws/{doc}'; PROTO=yws; PORT=8000
      if [ "$name" = plait-hocus ]; then URL='ws://127.0.0.1:8000/hocuspocus'; PROTO=hocuspocus; fi
      local dburl="memory:"
      if [ "$name" != plait-mem ] && [ "$PLAIT_DB" = pg ] && [ -z "$db" ]; then
        if [ -z "${KEEP_DB:-}" ] || [ -z "$PG_RUN_DB" ]; then
          PG_RUN_DB="plait_bench_${RUN//-/_}_$((++PG_RUNS))"
          pg_create "$PG_RUN_DB"
        fi
        dburl="$PG/$PG_RUN_DB"
      elif [ "$name" != plait-mem ]; then
        if [ -z "$db" ]; then
          db="$SCRATCH/plait-bench-$RUN.db"; [ -n "${KEEP_DB:-}" ] || rm -f "$db" "$db-wal" "$db-shm"
        fi
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
      [ -n "${KEEP_DB:-}" ] || rm -rf "$SCRATCH/ysweet-bench-data"; mkdir -p "$SCRATCH/ysweet-bench-data"
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
  # Something else on the port (another run) answers the wait above; ours then exits at its bind.
  kill -0 "$SRV_PID" 2>/dev/null || { echo "   server $name exited (port $PORT taken?), see $log"; return 1; }
}

# stop_server [SIGNAL]: stops the server started last and waits for it to exit.
stop_server() {
  kill "-${1:-TERM}" "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  rm -f "$SCRATCH/plait-bench-$RUN.db" "$SCRATCH/plait-bench-$RUN.db-wal" "$SCRATCH/plait-bench-$RUN.db-shm"
  if [ -n "$PG_RUN_DB" ]; then pg_drop "$PG_RUN_DB"; PG_RUN_DB=""; fi
  sleep 0.3
}

# restart_server NAME: SIGTERM to the server started last, wait for its exit, start NAME again on
# the same database (KEEP_DB); stop_server afterwards removes it as usual.
restart_server() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  KEEP_DB=1 start_server "$1"
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
    grep -E "^  (latency  |deliveries|per doc|median  |[0-9]+ joiners|joiners' cpu)|^max passing|^no rate|server cpu" \
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
      --syncs 1 --joiners "${HUGE_JOINERS:-150}" --doc-prefix hugedoc --handshake-timeout 300 \
      --cache "$ROOT/target/hugedoc-${HUGE_REPEAT:-65}.bin"
  done; done
}
# Issue 27 row 6: every server needs a descriptor per connection, started from this shell.
step_crowd() {
  local conns="${CROWD_CONNS:-18000}" docs="${CROWD_DOCS:-2000}"
  local PLAIT_ARGS="$PLAIT_ARGS --max-connections $((conns + 100))"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  local fds; fds="$(ulimit -n)"
  [ "$fds" = unlimited ] || [ "$fds" -gt "$((conns + 100))" ] \
    || echo "-- crowd: ulimit -n is $fds, not enough for $conns connections"
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    run "$s" crowd "$rep" crowd --conns "$conns" --docs "$docs" --typing-fraction 0.01 --rate 1 \
      --duration 30 --sources 8
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

# storm_run NAME STEP REP: plait-bench storm in the background; once it prints `  ready` (every
# client synced, first edits exchanged) the server is restarted under it; then its JSON is kept.
storm_run() {
  local name="$1" step="$2" rep="$3" base="$OUT/$1.$2.$3" bench i
  echo "== $name $step rep $rep"
  start_server "$name" || return 0
  taskset -c "$BENCH_CPU" "$BENCH_BIN" storm --url "$URL" --protocol "$PROTO" --server-pid "$SRV_PID" \
    --label "$name" --clients "${STORM_CLIENTS:-2000}" --docs "${STORM_DOCS:-200}" \
    --edits-while-down "${STORM_EDITS:-1}" >"$base.log" 2>&1 &
  bench=$!
  for i in $(seq 1200); do  # up to 120 s for every client to connect and exchange its first edit
    grep -q '^  ready ' "$base.log" && break
    kill -0 "$bench" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^  ready ' "$base.log"; then
    echo "   FAILED before the restart (see $base.log)"; tail -n 3 "$base.log" | sed 's/^/   /'
    kill "$bench" 2>/dev/null || true; wait "$bench" 2>/dev/null || true
    stop_server; return 0
  fi
  restart_server "$name" || echo "   server did not come back (see $OUT/server.$name.log)"
  if wait "$bench"; then
    tail -n 1 "$base.log" >"$base.json"
    grep -E "^  (outage|synced|after listen|reconnects|edits) " "$base.log" | sed 's/^/   /' || true
  else
    echo "   FAILED (see $base.log)"; tail -n 3 "$base.log" | sed 's/^/   /'
  fi
  stop_server
}
step_storm() {
  local rep s db
  for rep in $(seq "$REPS"); do for s in $SERVERS; do
    installed "$s" || continue
    case "$s" in
      plait|plait-hocus)  # each database; SQLite keeps the step name so the row compares with peers
        for db in $DATABASES; do
          PLAIT_DB="$db" storm_run "$s" "storm$([ "$db" = pg ] && echo -pg || true)" "$rep"
        done ;;
      *) storm_run "$s" storm "$rep" ;;
    esac
  done; done
}

# Latency against load (issue 27 row 1): for each server its own max per-client rate, the median
# of this $OUT's max100x4 / max1x50 results (one find-max run first when there are none), then
# REPS fixed-rate runs at CURVE_PCTS [10 30 60 90] % of it, the servers taking turns at each point.
# scripts/bench/curve_plot.py draws the curve.
curve_max_rate() {  # curve_max_rate SERVER SHAPE: prints the per-client rate of its max
  python3 - "$OUT" "$1" "$2" <<'EOF'
import glob, json, statistics, sys
out, server, shape = sys.argv[1:]
rates = []
for path in glob.glob(f"{out}/{server}.max{shape}.*.json"):
    try:
        rate = (json.load(open(path)).get("max") or {}).get("rate_per_client")
    except (OSError, ValueError):
        continue
    if rate:
        rates.append(rate)
print(statistics.median(rates) if rates else "")
EOF
}
step_curve() {
  local shape rooms clients start s rate pct rep
  for shape in ${CURVE_SHAPES:-100x4 1x50}; do
    rooms="${shape%x*}"; clients="${shape#*x}"; start=8
    [ "$shape" = 1x50 ] && start=12
    local -A max=()
    for s in $SERVERS; do
      installed "$s" || continue
      [ -n "$(curve_max_rate "$s" "$shape")" ] \
        || run "$s" "max$shape" 1 fanout --rooms "$rooms" --clients "$clients" --rate "$start" "${FIND_MAX[@]}"
      max[$s]="$(curve_max_rate "$s" "$shape")"
      echo "   $s $shape max: ${max[$s]:-none}/s per client"
    done
    for rep in $(seq "$REPS"); do for pct in ${CURVE_PCTS:-10 30 60 90}; do for s in $SERVERS; do
      [ -n "${max[$s]:-}" ] || continue
      rate="$(python3 -c "print(round(${max[$s]} * $pct / 100, 3))")"
      run "$s" "curve$shape-$pct" "$rep" fanout --rooms "$rooms" --clients "$clients" --rate "$rate" \
        --duration 10 "${FANOUT_SHORT[@]}"
    done; done; done
    unset max
  done
}
# Idle memory per extra document (issue 27 row 7): D documents with 2 connections each for D in
# IDLE_DOCS [500 1000 2000]; summarize.py fits RSS against D (the slope is what one more document
# with its first connection costs, without what the process holds anyway).
step_idleslope() {
  local d
  for rep in $(seq "$REPS"); do for d in ${IDLE_DOCS:-500 1000 2000}; do for s in $SERVERS; do
    run "$s" "idle$d" "$rep" idle --conns "$((2 * d))" --docs "$d" --hold 2
  done; done; done
}

STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(max1x50 fixed max100x4 cpu100x4 bigdoc idle awareness restart)
echo "results in $OUT (servers: $SERVERS; reps: $REPS)"
for s in "${STEPS[@]}"; do
  echo; echo "##### step $s ($(date -u +%H:%M:%S))"
  "step_$s"
done
echo; echo "done ($(date -u +%H:%M:%S)); summarize: python3 scripts/bench/summarize.py $OUT"
