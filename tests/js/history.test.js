// A document's past, tried with stock `yjs` + `y-websocket` clients against the plait binary:
//
//  - attribution: with authentication on, each stored change names the token `sub` that wrote
//    it (`GET /api/docs/{doc}/history`), and a version lists who changed the document since the
//    version before it (`authors`), also after compaction moved the rows out of the log;
//  - `GET /api/docs/{doc}/update?at=POSITION` and `?at=RFC3339` at several points equal the
//    text the clients saw then, across compactions (`--snapshot-threshold 2`);
//  - `POST /api/docs/{doc}/restore?at=` makes the content what it was then, live in the open
//    providers, undoable with the `undo_version` it answers;
//  - `--history-retention 3s`: positions and times older than the window answer 410, named
//    versions stay, automatic ones go, and the current state is whole.
//
//   cargo build --release -p plait-server
//   cd tests/js && PLAIT_BIN=../../target/release/plait node --test history.test.js
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectCounting, waitSynced, closeClient } from './lib/clients.js'
import { request, docPath, query } from './lib/api.js'
import { signToken } from './lib/hocuspocus.js'

const SECRET = 'js-history-secret-0123456789abcdef-0123456789abcdef'
const open = []
const servers = []
after(async () => {
  open.forEach(closeClient)
  await Promise.all(servers.map((s) => s.dispose()))
})

const start = async (options) => {
  const server = new PlaitServer(options)
  servers.push(server)
  await server.start()
  return server
}

const connect = (server, name, token) => {
  const client = connectCounting(server, encodeURIComponent(name), token ? { token } : undefined)
  open.push(client)
  return client
}

const textOf = (ydoc) => ydoc.getText('text').toString()

/** `GET .../update` (with `?at=`) as `{ status, text, position, what }`. */
const stateAt = async (server, name, at, token) => {
  const headers = token ? { Authorization: `Bearer ${token}` } : {}
  const path = `${docPath(name)}/update${query({ at })}`
  const res = await fetch(server.httpUrl + path, { headers, signal: AbortSignal.timeout(10000) })
  const body = new Uint8Array(await res.arrayBuffer())
  const what = `GET ${path} -> ${res.status} ${res.status === 200 ? '' : Buffer.from(body).toString()}`
  if (res.status !== 200) return { status: res.status, what }
  const ydoc = new Y.Doc()
  Y.applyUpdate(ydoc, body)
  return { status: 200, text: textOf(ydoc), position: Number(res.headers.get('plait-position')), what }
}

/** The document's history rows, every page. */
const historyOf = async (server, name, token) => {
  const rows = []
  let after
  for (let i = 0; i < 100; i++) {
    const res = await request(server, 'GET', `${docPath(name)}/history${query({ after, limit: 1000 })}`, { token })
    assert.equal(res.status, 200, res.what)
    if (res.json.changes.length === 0) return rows
    rows.push(...res.json.changes)
    after = res.json.next
  }
  throw new Error('the history never ended')
}

/** Waits until the server holds `expected` as the text (the edit is stored and applied). */
const untilServerText = (server, name, expected, token) =>
  waitUntil(async () => (await stateAt(server, name, undefined, token)).text === expected,
    { timeoutMs: 10000, what: `the server to hold ${JSON.stringify(expected)}` })

/** The last position the document holds (`GET /api/docs/{doc}`'s `last_seq`), once stored. */
const lastSeq = async (server, name, token) => {
  const res = await request(server, 'GET', docPath(name), { token })
  assert.equal(res.status, 200, res.what)
  return res.json.last_seq
}

