#!/usr/bin/env bash
# Issue 25 item 3: ingest the automerge-paper trace into the NEW server on SQLite (default settings
# unless extra args), time ?at= while the rows are in the log, stop cleanly (shutdown compacts: the
# rows move to document_history), restart on the same file, time ?at= again.
# Usage: scripts/bench/history-at.sh LABEL BATCH [EXTRA SERVE ARGS...]   (e.g. b1 1; b1000 1000)
# Env: OUT (results, default target/bench-history), PLAIT_BIN, BENCH_BIN, BENCH_TRACE.
set -euo pipefail
label="$1" batch="$2"; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=${OUT:-$ROOT/target/bench-history}; mkdir -p "$D"
BIN=${PLAIT_BIN:-$ROOT/target/release/plait} BENCH=${BENCH_BIN:-$ROOT/target/release/plait-bench}
TRACE=${BENCH_TRACE:-$ROOT/../shared/bench/data/automerge-paper.json.gz}
PORT=8200
f=$D/at-$label.db; rm -f "$f" "$f-wal" "$f-shm"
start() {
  RUST_LOG=info taskset -c 0 "$BIN" serve --bind 127.0.0.1:$PORT --database-url "sqlite://$f?mode=rwc" \
    --message-rate 1000000 --message-burst 1000000 --max-connections-per-doc 2000 "$@" >>"$D/$label.server.log" 2>&1 &
  pid=$!
  for i in $(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done; sleep 0.5
}
start "$@"
taskset -c 1 "$BENCH" bigdoc --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid $pid --label "$label" \
  --trace "$TRACE" --batch "$batch" --syncs 1 --doc-prefix at >"$D/$label.ingest.log" 2>&1
grep -E 'replay|fresh sync' "$D/$label.ingest.log"
sleep 1
echo "--- rows in the log (before the restart)"
python3 "$ROOT/scripts/bench/history_at.py" $PORT "$f" "$D/$label.log-phase.json" 5
kill -TERM $pid; wait $pid || true
ls -l "$f"*
echo "--- after a clean stop (compacted) and a restart"
start "$@"
python3 "$ROOT/scripts/bench/history_at.py" $PORT "$f" "$D/$label.history-phase.json" 5
kill -TERM $pid; wait $pid || true
sqlite3 "$f" "select 'snapshot', length(snapshot), snapshot_seq from documents; select 'history kind '||kind, count(*), sum(length(data)), min(seq), max(seq) from document_history group by kind; select 'log', count(*), sum(length(data)) from document_updates; select 'versions', count(*), group_concat(seq), sum(length(state)) from document_versions;" | tee "$D/$label.tables.txt"
echo "server log WARN/ERROR lines: $(sed 's/\x1b\[[0-9;]*m//g' "$D/$label.server.log" | grep -cE '^\S+ +(WARN|ERROR) ')"
echo "kept $f"
