#!/usr/bin/env bash
# Several nodes on one PostgreSQL database: 100 rooms x 2 clients at 10 updates/s each.
#   alone  node A runs by itself (what a single PostgreSQL node costs);
#   then node B starts too, and the two layouts alternate REPS times:
#   one    both clients of every room on node A;
#   two    one client of every room on each node: every delivery crosses from one node to the
#          other through PostgreSQL.
# Then presence, alternating REPS times: 500 clients in one room, each renewing its presence once
# per second (the awareness scenario), all on node A ("presence-one") or half on each node
# ("presence-two": every client's presence crosses to the other node's 250).
# Latency is from the sender's schedule to the other client; CPU is node A's.
#
# Usage: scripts/bench/nodes.sh
# Environment: REPS [3]  OUT [target/bench/nodes]  PG [postgres://postgres@127.0.0.1:5432]
#   PLAIT_BIN [target/release/plait]  BENCH_BIN [target/release/plait-bench]
#   NODE_ARGS [] (extra flags for both nodes)  SERVER_CPU [0] (both nodes)  BENCH_CPU [1]
# Needs psql and a PostgreSQL server on which PG may create a database (dropped at the end).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
REPS="${REPS:-3}"
OUT="${OUT:-target/bench/nodes}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
NODE_ARGS="${NODE_ARGS:-}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
DB="plait_bench_nodes_$$"
mkdir -p "$OUT"
for bin in "$PLAIT_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }
done

psql "$PG/postgres" -qXc "CREATE DATABASE $DB"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

# start_node PORT: starts a node on PORT and waits for it.
start_node() {
  local port="$1" pid
  # shellcheck disable=SC2086
  RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind "127.0.0.1:$port" \
    --database-url "$PG/$DB" --message-rate 1000000 --message-burst 1000000 $NODE_ARGS \
    --unsaved-file "$OUT/unsaved-$port.bin" >>"$OUT/server.$port.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 150); do  # up to 15 s for the port
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "node on $port exited, see $OUT/server.$port.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "node on $port did not listen within 15 s" >&2; exit 1
}

# trial LAYOUT REP ARGS...: one fanout run; node A's PID is the one sampled.
trial() {
  local layout="$1" rep="$2"; shift 2
  local base="$OUT/$layout.$rep"
  echo "== $layout, rep $rep"
  taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$A" "$@" --server-pid "${PIDS[0]}" \
    --label "$layout" --rooms 100 --clients 2 --rate 10 --duration 10 --drain 2 \
    --doc-prefix "nodes-$layout-$rep" >"$base.log" 2>&1
  tail -n 1 "$base.log" >"$base.json"
  grep -E "^  (from schedule|deliveries|server )" "$base.log" | sed 's/^/   /' || true
}

# presence_trial LAYOUT REP ARGS...: one awareness run; node A's PID is the one sampled.
presence_trial() {
  local layout="$1" rep="$2"; shift 2
  local base="$OUT/presence-$layout.$rep"
  echo "== presence-$layout, rep $rep"
  taskset -c "$BENCH_CPU" "$BENCH_BIN" awareness --url "$A" "$@" --server-pid "${PIDS[0]}" \
    --label "presence-$layout" --clients 500 --interval 1 --duration 10 --drain 2 \
    --doc-prefix "presence-$layout-$rep" >"$base.log" 2>&1
  tail -n 1 "$base.log" >"$base.json"
  grep -E "^  (received|latency|server )" "$base.log" | sed 's/^/   /' || true
}

A='ws://127.0.0.1:8101/ws/{doc}'
B='ws://127.0.0.1:8102/ws/{doc}'
start_node 8101
for rep in $(seq "$REPS"); do trial alone "$rep"; done
start_node 8102
sleep 1  # the nodes announce themselves to each other
for rep in $(seq "$REPS"); do
  trial one "$rep"
  trial two "$rep" --also-url "$B"
done
for rep in $(seq "$REPS"); do
  presence_trial one "$rep"
  presence_trial two "$rep" --also-url "$B"
done
