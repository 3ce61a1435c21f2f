// Tiptap's @hocuspocus/provider (4.8.0 and 3.4.4, unmodified) against plait's /hocuspocus
// endpoint, on the same documents as stock y-websocket clients on /ws/{doc}: convergence, several
// documents on one socket, hasUnsyncedChanges as a durable acknowledgement (kill -9), awareness
// across both protocols, tokens (scopes, refusals, refresh before expiry), stateless messages
// from POST /api/docs/{doc}/stateless, and two nodes on one PostgreSQL database.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'
import { PlaitServer, plaitBin, uniqueDoc, waitUntil } from './lib/server.js'
import {
  connectClient, waitSynced, closeClient, types, contentOf, encodedContentOf, stateVector,
  waitConverged, prng, tick
} from './lib/clients.js'
import {
  hocuspocusUrl, sharedSocket, connectHocuspocus, waitHpSynced, waitSaved, syncStatuses,
  tokenRequests, closeHocuspocus, closeShared, awarenessOf, textOf, signToken, expiryOf, HP
} from './lib/hocuspocus.js'
import { freshPgDatabase } from './lib/database.js'

const SECRET = 'js-hocuspocus-secret-0123456789abcdef-0123456789abcdef'
const WRONG_SECRET = 'not-the-server-secret-0123456789abcdef-0123456789abcdef'
/** What the server allows for the server's clock vs. a token's `exp` (server/src/auth.rs). */
const EXPIRY_LEEWAY_MS = 5000

/** `plait token ...` as an operator runs it; returns the printed token. */
const mint = (doc, mode, ttl = '1h') => execFileSync(plaitBin, ['token', '--doc', doc, '--mode', mode, '--ttl', ttl], {
  env: { ...process.env, PLAIT_AUTH_SECRET: SECRET },
  encoding: 'utf8'
}).trim()

// Everything opened is closed at the end, or a provider would keep reconnecting forever.
const hpClients = new Set()
const wsClients = new Set()
const sockets = new Set()
const servers = []

const hp = (server, name, opts) => {
  const client = connectHocuspocus(hocuspocusUrl(server), name, opts)
  hpClients.add(client)
  return client
}
const shared = (server, opts) => {
  const s = sharedSocket(hocuspocusUrl(server), opts)
  sockets.add(s)
  return s
}
const yws = (server, name) => {
  const client = connectClient(server, name)
  wsClients.add(client)
  return client
}
const closeHp = (client) => {
  if (hpClients.delete(client)) closeHocuspocus(client)
}

let plain // no auth, SQLite
let secured // PLAIT_AUTH_SECRET set

before(async () => {
  plain = new PlaitServer()
  secured = new PlaitServer({ env: { PLAIT_AUTH_SECRET: SECRET } })
  servers.push(plain, secured)
  await Promise.all([plain.start(), secured.start()])
})

after(async () => {
  for (const c of hpClients) closeHocuspocus(c)
  for (const s of sockets) closeShared(s)
  wsClients.forEach(closeClient)
  await Promise.all(servers.map((s) => s.dispose()))
})

/** Frames a provider should never see from a healthy server: Close, refusals, garbage. */
const troubleFrames = (client) => client.frames.filter((f) =>
  f.undecodable || f.type === HP.CLOSE || (f.type === HP.SYNC_STATUS && !f.applied) ||
  (f.type === HP.AUTH && f.auth === 1))

/** A few rounds of concurrent random edits on text and map, letting frames interleave. */
const editConcurrently = async (clients, rounds = 40) => {
  const rands = clients.map((_, i) => prng(i + 1))
  for (let i = 0; i < rounds; i++) {
    clients.forEach((c, k) => {
      const { text, map } = types(c.doc)
      c.doc.transact(() => {
        text.insert(Math.floor(rands[k]() * (text.length + 1)), String.fromCharCode(97 + k))
        map.set(`shared-${i % 5}`, `${k}:${i}`)
        map.set(`own-${k}`, i)
      })
    })
    if (i % 5 === 4) await tick()
  }
}

/** The stored state of a document (GET /api/docs/{doc}/update), decoded; `null` on 404. */
const storedDoc = async (server, name, token) => {
  const res = await fetch(`${server.httpUrl}/api/docs/${encodeURIComponent(name)}/update`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5000)
  })
  if (res.status === 404) return null
  assert.equal(res.status, 200, `GET state of ${name}: ${res.status}`)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
  return doc
}
const storedText = async (server, name, token) => (await storedDoc(server, name, token))?.getText('text').toString() ?? null

