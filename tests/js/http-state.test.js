// The HTTP view of a document: GET /api/docs/{doc}/update is the full state as a Yjs v1 update
// that a stock Yjs decodes into the same document the clients have.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, encodedContentOf, canonicalJson, waitConverged } from './lib/clients.js'

let server
const open = []
before(async () => {
  server = new PlaitServer()
  await server.start()
})
after(async () => {
  open.forEach(closeClient)
  await server?.dispose()
})

test('GET /healthz answers 200', async () => {
  const res = await fetch(`${server.httpUrl}/healthz`)
  assert.equal(res.status, 200)
})

test('GET /api/docs/{doc}/update is 404 for a document never written', async () => {
  const res = await server.fetchState(uniqueDoc('never-written'))
  assert.equal(res.status, 404)
})

test('the stored state fetched over HTTP decodes into the clients\' document', async () => {
  const doc = uniqueDoc('http-state') + ' with spaces/é'
  const a = connectClient(server, doc)
  const b = connectClient(server, doc)
  open.push(a, b)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const ta = types(a.doc)
  const tb = types(b.doc)
  ta.text.insert(0, 'héllo wörld ✓')
  tb.map.set('nested', { list: [1, 2, 3], s: 'x' })
  const p = new Y.XmlElement('p')
  p.insert(0, [new Y.XmlText('para')])
  ta.xml.insert(0, [p])
  // B deletes a character A wrote, once it has it
  await waitUntil(() => tb.text.length > 0, { what: "A's text to reach B" })
  tb.text.delete(0, 1)
  await waitConverged([a.doc, b.doc])
  const expected = encodedContentOf(a.doc)

  // bounded poll: the HTTP state catches up with what the clients sent
  const fetched = await waitUntil(async () => {
    const res = await server.fetchState(doc)
    if (res.status !== 200) return null
    const d = new Y.Doc()
    Y.applyUpdate(d, res.body)
    return canonicalJson(encodedContentOf(d)) === canonicalJson(expected) ? { res, d } : null
  }, { timeoutMs: 10000, what: 'HTTP state to equal the clients\' document' })
  assert.equal(fetched.res.contentType, 'application/octet-stream')
  assert.deepEqual(encodedContentOf(fetched.d), expected)
  assert.equal(fetched.d.getText('text').toString(), 'éllo wörld ✓')
})
