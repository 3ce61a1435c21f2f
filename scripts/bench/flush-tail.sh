#!/usr/bin/env bash
# Where Plait's low-load tail comes from (issue 27, row 1): 100 rooms x 4 clients at fixed rates,
# against @y/websocket-server, Plait on SQLite at each flush interval of FLUSHES, and Plait on
# `memory:` (no database, but the durable echo still on the default flush clock). Every run is a
# fresh server on SERVER_CPU and `plait-bench fanout` on BENCH_CPU, the order alternating by
# repetition. The end prints a Markdown table: median (min-max) over REPS of the delivery p99
# from schedule and from the actual send (the difference is the load generator's own timer lag,
# ~1 ms with tokio's millisecond timer wheel), the durable echo's p50 and p99, the server's CPU,
# the deliveries lost and the echoes that did not come back within the drain.
#
# Usage: scripts/bench/flush-tail.sh
# Environment: REPS [3]  RATES ["3.93 11.8 23.6 35.4"] (updates/s per client; the defaults are
#   10/30/60/90 % of Plait's own 100x4 max on the AMD machine of BENCHMARKS.md)
#   FLUSHES ["100ms 20ms"]  MEMORY [1] (0: skip `memory:`)  YWSS [1] (0: skip the peer)
#   NICES [""]: instead of each flush interval's one run at the default `--sqlite-nice`, one per
#     value (labels sqlite-100ms-nice10, ...)
#   FLOOR [0] (1: also `plait-bench relay`, the floor: updates relayed and nothing else, written
#     by the task that read them (`floor`) and through each recipient's writer task
#     (`floor-queued`); see bench/src/relay.rs)
#   DURATION [10]  OUT [target/bench/flush-tail]  PLAIT_BIN [target/release/plait]
#   BINS ["NAME=PATH ..."]: instead of PLAIT_BIN, each of these binaries at each flush interval
#     (labels sqlite-100ms+NAME), to compare two builds in one run, taking turns
#   BENCH_BIN [target/release/plait-bench]  YWSS_DIR [target/bench/peers/ywss]  SERVER_CPU [0]
#   BENCH_CPU [1]
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
REPS="${REPS:-3}"
RATES="${RATES:-3.93 11.8 23.6 35.4}"
FLUSHES="${FLUSHES:-100ms 20ms}"
DURATION="${DURATION:-10}"
OUT="${OUT:-target/bench/flush-tail}"
PLAIT_BIN="${PLAIT_BIN:-$ROOT/target/release/plait}"
BENCH_BIN="${BENCH_BIN:-$ROOT/target/release/plait-bench}"
YWSS_DIR="${YWSS_DIR:-$ROOT/target/bench/peers/ywss}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
mkdir -p "$OUT"
for bin in "$PLAIT_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p plait-server -p plait-bench" >&2; exit 1; }
done
SCRATCH="$(mktemp -d)"
SRV_PID=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

source "$ROOT/scripts/bench/wait-port.sh"

# run_one LABEL RATE REP: one fresh server, one fanout run; the JSON line goes to OUT.
run_one() {
  local label="$1" rate="$2" rep="$3" url
  case "$label" in
    ywss)
      (cd "$YWSS_DIR" && HOST=127.0.0.1 PORT=1234 exec taskset -c "$SERVER_CPU" \
        node node_modules/@y/websocket-server/src/server.js) >"$OUT/server.$label.log" 2>&1 &
      SRV_PID=$!; url='ws://127.0.0.1:1234/{doc}'; wait_port 1234 ;;
    floor|floor-queued)
      local mode=direct; [ "$label" = floor-queued ] && mode=queued
      taskset -c "$SERVER_CPU" "$BENCH_BIN" relay --bind 127.0.0.1:8100 --mode "$mode" \
        >"$OUT/server.$label.log" 2>&1 &
      SRV_PID=$!; url='ws://127.0.0.1:8100/{doc}'; wait_port 8100 ;;
    *)
      local db bin="$PLAIT_BIN" config="${label%+*}"
      [ "$config" != "$label" ] && bin="${BIN_OF[${label#*+}]}"
      if [ "$config" = memory ]; then db="memory:"; flush=100ms
      else rm -f "$SCRATCH"/p.db*; db="sqlite://$SCRATCH/p.db?mode=rwc"; flush="${config#sqlite-}"; fi
      local nice=()
      case "$flush" in *-nice*) nice=(--sqlite-nice "${flush#*-nice}"); flush="${flush%-nice*}" ;; esac
      RUST_LOG=warn taskset -c "$SERVER_CPU" "$bin" serve --bind 127.0.0.1:8000 "${nice[@]}" \
        --database-url "$db" --flush-interval "$flush" --message-rate 1000000 \
        --message-burst 1000000 --max-connections-per-doc 2000 >"$OUT/server.$label.log" 2>&1 &
      SRV_PID=$!; url='ws://127.0.0.1:8000/ws/{doc}'; wait_port 8000 ;;
  esac
  local base="$OUT/$label.$rate.$rep"
  if taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "$url" --server-pid "$SRV_PID" \
      --label "$label" --rooms 100 --clients 4 --rate "$rate" --duration "$DURATION" --drain 2 \
      >"$base.log" 2>&1; then
    tail -n 1 "$base.log" >"$base.json"
  else
    echo "   $label @ $rate FAILED (see $base.log)"
  fi
  kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
}