/** POST /api/docs/{doc}/stateless with `payload` as the raw body: `{ status, contentType, body }`. */
const postStateless = async (server, name, payload, token) => {
  const res = await fetch(`${server.httpUrl}/api/docs/${encodeURIComponent(name)}/stateless`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain; charset=utf-8', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: payload,
    signal: AbortSignal.timeout(5000)
  })
  const text = await res.text()
  return { status: res.status, contentType: res.headers.get('content-type'), text }
}

// 1. Convergence ------------------------------------------------------------------------------

test('two 4.8.0 providers on one document converge', async () => {
  const name = uniqueDoc('hp-converge')
  const a = hp(plain, name)
  const b = hp(plain, name)
  await Promise.all([waitHpSynced(a), waitHpSynced(b)])

  a.doc.getText('text').insert(0, 'hello from a')
  await waitUntil(() => textOf(b) === 'hello from a', { what: "a's edit at b" })
  b.doc.getText('text').insert(12, ', and b')
  await waitUntil(() => textOf(a) === 'hello from a, and b', { what: "b's edit at a" })

  await editConcurrently([a, b])
  await waitConverged([a.doc, b.doc])
  const content = contentOf(a.doc)
  assert.equal(content.text.length, 'hello from a, and b'.length + 80)
  assert.equal(content.map['own-0'], 39)
  assert.equal(content.map['own-1'], 39)

  // Without a secret the server still answers the provider's Auth message, as Hocuspocus does.
  for (const c of [a, b]) {
    assert.deepEqual(c.authenticated, ['read-write'], 'onAuthenticated once, scope read-write')
    assert.equal(c.provider.authorizedScope, 'read-write')
    assert.deepEqual(c.authFailures, [])
    assert.deepEqual(troubleFrames(c), [], 'no Close, refusal or undecodable frame')
    assert.deepEqual(c.closes, [], 'the socket was never closed')
  }
  // what the server stored is what the providers hold
  await waitUntil(async () => (await storedText(plain, name)) === content.text, { what: 'the stored text' })
})

test('a 3.4.4 provider and a 4.8.0 provider converge', async () => {
  const name = uniqueDoc('hp-v3-v4')
  const old = hp(plain, name, { version: 3 })
  const cur = hp(plain, name, { version: 4 })
  await Promise.all([waitHpSynced(old), waitHpSynced(cur)])

  old.doc.getText('text').insert(0, 'from 3.4.4')
  await waitUntil(() => textOf(cur) === 'from 3.4.4', { what: 'the 3.x edit at the 4.x provider' })
  cur.doc.getText('text').insert(0, 'from 4.8.0 / ')
  await waitUntil(() => textOf(old) === 'from 4.8.0 / from 3.4.4', { what: 'the 4.x edit at the 3.x provider' })

  await editConcurrently([old, cur])
  await waitConverged([old.doc, cur.doc])
  assert.equal(contentOf(old.doc).text.length, 'from 4.8.0 / from 3.4.4'.length + 80)

  // a 3.x late joiner gets exactly the same document
  const late = hp(plain, name, { version: 3 })
  await waitHpSynced(late)
  assert.deepEqual(encodedContentOf(late.doc), encodedContentOf(cur.doc))
  await waitSaved(old)
  for (const c of [old, cur, late]) {
    assert.deepEqual(c.authFailures, [])
    assert.deepEqual(troubleFrames(c), [])
    assert.deepEqual(c.closes, [])
  }
})

// 2. Several documents on one socket ----------------------------------------------------------

