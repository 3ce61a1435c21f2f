// Two plait processes on one PostgreSQL database, as a team runs them behind a load balancer:
// stock y-websocket clients connected to different nodes edit the same document and converge
// live, a client that joins either node later gets everything, and everyone sees everyone's
// presence.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, contentOf, encodedContentOf, waitConverged } from './lib/clients.js'
import { freshPgDatabase } from './lib/database.js'


/** Two started nodes on a database of their own, and a list whose clients are closed at the end. */
const twoNodes = async (t) => {
  const db = freshPgDatabase('plait_js_nodes')
  const nodes = [new PlaitServer({ databaseUrl: db.url }), new PlaitServer({ databaseUrl: db.url })]
  const clients = []
  t.after(async () => {
    clients.forEach(closeClient)
    await Promise.all(nodes.map((node) => node.dispose()))
    db.drop()
  })
  await Promise.all(nodes.map((node) => node.start()))
  return { nodes, clients }
}

test('clients of two nodes sharing PostgreSQL edit one document live', async (t) => {
  const { nodes, clients } = await twoNodes(t)
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

const nameOf = (observer, owner) =>
  observer.provider.awareness.getStates().get(owner.doc.clientID)?.user?.name

test('presence crosses nodes, stays while renewed, and leaves with its client', async (t) => {
  const { nodes, clients } = await twoNodes(t)
  const doc = uniqueDoc('nodes-presence')
  const [a, b] = nodes.map((node) => connectClient(node, doc))
  clients.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.provider.awareness.setLocalStateField('user', { name: 'Ada' })
  b.provider.awareness.setLocalStateField('user', { name: 'Bo' })
  // The nodes learn within a moment that the other has the document open; until then a state
  // reaches the other node's clients at its owner's next renewal, so allow for one (15 s).
  await waitUntil(() => nameOf(b, a) === 'Ada' && nameOf(a, b) === 'Bo',
    { timeoutMs: 20000, what: "each client to see the other node's client" })
  a.provider.awareness.setLocalStateField('user', { name: 'Ada L.' })
  await waitUntil(() => nameOf(b, a) === 'Ada L.', { timeoutMs: 5000, what: 'the rename to cross' })

  // A joiner on the other node sees both at once.
  const late = connectClient(nodes[1], doc)
  clients.push(late)
  await waitSynced(late)
  await waitUntil(() => nameOf(late, a) === 'Ada L.' && nameOf(late, b) === 'Bo',
    { timeoutMs: 5000, what: 'the joiner to see both' })

  // Past the 30 s a node keeps another node's silent client: the stock clients' renewals (every
  // 15 s) cross too, so nobody vanishes while connected.
  await new Promise((resolve) => setTimeout(resolve, 40000))
  assert.equal(nameOf(late, a), 'Ada L.', "node b dropped a's client while it renewed")
  assert.equal(nameOf(a, b), 'Bo', "node a dropped b's client while it renewed")

  // A's socket dies without a goodbye: its node removes its state, and tells the other.
  a.provider.shouldConnect = false
  a.provider.ws.terminate()
  await waitUntil(() => !b.provider.awareness.getStates().has(a.doc.clientID) &&
    !late.provider.awareness.getStates().has(a.doc.clientID),
  { timeoutMs: 5000, what: "the other node's clients to drop A" })
  assert.equal(nameOf(late, b), 'Bo')
  for (const client of [a, b, late]) assert.deepEqual(client.errors, [])
  assert.deepEqual(b.closes, [], 'no connection was closed')
})
