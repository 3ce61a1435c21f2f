#!/usr/bin/env python3
"""Draws `scripts/bench.sh curve`'s results: p99 latency against the offered load, as a share of
each server's own max, one panel per shape (100x4, 1x50), one line per server (the median over
the repetitions, the whiskers their range).

Usage: python3 scripts/bench/curve_plot.py RESULTS_DIR OUT.svg
Needs matplotlib (`pip install matplotlib`).
"""
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
# Text stays text (a smaller file, readable in a diff); no date, so a re-run changes only the data.
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "plait"
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

NAMES = {
    "plait": "Plait (SQLite)",
    "plait-mem": "Plait (memory:)",
    "plait-hocus": "Plait (Hocuspocus protocol)",
    "ywss": "@y/websocket-server",
    "hocus": "Hocuspocus",
    "ysweet": "y-sweet",
}


def points(out):
    """{shape: {server: {pct: [p99_ms, ...]}}}"""
    found = {}
    for path in glob.glob(os.path.join(out, "*.curve*.json")):
        server, step, _rep = os.path.basename(path)[: -len(".json")].split(".")
        shape, pct = step[len("curve"):].split("-")
        try:
            p99 = json.load(open(path))["latency"]["p99_ms"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.setdefault(shape, {}).setdefault(server, {}).setdefault(int(pct), []).append(p99)
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found = points(sys.argv[1])
    if not found:
        sys.exit(f"no curve results in {sys.argv[1]} (scripts/bench.sh curve)")
    shapes = [s for s in ("100x4", "1x50") if s in found]
    fig, axes = plt.subplots(1, len(shapes), figsize=(6 * len(shapes), 4.2), squeeze=False)
    for ax, shape in zip(axes[0], shapes):
        for server in NAMES:
            series = found[shape].get(server)
            if not series:
                continue
            pcts = sorted(series)
            med = [statistics.median(series[p]) for p in pcts]
            low = [m - min(series[p]) for m, p in zip(med, pcts)]
            high = [max(series[p]) - m for m, p in zip(med, pcts)]
            ax.errorbar(pcts, med, yerr=[low, high], marker="o", capsize=3, label=NAMES[server])
        ax.set_yscale("log")
        ax.set_xlabel("offered load, % of the server's own max")
        ax.set_ylabel("p99 latency (ms, log scale)")
        ax.set_title(f"{shape}: p99 against load")
        ax.set_xticks([10, 30, 60, 90])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], metadata={"Date": None})
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