test('two documents on one shared HocuspocusProviderWebsocket do not mix', async () => {
  const nameA = uniqueDoc('hp-shared-a')
  const nameB = uniqueDoc('hp-shared-b')
  const socket = shared(plain)
  const a = hp(plain, nameA, { shared: socket })
  const b = hp(plain, nameB, { shared: socket })
  // one observer per document on sockets of their own
  const oa = hp(plain, nameA)
  const ob = hp(plain, nameB)
  await Promise.all([a, b, oa, ob].map((c) => waitHpSynced(c)))

  a.doc.getText('text').insert(0, 'AAA')
  b.doc.getText('text').insert(0, 'BBB')
  a.doc.getMap('map').set('from', 'a')
  b.doc.getMap('map').set('from', 'b')
  oa.doc.getText('text').insert(0, 'aa-')
  ob.doc.getText('text').insert(0, 'bb-')
  await waitConverged([a.doc, oa.doc])
  await waitConverged([b.doc, ob.doc])
  // one more round on the shared socket, after which nothing of the other document can be in flight
  a.doc.getText('text').insert(0, '1')
  b.doc.getText('text').insert(0, '2')
  await waitUntil(() => textOf(oa).startsWith('1') && textOf(ob).startsWith('2'), { what: 'the last edits at the observers' })
  await Promise.all([waitSaved(a), waitSaved(b)])

  for (const [mine, theirs] of [[a, oa], [b, ob]]) {
    assert.deepEqual(contentOf(mine.doc), contentOf(theirs.doc))
    // only this document's two clients ever wrote into it
    assert.deepEqual(Object.keys(stateVector(mine.doc)).sort(),
      [String(mine.doc.clientID), String(theirs.doc.clientID)].sort(), `writers of ${mine.name}`)
  }
  assert.equal(a.doc.getMap('map').get('from'), 'a')
  assert.equal(b.doc.getMap('map').get('from'), 'b')
  assert.equal([...textOf(a)].sort().join(''), [...'1AAAaa-'].sort().join(''))
  assert.equal([...textOf(b)].sort().join(''), [...'2BBBbb-'].sort().join(''))
  assert.equal(await storedText(plain, nameA), textOf(a))
  assert.equal(await storedText(plain, nameB), textOf(b))
  for (const c of [a, b]) {
    assert.ok(c.provider.isSynced)
    assert.deepEqual(c.authenticated, ['read-write'])
    assert.deepEqual(troubleFrames(c), [])
  }
  assert.deepEqual(socket.frames.filter((f) => f.lone === undefined && f.address !== nameA && f.address !== nameB), [],
    'every frame on the shared socket names one of its two documents')
  assert.deepEqual(socket.closes, [], 'the shared socket was never closed')
})

test('4.x sessionAwareness: two providers of one document on one socket', async () => {
  const name = uniqueDoc('hp-sessions')
  const socket = shared(plain)
  // addresses are `name + "\0" + sessionId`: the server answers each at its own
  const a = hp(plain, name, { shared: socket, sessionAwareness: true })
  const b = hp(plain, name, { shared: socket, sessionAwareness: true })
  await Promise.all([waitHpSynced(a), waitHpSynced(b)])
  a.doc.getText('text').insert(0, 'session a')
  await waitUntil(() => textOf(b) === 'session a', { what: "a's edit at b on the same socket" })
  b.doc.getText('text').insert(0, 'b + ')
  await waitUntil(() => textOf(a) === 'b + session a', { what: "b's edit at a" })
  a.provider.setAwarenessField('user', { name: 'A' })
  await waitUntil(() => awarenessOf(b, a)?.user?.name === 'A', { timeoutMs: 5000, what: "a's awareness at b" })
  await Promise.all([waitSaved(a), waitSaved(b)])
  const res = await postStateless(plain, name, 'to both sessions')
  assert.equal(res.status, 202)
  await waitUntil(() => a.stateless.length && b.stateless.length, { timeoutMs: 5000, what: 'the stateless message at both sessions' })
  assert.deepEqual([a.stateless, b.stateless], [['to both sessions'], ['to both sessions']])
  assert.deepEqual([a.authenticated, b.authenticated], [['read-write'], ['read-write']])
  assert.equal(await storedText(plain, name), 'b + session a')
  for (const c of [a, b]) assert.deepEqual(troubleFrames(c), [])
  assert.deepEqual(socket.closes, [])
})

// 3. hasUnsyncedChanges means stored ----------------------------------------------------------

test('edits acknowledged through unsyncedChanges survive kill -9', async (t) => {
  // A slow group commit makes a too-early SyncStatus observable.
  const env = { PLAIT_FLUSH_INTERVAL: '1s' }
  const server = new PlaitServer({ env })
  let again = null
  t.after(async () => {
    await again?.dispose()
    await server.dispose()
  })
  await server.start()
  const name = uniqueDoc('hp-durable')
  const a = hp(server, name)
  await waitHpSynced(a)
  await waitSaved(a) // the sync handshake itself is acknowledged

  const text = a.doc.getText('text')
  text.insert(0, 'saved ')
  assert.equal(a.provider.hasUnsyncedChanges, true, 'an edit is unsynced until the server says so')
  await waitSaved(a, 15000)
  // two more updates while the first flush's 1 s interval runs: their commit has to wait for it
  text.insert(text.length, 'means ')
  text.insert(text.length, 'in SQL')
  assert.equal(a.provider.unsyncedChanges, 2)
  await waitSaved(a, 15000)
  assert.deepEqual(syncStatuses(a).filter((s) => !s), [], 'no update was refused')

  // kill -9 the moment the last acknowledgement arrived
  const killed = await server.stop('SIGKILL')
  assert.equal(killed.signal, 'SIGKILL')
  // The provider must not bring its edits back by itself: gone before the restart.
  closeHp(a)

  again = new PlaitServer({ dbFile: server.dbFile, env })
  await again.start()
  const fresh = hp(again, name)
  await waitHpSynced(fresh)
  assert.equal(textOf(fresh), 'saved means in SQL', 'every acknowledged edit survived kill -9')
  assert.equal(await storedText(again, name), 'saved means in SQL')
  closeHp(fresh)
})

