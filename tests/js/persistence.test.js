// Persistence through a graceful restart: edit, SIGTERM, start again on the same SQLite file,
// and a fresh client gets everything.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, contentOf, encodedContentOf, waitConverged } from './lib/clients.js'

const cleanups = []
after(async () => { for (const c of cleanups.reverse()) await c() })

/** A started server (disposed after the file) and two synced clients on a new document. */
const serverWithTwoClients = async (prefix, options) => {
  const server = new PlaitServer(options)
  cleanups.push(() => server.dispose())
  await server.start()
  const doc = uniqueDoc(prefix)
  const a = connectClient(server, doc)
  const b = connectClient(server, doc)
  await Promise.all([waitSynced(a), waitSynced(b)])
  return { server, doc, a, b }
}

/** A second server on `first`'s database file and a fresh synced client of `doc` on it. */
const restartedWithFreshClient = async (first, doc) => {
  const second = new PlaitServer({ dbFile: first.dbFile })
  cleanups.push(() => second.dispose())
  await second.start()
  const fresh = connectClient(second, doc)
  cleanups.push(() => closeClient(fresh))
  await waitSynced(fresh)
  return { second, fresh }
}

test('content survives SIGTERM and a restart on the same database', async () => {
  const { server: first, doc, a, b } = await serverWithTwoClients('restart')
  for (let i = 0; i < 60; i++) {
    const who = i % 2 ? b : a
    const t = types(who.doc)
    t.text.insert(t.text.length, `${i} `)
    t.map.set(`key${i % 10}`, { i, by: i % 2 ? 'b' : 'a' })
    if (i % 10 === 0) t.xml.insert(t.xml.length, [new Y.XmlElement('h1')])
  }
  await waitConverged([a.doc, b.doc])
  const expected = encodedContentOf(a.doc)
  // Both clients stay connected through the shutdown: the server must flush while they are live.
  const exit = await first.stop('SIGTERM')
  assert.deepEqual(exit, { code: 0, signal: null }, `graceful shutdown exits 0; log:\n${first.log}`)
  closeClient(a)
  closeClient(b)

  const { second, fresh } = await restartedWithFreshClient(first, doc)
  assert.deepEqual(encodedContentOf(fresh.doc), expected)
  assert.equal(contentOf(fresh.doc).text.split(' ').length - 1, 60)

  // and the restarted server keeps working for that document
  const other = connectClient(second, doc)
  cleanups.push(() => closeClient(other))
  await waitSynced(other)
  types(other.doc).text.insert(0, 'after restart: ')
  await waitUntil(() => contentOf(fresh.doc).text.startsWith('after restart: '), { what: 'edit after restart to reach the fresh client' })
})
