// Plait's durable acknowledgement: a client's update is relayed to the other clients at once and
// echoed back to its sender only after the transaction that stores it has committed.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, contentOf, converged, waitConverged } from './lib/clients.js'
import { openRaw, decodeFrame, encodeStep1, encodeUpdate } from './lib/raw.js'

const cleanups = []
after(async () => { for (const c of cleanups.reverse()) await c() })

/** True when the update `u` contains every struct described by state vector `sv`. */
const covers = (u, sv) => {
  const have = Y.decodeStateVector(Y.encodeStateVectorFromUpdate(u))
  return [...Y.decodeStateVector(sv)].every(([client, clock]) => (have.get(client) ?? 0) >= clock)
}

test('y-websocket 3.x clients work unchanged with the durable echo', async () => {
  const server = new PlaitServer()
  cleanups.push(() => server.dispose())
  await server.start()
  const doc = uniqueDoc('echo-provider')
  const a = connectClient(server, doc)
  const b = connectClient(server, doc)
  cleanups.push(() => { closeClient(a); closeClient(b) })
  await Promise.all([waitSynced(a), waitSynced(b)])

  // Watch what A receives, and whether A's doc changes because of anything the server sends.
  const consoleErrors = []
  const origError = console.error
  console.error = (...args) => { consoleErrors.push(args.join(' ')); origError(...args) }
  cleanups.push(() => { console.error = origError })
  const echoed = []
  a.provider.ws.on('message', (data) => {
    for (const m of decodeFrame(new Uint8Array(data))) {
      if (m.type === 'sync' && m.sub === 'update') echoed.push(m.payload)
    }
  })
  let remoteChangesOnA = 0
  a.doc.on('update', (_u, origin) => { if (origin === a.provider) remoteChangesOnA++ })

  for (let i = 0; i < 40; i++) {
    types(a.doc).text.insert(types(a.doc).text.length, `${i},`)
    types(a.doc).map.set(`k${i % 4}`, i)
  }
  const expected = contentOf(a.doc)
  const sv = Y.encodeStateVector(a.doc)
  await waitConverged([a.doc, b.doc])
  // A's own updates come back to it, covering everything it wrote
  await waitUntil(() => echoed.length > 0 && covers(Y.mergeUpdates(echoed), sv),
    { timeoutMs: 10000, what: 'the echo of A\'s updates to reach A' })

  assert.equal(remoteChangesOnA, 0, 'applying the echo changed nothing in A\'s document')
  assert.deepEqual(contentOf(a.doc), expected)
  assert.deepEqual(contentOf(b.doc), expected)
  assert.ok(converged([a.doc, b.doc]))
  assert.deepEqual(consoleErrors, [], 'y-websocket logged no error')
  assert.deepEqual(a.errors, [])
  assert.deepEqual(a.closes, [], 'A was never disconnected')
  assert.deepEqual(b.closes, [], 'B was never disconnected')
  assert.equal(a.provider.synced, true)
})

test('raw client: the echo comes after the relay, and only once the update is stored in SQL', async () => {
  // A slow group commit makes a too-early echo observable.
  const env = { PLAIT_FLUSH_INTERVAL: '1s' }
  const server = new PlaitServer({ env })
  cleanups.push(() => server.dispose())
  await server.start()
  const doc = uniqueDoc('echo-raw')

  const sender = await openRaw(server, doc)
  const peer = await openRaw(server, doc)
  cleanups.push(() => Promise.all([sender.close(), peer.close()]))
  const local = new Y.Doc()
  for (const c of [sender, peer]) {
    await c.waitFor((m) => m.type === 'sync' && m.sub === 'step1', { what: 'server step 1' })
    await c.send(encodeStep1(local))
    await c.waitFor((m) => m.type === 'sync' && m.sub === 'step2', { what: 'server step 2' })
  }

  let update = null
  local.on('update', (u) => { update = u })
  local.getText('text').insert(0, 'saved means in SQL')
  assert.ok(update)
  const sv = Y.encodeStateVectorFromUpdate(update)
  const isOurs = (m) => m.type === 'sync' && m.sub === 'update' && covers(m.payload, sv)

  const sentAt = performance.now()
  await sender.send(encodeUpdate(update))
  const relayed = await peer.waitFor(isOurs, { what: 'the relayed update at the peer' })
  const echo = await sender.waitFor(isOurs, { timeoutMs: 15000, what: 'the durable echo at the sender' })

  // The moment the echo is here, the stored state must already hold the update.
  const stored = await server.fetchState(doc)
  assert.equal(stored.status, 200)
  const fromHttp = new Y.Doc()
  Y.applyUpdate(fromHttp, stored.body)
  assert.equal(fromHttp.getText('text').toString(), 'saved means in SQL')

  assert.ok(relayed.at <= echo.at,
    `relay to the peer (${(relayed.at - sentAt).toFixed(1)} ms) must not wait for the commit (echo at ${(echo.at - sentAt).toFixed(1)} ms)`)
  assert.equal(sender.received.filter(isOurs).length, 1, 'the sender gets its update back exactly once')
  const echoedDoc = new Y.Doc()
  Y.applyUpdate(echoedDoc, echo.payload)
  assert.equal(echoedDoc.getText('text').toString(), 'saved means in SQL')
  assert.deepEqual(sender.decodeErrors, [])
  assert.deepEqual(peer.decodeErrors, [])

  // Stronger: kill -9 right after the echo. If the echo had gone out before the commit, the
  // update would be lost (the next flush was up to 1 s away).
  const killed = await server.stop('SIGKILL')
  assert.equal(killed.signal, 'SIGKILL')
  const again = new PlaitServer({ dbFile: server.dbFile, env })
  cleanups.push(() => again.dispose())
  await again.start()
  const afterKill = await again.fetchState(doc)
  assert.equal(afterKill.status, 200, 'the document survived kill -9 after its echo')
  const restored = new Y.Doc()
  Y.applyUpdate(restored, afterKill.body)
  assert.equal(restored.getText('text').toString(), 'saved means in SQL')
})
