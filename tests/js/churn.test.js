// Churn: nine stock clients on three documents edit text, maps and arrays as fast as one Node
// process can, while providers randomly drop and reopen their connections (and the server drops
// the ones too busy to read). Then everyone reconnects and converges, the server is killed with
// SIGKILL once it has stored everything, and the restarted server serves exactly what the
// clients hold, over HTTP and over a new WebSocket.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import {
  connectClient, waitSynced, closeClient, encodedContentOf, waitConverged, canonicalJson, prng, tick
} from './lib/clients.js'

const cleanups = []
after(async () => { for (const c of cleanups.reverse()) await c() })

const CLIENTS = 9
const EDIT_MS = 10000

/** One random edit, or a random drop / reopen of the provider's connection (returns true). */
const step = (client, rnd) => {
  const r = rnd()
  const { provider, doc } = client
  if (r < 0.02) {
    if (provider.wsconnected || provider.wsconnecting) provider.disconnect()
    else provider.connect()
    return true
  }
  doc.transact(() => {
    const text = doc.getText('text')
    if (r < 0.6 || text.length < 10) {
      text.insert(Math.floor(rnd() * (text.length + 1)), 'abcdefghij'.slice(0, 1 + Math.floor(rnd() * 10)))
    } else if (r < 0.8) {
      const at = Math.floor(rnd() * text.length)
      text.delete(at, Math.min(5, text.length - at))
    } else if (r < 0.9) {
      doc.getMap('map').set(`k${Math.floor(rnd() * 50)}`, { v: Math.floor(rnd() * 1e6), by: doc.clientID })
    } else {
      const arr = doc.getArray('arr')
      if (rnd() < 0.7 || arr.length === 0) arr.push([Math.floor(rnd() * 1000)])
      else arr.delete(0, 1)
    }
  })
  return false
}

/** `encodedContentOf` plus the array, as canonical JSON. */
const stateOf = (doc) => canonicalJson({ ...encodedContentOf(doc), arr: doc.getArray('arr').toJSON() })

test('random edits under connection churn converge and survive kill -9', async () => {
  const server = new PlaitServer()
  cleanups.push(() => server.dispose())
  await server.start()
  // A `/` and a space: y-websocket puts the room name into the URL as it is.
  const docs = [uniqueDoc('churn-a'), uniqueDoc('churn-b'), `${uniqueDoc('churn')}/c d`]
  const clients = []
  for (let i = 0; i < CLIENTS; i++) {
    const client = connectClient(server, docs[i % docs.length])
    cleanups.push(() => closeClient(client))
    clients.push(client)
  }
  await Promise.all(clients.map((c) => waitSynced(c)))
  const groups = docs.map((_, d) => clients.filter((_, i) => i % docs.length === d))

  const rnd = prng(7)
  const end = Date.now() + EDIT_MS
  let edits = 0
  let toggles = 0
  while (Date.now() < end) {
    if (step(clients[Math.floor(rnd() * CLIENTS)], rnd)) toggles++
    // Every 20 steps the sockets get a turn; in between this process is too busy to read, which
    // is what makes the server drop some of these clients as too slow.
    if (++edits % 20 === 0) await tick()
  }
  for (const { provider } of clients) {
    if (!provider.wsconnected && !provider.wsconnecting) provider.connect()
  }
  for (const group of groups) {
    await waitUntil(() => group.every((c) => c.provider.synced), { timeoutMs: 20000, what: 'every provider to resync' })
    await waitConverged(group.map((c) => c.doc), 20000)
  }
  const expected = groups.map((group) => stateOf(group[0].doc))
  assert.equal(new Set(expected).size, docs.length, 'the three documents did not mix')

  // Everything received is in SQL once nothing is pending; then the hardest stop there is.
  for (const doc of docs) {
    await waitUntil(async () => {
      const res = await fetch(`${server.httpUrl}/api/docs/${encodeURIComponent(doc)}`)
      const body = await res.json()
      return body.stored && body.pending === 0
    }, { timeoutMs: 10000, what: `${doc} to be stored` })
  }
  for (const client of clients) closeClient(client)
  const killed = await server.stop('SIGKILL')
  assert.equal(killed.signal, 'SIGKILL')
  assert.doesNotMatch(server.log, /panicked/)

  const again = new PlaitServer({ dbFile: server.dbFile })
  cleanups.push(() => again.dispose())
  await again.start()
  for (const [i, doc] of docs.entries()) {
    const res = await fetch(`${again.httpUrl}/api/docs/${encodeURIComponent(doc)}/update`)
    assert.equal(res.status, 200, `GET ${doc}/update`)
    const stored = new Y.Doc()
    Y.applyUpdate(stored, new Uint8Array(await res.arrayBuffer()))
    assert.equal(stateOf(stored), expected[i], `${doc}: the stored state is what the clients hold`)
    const fresh = connectClient(again, doc)
    cleanups.push(() => closeClient(fresh))
    await waitSynced(fresh)
    assert.equal(stateOf(fresh.doc), expected[i], `${doc}: a new client after the restart gets it all`)
  }
  assert.ok(edits > 1000 && toggles > 10, `only ${edits} steps and ${toggles} reconnects were made`)
  const dropped = server.log.match(/cannot keep up/g)?.length ?? 0
  console.log(`${edits} steps, ${toggles} provider drops or reopens, ${dropped} clients dropped by the server as too slow`)
})
