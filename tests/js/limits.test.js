// The limits as a stock y-websocket 3.1 client meets them (issue 20, D1 and D5): the permanent
// close codes 4413 and 4429 reach the client even while it is still sending (before, the server
// closed with the rest of the client's frame unread, the TCP connection was reset, the client saw
// 1006 and reconnected to send it all again), and the 20 KB update whose nesting overflowed the
// server's stack is refused over WebSocket (1007) and HTTP (400) while the process serves on.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, connectCounting, waitSynced, closeClient } from './lib/clients.js'

const MAX_MESSAGE = 1024 * 1024

/** The update of issue 20: one map entry holding arrays nested 10 000 deep (20 KB). */
const deepUpdate = () => {
  const bytes = [0x01, 0x01, 0x7b, 0x00, 0x28, 0x01, 0x01, 0x6d, 0x01, 0x6b, 0x01]
  for (let i = 0; i < 10000; i++) bytes.push(0x75, 0x01)
  bytes.push(0x7e, 0x00)
  return Uint8Array.from(bytes)
}

/** A sync Update message framing `update`: [0, 2, varlen, bytes]. */
const syncUpdateFrame = (update) => {
  const length = []
  let n = update.length
  while (n > 0x7f) { length.push((n & 0x7f) | 0x80); n >>>= 7 }
  length.push(n)
  return Uint8Array.from([0, 2, ...length, ...update])
}

let server
const open = []
before(async () => {
  server = new PlaitServer({
    env: { PLAIT_MAX_MESSAGE_SIZE: String(MAX_MESSAGE), PLAIT_MESSAGE_RATE: '5', PLAIT_MESSAGE_BURST: '50' }
  })
  await server.start()
})
after(async () => {
  for (const client of open) {
    client.provider.destroy()
    client.doc.destroy()
  }
  await server?.stop()
})

/** Watches a client for a fixed time (a reconnect is a matter of time, 100 ms at first). */
const expectNoReconnect = async (client, code) => {
  await new Promise((resolve) => setTimeout(resolve, 2000))
  assert.equal(client.attempts, 1, `reconnect attempts after ${code}: ${client.attempts - 1}`)
  assert.equal(client.provider.shouldConnect, false)
  assert.equal(client.closed?.code, code)
}

test('a 6 MB edit over --max-message-size closes with 4413, and the client does not come back', async () => {
  const doc = uniqueDoc('limits-4413')
  const client = connectCounting(server, doc)
  open.push(client)
  await waitSynced(client)
  client.doc.getText('text').insert(0, 'x'.repeat(6 * 1024 * 1024))
  await waitUntil(() => client.closes.length > 0, { what: 'the close', timeoutMs: 20000 })
  assert.deepEqual(client.closes, [4413], 'the close code arrived (1006 means the close frame was lost to a reset)')
  await expectNoReconnect(client, 4413)
})

test('a flood over the rate limit closes with 4429 while the client is still sending', async () => {
  const doc = uniqueDoc('limits-4429')
  const client = connectCounting(server, doc)
  open.push(client)
  await waitSynced(client)
  // 3 000 edits, each its own frame, written at once: far more than the burst of 50.
  const text = client.doc.getText('text')
  for (let i = 0; i < 3000; i++) text.insert(text.length, 'y'.repeat(200))
  await waitUntil(() => client.closes.length > 0, { what: 'the close', timeoutMs: 20000 })
  assert.deepEqual(client.closes, [4429])
  await expectNoReconnect(client, 4429)
})

test('the update nested 10 000 deep is refused on every path and the server serves on', async () => {
  const doc = uniqueDoc('limits-deep')
  const good = connectClient(server, doc)
  open.push(good)
  await waitSynced(good)
  good.doc.getText('text').insert(0, 'before')

  // Over WebSocket: closed with 1007 (invalid payload).
  const raw = new WebSocket(`${server.wsUrl}/${doc}`)
  raw.binaryType = 'arraybuffer'
  await new Promise((resolve, reject) => { raw.once('open', resolve); raw.once('error', reject) })
  const closed = new Promise((resolve) => raw.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  raw.send(syncUpdateFrame(deepUpdate()))
  const { code, reason } = await closed
  assert.equal(code, 1007, `close ${code} ${reason}`)
  assert.match(reason, /levels deep/)

  // Over HTTP: 400 with the reason, nothing applied.
  const res = await fetch(`${server.httpUrl}/api/docs/${doc}/update`, { method: 'POST', body: deepUpdate() })
  assert.equal(res.status, 400)
  assert.match(JSON.stringify(await res.json()), /levels deep/)

  // The process is up, and the good client still edits and is stored.
  assert.equal((await fetch(`${server.httpUrl}/healthz`)).status, 200)
  good.doc.getText('text').insert(6, ' after')
  await waitUntil(async () => {
    const stored = await fetch(`${server.httpUrl}/api/docs/${doc}/update`)
    if (stored.status !== 200) return false
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, new Uint8Array(await stored.arrayBuffer()))
    return fresh.getText('text').toString() === 'before after' && fresh.getMap('m').size === 0
  }, { what: 'the good edits stored, the deep one not' })
  closeClient(good)
  open.splice(open.indexOf(good), 1)
})

test('an update holding a subdocument is refused over WebSocket and HTTP; the document keeps serving', async () => {
  const doc = uniqueDoc('limits-subdoc')
  // yrs 0.28.1 frees a deleted subdocument's item while still using it, e.g. after
  // `m.set('k', 1); m.set('k', new Y.Doc()); m.delete('k')`, so the server takes none.
  const overwritten = new Y.Doc()
  overwritten.getMap('m').set('k', 1)
  overwritten.getMap('m').set('k', new Y.Doc())
  const nested = new Y.Doc()
  const inner = new Y.Map()
  nested.getMap('m').set('k', inner)
  inner.set('d', new Y.Doc())

  for (const source of [overwritten, nested]) {
    const raw = new WebSocket(`${server.wsUrl}/${doc}`)
    raw.binaryType = 'arraybuffer'
    await new Promise((resolve, reject) => { raw.once('open', resolve); raw.once('error', reject) })
    const closed = new Promise((resolve) => raw.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    raw.send(syncUpdateFrame(Y.encodeStateAsUpdate(source)))
    const { code, reason } = await closed
    assert.equal(code, 1007, `close ${code} ${reason}`)
    assert.match(reason, /subdocument/)

    const res = await fetch(`${server.httpUrl}/api/docs/${doc}/update`, { method: 'POST', body: Y.encodeStateAsUpdate(source) })
    assert.equal(res.status, 400)
    assert.match(JSON.stringify(await res.json()), /subdocuments are not accepted/)
  }

  const text = new Y.Doc()
  text.getText('t').insert(0, 'still served')
  const ok = await fetch(`${server.httpUrl}/api/docs/${doc}/update`, { method: 'POST', body: Y.encodeStateAsUpdate(text) })
  assert.equal(ok.status, 200, await ok.text())
  const stored = new Y.Doc()
  Y.applyUpdate(stored, new Uint8Array(await (await fetch(`${server.httpUrl}/api/docs/${doc}/update`)).arrayBuffer()))
  assert.equal(stored.getText('t').toString(), 'still served')
  assert.equal(stored.getMap('m').size, 0)
  assert.equal(stored.getSubdocs().size, 0)
})
