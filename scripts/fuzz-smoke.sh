#!/usr/bin/env bash
# Short local fuzz run of every plait-protocol cargo-fuzz target (not part of CI).
#
#   scripts/fuzz-smoke.sh                 # 30 s per target
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh  # the 10-minute runs recorded in protocol/fuzz/README.md
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. -O builds like the release server (no debug assertions), because yrs
# debug-asserts on client-supplied values that the release build handles as errors.
# Exits non-zero if any target finds a crash; the input lands in protocol/fuzz/artifacts/<target>/.
set -euo pipefail

seconds="${FUZZ_SECONDS:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$root/protocol"
cargo fuzz build -O
# Seed the corpus with valid frames (idempotent: same names, same bytes).
fuzz/target/x86_64-unknown-linux-gnu/release/gen_corpus fuzz/corpus

status=0
for target in decode_frame handle_message; do
    echo "=== $target: ${seconds}s"
    log="$(mktemp)"
    # handle_message: yrs reserves (untouched) memory for counts an update declares; let that
    # fail into a decode error instead of an OOM report (see protocol/fuzz/README.md).
    extra=()
    if [ "$target" = handle_message ]; then
        extra=(-malloc_limit_mb=131072 -rss_limit_mb=2048)
        export ASAN_OPTIONS=allocator_may_return_null=1
    fi
    if cargo fuzz run -O "$target" -- -max_total_time="$seconds" "${extra[@]}" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
    else
        status=1
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" || tail -n 40 "$log"
        echo "=== $target FAILED (full log: $log)"
        continue
    fi
    rm -f "$log"
done
exit "$status"
