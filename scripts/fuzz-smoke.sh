#!/usr/bin/env bash
# Short local fuzz run of every plait-protocol cargo-fuzz target (not part of CI).
#
#   scripts/fuzz-smoke.sh                   # 30 s per target
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh  # the 10-minute runs recorded in protocol/fuzz/README.md
#
# Each target runs through protocol/fuzz/run.sh (build -O, seeded corpus, dictionary, ASan and
# libFuzzer limits, a tokio worker's 2 MiB stack; see there). Exits non-zero if any target finds
# a crash; the input lands in protocol/fuzz/artifacts/<target>/.
set -euo pipefail

seconds="${FUZZ_SECONDS:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

status=0
for target in decode_frame handle_message hocuspocus_frame nested_update replay_rows content_replace; do
    echo "=== $target: ${seconds}s"
    log="$(mktemp)"
    if "$root/protocol/fuzz/run.sh" "$target" "$seconds" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
        rm -f "$log"
    else
        status=1
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" || tail -n 40 "$log"
        echo "=== $target FAILED (full log: $log)"
    fi
done
exit "$status"
