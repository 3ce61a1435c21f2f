# shellcheck shell=bash
# Steps of scripts/bench.sh for the database as the integration point (issue 22), Plait only;
# sourced by scripts/bench.sh, whose helpers (installed, start_server, stop_server) they use.
#
#   trigger   an external SQL client appends real Yjs updates (plait-bench trigger, --writes 200
#             at 20/s): SQLite, the README's INSERT by `sqlite3` on the server's file; PostgreSQL,
#             `SELECT plait_write(...)` by `psql`, with two nodes on one database and a client on
#             each. Latency from handing the statement to the SQL client until each client has it.
#   feed      FEED_ROWS [1000000] log rows over 1000 documents (scripts/bench/feed_fill.py), then
#             the change feed read from the beginning on a fresh server, alternately page by page
#             (GET /api/changes?limit=10000) and as one SSE stream: changes/s. SQLite and
#             PostgreSQL.
#
# PostgreSQL: PG [postgres://postgres@127.0.0.1:5432], on which a database is created per run
# (plait_bench_<step>_<run>) and dropped afterwards; psql must be installed. DATABASES ["sqlite
# pg"] chooses which are measured.

PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DATABASES="${DATABASES:-sqlite pg}"
FEED_ROWS="${FEED_ROWS:-1000000}"
NODE_PIDS=()

# pg_create NAME / pg_drop NAME: a scratch database on $PG.
pg_create() { psql "$PG/postgres" -qXc "CREATE DATABASE $1"; }
pg_drop() { psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" || true; }

# start_node PORT DBURL: one more Plait node on CPU $SERVER_CPU (pids in NODE_PIDS).
start_node() {
  local port="$1" dburl="$2" pid
  # shellcheck disable=SC2086
  RUST_LOG=warn taskset -c "$SERVER_CPU" "$PLAIT_BIN" serve --bind "127.0.0.1:$port" \
    --database-url "$dburl" --unsaved-file "$SCRATCH/plait-unsaved-$RUN-$port.bin" $PLAIT_ARGS \
    >>"$OUT/server.node-$port.log" 2>&1 &
  pid=$!
  NODE_PIDS+=("$pid")
  for _ in $(seq 600); do  # up to 60 s (a node on a big log migrates first)
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then sleep 0.5; return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "   node on $port exited, see $OUT/server.node-$port.log"; return 1; }
    sleep 0.1
  done
  echo "   node on $port did not listen within 60 s"; return 1
}

stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  NODE_PIDS=()
  rm -f "$SCRATCH"/plait-unsaved-"$RUN"-*.bin
  sleep 0.3
}

# bench_run BASE ARGS...: one plait-bench run on CPU $BENCH_CPU, JSON to BASE.json.
bench_run() {
  local base="$1"; shift
  if taskset -c "$BENCH_CPU" "$BENCH_BIN" "$@" >"$base.log" 2>&1; then
    tail -n 1 "$base.log" >"$base.json"
    grep -E "^  |^(trigger|feed)" "$base.log" | sed 's/^/   /' || true
  else
    echo "   FAILED (see $base.log)"; tail -n 3 "$base.log" | sed 's/^/   /'
  fi
}

step_trigger() {
  installed plait || return 0
  local rep db
  for rep in $(seq "$REPS"); do
    case " $DATABASES " in *" sqlite "*)
      echo "== plait trigger-sqlite rep $rep"
      db="$SCRATCH/plait-bench-trigger-$RUN.db"; rm -f "$db" "$db-wal" "$db-shm"
      if start_node 8000 "sqlite://$db?mode=rwc"; then
        bench_run "$OUT/plait.trigger-sqlite.$rep" trigger --url 'ws://127.0.0.1:8000/ws/{doc}' \
          --server-pid "${NODE_PIDS[0]}" --label sqlite --writer sqlite3 --database "$db"
      fi
      stop_nodes; rm -f "$db" "$db-wal" "$db-shm" ;;
    esac
    case " $DATABASES " in *" pg "*)
      echo "== plait trigger-pg (two nodes) rep $rep"
      db="plait_bench_trigger_${RUN//-/_}"
      pg_create "$db"
      if start_node 8000 "$PG/$db" && start_node 8001 "$PG/$db"; then
        bench_run "$OUT/plait.trigger-pg.$rep" trigger --url 'ws://127.0.0.1:8000/ws/{doc}' \
          --also-url 'ws://127.0.0.1:8001/ws/{doc}' --server-pid "${NODE_PIDS[0]}" --label pg \
          --writer psql --database "$PG/$db"
      fi
      stop_nodes; pg_drop "$db" ;;
    esac
  done
}

# feed_prepare DB: PATH-or-URL of a database with the schema and FEED_ROWS rows (prints timings).
feed_prepare() {
  local kind="$1" where="$2" started
  if [ "$kind" = sqlite ]; then start_node 8000 "sqlite://$where?mode=rwc"; else start_node 8000 "$where"; fi
  stop_nodes  # the schema exists now
  started=$(date +%s.%N)
  if [ "$kind" = sqlite ]; then
    python3 "$ROOT/scripts/bench/feed_fill.py" sqlite "$where" "$FEED_ROWS" 1000
  else
    python3 "$ROOT/scripts/bench/feed_fill.py" pg-sql "$FEED_ROWS" 1000 | psql "$where" -qX -f -
    psql "$where" -qXc "VACUUM ANALYZE"
  fi
  echo "   $kind: $FEED_ROWS rows in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)") s"
}

step_feed() {
  installed plait || return 0
  local kind db dburl rep mode
  for kind in $DATABASES; do
    echo "== plait feed-$kind: filling"
    if [ "$kind" = sqlite ]; then
      db="$SCRATCH/plait-bench-feed-$RUN.db"; rm -f "$db" "$db-wal" "$db-shm"; dburl="sqlite://$db?mode=rwc"
      feed_prepare sqlite "$db" || continue
    else
      db="plait_bench_feed_${RUN//-/_}"; pg_create "$db"; dburl="$PG/$db"
      feed_prepare pg "$dburl" || { pg_drop "$db"; continue; }
    fi
    for rep in $(seq "$REPS"); do for mode in pages stream; do
      echo "== plait feed-$kind $mode rep $rep"
      if start_node 8000 "$dburl"; then
        bench_run "$OUT/plait.feed-$kind-$mode.$rep" feed --addr 127.0.0.1:8000 --mode "$mode" \
          --expect "$FEED_ROWS" --server-pid "${NODE_PIDS[0]}" --label "$kind"
      fi
      stop_nodes
    done; done
    if [ "$kind" = sqlite ]; then rm -f "$db" "$db-wal" "$db-shm"; else pg_drop "$db"; fi
  done
}
