// Two plait processes on one PostgreSQL database, as a team runs them behind a load balancer:
// stock y-websocket clients connected to different nodes edit the same document and converge
// live, and a client that joins either node later gets everything.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, contentOf, encodedContentOf, waitConverged } from './lib/clients.js'

const PG = new URL(process.env.PLAIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test')

const psql = (sql) => execFileSync('psql', [PG.href, '-qXc', sql], { stdio: ['ignore', 'ignore', 'pipe'] })

test('clients of two nodes sharing PostgreSQL edit one document live', async (t) => {
  const db = `plait_js_nodes_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  psql(`CREATE DATABASE ${db}`)
  const databaseUrl = `postgres://${PG.username || 'postgres'}@${PG.hostname}:${PG.port || 5432}/${db}`
  const nodes = [new PlaitServer({ databaseUrl }), new PlaitServer({ databaseUrl })]
  const clients = []
  t.after(async () => {
    clients.forEach(closeClient)
    await Promise.all(nodes.map((node) => node.dispose()))
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
  })
  await Promise.all(nodes.map((node) => node.start()))
  const doc = uniqueDoc('nodes')
  const [a, b] = nodes.map((node) => connectClient(node, doc))
  clients.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])

  const ta = types(a.doc)
  const tb = types(b.doc)
  for (let i = 0; i < 30; i++) {
    ta.text.insert(0, 'a')
    tb.text.insert(0, 'b')
    ta.map.set(`a-${i}`, i)
    tb.map.set(`b-${i}`, i)
    if (i % 5 === 0) {
      tb.xml.insert(0, [new Y.XmlElement('p')])
    }
  }
  await waitConverged([a.doc, b.doc])
  const content = contentOf(a.doc)
  assert.deepEqual(content, contentOf(b.doc))
  assert.equal(content.text.length, 60)
  assert.equal(Object.keys(content.map).length, 60)
  assert.equal(types(a.doc).xml.length, 6)

  // Joiners on either node get exactly the same document.
  for (const node of nodes) {
    const late = connectClient(node, doc)
    clients.push(late)
    await waitSynced(late)
    assert.deepEqual(encodedContentOf(late.doc), encodedContentOf(a.doc))
  }
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
  assert.deepEqual(a.closes, [], 'no connection was closed')
  assert.deepEqual(b.closes, [], 'no connection was closed')
})
