#!/usr/bin/env bash
# Memory under document churn: does a long-running Plait keep anything of the documents it
# unloaded?
#
# Starts Plait on a fresh SQLite file with `--idle-unload 1s` and runs scripts/bench/churn-soak.mjs
# against it: ROUNDS rounds, each opening about PER_ROUND documents of a pool of POOL with two
# stock y-websocket clients each, editing them (nested maps and 20 KB pastes included), reading
# and posting over HTTP and sending hostile frames, then waiting until every document unloaded.
# Prints the server's RSS after each round, glibc's in-use bytes halfway and at the end (if gdb is
# installed: it calls malloc_stats() in the server), and checks every document against a mirror
# of the clients' edits (exit 1 on a mismatch). A pool larger than ROUNDS x PER_ROUND makes almost
# every round's documents new ones, which is what shows per-document leftovers.
#
# Usage: scripts/churn-memory.sh        Needs `npm ci` in tests/js (yjs, y-websocket, ws).
# Environment (defaults in brackets): PLAIT_BIN [target/release/plait]  ROUNDS [60]  POOL [4000]
#   PER_ROUND [40]  SEED [7]  PORT [12410]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
PLAIT_BIN="$(realpath "${PLAIT_BIN:-target/release/plait}")"
PORT="${PORT:-12410}"
WORK="$(mktemp -d /tmp/plait-churn.XXXXXX)"
[ -d tests/js/node_modules ] || { echo "run 'npm ci' in tests/js first" >&2; exit 1; }
cleanup() {
    [ -n "${PID:-}" ] && kill -INT "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Imports resolve next to the script file: give its copy the tests' node_modules.
cp scripts/bench/churn-soak.mjs "$WORK/"
ln -s "$ROOT/tests/js/node_modules" "$WORK/node_modules"
(cd "$WORK" && RUST_LOG=warn exec "$PLAIT_BIN" serve --bind "127.0.0.1:$PORT" \
    --database-url "sqlite://$WORK/churn.db?mode=rwc" --idle-unload 1s >"$WORK/server.log" 2>&1) &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
# The subshell execs the server, so $PID is the server's own process.
BASE="http://127.0.0.1:$PORT" PID="$PID" SERVER_LOG="$WORK/server.log" ROUNDS="${ROUNDS:-60}" \
    POOL="${POOL:-4000}" PER_ROUND="${PER_ROUND:-40}" SEED="${SEED:-7}" node "$WORK/churn-soak.mjs"
