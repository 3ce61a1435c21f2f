#!/usr/bin/env bash
# Runs every test of the project, in the order a failure is cheapest to read:
#   1. formatting, lints, and no circle of files inside a crate,
#   2. Rust unit and integration tests (SQLite and PostgreSQL; needs PostgreSQL on 127.0.0.1:5432),
#   3. JavaScript interoperability tests (npm yjs + y-websocket against the real binary),
#   4. browser tests (Playwright driving Debian's Chromium against the real binary).
# Set PLAIT_TEST_PG_URL to use another PostgreSQL server (a database is created per test and dropped).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "no circle of files inside any crate (scripts/file-cycles.py)"
python3 scripts/file-cycles.py

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "build the plait binary the end-to-end tests drive"
cargo build --bin plait
export PLAIT_BIN="$PWD/target/debug/plait"

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && [ -z "${PLAIT_TEST_PG_URL:-}" ]; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL tests will fail." >&2
  echo "Start it (e.g. pg_ctlcluster \$(ls /etc/postgresql) main start) or set PLAIT_TEST_PG_URL." >&2
fi

step "Rust tests"
cargo test --workspace

for suite in tests/js tests/browser; do
  [ -f "$suite/package.json" ] || continue
  step "$suite"
  (
    cd "$suite"
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund
    fi
    npm test
  )
done

step "all tests passed"