LABELS=()
declare -A BIN_OF=()
[ "${YWSS:-1}" = 1 ] && [ -d "$YWSS_DIR/node_modules" ] && LABELS+=(ywss)
[ "${FLOOR:-0}" = 1 ] && LABELS+=(floor floor-queued)
if [ -n "${BINS:-}" ]; then
  for pair in $BINS; do
    name="${pair%%=*}"; BIN_OF[$name]="${pair#*=}"
    [ -x "${BIN_OF[$name]}" ] || { echo "missing ${BIN_OF[$name]}" >&2; exit 1; }
    for f in $FLUSHES; do LABELS+=("sqlite-$f+$name"); done
    [ "${MEMORY:-1}" = 1 ] && LABELS+=("memory+$name")
  done
else
  for f in $FLUSHES; do
    if [ -n "${NICES:-}" ]; then for n in $NICES; do LABELS+=("sqlite-$f-nice$n"); done
    else LABELS+=("sqlite-$f"); fi
  done
  [ "${MEMORY:-1}" = 1 ] && LABELS+=(memory)
fi
for rep in $(seq "$REPS"); do
  for rate in $RATES; do
    order=("${LABELS[@]}")
    # Alternate the order so that no configuration always runs first after a pause.
    (( rep % 2 == 0 )) && order=($(printf '%s\n' "${LABELS[@]}" | tac))
    for label in "${order[@]}"; do
      echo "== $label @ $rate/s per client, rep $rep"
      run_one "$label" "$rate" "$rep"
    done
  done
done

python3 - "$OUT" "$RATES" "${LABELS[@]}" <<'EOF'
import glob, json, sys
sys.path.insert(0, "scripts/bench")
from summarize import cell as summarize_cell
out, rates, labels = sys.argv[1], sys.argv[2].split(), sys.argv[3:]

def cell(values, fmt="{:.2f}"):
    """Median (min–max), as summarize.py writes it."""
    return summarize_cell(values, fmt)[0]

print(f"\n| server | updates/s per client | p99 from schedule (ms) | p99 from send (ms) | echo p50 (ms) | echo p99 (ms) | server CPU % | lost | echoes missing |")
print("|---|---|---|---|---|---|---|---|---|")
for rate in rates:
    for label in labels:
        runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{label}.{rate}.*.json"))]
        sched = [r["latency_from_schedule"]["p99_ms"] for r in runs if r.get("latency_from_schedule")]
        send = [r["latency"]["p99_ms"] for r in runs if r.get("latency")]
        echo = [r["echo"]["p50_ms"] for r in runs if r.get("echo")]
        echo99 = [r["echo"]["p99_ms"] for r in runs if r.get("echo")]
        cpu = [r["server_cpu_pct"] for r in runs if r.get("server_cpu_pct") is not None]
        lost = sum(r.get("lost", 0) for r in runs)
        # Plait echoes each update once stored; @y/websocket-server at once; the floor never.
        missing = sum(r.get("echoes_missing", 0) for r in runs if r.get("echo"))
        print(f"| {label} | {rate} | {cell(sched)} | {cell(send)} | {cell(echo, '{:.1f}')} | {cell(echo99, '{:.1f}')} | {cell(cpu, '{:.0f}')} | {lost} | {missing} |")
EOF
