#!/usr/bin/env bash
# Where Plait's latency tail comes from (issue 27 row 1): Plait on a fresh SQLite file (or
# DATABASE_URL) on CPU $SERVER_CPU, 100 rooms x 4 clients at RATE updates/s per client from
# plait-bench on CPU $BENCH_CPU for 10 s; in the middle, 4 s of `perf sched record` (who waited for
# the core, how long) and `perf record -g` (what each thread spent it on). Prints per thread: time
# on the CPU, slices, and the worker's waits for the core after a wake-up; then the top symbols
# of the SQLite threads and the share of FTS5 (the projection's full-text index).
#
# Usage: scripts/bench/tail-profile.sh
# Environment: RATE [15]  OUT [target/bench/tail-profile]  PLAIT_BIN [target/release/plait]
#   BENCH_BIN [target/release/plait-bench]  DATABASE_URL [a fresh SQLite file in OUT]
#   SERVER_CPU [0]  BENCH_CPU [1]
# Needs perf (Debian: linux-perf) and permission to use it on the server (root, or
# kernel.perf_event_paranoid <= 1).
set -euo pipefail

cd "$(dirname "$0")/../.."
RATE="${RATE:-15}"
OUT="${OUT:-target/bench/tail-profile}"
PLAIT_BIN="${PLAIT_BIN:-target/release/plait}"
BENCH_BIN="${BENCH_BIN:-target/release/plait-bench}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
mkdir -p "$OUT"
rm -f "$OUT/plait.db" "$OUT/plait.db-wal" "$OUT/plait.db-shm"
DATABASE_URL="${DATABASE_URL:-sqlite://$OUT/plait.db?mode=rwc}"
command -v perf >/dev/null || { echo "needs perf" >&2; exit 1; }

RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind 127.0.0.1:8000 \
  --database-url "$DATABASE_URL" --message-rate 1000000 --message-burst 1000000 \
  --max-connections-per-doc 2000 >"$OUT/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null && break; sleep 0.1; done
kill -0 "$pid" || { echo "server exited, see $OUT/server.log" >&2; exit 1; }
sleep 0.5

(sleep 4; perf sched record -o "$OUT/sched.data" -p "$pid" -- sleep 4 >/dev/null 2>&1) &
(sleep 4; perf record -F 999 -g -o "$OUT/perf.data" -p "$pid" -- sleep 4 >/dev/null 2>&1) &
taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url 'ws://127.0.0.1:8000/ws/{doc}' --server-pid "$pid" \
  --rooms 100 --clients 4 --rate "$RATE" --duration 10 --drain 2 >"$OUT/fanout.log" 2>&1
wait %2 %3 2>/dev/null || true
grep -E '^  (latency|server|load generator)' "$OUT/fanout.log" || true

echo; echo "per thread over the 4 s recorded (perf sched timehist):"
perf sched timehist -i "$OUT/sched.data" 2>/dev/null | awk '
  $3 ~ /^tokio-rt-worker/ { w_run += $6; w_n++; w_delay += $5; if ($5 > 0.5) w_half++; if ($5 > 1) w_one++; if ($5 > w_max) w_max = $5 }
  $3 ~ /^sqlx-sqlite/ { s_run += $6; s_n++; if ($6 > 1) s_one++; if ($6 > 2) s_two++ }
  END {
    printf "  runtime worker: %.0f ms on the CPU in %d slices; waited for the core %.1f ms in all (%d waits > 0.5 ms, %d > 1 ms, longest %.2f ms)\n", w_run, w_n, w_delay, w_half, w_one, w_max
    printf "  SQLite threads: %.0f ms on the CPU in %d slices (%d > 1 ms, %d > 2 ms)\n", s_run, s_n, s_one, s_two
  }'

echo; echo "share of all server samples (perf record):"
perf report -i "$OUT/perf.data" --no-children --sort comm -q -g none 2>/dev/null | sed 's/^/  /'
perf report -i "$OUT/perf.data" --no-children --comm sqlx-sqlite-wor --sort sym -q -g none 2>/dev/null \
  | awk '{p = $1; sub("%", "", p); t += p; if ($0 ~ /fts5|Fts5/) f += p; if ($0 ~ /\[k\]/) k += p}
         END {printf "  SQLite threads %.1f %%: FTS5 %.1f %%, kernel %.1f %%, the rest %.1f %%\n", t, f, k, t - f - k}'
