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

test('raw client: the echo comes after the relay, and only once the update is stored in SQL', async (t) => {
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
  // The server relays and echoes the raw update it received (CONTRACT: Outgoing::Update(u)).
  // (Matching by state vector does not work here: Yjs ignores a client whose structs in the
  // update do not start at clock 0, so a later update's state vector is empty.)
  const isEchoOf = (u) => (m) => m.type === 'sync' && m.sub === 'update' && Buffer.from(m.payload).equals(Buffer.from(u))

  const echoedDoc = new Y.Doc()
  // Sends one edit; resolves with when it was sent, relayed to the peer, and echoed to the sender.
  const roundTrip = async (insert) => {
    local.getText('text').insert(local.getText('text').length, insert)
    const u = update
    const isOurs = isEchoOf(u)
    const sentAt = performance.now()
    await sender.send(encodeUpdate(u))
    const relayed = await peer.waitFor(isOurs, { what: `the relayed update "${insert}" at the peer` })
    const echo = await sender.waitFor(isOurs, { timeoutMs: 15000, what: `the durable echo of "${insert}" at the sender` })
    // The moment the echo is here, the stored state must already hold the update.
    const stored = await server.fetchState(doc)
    assert.equal(stored.status, 200)
    const fromHttp = new Y.Doc()
    Y.applyUpdate(fromHttp, stored.body)
    assert.equal(fromHttp.getText('text').toString(), local.getText('text').toString(),
      'GET /api/docs/{doc}/update already holds the echoed update')
    assert.equal(sender.received.filter(isOurs).length, 1, 'the sender gets its update back exactly once')
    // the echoes, applied in order, rebuild what the sender wrote
    Y.applyUpdate(echoedDoc, echo.payload)
    assert.equal(echoedDoc.getText('text').toString(), local.getText('text').toString())
    return { relay: relayed.at - sentAt, echo: echo.at - sentAt }
  }

  // The first flush may start at once; it opens a 1 s interval, so the second update's commit
  // (and so its echo) has to wait for that interval while its relay must not.
  const first = await roundTrip('saved ')
  const second = await roundTrip('means in SQL')
  t.diagnostic(`first: relay ${first.relay.toFixed(1)} ms, echo ${first.echo.toFixed(1)} ms; ` +
    `second: relay ${second.relay.toFixed(1)} ms, echo ${second.echo.toFixed(1)} ms (flush interval 1 s)`)
  for (const r of [first, second]) assert.ok(r.relay <= r.echo, `relay (${r.relay} ms) before echo (${r.echo} ms)`)
  assert.ok(second.relay < 500, `the relay does not wait for the group commit (${second.relay} ms)`)
  assert.deepEqual(sender.decodeErrors, [])
  assert.deepEqual(peer.decodeErrors, [])

  // Stronger: kill -9 right after the second echo. Had it gone out before the commit, the update
  // would be lost (its flush would still be up to 1 s away).
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
