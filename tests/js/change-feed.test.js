// The change feed as a consumer uses it: the `eventsource` package on /api/changes/stream, one
// consumer from the start and one that starts after compactions and loses its connection
// halfway (EventSource resumes with Last-Event-ID), while three stock clients edit two documents
// on two nodes. Both rebuild every document equal to GET /api/docs/{doc}/update.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { EventSource } from 'eventsource'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient, types, encodedContentOf, canonicalJson, tick } from './lib/clients.js'
import { psql, freshPgDatabase } from './lib/database.js'

/** A consumer: applies every change to a Y.Doc per document name. */
const consume = (url, { dropAfter = 0 } = {}) => {
  const consumer = { docs: new Map(), kinds: [], cursors: [], resumedWith: [], errors: 0, failures: [] }
  let drop = null
  let received = 0
  // The connection "breaks" (a network error, not an abort: EventSource does not reconnect
  // after its own close) after `dropAfter` changes; the server's side is cancelled too.
  const fetchWithDrop = async (input, init) => {
    const lastId = init?.headers?.['Last-Event-ID']
    if (lastId) consumer.resumedWith.push({ lastId, seen: consumer.cursors.at(-1) })
    const response = await fetch(input, init)
    let broken = null
    const relay = new TransformStream({ start (controller) { broken = controller } })
    const source = response.body
    drop = () => {
      broken.error(new TypeError('connection lost'))
      source.cancel().catch(() => {})
    }
    source.pipeTo(relay.writable).catch(() => {})
    return new Response(relay.readable, { status: response.status, headers: response.headers })
  }
  consumer.source = new EventSource(url, { fetch: fetchWithDrop })
  consumer.source.onerror = () => { consumer.errors++ }
  consumer.source.onmessage = (event) => {
    try {
      apply(event)
    } catch (err) {
      // Thrown out of the handler it would stop the EventSource reading: kept for the test.
      consumer.failures.push(err)
    }
  }
  const apply = (event) => {
    const change = JSON.parse(event.data)
    assert.equal(event.lastEventId, change.cursor, 'the event id is its cursor')
    let doc = consumer.docs.get(change.doc)
    if (!doc) consumer.docs.set(change.doc, (doc = new Y.Doc()))
    Y.applyUpdate(doc, Buffer.from(change.update, 'base64'))
    consumer.kinds.push(change.kind)
    consumer.cursors.push(BigInt(change.cursor))
    received++
    if (dropAfter && received === dropAfter) drop()
  }
  return consumer
}

const stateOf = async (node, name) => {
  const res = await fetch(`${node.httpUrl}/api/docs/${encodeURIComponent(name)}/update`)
  assert.equal(res.status, 200)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await res.arrayBuffer()))
  return canonicalJson(encodedContentOf(doc))
}