// 4. Awareness, and the two protocols on one document -----------------------------------------

test('awareness between two Hocuspocus providers (4.8.0 and 3.4.4)', async () => {
  const name = uniqueDoc('hp-awareness')
  const a = hp(plain, name)
  const b = hp(plain, name)
  const old = hp(plain, name, { version: 3 })
  await Promise.all([a, b, old].map((c) => waitHpSynced(c)))

  a.provider.setAwarenessField('user', { name: 'Ada' })
  await waitUntil(() => awarenessOf(b, a)?.user?.name === 'Ada' && awarenessOf(old, a)?.user?.name === 'Ada',
    { timeoutMs: 5000, what: "b and the 3.x provider to see a's state" })
  b.provider.setAwarenessField('user', { name: 'Bo' })
  old.provider.setAwarenessField('user', { name: 'Cy (3.x)' })
  await waitUntil(() => awarenessOf(a, b)?.user?.name === 'Bo' && awarenessOf(a, old)?.user?.name === 'Cy (3.x)',
    { timeoutMs: 5000, what: "a to see b's and the 3.x provider's states" })
  a.provider.setAwarenessField('user', { name: 'Ada L.' })
  await waitUntil(() => awarenessOf(b, a)?.user?.name === 'Ada L.', { timeoutMs: 5000, what: 'the rename at b' })

  // a leaves: the others drop its state
  closeHp(a)
  await waitUntil(() => !b.provider.awareness.getStates().has(a.doc.clientID) &&
    !old.provider.awareness.getStates().has(a.doc.clientID), { timeoutMs: 5000, what: "a's state to be removed" })
  assert.equal(awarenessOf(b, old)?.user?.name, 'Cy (3.x)')
  for (const c of [b, old]) assert.deepEqual(c.closes, [])
})

test('a Hocuspocus provider and a y-websocket provider share one document: text and awareness both ways', async () => {
  const name = uniqueDoc('hp-cross')
  const h = hp(plain, name)
  const w = yws(plain, name)
  const old = hp(plain, name, { version: 3 })
  await Promise.all([waitHpSynced(h), waitSynced(w), waitHpSynced(old)])

  // awareness: Hocuspocus -> y-websocket
  h.provider.setAwarenessField('user', { name: 'Hocus' })
  await waitUntil(() => awarenessOf(w, h)?.user?.name === 'Hocus',
    { timeoutMs: 5000, what: "the y-websocket provider to see the Hocuspocus provider's state" })
  // y-websocket -> Hocuspocus (both majors)
  w.provider.awareness.setLocalStateField('user', { name: 'Yws' })
  await waitUntil(() => awarenessOf(h, w)?.user?.name === 'Yws' && awarenessOf(old, w)?.user?.name === 'Yws',
    { timeoutMs: 5000, what: "the Hocuspocus providers to see the y-websocket provider's state" })
  old.provider.setAwarenessField('user', { name: 'Old' })
  await waitUntil(() => awarenessOf(w, old)?.user?.name === 'Old',
    { timeoutMs: 5000, what: "the y-websocket provider to see the 3.x provider's state" })

  // text: Hocuspocus -> y-websocket -> Hocuspocus
  h.doc.getText('text').insert(0, 'from hocuspocus')
  await waitUntil(() => w.doc.getText('text').toString() === 'from hocuspocus', { what: 'the Hocuspocus edit at y-websocket' })
  w.doc.getText('text').insert(0, 'from y-websocket, ')
  await waitUntil(() => textOf(h) === 'from y-websocket, from hocuspocus' && textOf(old) === textOf(h),
    { what: 'the y-websocket edit at the Hocuspocus providers' })

  await editConcurrently([h, w, old], 30)
  await waitConverged([h.doc, w.doc, old.doc])
  assert.equal(contentOf(w.doc).text.length, 'from y-websocket, from hocuspocus'.length + 90)
  await waitSaved(h)

  assert.deepEqual(w.closes, [], 'the y-websocket provider was never disconnected')
  assert.deepEqual(w.errors, [])
  // the y-websocket provider leaves: the Hocuspocus providers drop its state
  closeClient(w); wsClients.delete(w)
  await waitUntil(() => !h.provider.awareness.getStates().has(w.doc.clientID) &&
    !old.provider.awareness.getStates().has(w.doc.clientID),
  { timeoutMs: 5000, what: "the y-websocket provider's state to be removed" })
  for (const c of [h, old]) {
    assert.deepEqual(troubleFrames(c), [])
    assert.deepEqual(c.closes, [])
  }
})

