#!/usr/bin/env bash
# A crowd of documents unloading at once, and what it does to the documents still being typed
# into (issue 27, found with row 4): CROWD rooms x 2 clients type for 5 s and leave; their
# documents unload IDLE_UNLOAD later, each compacted by the writer, while 100 rooms x 4 other
# clients type at RATE updates/s each. Reported: the typists' durable echo (their own update
# back from the server once committed) p50 / p99 from send, and the delivery p99.
#
# One node on PostgreSQL (DB=pg, a fresh database per run, dropped after) or SQLite (DB=sqlite).
# Every run is a fresh server on SERVER_CPU and `plait-bench` on BENCH_CPU; with several BINS the
# binaries take turns, the order alternating by repetition.
#
# Usage: scripts/bench/unload-crowd.sh
# Environment: BINS ["plait=target/release/plait"] (NAME=PATH ...)  REPS [3]  DB [pg]
#   CROWD [300]  RATE [5]  DURATION [10]  IDLE_UNLOAD [2s]  OUT [target/bench/unload-crowd]
#   PG [postgres://postgres@127.0.0.1:5432]  BENCH_BIN [target/release/plait-bench]
#   SERVER_CPU [0]  BENCH_CPU [1]
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
BINS="${BINS:-plait=$ROOT/target/release/plait}"
REPS="${REPS:-3}"
DB="${DB:-pg}"
CROWD="${CROWD:-300}"
RATE="${RATE:-5}"
DURATION="${DURATION:-10}"
IDLE_UNLOAD="${IDLE_UNLOAD:-2s}"
OUT="${OUT:-target/bench/unload-crowd}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
mkdir -p "$OUT"
[ -x "$BENCH_BIN" ] || { echo "missing $BENCH_BIN: cargo build --release -p plait-bench" >&2; exit 1; }
declare -A BIN_OF=()
NAMES=()
for pair in $BINS; do
  name="${pair%%=*}"; BIN_OF[$name]="${pair#*=}"; NAMES+=("$name")
  [ -x "${BIN_OF[$name]}" ] || { echo "missing ${BIN_OF[$name]}" >&2; exit 1; }
done
SCRATCH="$(mktemp -d)"
SRV_PID=""
PGDB=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  [ -n "$PGDB" ] && psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

source "$ROOT/scripts/bench/wait-port.sh"

# run_one NAME REP: a fresh server and database, the crowd, then the measured trial.
run_one() {
  local name="$1" rep="$2" url db base="$OUT/$1.$2"
  if [ "$DB" = pg ]; then
    PGDB="plait_crowd_$$_$rep"
    psql "$PG/postgres" -qXc "CREATE DATABASE $PGDB"
    db="$PG/$PGDB"
  else
    rm -f "$SCRATCH"/p.db*; db="sqlite://$SCRATCH/p.db?mode=rwc"
  fi
  RUST_LOG=warn taskset -c "$SERVER_CPU" "${BIN_OF[$name]}" serve --bind 127.0.0.1:8000 \
    --database-url "$db" --idle-unload "$IDLE_UNLOAD" --message-rate 1000000 \
    --message-burst 1000000 >"$base.server.log" 2>&1 &
  SRV_PID=$!; url='ws://127.0.0.1:8000/ws/{doc}'; wait_port 8000
  # The crowd: its documents are loaded, typed into, and left together.
  taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$url" --label crowd --doc-prefix crowd \
    --rooms "$CROWD" --clients 2 --rate 2 --duration 5 --drain 1 >"$base.crowd.log" 2>&1
  # The typists, from the moment the crowd has left: its unloads fall inside this trial.
  if taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$url" --server-pid "$SRV_PID" \
      --label "$name" --doc-prefix typed --rooms 100 --clients 4 --rate "$RATE" \
      --duration "$DURATION" --drain 3 >"$base.log" 2>&1; then
    tail -n 1 "$base.log" >"$base.json"
  else
    echo "   $name rep $rep FAILED (see $base.log)"
  fi
  kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
  if [ -n "$PGDB" ]; then
    psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"; PGDB=""
  fi
}

for rep in $(seq "$REPS"); do
  order=("${NAMES[@]}")
  (( rep % 2 == 0 )) && order=($(printf '%s\n' "${NAMES[@]}" | tac))
  for name in "${order[@]}"; do
    echo "== $name, rep $rep ($DB, crowd of $CROWD)"
    run_one "$name" "$rep"
  done
done

python3 - "$OUT" "${NAMES[@]}" <<'EOF'
import glob, json, sys
sys.path.insert(0, "scripts/bench")
from summarize import cell as summarize_cell
out, names = sys.argv[1], sys.argv[2:]

def cell(values, fmt="{:.2f}"):
    """Median (min–max), as summarize.py writes it."""
    return summarize_cell(values, fmt)[0]

print("\n| binary | echo p50 (ms) | echo p99 (ms) | delivery p99 from send (ms) | server CPU % | lost |")
print("|---|---|---|---|---|---|")
for name in names:
    runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{name}.*.json"))]
    e50 = [r["echo"]["p50_ms"] for r in runs if r.get("echo")]
    e99 = [r["echo"]["p99_ms"] for r in runs if r.get("echo")]
    d99 = [r["latency"]["p99_ms"] for r in runs if r.get("latency")]
    cpu = [r["server_cpu_pct"] for r in runs if r.get("server_cpu_pct") is not None]
    lost = sum(r.get("lost", 0) for r in runs)
    print(f"| {name} | {cell(e50, '{:.1f}')} | {cell(e99, '{:.1f}')} | {cell(d99)} | {cell(cpu, '{:.0f}')} | {lost} |")
EOF
