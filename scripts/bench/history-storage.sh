#!/usr/bin/env bash
# Issue 25, item 2: bytes stored per update, default --history-retention (30days) vs 0, SQLite and PostgreSQL.
# Usage: scripts/bench/history-storage.sh LABEL PLAIT_BINARY sqlite|pg [EXTRA SERVE ARGS...]
#   e.g. ... default target/release/plait sqlite; ... zero target/release/plait pg --history-retention 0
# Env: OUT (results, default target/bench-history), BENCH_BIN (plait-bench), PG (PostgreSQL URL).
# Load: plait-bench fanout 100 rooms x 4 clients x 25 updates/s, 1 s warm-up (no updates) + 10 s = 100,000 updates,
# then SIGTERM (clean stop: every loaded document is compacted) and the sizes are read.
set -euo pipefail
label="$1" bin="$2" db="$3"; shift 3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTD=${OUT:-$ROOT/target/bench-history}; mkdir -p "$OUTD"
BENCH=${BENCH_BIN:-$ROOT/target/release/plait-bench}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=8100
run="$label-$db-$(date +%H%M%S)"
base="$OUTD/$run"
if [ "$db" = sqlite ]; then
  f=$OUTD/storage-$run.db; rm -f "$f" "$f-wal" "$f-shm"; url="sqlite://$f?mode=rwc"
else
  dbname="plait_h25_${label//-/_}_$(date +%H%M%S)_$$"; createdb -h 127.0.0.1 -U postgres "$dbname"; url="$PG/$dbname"
fi
RUST_LOG=info taskset -c 0 "$bin" serve --bind 127.0.0.1:$PORT --database-url "$url" \
  --message-rate 1000000 --message-burst 1000000 --max-connections-per-doc 2000 "$@" >"$base.server.log" 2>&1 &
pid=$!
for i in $(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done; sleep 0.5
taskset -c 1 "$BENCH" fanout --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid $pid --label "$label" \
  --rooms 100 --clients 4 --rate 25 --warmup 1 --duration 10 --drain 2 --doc-prefix st >"$base.bench.log" 2>&1
tail -n1 "$base.bench.log" >"$base.bench.json"
kill -TERM $pid; wait $pid || echo "server exit $?"
echo "server log WARN/ERROR lines: $(sed 's/\x1b\[[0-9;]*m//g' "$base.server.log" | grep -cE '^\S+ +(WARN|ERROR) ')"
if [ "$db" = sqlite ]; then
  {
  echo "files: $(stat -c %s "$f") db, $(stat -c %s "$f-wal" 2>/dev/null || echo absent) wal, $(stat -c %s "$f-shm" 2>/dev/null || echo absent) shm"
  sqlite3 "$f" <<SQL
.mode line
SELECT (SELECT page_count FROM pragma_page_count) AS pages, (SELECT page_size FROM pragma_page_size) AS page_size, (SELECT freelist_count FROM pragma_freelist_count) AS free_pages;
SELECT COUNT(*) AS docs, SUM(LENGTH(snapshot)) AS snapshot_bytes, SUM(snapshot_seq) AS sum_snapshot_seq, MAX(snapshot_seq) AS max_snapshot_seq FROM documents;
SELECT COUNT(*) AS log_rows, IFNULL(SUM(LENGTH(data)),0) AS log_bytes, MAX(seq) AS log_max_seq FROM document_updates;
SELECT kind, COUNT(*) AS history_rows, SUM(LENGTH(data)) AS history_bytes, SUM(LENGTH(authors)) AS authors_bytes, MAX(seq) AS max_seq FROM document_history GROUP BY kind;
SELECT COUNT(*) AS versions, IFNULL(SUM(LENGTH(state)),0) AS version_bytes FROM document_versions;
SQL
  echo "-- dbstat (bytes per table+index):"
  sqlite3 "$f" "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 12;" 2>&1 || true
  echo "-- VACUUM INTO a copy (live size):"
  sqlite3 "$f" "VACUUM INTO '$OUTD/vac-$run.db'" && stat -c '%s vacuumed copy bytes' "$OUTD/vac-$run.db"; rm -f "$OUTD/vac-$run.db"
  } >"$base.sizes.txt" 2>&1
  cp "$f" "$base.db" 2>/dev/null; rm -f "$f" "$f-wal" "$f-shm"
else
  psql -h 127.0.0.1 -U postgres -d "$dbname" -X >"$base.sizes.txt" 2>&1 <<SQL
SELECT pg_database_size(current_database()) AS database_bytes;
SELECT c.relname, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap, pg_total_relation_size(c.reltoastrelid) AS toast
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC;
SELECT COUNT(*) AS docs, SUM(octet_length(snapshot)) AS snapshot_bytes, MAX(snapshot_seq) FROM documents;
SELECT COUNT(*) AS log_rows, COALESCE(SUM(octet_length(data)),0) AS log_bytes, MAX(seq) FROM document_updates;
SELECT kind, COUNT(*) AS history_rows, SUM(octet_length(data)) AS history_bytes, SUM(octet_length(authors)) AS authors_bytes, MAX(seq) FROM document_history GROUP BY kind;
SELECT COUNT(*) AS versions, COALESCE(SUM(octet_length(state)),0) AS version_bytes FROM document_versions;
\\echo '-- after VACUUM FULL (live size)'
VACUUM FULL;
SELECT pg_database_size(current_database()) AS database_bytes_after_vacuum_full;
SELECT c.relname, pg_total_relation_size(c.oid) AS total FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC;
SQL
  dropdb -h 127.0.0.1 -U postgres --force "$dbname"
fi
echo "== $run"; cat "$base.sizes.txt"; python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print({k:j.get(k) for k in ('sent','updates_sent','received','deliveries','offered') if k in j}); print(sorted(j.keys()))" "$base.bench.json"