test('lone providers stay connected past their 30 s silence timeout', {
  skip: process.env.PLAIT_JS_FAST === '1' ? 'PLAIT_JS_FAST=1' : false,
  timeout: 36000 + 30000
}, async () => {
  // Both majors drop a socket that received nothing for 30 s. A 3.x provider renews its awareness
  // every 15 s and relies on the server sending it back; a 4.x provider without awareness relies
  // on the server's application pings.
  const WATCH_MS = 36000
  const old = hp(plain, uniqueDoc('hp-keepalive-v3'), { version: 3 })
  const quiet = hp(plain, uniqueDoc('hp-keepalive-v4'), { awareness: null })
  await Promise.all([waitHpSynced(old), waitHpSynced(quiet)])
  old.provider.setAwarenessField('user', { name: 'lonely' })
  for (const c of [old, quiet]) c.doc.getText('text').insert(0, 'still here')
  await Promise.all([waitSaved(old), waitSaved(quiet)])
  const received = new Map([[old, []], [quiet, []]])
  for (const c of [old, quiet]) c.socket.on('message', () => received.get(c).push(Date.now()))

  // The duration of the quiet period is what is being tested, so this wait is a fixed one.
  await new Promise((resolve) => setTimeout(resolve, WATCH_MS))
  for (const c of [old, quiet]) {
    const label = `${c.version}.x`
    assert.deepEqual(c.closes, [], `${label}: the socket was closed`)
    assert.ok(received.get(c).length > 0, `${label}: the server sent something while the provider was quiet`)
    assert.equal(c.provider.isSynced, true, label)
    assert.deepEqual(c.authenticated, ['read-write'], `${label}: authenticated once (no reconnect)`)
    c.doc.getText('text').insert(0, 'and after: ')
  }
  await Promise.all([waitSaved(old), waitSaved(quiet)])
})

// 5. Tokens -----------------------------------------------------------------------------------

test('a write token: onAuthenticated with read-write, and edits work', async () => {
  const name = uniqueDoc('hp-auth-write')
  const token = mint(name, 'write')
  const a = hp(secured, name, { token })
  const b = hp(secured, name, { token })
  await Promise.all([waitHpSynced(a), waitHpSynced(b)])
  await waitUntil(() => a.authenticated.length && b.authenticated.length, { what: 'onAuthenticated' })
  assert.deepEqual(a.authenticated, ['read-write'])
  assert.equal(a.provider.authorizedScope, 'read-write')
  assert.equal(a.provider.isAuthenticated, true)

  a.doc.getText('text').insert(0, 'written with a token')
  await waitUntil(() => textOf(b) === 'written with a token', { what: 'the edit at the other writer' })
  b.doc.getText('text').insert(0, '> ')
  await waitUntil(() => textOf(a) === '> written with a token', { what: 'the answer at the first writer' })
  await Promise.all([waitSaved(a), waitSaved(b)])
  assert.equal(await storedText(secured, name, token), '> written with a token')
  for (const c of [a, b]) {
    assert.deepEqual(c.authFailures, [])
    assert.deepEqual(troubleFrames(c), [])
  }
})

