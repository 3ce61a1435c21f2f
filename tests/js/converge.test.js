// Two stock WebsocketProvider clients edit Y.Text, Y.Map and Y.XmlFragment at the same time
// through plait and converge; a client that joins later gets exactly the same document.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc } from './lib/server.js'
import {
  connectClient, waitSynced, closeClient, types, contentOf, encodedContentOf,
  waitConverged, prng, tick
} from './lib/clients.js'

let server
const clients = []
const doc = uniqueDoc('converge')
const ROUNDS = 150

before(async () => {
  server = new PlaitServer()
  await server.start()
})
after(async () => {
  clients.forEach(closeClient)
  await server?.dispose()
})

/** One small random edit on each shared type, tagged with the client's letter. */
const edit = (d, who, i, rand) => {
  const { text, map, xml } = types(d)
  d.transact(() => {
    text.insert(Math.floor(rand() * (text.length + 1)), who)
    // a few keys both clients fight over, plus one key per client
    map.set(`shared-${i % 7}`, `${who}${i}`)
    map.set(`own-${who}`, i)
    if (i % 3 === 0) {
      const p = new Y.XmlElement('p')
      p.setAttribute('by', who)
      p.insert(0, [new Y.XmlText(`${who}${i}`)])
      xml.insert(Math.floor(rand() * (xml.length + 1)), [p])
    }
  })
}

test('two WebsocketProvider clients editing concurrently converge', async () => {
  const a = connectClient(server, doc)
  const b = connectClient(server, doc)
  clients.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])

  const ra = prng(1)
  const rb = prng(2)
  for (let i = 0; i < ROUNDS; i++) {
    edit(a.doc, 'a', i, ra)
    edit(b.doc, 'b', i, rb)
    // every few rounds let frames in flight arrive, so edits interleave with remote ones
    if (i % 5 === 4) await tick()
  }
  await waitConverged([a.doc, b.doc])

  const ca = contentOf(a.doc)
  assert.deepEqual(ca, contentOf(b.doc))
  assert.equal(ca.text.length, 2 * ROUNDS)
  assert.equal([...ca.text].filter((c) => c === 'a').length, ROUNDS)
  assert.equal(ca.map['own-a'], ROUNDS - 1)
  assert.equal(ca.map['own-b'], ROUNDS - 1)
  assert.equal(types(a.doc).xml.length, 2 * Math.ceil(ROUNDS / 3))

  // then concurrent deletes over overlapping ranges, and edits inside the same XML element
  const tb = types(b.doc)
  types(a.doc).text.delete(10, 50)
  tb.text.delete(30, 50)
  types(a.doc).xml.delete(0, 5)
  tb.xml.delete(3, 5)
  types(a.doc).map.delete('shared-0')
  tb.map.set('shared-0', 'b-wins?')
  await waitConverged([a.doc, b.doc])
  const after = contentOf(a.doc)
  assert.deepEqual(after, contentOf(b.doc))
  assert.equal(after.text.length, 2 * ROUNDS - 70, 'overlapping deletes remove the union of both ranges')
  assert.equal(types(a.doc).xml.length, 2 * Math.ceil(ROUNDS / 3) - 8)
  assert.deepEqual(a.errors, [])
  assert.deepEqual(b.errors, [])
  assert.deepEqual(a.closes, [], 'no connection was closed')
  assert.deepEqual(b.closes, [], 'no connection was closed')
})

test('a late joiner gets exactly the same document, and its edits reach the others', async () => {
  const [a, b] = clients
  assert.ok(a && b, 'runs after the convergence test')
  const c = connectClient(server, doc)
  clients.push(c)
  await waitSynced(c)
  // synced means step 2 was applied: the document must already match, no waiting
  assert.deepEqual(encodedContentOf(c.doc), encodedContentOf(a.doc))
  assert.deepEqual(contentOf(c.doc), contentOf(b.doc))

  types(c.doc).text.insert(0, 'late ')
  types(c.doc).map.set('late', true)
  await waitConverged([a.doc, b.doc, c.doc])
  assert.ok(contentOf(a.doc).text.startsWith('late '))
  assert.equal(contentOf(b.doc).map.late, true)
})