test('SSE consumers rebuild every document while two nodes edit and compact', async (t) => {
  const db = freshPgDatabase('plait_js_feed')
  const env = { PLAIT_SNAPSHOT_THRESHOLD: '10' }
  const nodes = [new PlaitServer({ databaseUrl: db.url, env }), new PlaitServer({ databaseUrl: db.url, env })]
  const clients = []
  const consumers = []
  t.after(async () => {
    consumers.forEach((c) => c.source.close())
    clients.forEach(closeClient)
    await Promise.all(nodes.map((node) => node.dispose()))
    db.drop()
  })
  await Promise.all(nodes.map((node) => node.start()))
  const names = [uniqueDoc('feed-one'), uniqueDoc('feed-two')]
  const a = connectClient(nodes[0], names[0])
  const b = connectClient(nodes[1], names[0])
  const c = connectClient(nodes[1], names[1])
  clients.push(a, b, c)
  await Promise.all(clients.map((client) => waitSynced(client)))
  const first = consume(`${nodes[0].httpUrl}/api/changes/stream`)
  consumers.push(first)

  const edit = async (rounds) => {
    for (let i = 0; i < rounds; i++) {
      types(a.doc).text.insert(0, `a${i} `)
      types(b.doc).map.set(`b${i}`, i)
      types(c.doc).text.insert(types(c.doc).text.length, `c${i} `)
      if (i % 10 === 0) types(b.doc).xml.insert(0, [new Y.XmlElement('p')])
      await new Promise((resolve) => setTimeout(resolve, 5))
      await tick()
    }
  }
  await edit(120)
  await waitUntil(() => Number(psql(db.url, 'SELECT coalesce(max(snapshot_seq), 0) FROM documents')) > 0,
    { what: 'a compaction', timeoutMs: 20000 })

  // Starts after rows were folded into snapshots, and loses its connection after 5 changes.
  const second = consume(`${nodes[1].httpUrl}/api/changes/stream`, { dropAfter: 5 })
  consumers.push(second)
  await edit(80)

  for (const consumer of [first, second]) {
    const describe = async () => {
      const lines = [`events ${consumer.kinds.length} (${[...new Set(consumer.kinds)]}), errors ${consumer.errors}, failures ${consumer.failures.map((e) => e.stack).join('; ')}, resumed ${JSON.stringify(consumer.resumedWith, (k, v) => typeof v === 'bigint' ? String(v) : v)}`]
      for (const name of names) {
        const doc = consumer.docs.get(name)
        lines.push(`${name}: consumer ${doc ? canonicalJson(encodedContentOf(doc)).slice(0, 300) : 'none'}\n   server ${(await stateOf(nodes[0], name)).slice(0, 300)}`)
      }
      return lines.join('\n')
    }
    await waitUntil(async () => {
      for (const name of names) {
        const doc = consumer.docs.get(name)
        if (!doc || canonicalJson(encodedContentOf(doc)) !== await stateOf(nodes[0], name)) return false
      }
      return true
    }, { what: 'a consumer to rebuild every document', timeoutMs: 20000 }).catch(async (err) => {
      err.message += '\n' + await describe()
      throw err
    })
    const sorted = [...consumer.cursors].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
    assert.deepEqual(consumer.cursors, sorted, 'changes arrive in cursor order')
    assert.equal(new Set(consumer.cursors).size, consumer.cursors.length, 'no change twice')
  }
  assert.ok(second.kinds.includes('snapshot'), 'a consumer starting after compaction gets snapshots')
  assert.ok(second.resumedWith.length >= 1, 'the consumer reconnected with Last-Event-ID')
  assert.equal(second.resumedWith[0].lastId, String(second.resumedWith[0].seen), 'resumed after the last change it saw')
  assert.ok(second.cursors.length > 5, 'and went on after the reconnect')
  for (const name of names) {
    assert.equal(await stateOf(nodes[1], name), await stateOf(nodes[0], name))
  }
})

test('GET /api/changes pages with cursors, limits and prefixes', async (t) => {
  const server = new PlaitServer()
  t.after(() => server.dispose())
  await server.start()
  const prefix = uniqueDoc('pages')
  for (const [i, name] of [`${prefix}/a`, `${prefix}/b`, `${prefix}-other`].entries()) {
    const doc = new Y.Doc()
    doc.getText('text').insert(0, `doc ${i}`)
    const res = await fetch(`${server.httpUrl}/api/docs/${encodeURIComponent(name)}/update`, {
      method: 'POST', body: Y.encodeStateAsUpdate(doc), headers: { 'content-type': 'application/octet-stream' }
    })
    assert.equal(res.status, 200)
  }
  const page = async (query) => {
    const res = await fetch(`${server.httpUrl}/api/changes?${query}`)
    return { status: res.status, body: await res.json() }
  }
  const all = await page(`prefix=${encodeURIComponent(prefix + '/')}`)
  assert.equal(all.status, 200)
  assert.deepEqual(all.body.changes.map((c) => c.doc), [`${prefix}/a`, `${prefix}/b`])
  for (const change of all.body.changes) {
    assert.equal(change.kind, 'update')
    assert.equal(typeof change.cursor, 'string')
    assert.ok(!Number.isNaN(Date.parse(change.at)), 'at is a date')
  }
  const one = await page(`prefix=${encodeURIComponent(prefix + '/')}&limit=1`)
  assert.equal(one.body.changes.length, 1)
  const rest = await page(`prefix=${encodeURIComponent(prefix + '/')}&after=${one.body.next}`)
  assert.deepEqual(rest.body.changes.map((c) => c.doc), [`${prefix}/b`])
  const end = await page(`prefix=${encodeURIComponent(prefix + '/')}&after=${rest.body.next}`)
  assert.deepEqual(end.body.changes, [])
  assert.equal(end.body.next, rest.body.next, 'an empty page keeps the cursor')
  assert.equal((await page('after=nope')).status, 400)
  assert.equal((await page('limit=0')).status, 400)
})