test('a read token: scope readonly, its edits reach nobody and stay unsynced', async () => {
  const name = uniqueDoc('hp-auth-read')
  const write = mint(name, 'write')
  const writer = hp(secured, name, { token: write })
  const reader = hp(secured, name, { token: mint(name, 'read') })
  await Promise.all([waitHpSynced(writer), waitHpSynced(reader)])
  await waitUntil(() => reader.authenticated.length, { what: "the reader's onAuthenticated" })
  assert.deepEqual(reader.authenticated, ['readonly'])
  assert.equal(reader.provider.authorizedScope, 'readonly')

  writer.doc.getText('text').insert(0, 'hello')
  await waitUntil(() => textOf(reader) === 'hello', { what: "the writer's edit at the reader" })
  // Its handshake brought nothing new, so a Hocuspocus server acknowledges it: nothing unsynced.
  await waitSaved(reader)

  const before = syncStatuses(reader).length
  reader.doc.getText('text').insert(0, 'EVIL ')
  reader.doc.getMap('map').set('reader', 'was here')
  assert.equal(reader.provider.hasUnsyncedChanges, true)
  // the server answers each of the reader's updates with SyncStatus false
  await waitUntil(() => syncStatuses(reader).length >= before + 2, { what: "the server's answers to the reader's updates" })
  assert.deepEqual(syncStatuses(reader).slice(before), [false, false], 'SyncStatus for the read-only updates')

  // a later edit of the writer arrives at the reader: the reader's updates were handled before it
  writer.doc.getText('text').insert(5, ' world')
  await waitUntil(() => textOf(reader).includes('hello world'), { what: 'the next live edit at the reader' })
  await waitSaved(writer)
  assert.equal(textOf(writer), 'hello world', "the reader's edit reached the writer")
  assert.equal(writer.doc.getMap('map').size, 0)
  assert.equal(await storedText(secured, name, write), 'hello world')
  const late = hp(secured, name, { token: write })
  await waitHpSynced(late)
  assert.equal(textOf(late), 'hello world')
  assert.equal(late.doc.getMap('map').size, 0)

  assert.equal(reader.provider.hasUnsyncedChanges, true, 'the refused edits stay unsynced')
  assert.deepEqual(reader.authFailures, [])
  assert.deepEqual(reader.closes, [], 'the reader stays connected')
  assert.equal(reader.provider.isSynced, true)
})

test('refused tokens fail authentication; another document on the same socket still works', async (t) => {
  const nameA = uniqueDoc('hp-auth-wrongsecret')
  const nameB = uniqueDoc('hp-auth-otherdoc')
  const nameOk = uniqueDoc('hp-auth-ok')
  // documents that already hold something a refused provider must not get
  const writers = [nameA, nameB].map((n) => hp(secured, n, { token: mint(n, 'write') }))
  await Promise.all(writers.map((w) => waitHpSynced(w)))
  writers.forEach((w) => w.doc.getText('text').insert(0, `secret of ${w.name}`))
  await Promise.all(writers.map((w) => waitSaved(w)))

  const socket = shared(secured)
  const wrongSecret = hp(secured, nameA, { shared: socket, token: signToken({ secret: WRONG_SECRET, doc: nameA, mode: 'write' }) })
  const otherDoc = hp(secured, nameB, { shared: socket, token: mint(uniqueDoc('hp-auth-elsewhere'), 'write') })
  const ok = hp(secured, nameOk, { shared: socket, token: mint(nameOk, 'write') })
  const peer = hp(secured, nameOk, { token: mint(nameOk, 'write') })
  // and a provider without a token, on a socket of its own
  const anonymous = hp(secured, nameA)

  await waitUntil(() => wrongSecret.authFailures.length && otherDoc.authFailures.length && anonymous.authFailures.length,
    { what: 'onAuthenticationFailed for the refused tokens' })
  t.diagnostic(`reasons: ${JSON.stringify([wrongSecret, otherDoc, anonymous].map((c) => c.authFailures))}`)
  for (const refused of [wrongSecret, otherDoc, anonymous]) {
    assert.equal(typeof refused.authFailures[0], 'string')
    assert.ok(refused.authFailures[0].length > 0, 'a reason is given')
    assert.deepEqual(refused.authenticated, [])
    assert.equal(refused.provider.isAuthenticated, false)
  }

  // the good provider on the same socket works
  await Promise.all([waitHpSynced(ok), waitHpSynced(peer)])
  assert.deepEqual(ok.authenticated, ['read-write'])
  // the refused providers try to write
  wrongSecret.doc.getText('text').insert(0, 'EVIL ')
  otherDoc.doc.getText('text').insert(0, 'EVIL ')
  anonymous.doc.getText('text').insert(0, 'EVIL ')
  ok.doc.getText('text').insert(0, 'fine')
  await waitUntil(() => textOf(peer) === 'fine', { what: "the good provider's edit at its peer" })
  peer.doc.getText('text').insert(4, ', thanks')
  await waitUntil(() => textOf(ok) === 'fine, thanks', { what: "the peer's answer on the shared socket" })
  await waitSaved(ok)
  for (const w of writers) w.doc.getText('text').insert(0, '.')
  await Promise.all(writers.map((w) => waitSaved(w)))

  for (const refused of [wrongSecret, otherDoc, anonymous]) {
    assert.equal(refused.provider.isSynced, false, `${refused.name}: a refused provider is not synced`)
    assert.equal(textOf(refused), 'EVIL ', `${refused.name}: nothing of the document reached the refused provider`)
    assert.deepEqual(refused.frames.filter((f) => f.type === HP.SYNC || f.type === HP.AWARENESS || f.type === HP.SYNC_REPLY), [],
      `${refused.name}: no document content sent`)
  }
  for (const w of writers) {
    assert.equal(textOf(w), `.secret of ${w.name}`, `${w.name}: the refused edit did not reach the writer`)
    assert.equal(await storedText(secured, w.name, mint(w.name, 'read')), `.secret of ${w.name}`)
  }
  assert.deepEqual(socket.closes, [], 'the shared socket stays open')
  assert.deepEqual(troubleFrames(ok), [])
})

