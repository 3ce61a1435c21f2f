#!/usr/bin/env python3
"""Issue 25 item 3: time GET /api/docs/{doc}/update?at= at positions of a document's history.
Usage: history_at.py PORT DB_FILE OUT_JSON [REPS]   (run by scripts/bench/history-at.sh)
Pages GET /api/docs/{doc}/history?limit=1000 (after=next) to list every row, then times with curl
(taskset -c 1) ?at=SEQ at the first row, 25 %, 50 %, 75 % and the last row, the plain GET .../update,
and ?at=<RFC 3339> of the 50 % row. Rows replayed per point are computed from the SQLite file (read-only)."""
import json, sqlite3, statistics, subprocess, sys, time, urllib.request

port, dbfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
base = f"http://127.0.0.1:{port}"
con = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True)
doc = con.execute("select name from documents order by id limit 1").fetchone()[0]

# 1. every history row, paged
rows, after, pages, t0 = [], 0, 0, time.perf_counter()
page_times = []
while True:
    tp = time.perf_counter()
    with urllib.request.urlopen(f"{base}/api/docs/{doc}/history?limit=1000&after={after}") as r:
        page = json.load(r)
    page_times.append(time.perf_counter() - tp)
    pages += 1
    if not page["changes"]:
        break
    rows.extend(page["changes"])
    after = page["next"]
paging_s = time.perf_counter() - t0
print(f"doc {doc}: {len(rows)} history rows in {pages} pages, {paging_s:.2f} s "
      f"(first page {page_times[0]*1e3:.1f} ms, last full page {page_times[-2]*1e3 if len(page_times)>1 else float('nan'):.1f} ms)")

def curl(url, reps):
    ts = []
    for _ in range(reps):
        o = subprocess.run(["taskset", "-c", "1", "curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{http_code} %{size_download}", url],
                           capture_output=True, text=True, check=True).stdout.split()
        ts.append(float(o[0]) * 1e3)
        code, size = int(o[1]), int(o[2])
    hdr = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", url], capture_output=True, text=True).stdout
    pos = next((l.split(":", 1)[1].strip() for l in hdr.splitlines() if l.lower().startswith("plait-position")), None)
    return {"median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts), "all_ms": ts,
            "http": code, "bytes": size, "plait_position": pos}

snap_seq = con.execute("select snapshot_seq from documents where name=?", (doc,)).fetchone()[0]
did = con.execute("select id from documents where name=?", (doc,)).fetchone()[0]
hist_base = con.execute("select seq from document_history where document_id=? and kind=3", (did,)).fetchone()
has_hist = con.execute("select count(*) from document_history where document_id=? and kind=0", (did,)).fetchone()[0] > 0
versions = [s for (s,) in con.execute("select seq from document_versions where document_id=? order by seq", (did,))]
floor = hist_base[0] if hist_base else (0 if has_hist else snap_seq)
allseq = sorted(s for (s,) in con.execute(
    "select seq from document_history where document_id=? and kind=0 union all select seq from document_updates where document_id=? and kind=0", (did, did)))
import bisect
def replay(seq):
    b = floor
    if b <= snap_seq <= seq: b = snap_seq
    vs = [v for v in versions if v <= seq]
    if vs and vs[-1] > b: b = vs[-1]
    return b, bisect.bisect_right(allseq, seq) - bisect.bisect_right(allseq, b)

res = {"doc": doc, "history_rows": len(rows), "pages": pages, "paging_s": paging_s,
       "page_ms": [t * 1e3 for t in page_times], "snapshot_seq": snap_seq, "floor": floor,
       "versions": versions, "points": []}
n = len(rows)
for name, idx in [("first", 0), ("25%", n // 4), ("50%", n // 2), ("75%", (3 * n) // 4), ("last", n - 1)]:
    seq = rows[idx]["seq"]
    b, k = replay(seq)
    r = curl(f"{base}/api/docs/{doc}/update?at={seq}", reps)
    r.update({"point": name, "index": idx, "seq": seq, "base_seq": b, "rows_replayed": k})
    res["points"].append(r)
    print(f"  at={seq:>8} ({name:>5}, row {idx}): {r['median_ms']:.2f} ms ({r['min_ms']:.2f}-{r['max_ms']:.2f}) "
          f"http {r['http']} {r['bytes']} B, base {b}, rows replayed {k}")
r = curl(f"{base}/api/docs/{doc}/update", reps); r["point"] = "current (no at)"; res["points"].append(r)
print(f"  plain GET update: {r['median_ms']:.2f} ms ({r['min_ms']:.2f}-{r['max_ms']:.2f}) http {r['http']} {r['bytes']} B")
mid = rows[n // 2]
for label, t in [("rfc3339 of the 50% row", mid["at"]), ("rfc3339 of the last row", rows[-1]["at"])]:
    import urllib.parse
    r = curl(f"{base}/api/docs/{doc}/update?at={urllib.parse.quote(t)}", reps)
    r.update({"point": label, "at": t}); res["points"].append(r)
    print(f"  at={t} ({label}): {r['median_ms']:.2f} ms ({r['min_ms']:.2f}-{r['max_ms']:.2f}) http {r['http']} {r['bytes']} B position {r['plait_position']}")
json.dump(res, open(out, "w"), indent=1)
