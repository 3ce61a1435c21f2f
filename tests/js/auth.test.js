// Access control tried as a new user would: start plait with PLAIT_AUTH_SECRET, mint a read and a
// write token with `plait token`, connect stock y-websocket providers with `params: { token }`.
// Also: y-websocket 3.1 stops reconnecting after a permanent (44xx) close.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'
import { PlaitServer, plaitBin, uniqueDoc, waitUntil } from './lib/server.js'
import { waitSynced, closeClient, connectCounting } from './lib/clients.js'

const SECRET = 'js-interop-secret-0123456789abcdef-0123456789abcdef'
const env = { PLAIT_AUTH_SECRET: SECRET, PLAIT_MAX_MESSAGE_SIZE: String(64 * 1024) }

/** `plait token ...` as an operator runs it; returns the printed token. */
const mint = (doc, mode, ttl = '1h') => execFileSync(plaitBin, ['token', '--doc', doc, '--mode', mode, '--ttl', ttl], {
  env: { ...process.env, PLAIT_AUTH_SECRET: SECRET },
  encoding: 'utf8'
}).trim()

const connect = connectCounting

/** GET the stored state with a Bearer token, decoded into a fresh Y.Doc. */
const storedText = async (server, doc, token) => {
  const res = await fetch(`${server.httpUrl}/api/docs/${encodeURIComponent(doc)}/update`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000)
  })
  assert.equal(res.status, 200, `GET state: ${res.status}`)
  const fresh = new Y.Doc()
  Y.applyUpdate(fresh, new Uint8Array(await res.arrayBuffer()))
  return fresh.getText('text').toString()
}

let server
const open = []
before(async () => {
  server = new PlaitServer({ env })
  await server.start()
})
after(async () => {
  open.forEach(closeClient)
  await server?.dispose()
})

test('a write token edits, a read token only watches', async () => {
  const doc = uniqueDoc('auth-rw')
  const write = mint(doc, 'write')
  const read = mint(doc, 'read')
  const writer = connect(server, doc, { token: write })
  const reader = connect(server, doc, { token: read })
  open.push(writer, reader)
  await Promise.all([waitSynced(writer), waitSynced(reader)])

  writer.doc.getText('text').insert(0, 'hello')
  await waitUntil(() => reader.doc.getText('text').toString() === 'hello', { what: "the writer's edit at the reader" })

  // The reader edits locally, then shares presence: once the writer sees the presence, the
  // server has handled the edit that came before it on the same connection.
  reader.doc.getText('text').insert(0, 'EVIL ')
  reader.doc.getMap('map').set('reader', 'was here')
  reader.provider.awareness.setLocalStateField('user', { name: 'reader' })
  await waitUntil(() => [...writer.provider.awareness.getStates().values()].some((s) => s.user?.name === 'reader'),
    { what: "the reader's presence at the writer" })

  writer.doc.getText('text').insert(5, ' world')
  await waitUntil(() => reader.doc.getText('text').toString().includes('hello world'), { what: 'the next live edit at the reader' })
  assert.equal(writer.doc.getText('text').toString(), 'hello world', 'the reader\'s edit reached the writer')
  assert.equal(writer.doc.getMap('map').size, 0)
  await waitUntil(async () => (await storedText(server, doc, write)) === 'hello world', { what: 'the stored state' })

  // The read-only provider keeps working: still connected, still receiving.
  writer.doc.getText('text').insert(11, '!')
  await waitUntil(() => reader.doc.getText('text').toString().includes('hello world!'), { what: 'a later edit at the reader' })
  assert.equal(reader.provider.wsconnected, true)
  assert.deepEqual(reader.closes, [])
  assert.equal(reader.attempts, 1)
  assert.equal(await storedText(server, doc, write), 'hello world!')
  assert.equal(writer.doc.getText('text').toString(), 'hello world!')
})

test('a provider without a token never connects (401)', async () => {
  const doc = uniqueDoc('auth-none')
  const res = await fetch(`${server.httpUrl}/ws/${doc}`, { signal: AbortSignal.timeout(5000) })
  assert.equal(res.status, 401)
  assert.ok((await res.json()).error, 'a reason in the body')

  const anonymous = connect(server, doc, {})
  open.push(anonymous)
  await waitUntil(() => anonymous.attempts >= 2, { what: 'a retry after the refusal' })
  assert.equal(anonymous.provider.wsconnected, false)
  assert.equal(anonymous.provider.synced, false)
  assert.ok(!anonymous.statuses.includes('connected'), `statuses: ${anonymous.statuses}`)
  anonymous.provider.disconnect()
})

test('after a 44xx close y-websocket 3.1 stops reconnecting', async () => {
  const doc = uniqueDoc('auth-4413')
  const client = connect(server, doc, { token: mint(doc, 'write') })
  open.push(client)
  await waitSynced(client)
  let closedEvent = null
  client.provider.on('closed', (e) => { closedEvent = e })

  // One update over --max-message-size: the server closes with 4413.
  client.doc.getText('text').insert(0, 'x'.repeat(100 * 1024))
  await waitUntil(() => client.closes.length > 0, { what: 'the close' })
  assert.deepEqual(client.closes, [4413])

  // Whether a reconnect happens is a matter of time: watch for a fixed period (the provider's
  // first backoff is 100 ms).
  await new Promise((resolve) => setTimeout(resolve, 3000))
  assert.equal(client.attempts, 1, `reconnect attempts after 4413: ${client.attempts - 1}`)
  assert.equal(client.provider.shouldConnect, false)
  assert.equal(closedEvent?.code, 4413)
  const res = await fetch(`${server.httpUrl}/api/docs/${doc}/update`, { headers: { Authorization: `Bearer ${mint(doc, 'read')}` } })
  assert.equal(res.status, 404, 'the oversized edit was not stored (the document was never written)')
})

test('an expiring token closes with 4401 and the provider does not retry', async () => {
  const doc = uniqueDoc('auth-4401')
  const client = connect(server, doc, { token: mint(doc, 'write', '2s') })
  open.push(client)
  await waitSynced(client)
  await waitUntil(() => client.closes.length > 0, { what: 'the close at expiry', timeoutMs: 10000 })
  assert.deepEqual(client.closes, [4401])
  await new Promise((resolve) => setTimeout(resolve, 2000))
  assert.equal(client.attempts, 1, 'reconnected after 4401')
})
