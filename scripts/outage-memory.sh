#!/usr/bin/env bash
# Memory Plait holds while its PostgreSQL is unreachable, and how long it takes to catch up.
#
# Starts Plait (pinned to CPU $SERVER_CPU) on a fresh PostgreSQL database reached through a socat
# proxy, starts `plait-bench fanout` (1 room x 50 clients @ 10 updates/s, pinned to CPU $BENCH_CPU),
# cuts the proxy 3 s in (every update after that stays in the server's memory), and reports the
# server's RSS growth over the outage, then restores the proxy and times until /readyz is 200 with
# nothing pending. Needs psql and socat (Debian: postgresql-client, socat).
#
# Usage: scripts/outage-memory.sh [LABEL]   (server flags through their environment variables,
#   e.g. PLAIT_MAX_PENDING_UPDATES=5000)
# Environment (defaults in brackets): PLAIT_BIN [target/release/plait]
#   BENCH_BIN [target/release/plait-bench]  SECONDS_UNDER_LOAD [60]  PG_USER [postgres]
#   PG_HOSTPORT [127.0.0.1:5432]
#   PROXY_PORT [15433]  PORT [12400]  SERVER_CPU [0]  BENCH_CPU [1]
set -euo pipefail

cd "$(dirname "$0")/.."
LABEL="${1:-plait}"
PLAIT_BIN="${PLAIT_BIN:-target/release/plait}"
BENCH_BIN="${BENCH_BIN:-target/release/plait-bench}"
DURATION="${SECONDS_UNDER_LOAD:-60}"
PG_USER="${PG_USER:-postgres}"
PG_HOSTPORT="${PG_HOSTPORT:-127.0.0.1:5432}"
PG="postgres://$PG_USER@$PG_HOSTPORT"
PROXY_PORT="${PROXY_PORT:-15433}"
PORT="${PORT:-12400}"
SERVER_CPU="${SERVER_CPU:-0}"
BENCH_CPU="${BENCH_CPU:-1}"
DB="plait_outage_$$"
LOG="/tmp/plait-outage-$LABEL.log"

proxy_up() { socat "TCP-LISTEN:$PROXY_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:$PG_HOSTPORT" & }
# Killing only socat's listener would leave its forked children, the open connections, alive.
proxy_down() { pkill -f "socat TCP-LISTEN:$PROXY_PORT" || true; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
readyz() { curl -s "http://127.0.0.1:$PORT/readyz" || true; }
cleanup() {
    [ -n "${PID:-}" ] && kill -INT "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    proxy_down
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
proxy_up
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null && break; sleep 0.1; done
DATABASE_URL="postgres://$PG_USER@127.0.0.1:$PROXY_PORT/$DB" PLAIT_BIND="127.0.0.1:$PORT" \
    RUST_LOG="${RUST_LOG:-warn}" taskset -c "$SERVER_CPU" "$PLAIT_BIN" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 100); do readyz | grep -q '"database":"ok"' && break; sleep 0.1; done

taskset -c "$BENCH_CPU" "$BENCH_BIN" fanout --url "ws://127.0.0.1:$PORT/ws/{doc}" --rooms 1 \
    --clients 50 --rate 10 --duration "$DURATION" --server-pid "$PID" >"/tmp/plait-outage-$LABEL.fanout" 2>&1 &
FANOUT=$!
sleep 3 # let the clients connect and their document load before the database goes away
RSS0=$(rss_kb)
proxy_down
wait "$FANOUT"
RSS1=$(rss_kb)
DURING=$(readyz)

proxy_up
T0=$(date +%s.%N)
for _ in $(seq 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] \
        && readyz | grep -q '"pending_updates":0' && break
    sleep 0.1
done
T1=$(date +%s.%N)
HELD=$(sed -n 's/.*"pending_updates":\([0-9]*\).*/\1/p' <<<"$DURING")
echo "$LABEL: held_updates=$HELD rss_growth_kb=$((RSS1 - RSS0)) per_update_b=$(( (RSS1 - RSS0) * 1024 / (HELD > 0 ? HELD : 1) )) caught_up_s=$(echo "$T1 - $T0" | bc) during=$DURING"