test('a token function keeps a provider authenticated past its first token\'s expiry', async (t) => {
  const name = uniqueDoc('hp-auth-refresh')
  const TTL = 3
  const issued = []
  const token = async () => {
    const fresh = signToken({ secret: SECRET, doc: name, mode: 'write', ttlSeconds: TTL })
    issued.push({ at: Date.now(), exp: expiryOf(fresh) })
    return fresh
  }
  const a = hp(secured, name, { token })
  const peer = hp(secured, name, { token: mint(name, 'write') })
  // The control: the same kind of token, given as a string, cannot be renewed and must expire.
  const fixed = hp(secured, name, { token: signToken({ secret: SECRET, doc: name, mode: 'write', ttlSeconds: TTL }) })
  await Promise.all([waitHpSynced(a), waitHpSynced(peer), waitHpSynced(fixed)])
  const firstExpiry = issued[0].exp * 1000

  // Keep editing, both ways, until well past the first token's expiry (and the server's leeway).
  const until = firstExpiry + EXPIRY_LEEWAY_MS + 2000
  let round = 0
  while (Date.now() < until) {
    round++
    a.doc.getText('text').insert(textOf(a).length, `a${round} `)
    await waitUntil(() => textOf(peer).includes(`a${round} `), { timeoutMs: 5000, what: `round ${round} at the peer` })
    peer.doc.getText('text').insert(textOf(peer).length, `p${round} `)
    await waitUntil(() => textOf(a).includes(`p${round} `), { timeoutMs: 5000, what: `round ${round} back at the token-function provider` })
    await waitSaved(a)
    // Pacing only: what is waited for is the clock passing the expiry, with edits all along.
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  t.diagnostic(`${round} rounds; ${issued.length} tokens issued; ${tokenRequests(a).length} token requests; ` +
    `Authenticated ${a.authenticated.length} times`)
  assert.ok(Date.now() > firstExpiry + EXPIRY_LEEWAY_MS, 'ran past the first token\'s expiry')
  assert.ok(tokenRequests(a).length >= 1, 'the server asked for a fresh token')
  assert.ok(issued.length >= 2, `the token function was called again (${issued.length} calls)`)
  assert.ok(issued.length <= 40, `no refresh storm: ${issued.length} tokens in ${TTL + 7} s`)
  assert.ok(issued.some((i) => i.exp * 1000 > Date.now()), 'a token still valid now was handed out')
  assert.deepEqual(a.authFailures, [])
  assert.deepEqual(troubleFrames(a), [])
  assert.deepEqual(a.closes, [], 'never disconnected')
  assert.equal(a.provider.isAuthenticated, true)
  assert.equal(await storedText(secured, name, mint(name, 'read')), textOf(a))

  // the control expired: told so, and its later edits go nowhere
  assert.ok(fixed.authFailures.length >= 1, 'the fixed short-lived token was refused at its expiry')
  t.diagnostic(`the fixed token's provider was told: ${JSON.stringify(fixed.authFailures)}`)
  fixed.doc.getText('text').insert(0, 'EXPIRED ')
  a.doc.getText('text').insert(0, 'last ')
  await waitUntil(() => textOf(peer).startsWith('last '), { what: 'a last edit at the peer' })
  await waitSaved(a)
  assert.ok(!textOf(peer).includes('EXPIRED'), 'an edit after expiry reached another client')
  assert.ok(!textOf(a).includes('EXPIRED'))
})

// 6. Stateless --------------------------------------------------------------------------------

test('POST /api/docs/{doc}/stateless reaches every provider of the document, and only those', async () => {
  const nameA = uniqueDoc('hp-stateless-a')
  const nameB = uniqueDoc('hp-stateless-b')
  const socket = shared(plain)
  const a1 = hp(plain, nameA, { shared: socket })
  const b1 = hp(plain, nameB, { shared: socket })
  const a2 = hp(plain, nameA)
  const a3 = hp(plain, nameA, { version: 3 })
  const b2 = hp(plain, nameB)
  await Promise.all([a1, b1, a2, a3, b2].map((c) => waitHpSynced(c)))

  const payloadA = JSON.stringify({ kind: 'comment-added', id: 42, text: 'naïve ✓ "quoted"\nline 2' })
  const payloadB = 'plain text for B'
  const resA = await postStateless(plain, nameA, payloadA)
  assert.equal(resA.status, 202, `POST stateless: ${resA.status} ${resA.text}`)
  assert.match(resA.contentType ?? '', /json/)
  JSON.parse(resA.text)
  const resB = await postStateless(plain, nameB, payloadB)
  assert.equal(resB.status, 202, `POST stateless: ${resB.status} ${resB.text}`)

  await waitUntil(() => [a1, a2, a3].every((c) => c.stateless.length >= 1) && [b1, b2].every((c) => c.stateless.length >= 1),
    { timeoutMs: 5000, what: 'the stateless messages at every provider' })
  for (const c of [a1, a2, a3]) assert.deepEqual(c.stateless, [payloadA], `${c.name} (${c.version}.x)`)
  for (const c of [b1, b2]) assert.deepEqual(c.stateless, [payloadB], `${c.name}`)
})

test('stateless with auth on: a write token is accepted, no token is refused', async () => {
  const name = uniqueDoc('hp-stateless-auth')
  const write = mint(name, 'write')
  const a = hp(secured, name, { token: write })
  await waitHpSynced(a)
  const refused = await postStateless(secured, name, 'no token')
  assert.equal(refused.status, 401, `without a token: ${refused.status} ${refused.text}`)
  const ok = await postStateless(secured, name, 'with a token', write)
  assert.equal(ok.status, 202, `with a write token: ${ok.status} ${ok.text}`)
  await waitUntil(() => a.stateless.length >= 1, { timeoutMs: 5000, what: 'the stateless message' })
  // the refused one, posted first, was not delivered
  assert.deepEqual(a.stateless, ['with a token'])
})

// 7. Two nodes on one PostgreSQL database -----------------------------------------------------

test('two nodes: a Hocuspocus provider on node 1 and a y-websocket provider on node 2 converge; stateless crosses', async (t) => {
  const db = freshPgDatabase('plait_js_hocuspocus')
  const nodes = [new PlaitServer({ databaseUrl: db.url }), new PlaitServer({ databaseUrl: db.url })]
  t.after(async () => {
    await Promise.all(nodes.map((node) => node.dispose()))
    db.drop()
  })
  await Promise.all(nodes.map((node) => node.start()))
  const name = uniqueDoc('hp-nodes')
  const h = hp(nodes[0], name)
  const w = yws(nodes[1], name)
  await Promise.all([waitHpSynced(h), waitSynced(w)])

  h.doc.getText('text').insert(0, 'node 1 ')
  await waitUntil(() => w.doc.getText('text').toString() === 'node 1 ', { what: 'the Hocuspocus edit at node 2' })
  w.doc.getText('text').insert(7, 'node 2')
  await waitUntil(() => textOf(h) === 'node 1 node 2', { what: 'the y-websocket edit at node 1' })
  await editConcurrently([h, w], 30)
  await waitConverged([h.doc, w.doc])
  await waitSaved(h)

  const payload = JSON.stringify({ from: 'node 2', n: 1 })
  const res = await postStateless(nodes[1], name, payload)
  assert.equal(res.status, 202, `POST stateless to node 2: ${res.status} ${res.text}`)
  await waitUntil(() => h.stateless.length >= 1, { timeoutMs: 10000, what: 'the stateless message from node 2 at node 1' })
  assert.deepEqual(h.stateless, [payload])

  // a Hocuspocus joiner on node 2 gets the same document
  const late = hp(nodes[1], name)
  await waitHpSynced(late)
  assert.deepEqual(encodedContentOf(late.doc), encodedContentOf(h.doc))
  assert.deepEqual(troubleFrames(h), [])
  assert.deepEqual(h.closes, [])
  for (const c of [h, late]) closeHp(c)
  closeClient(w); wsClients.delete(w)
})
