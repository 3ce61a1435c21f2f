#!/usr/bin/env bash
# Two (or more) Plait binaries on the same steps of scripts/bench.sh, taking turns: for each of
# TURNS turns, every binary in BINS runs `SERVERS=plait REPS=1 scripts/bench.sh STEPS` once, so a
# slow phase of a noisy machine is spread over all of them. Results of binary LABEL, turn k, are
# $OUT/LABEL/<server>.<step>.k.json, so `scripts/bench/summarize.py $OUT/LABEL` gives each
# binary's median (min-max) over its turns; at the end `summarize.py --compare` prints Plait's
# rows side by side with the ratio of the last binary's median to the first's.
#
# Usage: BINS="base=/path/to/plait new=/path/to/plait" scripts/bench/compare-binaries.sh [STEP...]
#        (steps default: max1x50 max100x4 cpu100x4)
# Environment: TURNS [3]  FIRST_TURN [1] (to add turns to an earlier OUT)  OUT [target/bench/compare]; everything else (BENCH_BIN, PLAIT_DB, PG,
#   SERVER_CPU, BENCH_CPU, ...) is passed on to scripts/bench.sh.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
TURNS="${TURNS:-3}"
FIRST_TURN="${FIRST_TURN:-1}"
OUT="${OUT:-$ROOT/target/bench/compare}"
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(max1x50 max100x4 cpu100x4)
[ -n "${BINS:-}" ] || { echo "set BINS=\"label=/path/to/plait ...\"" >&2; exit 1; }

for turn in $(seq "$FIRST_TURN" $((FIRST_TURN + TURNS - 1))); do
  for entry in $BINS; do
    label="${entry%%=*}" bin="${entry#*=}"
    tmp="$OUT/$label/turn-$turn"
    echo "##### turn $turn: $label ($bin) $(date -u +%H:%M:%S)"
    PLAIT_BIN="$bin" SERVERS=plait REPS=1 OUT="$tmp" "$ROOT/scripts/bench.sh" "${STEPS[@]}"
    for f in "$tmp"/*.1.json "$tmp"/*.1.log; do
      [ -e "$f" ] || continue
      name="$(basename "$f")"
      mv "$f" "$OUT/$label/${name%.1.*}.$turn.${name##*.}"
    done
  done
done

dirs=()
for entry in $BINS; do dirs+=("$OUT/${entry%%=*}"); done
echo
python3 "$ROOT/scripts/bench/summarize.py" --compare "${dirs[@]}"
