#!/usr/bin/env bash
# Who holds the memory of one idle document (BENCHMARKS.md, "Where the floor is"): the `idle`
# scenario's phase 1 (D documents, each opened by one connection and seeded with 1 KB), read twice
# against a fresh Plait on a fresh SQLite file:
#   1. /proc/PID/smaps before and during the hold: RSS growth per mapping (malloc arenas, the
#      executable's pages, thread stacks);
#   2. the same run under valgrind's massif, with a detailed snapshot before and during the hold:
#      the live heap per document, by owner (Plait's own tasks and queues, or the library).
# Both readings are taken only once plait-bench says it is holding (every seed acknowledged and
# settled), never after a fixed sleep.
#
# Usage: scripts/bench/memory-owners.sh      (needs valgrind; ~2 min)
# Environment: DOCS [500]  OUT [target/bench/memory-owners]  PLAIT_BIN [target/release/plait]
#   BENCH_BIN [target/release/plait-bench]  SERVER_CPU [0]  BENCH_CPU [1]
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
DOCS="${DOCS:-500}"
OUT="${OUT:-target/bench/memory-owners}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
PORT=8000
mkdir -p "$OUT"

for bin in "$PLAIT_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }
done
command -v valgrind >/dev/null && command -v vgdb >/dev/null \
  || { echo "needs valgrind and vgdb (apt-get install valgrind)" >&2; exit 1; }

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.1 s; fails after SECONDS.
wait_for() {
  local what="$1" limit="$2" i; shift 2
  for i in $(seq $((limit * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  echo "timed out after ${limit} s waiting for $what" >&2
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
holding() { grep -q '^  holding' "$OUT/bench.$1.log"; }

# start_bench TAG: plait-bench idle against the server, in the background; sets BENCH_PID.
start_bench() {
  taskset -c "$BENCH_CPU" "$BENCH_BIN" idle --url "ws://127.0.0.1:$PORT/ws/{doc}" \
    --conns "$DOCS" --docs "$DOCS" --hold 30 --handshake-timeout 120 >"$OUT/bench.$1.log" 2>&1 &
  BENCH_PID=$!
}

# plait_args DB: the server's arguments, as scripts/bench.sh passes them.
plait_args() {
  rm -f "$1" "$1-wal" "$1-shm"
  echo serve --bind "127.0.0.1:$PORT" --database-url "sqlite://$1?mode=rwc" \
    --unsaved-file "$OUT/unsaved.bin" --message-rate 1000000 --message-burst 1000000 \
    --max-connections-per-doc 2000
}

# finish PID: stops the server with SIGINT and waits for it to exit.
finish() {
  kill -INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
SRV=""
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; true' EXIT

echo "== smaps (D = $DOCS)"
# shellcheck disable=SC2046
RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" $(plait_args "$OUT/smaps.db") \
  >"$OUT/server.smaps.log" 2>&1 &
SRV=$!
wait_for "the server's port" 30 port_open
cp "/proc/$SRV/smaps" "$OUT/smaps.before"
start_bench smaps
wait_for "plait-bench to hold its connections" 120 holding smaps
cp "/proc/$SRV/smaps" "$OUT/smaps.after"
wait "$BENCH_PID"
finish "$SRV"
python3 "$ROOT/scripts/bench/memory_owners.py" smaps "$OUT/smaps.before" "$OUT/smaps.after" --docs "$DOCS"

echo "== massif (D = $DOCS)"
# shellcheck disable=SC2046
RUST_LOG=warn taskset -c "$SERVER_CPU" valgrind --tool=massif --vgdb=yes --threshold=0.2 \
  --massif-out-file="$OUT/massif.out" "$PLAIT_BIN" $(plait_args "$OUT/massif.db") \
  >"$OUT/server.massif.log" 2>&1 &
SRV=$!
wait_for "the server's port under valgrind" 120 port_open
vgdb --pid="$SRV" detailed_snapshot "$OUT/massif.before" >/dev/null 2>&1
start_bench massif
wait_for "plait-bench to hold its connections" 300 holding massif
vgdb --pid="$SRV" detailed_snapshot "$OUT/massif.after" >/dev/null 2>&1
wait "$BENCH_PID"
finish "$SRV"
python3 "$ROOT/scripts/bench/memory_owners.py" massif "$OUT/massif.before" "$OUT/massif.after" --docs "$DOCS"