test('each change names its token sub, and a version names who changed it since the one before', async () => {
  const server = await start({ env: { PLAIT_AUTH_SECRET: SECRET }, args: ['--snapshot-threshold', '2'] })
  const name = uniqueDoc('attribution')
  const token = (sub) => signToken({ secret: SECRET, doc: name, mode: 'write', sub })
  const alice = connect(server, name, token('alice'))
  const bob = connect(server, name, token('bob'))
  await Promise.all([waitSynced(alice), waitSynced(bob)])
  const admin = signToken({ secret: SECRET, doc: '*', mode: 'write', sub: 'admin' })

  alice.doc.getText('text').insert(0, 'alice wrote this. ')
  await untilServerText(server, name, 'alice wrote this. ', admin)
  const first = await request(server, 'POST', `${docPath(name)}/versions`, { token: admin, json: { name: 'after alice' } })
  assert.equal(first.status, 201, first.what)
  assert.deepEqual(first.json.authors, [{ sub: 'alice', via: 'ws' }], first.what)

  const bobText = bob.doc.getText('text')
  bobText.insert(bobText.length, 'bob added this.')
  await untilServerText(server, name, 'alice wrote this. bob added this.', admin)
  // Three or more stored rows with the threshold at 2: the log is compacted meanwhile (the rows
  // go to the history with their authors).
  for (let i = 0; i < 4; i++) {
    bobText.insert(bobText.length, '.')
    await untilServerText(server, name, 'alice wrote this. bob added this.' + '.'.repeat(i + 1), admin)
  }
  const second = await request(server, 'POST', `${docPath(name)}/versions`, { token: admin, json: { name: 'after bob' } })
  assert.equal(second.status, 201, second.what)
  assert.deepEqual(second.json.authors, [{ sub: 'bob', via: 'ws' }], `only who changed it since "after alice": ${second.what}`)

  const rows = await historyOf(server, name, admin)
  const updates = rows.filter((r) => r.kind === 'update')
  assert.ok(updates.length >= 6, JSON.stringify(rows))
  const subs = updates.map((r) => (r.authors ?? []).map((a) => a.sub).join('+'))
  assert.equal(subs[0], 'alice', JSON.stringify(rows))
  assert.ok(subs.slice(1).every((s) => s === 'bob'), JSON.stringify(rows))
  for (const r of updates) {
    assert.ok(Number.isInteger(r.seq) && r.bytes > 0 && !Number.isNaN(Date.parse(r.at)), JSON.stringify(r))
  }
  const stats = await request(server, 'GET', docPath(name), { token: admin })
  assert.ok(stats.json.snapshot_seq > 0, `compacted meanwhile: ${stats.what}`)
  const listed = await request(server, 'GET', `${docPath(name)}/versions`, { token: admin })
  assert.deepEqual(listed.json.versions.map((v) => v.authors), [[{ sub: 'alice', via: 'ws' }], [{ sub: 'bob', via: 'ws' }]], listed.what)
})

test('?at= a position or a time gives the text the clients saw then, across compactions', async () => {
  const server = await start({ args: ['--snapshot-threshold', '2'] })
  const name = uniqueDoc('at')
  const a = connect(server, name)
  const b = connect(server, name)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const points = []
  const steps = ['one', ' two', ' three', ' four', ' five', ' six']
  for (const [i, step] of steps.entries()) {
    const writer = i % 2 === 0 ? a : b
    const text = writer.doc.getText('text')
    text.insert(text.length, step)
    const expected = textOf(writer.doc)
    await waitUntil(() => textOf(a.doc) === expected && textOf(b.doc) === expected, { timeoutMs: 10000, what: 'both clients see the step' })
    await untilServerText(server, name, expected)
    const seq = await waitUntil(async () => { const s = await lastSeq(server, name); return s > (points.at(-1)?.seq ?? 0) && s },
      { timeoutMs: 10000, what: 'the step stored' })
    await delay(30)
    points.push({ seq, time: new Date().toISOString(), text: expected })
    await delay(30)
  }
  const stats = await request(server, 'GET', docPath(name))
  assert.ok(stats.json.snapshot_seq > points[0].seq, `compacted past the first steps: ${stats.what}`)

  for (const point of points) {
    const byPosition = await stateAt(server, name, point.seq)
    assert.equal(byPosition.status, 200, byPosition.what)
    assert.equal(byPosition.text, point.text, `at=${point.seq}`)
    assert.equal(byPosition.position, point.seq)
    const byTime = await stateAt(server, name, point.time)
    assert.equal(byTime.status, 200, byTime.what)
    assert.equal(byTime.text, point.text, `at=${point.time}`)
    assert.equal(byTime.position, point.seq)
  }
  const before = await stateAt(server, name, new Date(Date.now() - 3600e3).toISOString())
  assert.equal(before.text, '', `before the first edit: ${before.what}`)
  for (const bad of ['yesterday', '-1', '2026-13-45T00:00:00Z']) {
    const res = await stateAt(server, name, bad)
    assert.equal(res.status, 400, res.what)
  }
  assert.equal((await stateAt(server, uniqueDoc('never'), 1)).status, 404)
  assert.deepEqual([a.attempts, b.attempts], [1, 1], 'nobody reconnected')
})

