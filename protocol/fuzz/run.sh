#!/usr/bin/env bash
# Runs one plait-protocol fuzz target with the options protocol/fuzz/README.md records its runs
# with (not part of CI):
#
#   protocol/fuzz/run.sh <target> [seconds] [more libFuzzer args...]    # default 600 s
#
# Builds (-O), seeds fuzz/corpus/ (gen_corpus: idempotent), then runs the target as one job on
# fuzz/corpus/<target> with its dictionary (update.dict for the frame targets, hocuspocus_frame
# included; plan.dict for the plan targets), ASan's allocator_may_return_null with libFuzzer's
# malloc and RSS limits (see the README), and a 2 MiB stack: a tokio worker's, so nesting that
# only a bigger stack survives is a finding too. Exits with libFuzzer's status: non-zero on a
# finding, whose input lands in fuzz/artifacts/<target>/.
set -euo pipefail

target="${1:?usage: run.sh <target> [seconds] [libFuzzer args...]}"
seconds="${2:-600}"
shift $(($# < 2 ? $# : 2))
cd "$(dirname "${BASH_SOURCE[0]}")/.." # protocol/
export RUSTC_BOOTSTRAP=1

cargo fuzz build -O
release=fuzz/target/x86_64-unknown-linux-gnu/release
"$release/gen_corpus" fuzz/corpus >/dev/null
case "$target" in
decode_frame | handle_message | hocuspocus_frame) dict=fuzz/update.dict ;;
*) dict=fuzz/plan.dict ;;
esac
mkdir -p "fuzz/artifacts/$target"
# The binary itself rather than `cargo fuzz run`, so the stack limit is the target's alone.
ulimit -s 2048
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}"
exec "$release/$target" -max_total_time="$seconds" -dict="$dict" \
    -malloc_limit_mb=131072 -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$target/" \
    "$@" "fuzz/corpus/$target"
