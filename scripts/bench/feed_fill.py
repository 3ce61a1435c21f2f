#!/usr/bin/env python3
"""Fills a Plait database's update log for the `feed` benchmark (scripts/bench.sh feed).

Usage: feed_fill.py sqlite FILE [ROWS] [DOCS]   appends in one transaction (Python's sqlite3)
       feed_fill.py pg-sql [ROWS] [DOCS]        prints the same fill as PostgreSQL SQL (psql -f -)

ROWS [1000000] rows over DOCS [1000] documents named feed-0000.., round robin. Every row is a
real Yjs v1 update of 45-50 bytes: one client (a new client id per row, so no row depends on
another) inserts `k<row>: typed text in the feed` at the start of the root text "text". The
schema must exist (start Plait on the database once). Standard library only.
"""
import sqlite3
import sys
import time

NOW_SQLITE = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
FIRST_CLIENT = 16384  # client ids 16384.. stay within three varint bytes up to 2,080,767 rows


def content(k):
    return f"k{k:07d}: typed text in the feed"


def update(k):
    c = FIRST_CLIENT + k
    text = content(k).encode()
    assert c < 1 << 21 and len(text) < 128
    return bytes([1, 1, (c & 127) | 128, ((c >> 7) & 127) | 128, c >> 14,  # 1 client, 1 struct, id
                  0,  # clock 0
                  4,  # info: string content, no origins (so the parent follows)
                  1, 4]) + b"text" + bytes([len(text)]) + text + bytes([0])  # root "text"; no deletes


def fill_sqlite(path, rows, docs):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("BEGIN")
    db.executemany(
        f"INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at) "
        f"VALUES (?, 0, 1, {NOW_SQLITE}, {NOW_SQLITE})",
        ((f"feed-{d:04d}",) for d in range(docs)))
    ids = dict(db.execute("SELECT name, id FROM documents WHERE name LIKE 'feed-%'"))
    db.executemany(
        f"INSERT INTO document_updates (document_id, data, created_at) VALUES (?, ?, {NOW_SQLITE})",
        ((ids[f"feed-{k % docs:04d}"], update(k)) for k in range(1, rows + 1)))
    db.execute("COMMIT")
    db.close()


def pg_sql(rows, docs):
    hexbyte = "lpad(to_hex({}), 2, '0')"
    c = f"({FIRST_CLIENT} + k)"
    text = "('k' || lpad(k::text, 7, '0') || ': typed text in the feed')"
    data = ("decode('0101' || " + " || ".join([
        hexbyte.format(f"({c} & 127) | 128"), hexbyte.format(f"(({c} >> 7) & 127) | 128"),
        hexbyte.format(f"{c} >> 14")]) + " || '00040104' || encode('text', 'hex') || "
        + hexbyte.format(f"octet_length({text})") + f" || encode(convert_to({text}, 'UTF8'), 'hex') || '00', 'hex')")
    return f"""\\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at)
  SELECT 'feed-' || lpad(d::text, 4, '0'), 0, 1, now(), now() FROM generate_series(0, {docs - 1}) d;
INSERT INTO document_updates (document_id, data, created_at)
  SELECT doc.id, {data}, now()
    FROM generate_series(1, {rows}) k
    JOIN documents doc ON doc.name = 'feed-' || lpad((k % {docs})::text, 4, '0')
   ORDER BY k;
COMMIT;
"""


def main():
    mode = sys.argv[1]
    if mode == "sqlite":
        rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
        docs = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
        started = time.monotonic()
        fill_sqlite(sys.argv[2], rows, docs)
        print(f"filled {sys.argv[2]}: {rows} rows over {docs} documents in {time.monotonic() - started:.1f} s")
    elif mode == "pg-sql":
        rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
        docs = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
        print(pg_sql(rows, docs))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