test('restore ?at= brings the text back live, and its undo_version undoes it', async () => {
  const server = await start({ args: ['--snapshot-threshold', '2'] })
  const name = uniqueDoc('restore-at')
  const a = connect(server, name)
  const b = connect(server, name)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const text = a.doc.getText('text')
  text.insert(0, 'the good draft')
  await untilServerText(server, name, 'the good draft')
  // The server holds an edit before it is stored: its position is the first one after.
  const good = await waitUntil(async () => { const s = await lastSeq(server, name); return s > 0 && s }, { timeoutMs: 10000, what: 'the draft stored' })
  text.delete(0, text.length)
  text.insert(0, 'half of it deleted')
  await untilServerText(server, name, 'half of it deleted')

  const res = await request(server, 'POST', `${docPath(name)}/restore${query({ at: good })}`)
  assert.equal(res.status, 200, res.what)
  assert.deepEqual(Object.keys(res.json).sort(), ['applied', 'at', 'durable', 'seq', 'undo_version'], res.what)
  assert.equal(res.json.at, good)
  assert.ok(res.json.seq > good)
  await waitUntil(() => textOf(a.doc) === 'the good draft' && textOf(b.doc) === 'the good draft', { timeoutMs: 10000, what: 'the restore, live at A and B' })

  const undo = await request(server, 'POST', `${docPath(name)}/versions/${res.json.undo_version}/restore`)
  assert.equal(undo.status, 200, undo.what)
  await waitUntil(() => textOf(a.doc) === 'half of it deleted' && textOf(b.doc) === 'half of it deleted', { timeoutMs: 10000, what: 'the undo, live' })
  assert.deepEqual([a.attempts, b.attempts], [1, 1], 'nobody reconnected')

  assert.equal((await request(server, 'POST', `${docPath(name)}/restore`)).status, 400, 'at= is required')
  assert.equal((await request(server, 'POST', `${docPath(name)}/restore?at=nonsense`)).status, 400)
})

test('--history-retention 3s: older points answer 410, named versions stay, automatic ones go', async () => {
  const server = await start({ args: ['--history-retention', '3s', '--snapshot-threshold', '2', '--version-interval', '1s'] })
  const name = uniqueDoc('retention')
  const a = connect(server, name)
  await waitSynced(a)
  const text = a.doc.getText('text')
  const seqs = []
  for (const step of ['old', ' older', ' oldest']) {
    text.insert(text.length, step)
    await untilServerText(server, name, textOf(a.doc))
    seqs.push(await waitUntil(async () => { const s = await lastSeq(server, name); return s > (seqs.at(-1) ?? 0) && s }, { timeoutMs: 10000, what: 'stored' }))
  }
  const early = await stateAt(server, name, seqs[0])
  assert.equal(early.text, 'old', `inside the window: ${early.what}`)
  const versionsOf = async () => (await request(server, 'GET', `${docPath(name)}/versions`)).json.versions
  await waitUntil(async () => (await versionsOf()).some((v) => v.kind === 'auto'), { timeoutMs: 10000, what: 'an automatic version' })
  const named = await request(server, 'POST', `${docPath(name)}/versions`, { json: { name: 'keep me' } })
  assert.equal(named.status, 201, named.what)
  const oldTime = new Date().toISOString()

  // Past the window: the rows and the automatic versions are folded by the sweep.
  await waitUntil(async () => (await stateAt(server, name, seqs[0])).status === 410, { timeoutMs: 15000, intervalMs: 250, what: 'the first position pruned' })
  const gone = await stateAt(server, name, seqs[0])
  assert.match(gone.what, /history/)
  await waitUntil(async () => (await versionsOf()).every((v) => v.kind === 'named'), { timeoutMs: 15000, intervalMs: 250, what: 'the automatic versions pruned' })
  await waitUntil(async () => (await stateAt(server, name, oldTime)).status === 410, { timeoutMs: 15000, intervalMs: 250, what: 'a time older than the window refused' })
  const versions = await versionsOf()
  assert.deepEqual(versions.map((v) => [v.kind, v.name]), [['named', 'keep me']], JSON.stringify(versions))
  const kept = await fetch(`${server.httpUrl}${docPath(name)}/versions/${named.json.id}/update`)
  assert.equal(kept.status, 200)
  const now = await stateAt(server, name, undefined)
  assert.equal(now.text, 'old older oldest', 'the current state is whole')
  const latest = await stateAt(server, name, seqs[2])
  assert.equal(latest.text, 'old older oldest', `the last position is still readable (${latest.what})`)
})
