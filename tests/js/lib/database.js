// Other programs writing to Plait's database: psql on PostgreSQL, the sqlite3 command line on
// SQLite, exactly as README's "Your database is the API" shows them.
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'

export const PG = new URL(process.env.PLAIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test')

/** Runs `sql` with psql against `url`; returns its unaligned, tuples-only output. */
export const psql = (url, sql) =>
  execFileSync('psql', [url, '-qXAtc', sql], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim()

/** A database of its own on the test PostgreSQL (`name`, `url`), dropped by `drop()`. */
export const freshPgDatabase = (prefix) => {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  psql(PG.href, `CREATE DATABASE ${name}`)
  const url = `postgres://${PG.username || 'postgres'}@${PG.hostname}:${PG.port || 5432}/${name}`
  return { name, url, drop: () => psql(PG.href, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** Runs `sql` with the sqlite3 command line on `file`, waiting up to 5 s for the write lock. */
export const sqlite3 = (file, sql) =>
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', file, sql], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim()

/** A Yjs v1 update that inserts `text` at the start of the Y.Text `field` of a fresh client. */
export const textUpdate = (text, field = 'text') => {
  const doc = new Y.Doc()
  doc.getText(field).insert(0, text)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

export const hex = (bytes) => Buffer.from(bytes).toString('hex')

/** The SQLite statements README documents for appending `update` to document `name`. */
export const sqliteInsert = (name, update) => `
INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at)
  VALUES ('${name}', 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  ON CONFLICT (name) DO NOTHING;
INSERT INTO document_updates (document_id, data, created_at)
  SELECT id, X'${hex(update)}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM documents WHERE name = '${name}';`
