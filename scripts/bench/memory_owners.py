#!/usr/bin/env python3
"""Who holds the memory one idle document costs (BENCHMARKS.md, "Where the floor is").

Two readings of the same phase (before / after D documents were opened and seeded), each turned
into KB per document:

  memory_owners.py massif BEFORE AFTER --docs D
      BEFORE/AFTER: massif detailed snapshots (`vgdb --pid=PID detailed_snapshot FILE`). Every
      live allocation is attributed to an owner by the frames of its stack: Plait's own tasks,
      queues and maps, or the library that made it (yrs, tungstenite, SQLite, ...).
  memory_owners.py smaps BEFORE AFTER --docs D
      BEFORE/AFTER: copies of /proc/PID/smaps. RSS growth per mapping, matched by start address
      (a malloc arena keeps its start while it grows), so the heap arenas, the executable's pages
      and the threads' stacks show separately.

scripts/bench/memory-owners.sh takes both readings and calls this.
"""

import argparse
import collections
import re
import sys

# Owner of an allocation, from its stack (outermost frames last). The first rule that matches
# wins, so the specific ones come first. `top` is the innermost 16 frames: deep enough to see the
# code that allocated, shallow enough not to reach the task that polled it.
RULES = [
    ("tungstenite read buffer", "all", "FrameCodec::read_frame"),
    ("tungstenite write buffer", "all", "FrameCodec::buffer_frame"),
    ("Plait: connection task", "task", "on_upgrade"),
    ("Plait: document task", "task", "task_future"),
    ("other task cells", "task", ""),
    ("SQLite", "all", "sqlite3"),
    ("yrs", "top", "yrs::"),
    ("Plait: flume queues", "top", "flume"),
    ("Plait: document's connection map", "top", "plait_server::document::Conn"),
    ("tokio socket registration", "top", "tokio::runtime::io"),
    ("sqlx", "top", "sqlx"),
    ("tungstenite other", "top", "tungstenite"),
    ("tracing", "top", "tracing"),
    ("hyper", "top", "hyper"),
    ("Plait: storage", "top", "plait_storage"),
    ("Plait: protocol", "top", "plait_protocol"),
    ("Plait: server, other", "top", "plait_server"),
    ("other", "all", ""),
]
TASK_CELL = "task::core::Cell<T,S>::new"


def massif_leaves(path):
    """(bytes, stack) of every leaf of a massif detailed snapshot's heap tree."""
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("heap_tree=detailed"))
    except StopIteration:
        sys.exit(f"{path}: not a detailed massif snapshot")
    stack, leaves = [], []
    for line in lines[start + 1:]:
        m = re.match(r"^( *)n(\d+): (\d+) (.*)$", line)
        if not m:
            continue
        depth, children, size, desc = len(m[1]), int(m[2]), int(m[3]), m[4]
        stack = stack[:depth] + [desc]
        if children == 0:
            leaves.append((size, stack))
    extra = next((int(l.split("=")[1]) for l in lines if l.startswith("mem_heap_extra_B=")), 0)
    return leaves, extra


def owner(stack):
    whole, top = " | ".join(stack), " | ".join(stack[:16])
    for name, where, key in RULES:
        if where == "task":
            if TASK_CELL in top and key in top:
                return name
        elif key in (whole if where == "all" else top):
            return name
    return "other"


def massif(args):
    totals = []
    for path in (args.before, args.after):
        leaves, extra = massif_leaves(path)
        by = collections.Counter()
        for size, stack in leaves:
            by[owner(stack)] += size
        totals.append((by, extra))
    (b, b_extra), (a, a_extra) = totals
    per = lambda v: v / args.docs / 1024
    rows = sorted(set(a) | set(b), key=lambda k: b[k] - a[k])
    print(f"live heap per document (massif), D = {args.docs}")
    for k in rows:
        print(f"  {per(a[k] - b[k]):6.2f} KB  {k}")
    own = sum(a[k] - b[k] for k in rows if k.startswith("Plait"))
    live = sum(a.values()) - sum(b.values())
    print(f"  {per(live):6.2f} KB  live in all, of which Plait's own {per(own):.2f} KB")
    print(f"  {per(a_extra - b_extra):6.2f} KB  malloc's headers and padding")


def smaps_regions(path):
    regions, cur = {}, None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)$", line)
        if m:
            cur = int(m[1], 16)
            regions[cur] = {"end": int(m[2], 16), "perm": m[3], "name": m[4].strip(), "Rss": 0}
        elif cur is not None and line.startswith("Rss:"):
            regions[cur]["Rss"] = int(line.split()[1])
    return regions


def smaps(args):
    b, a = smaps_regions(args.before), smaps_regions(args.after)
    print(f"RSS growth per mapping (smaps), D = {args.docs}")
    total = 0
    for start in sorted(set(a) | set(b)):
        rb, ra = b.get(start, {}), a.get(start, {})
        grew = ra.get("Rss", 0) - rb.get("Rss", 0)
        if not grew:
            continue
        total += grew
        r = ra or rb
        size = (r["end"] - start) // 1024
        name = f"{r['name']} ({r['perm']})" if r["name"] else f"anonymous {r['perm']}, {size} KB mapped"
        print(f"  {grew / args.docs:6.2f} KB  {grew:7d} KB in all  {name}")
    print(f"  {total / args.docs:6.2f} KB  in all")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reading", choices=["massif", "smaps"])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--docs", type=int, required=True, help="documents opened between the readings")
    args = p.parse_args()
    (massif if args.reading == "massif" else smaps)(args)


if __name__ == "__main__":
    main()
