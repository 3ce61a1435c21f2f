// Your database is the API: rows written by other programs (psql's plait_write and a raw INSERT
// on PostgreSQL, the sqlite3 command line on SQLite) reach stock y-websocket clients live,
// without reconnecting, on every node; a row that is not a Yjs update is quarantined and the
// document keeps working, also after a restart.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types } from './lib/clients.js'
import { psql, freshPgDatabase, sqlite3, textUpdate, hex, sqliteInsert } from './lib/database.js'

const textOf = (client) => types(client.doc).text.toString()

test('PostgreSQL: plait_write and a raw INSERT reach clients of two nodes live', async (t) => {
  const db = freshPgDatabase('plait_js_dbapi')
  const nodes = [new PlaitServer({ databaseUrl: db.url }), new PlaitServer({ databaseUrl: db.url })]
  const clients = []
  t.after(async () => {
    clients.forEach(closeClient)
    await Promise.all(nodes.map((node) => node.dispose()))
    db.drop()
  })
  await Promise.all(nodes.map((node) => node.start()))
  const doc = uniqueDoc('dbapi-pg')
  const [a, b] = nodes.map((node) => connectClient(node, doc))
  clients.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])

  const position = psql(db.url, `SELECT plait_write('${doc}', '\\x${hex(textUpdate('written by psql. '))}'::bytea)`)
  assert.match(position, /^\d+$/, 'plait_write returns the position')
  await waitUntil(() => textOf(a).includes('written by psql') && textOf(b).includes('written by psql'),
    { what: 'plait_write to reach both nodes' })

  psql(db.url, `INSERT INTO document_updates (document_id, data, created_at)
    SELECT id, '\\x${hex(textUpdate('raw insert. '))}'::bytea, now() FROM documents WHERE name = '${doc}'`)
  await waitUntil(() => textOf(a).includes('raw insert') && textOf(b).includes('raw insert'),
    { what: 'a raw INSERT to reach both nodes' })

  // Garbage: quarantined with its position, the document keeps working.
  const bad = psql(db.url, `SELECT plait_write('${doc}', '\\xdeadbeef'::bytea)`)
  await waitUntil(() => psql(db.url, `SELECT count(*) FROM quarantined_updates WHERE document_name = '${doc}' AND seq = ${bad}`) === '1',
    { what: 'the garbage row to be quarantined' })
  assert.equal(psql(db.url, `SELECT count(*) FROM document_updates WHERE seq = ${bad}`), '0', 'moved out of the log')
  types(a.doc).text.insert(0, 'still editing. ')
  await waitUntil(() => textOf(b).includes('still editing'), { what: 'an edit after the garbage row' })
  psql(db.url, `SELECT plait_write('${doc}', '\\x${hex(textUpdate('after garbage. '))}'::bytea)`)
  await waitUntil(() => textOf(a).includes('after garbage') && textOf(b).includes('after garbage'),
    { what: 'a write after the garbage row' })
  assert.deepEqual(a.closes, [], 'no client was disconnected')
  assert.deepEqual(b.closes, [], 'no client was disconnected')
})

test('PostgreSQL: plait_write refuses what is not a document name or an update', async (t) => {
  const db = freshPgDatabase('plait_js_dbapi_args')
  const node = new PlaitServer({ databaseUrl: db.url })
  t.after(async () => { await node.dispose(); db.drop() })
  await node.start()
  assert.throws(() => psql(db.url, "SELECT plait_write('', '\\x00'::bytea)"), /document name is 1 to 255 bytes/)
  assert.throws(() => psql(db.url, "SELECT plait_write('x', ''::bytea)"), /update is empty/)
})

test('SQLite: the documented sqlite3 INSERT reaches a client live; garbage is quarantined', async (t) => {
  const server = new PlaitServer()
  const clients = []
  t.after(async () => { clients.forEach(closeClient); await server.dispose() })
  await server.start()
  const doc = uniqueDoc('dbapi-sqlite')
  const a = connectClient(server, doc)
  clients.push(a)
  await waitSynced(a)
  types(a.doc).text.insert(0, 'typed. ')
  await waitUntil(() => sqlite3(server.dbFile, `SELECT count(*) FROM documents WHERE name = '${doc}'`) === '1',
    { what: 'the client edit to be stored' })

  const started = Date.now()
  sqlite3(server.dbFile, sqliteInsert(doc, textUpdate('from sqlite3. ')))
  await waitUntil(() => textOf(a).includes('from sqlite3'), { what: 'the sqlite3 insert to reach the client', timeoutMs: 5000 })
  const latency = Date.now() - started
  assert.ok(latency < 1500, `seen within about a second (took ${latency} ms)`)

  sqlite3(server.dbFile, sqliteInsert(doc, Buffer.from('not yjs')))
  await waitUntil(() => sqlite3(server.dbFile, `SELECT count(*) FROM quarantined_updates WHERE document_name = '${doc}'`) === '1',
    { what: 'the garbage row to be quarantined' })
  sqlite3(server.dbFile, sqliteInsert(doc, textUpdate('after garbage. ')))
  await waitUntil(() => textOf(a).includes('after garbage'), { what: 'a write after the garbage row' })
  assert.deepEqual(a.closes, [], 'the client was never disconnected')

  // A restart serves the document whole and does not trip over the quarantined row.
  const before = textOf(a)
  closeClient(clients.pop())
  await server.stop()
  await server.start()
  const b = connectClient(server, doc)
  clients.push(b)
  await waitSynced(b)
  assert.equal(textOf(b), before)
})
