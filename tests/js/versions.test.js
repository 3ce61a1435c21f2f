// Versions of a document (whole states at log positions), tried with stock `yjs` + `y-websocket`
// (+ `y-prosemirror` with Tiptap 3's schema) against the plait binary:
//
//  - `POST /api/docs/{doc}/versions` cuts a named version of what the server holds; it is listed
//    (`GET .../versions`, oldest first), readable as a Yjs update (`.../versions/{id}/update`)
//    and as JSON (`.../versions/{id}/json`, `?field=&format=` as `GET .../json`), and deletable;
//  - `POST .../versions/{id}/restore` makes the content the version's as a new edit: connected
//    WebsocketProviders receive it live (no reconnect), and restoring the `undo_version` it
//    answers with undoes it;
//  - a provider that was offline while a restore happened reconnects, converges with everybody
//    without an error, and keeps what it typed offline;
//  - every root type comes back exactly: Y.Text with formatting and embeds (`toDelta()`), Y.Map
//    and Y.Array with nested Y.Map / Y.Array / Y.Text (still shared types, their texts with
//    their formatting), a Y.XmlFragment written by y-prosemirror with Tiptap's schema
//    (`yXmlFragmentToProsemirrorJSON`); roots created after the version are emptied;
//  - with `--version-interval 1s` an automatic version is cut after an edit, and none while the
//    document stays unchanged.
//
//   cargo build --release -p plait-server
//   cd tests/js && PLAIT_BIN=../../target/release/plait node --test versions.test.js
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import { setTimeout as delay } from 'node:timers/promises'
import * as Y from 'yjs'
import { PlaitServer, uniqueDoc, waitUntil } from './lib/server.js'
import { connectCounting, waitSynced, closeClient, canonicalJson } from './lib/clients.js'
import { request, docPath, query } from './lib/api.js'
import { schema, writePm, pmJson, newMeta, doc, p, t, h, ul, li, quote, code, br, img, link } from './lib/prosemirror.js'

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

/** A stock WebsocketProvider on document `name` (the room is the percent-encoded name). */
const connect = (name, target = server) => {
  const client = connectCounting(target, encodeURIComponent(name))
  client.errors = []
  client.provider.on('connection-error', (e) => client.errors.push(e?.message ?? String(e)))
  open.push(client)
  return client
}
const disconnect = (client) => {
  const i = open.indexOf(client)
  if (i >= 0) open.splice(i, 1)
  closeClient(client)
}

const versionsPath = (name) => `${docPath(name)}/versions`
const versionPath = (name, id) => `${versionsPath(name)}/${id}`

/** Sends a request that must answer `status`; returns the response. */
const expectStatus = async (method, path, status, opts, target = server) => {
  const res = await request(target, method, path, opts)
  assert.equal(res.status, status, res.what)
  return res
}

const listVersions = async (name, target = server) =>
  (await expectStatus('GET', versionsPath(name), 200, undefined, target)).json.versions

/** `POST .../versions` with a name: 201 and the version. */
const saveVersion = async (name, label) => {
  const res = await expectStatus('POST', versionsPath(name), 201, { json: { name: label } })
  return res.json
}

/** A version's state (`GET .../versions/{id}/update`) in a fresh Y.Doc. */
const versionDoc = async (name, id, target = server) => {
  const res = await fetch(`${target.httpUrl}${versionPath(name, id)}/update`, { signal: AbortSignal.timeout(10000) })
  const body = new Uint8Array(await res.arrayBuffer())
  assert.equal(res.status, 200, `GET ${versionPath(name, id)}/update -> ${res.status} ${Buffer.from(body).toString()}`)
  const ydoc = new Y.Doc()
  Y.applyUpdate(ydoc, body)
  return { ydoc, bytes: body.length }
}

/** The document as the server holds it now (`GET .../update`) in a fresh Y.Doc. */
const serverDoc = async (name, target = server) => {
  const { status, body } = await target.fetchState(name)
  assert.equal(status, 200, `GET ${docPath(name)}/update -> ${status}`)
  const ydoc = new Y.Doc()
  Y.applyUpdate(ydoc, body)
  return ydoc
}

/** `POST .../versions/{id}/restore`: 200 with exactly what the interface promises. */
const restore = async (name, id) => {
  const res = await expectStatus('POST', `${versionPath(name, id)}/restore`, 200)
  const body = res.json
  assert.deepEqual(Object.keys(body).sort(), ['applied', 'durable', 'seq', 'undo_version', 'version'], res.what)
  assert.equal(body.applied, true, res.what)
  assert.equal(body.durable, true, res.what)
  assert.equal(body.version, id, res.what)
  assert.ok(Number.isInteger(body.seq) && body.seq > 0, res.what)
  assert.ok(Number.isInteger(body.undo_version) && body.undo_version !== id, res.what)
  return body
}

/** A Y.Text's delta as plain JSON. */
const deltaOf = (ytext) => JSON.parse(JSON.stringify(ytext.toDelta()))

/**
 * A value with every shared type spelled out: a Y.Map, Y.Array or Y.Text shows as such (so a
 * nested type that came back as plain JSON compares unequal), a text with its formatting.
 */
const shape = (v) => {
  if (v instanceof Y.XmlFragment || v instanceof Y.XmlElement || v instanceof Y.XmlText) return { xml: v.toString() }
  if (v instanceof Y.Text) return { 'Y.Text': deltaOf(v) }
  if (v instanceof Y.Map) return { 'Y.Map': Object.fromEntries([...v.entries()].map(([k, x]) => [k, shape(x)])) }
  if (v instanceof Y.Array) return { 'Y.Array': v.toArray().map(shape) }
  return v
}

/** Polls until `read()` deep-equals `expected` (bounded); on timeout fails with the last value. */
const untilEqual = async (read, expected, what, timeoutMs = 10000) => {
  let last
  try {
    await waitUntil(async () => isDeepStrictEqual((last = await read()), expected), { timeoutMs, what })
  } catch (err) {
    assert.deepEqual(last, expected, `${what} (timed out after ${timeoutMs} ms)`)
    throw err
  }
}

/** Waits until the server holds what `ydoc` holds, as seen through `snapshot`. */
const untilServerHas = (name, ydoc, snapshot, target = server) =>
  untilEqual(async () => snapshot(await serverDoc(name, target)), snapshot(ydoc), `the server to hold ${name}'s edits`)

// ---- named versions ------------------------------------------------------------------------------

test('a named version is listed, readable as an update and as JSON, and deletable', async () => {
  // A `/` and non-ASCII in the name: one percent-encoded path segment.
  const name = `${uniqueDoc('versions')}/team notes ✓`
  const client = connect(name)
  await waitSynced(client)
  const text = client.doc.getText('text')
  const meta = client.doc.getMap('meta')
  client.doc.transact(() => {
    text.insert(0, 'first draft')
    meta.set('status', 'draft')
    meta.set('round', 1)
  })
  const snap = (d) => ({ text: d.getText('text').toString(), meta: d.getMap('meta').toJSON() })
  await untilServerHas(name, client.doc, snap)
  assert.deepEqual(await listVersions(name), [], 'no version yet (the automatic interval is 10 minutes)')

  const before = Date.now()
  const v1 = await saveVersion(name, 'before review')
  assert.equal(v1.kind, 'named')
  assert.equal(v1.name, 'before review')
  assert.ok(Number.isInteger(v1.id), JSON.stringify(v1))
  const stats = (await expectStatus('GET', docPath(name), 200)).json
  assert.equal(v1.seq, stats.last_seq, `the version reflects the latest log position: ${JSON.stringify(v1)} vs ${JSON.stringify(stats)}`)
  assert.ok(Math.abs(Date.parse(v1.created_at) - before) < 60_000, `created_at is now: ${v1.created_at}`)
  assert.equal(v1.created_by, null, 'no token, no creator')
  const { ydoc: at1, bytes } = await versionDoc(name, v1.id)
  assert.equal(v1.bytes, bytes, 'bytes is the size of the version\'s state')
  assert.deepEqual(snap(at1), { text: 'first draft', meta: { status: 'draft', round: 1 } })

  // Edits after the version do not change it.
  client.doc.transact(() => {
    text.delete(0, 5)
    text.insert(0, 'second')
    meta.set('status', 'in review')
    meta.delete('round')
  })
  await untilServerHas(name, client.doc, snap)
  const v2 = await saveVersion(name, 'in review')
  assert.ok(v2.seq > v1.seq, `${v2.seq} > ${v1.seq}`)
  const list = await listVersions(name)
  assert.deepEqual(list.map((v) => [v.id, v.kind, v.name]), [[v1.id, 'named', 'before review'], [v2.id, 'named', 'in review']], 'oldest first')
  assert.deepEqual(list[0], v1, 'the list shows the version as POST answered it')
  assert.deepEqual(snap((await versionDoc(name, v1.id)).ydoc), { text: 'first draft', meta: { status: 'draft', round: 1 } })
  assert.deepEqual(snap((await versionDoc(name, v2.id)).ydoc), { text: 'second draft', meta: { status: 'in review' } })

  // As JSON, like GET .../json renders the live document.
  const jsonPath = (id, params = {}) => `${versionPath(name, id)}/json${query(params)}`
  assert.deepEqual((await expectStatus('GET', jsonPath(v1.id), 200)).json, { text: 'first draft', meta: { status: 'draft', round: 1 } })
  assert.equal((await expectStatus('GET', jsonPath(v1.id, { field: 'text', format: 'text' }), 200)).json, 'first draft')
  assert.deepEqual((await expectStatus('GET', jsonPath(v2.id, { field: 'meta' }), 200)).json, { status: 'in review' })
  assert.deepEqual((await expectStatus('GET', `${docPath(name)}/json`, 200)).json, { text: 'second draft', meta: { status: 'in review' } })

  // Deleting one leaves the other.
  await expectStatus('DELETE', versionPath(name, v1.id), 204)
  assert.deepEqual((await listVersions(name)).map((v) => v.id), [v2.id])
  await expectStatus('GET', `${versionPath(name, v1.id)}/update`, 404)
  await expectStatus('GET', jsonPath(v1.id), 404)
  await expectStatus('POST', `${versionPath(name, v1.id)}/restore`, 404)
  await expectStatus('DELETE', versionPath(name, v1.id), 404)
  // Nothing of this touched the live document.
  assert.deepEqual(snap(await serverDoc(name)), { text: 'second draft', meta: { status: 'in review' } })
  assert.deepEqual(snap(client.doc), { text: 'second draft', meta: { status: 'in review' } })
  assert.equal(client.attempts, 1)
  disconnect(client)
})

// ---- restore, live and undoable --------------------------------------------------------------------

test('a restore reaches connected providers live, and restoring its undo_version undoes it', async () => {
  const name = uniqueDoc('restore-live')
  const a = connect(name)
  const b = connect(name)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const snap = (d) => ({ text: d.getText('text').toString(), map: d.getMap('map').toJSON() })
  a.doc.transact(() => {
    a.doc.getText('text').insert(0, 'the reviewed text')
    a.doc.getMap('map').set('state', 'reviewed')
  })
  const reviewed = snap(a.doc)
  await untilEqual(() => snap(b.doc), reviewed, 'A\'s edit at B')
  await untilServerHas(name, a.doc, snap)
  const version = await saveVersion(name, 'reviewed')

  // B changes everything.
  b.doc.transact(() => {
    const text = b.doc.getText('text')
    text.delete(0, text.length)
    text.insert(0, 'rewritten by B')
    b.doc.getMap('map').set('state', 'rewritten')
    b.doc.getMap('map').set('extra', true)
  })
  const rewritten = snap(b.doc)
  await untilEqual(() => snap(a.doc), rewritten, 'B\'s edit at A')
  await untilServerHas(name, b.doc, snap)

  const restored = await restore(name, version.id)
  await untilEqual(() => snap(a.doc), reviewed, 'the restored content at A, live')
  await untilEqual(() => snap(b.doc), reviewed, 'the restored content at B, live')
  assert.deepEqual(snap(await serverDoc(name)), reviewed, 'the server holds the restored content')
  const stats = (await expectStatus('GET', docPath(name), 200)).json
  assert.ok(stats.last_seq >= restored.seq, `the restore is in the log: ${JSON.stringify(stats)} vs seq ${restored.seq}`)

  // The version cut just before the restore is listed as `restore` and holds what it replaced.
  const undo = (await listVersions(name)).find((v) => v.id === restored.undo_version)
  assert.ok(undo, `undo_version ${restored.undo_version} is listed`)
  assert.equal(undo.kind, 'restore')
  assert.deepEqual(snap((await versionDoc(name, undo.id)).ydoc), rewritten)

  // Restoring it undoes the restore, live again.
  const undone = await restore(name, undo.id)
  assert.ok(undone.seq > restored.seq)
  await untilEqual(() => snap(a.doc), rewritten, 'the undone restore at A')
  await untilEqual(() => snap(b.doc), rewritten, 'the undone restore at B')
  assert.deepEqual(snap(await serverDoc(name)), rewritten)

  // Editing goes on on top of it, both ways.
  a.doc.getText('text').insert(0, '» ')
  await untilEqual(() => b.doc.getText('text').toString(), '» rewritten by B', 'A\'s later edit at B')
  assert.deepEqual([a.attempts, b.attempts], [1, 1], 'nobody reconnected')
  assert.deepEqual([a.closes, b.closes], [[], []], 'nobody was disconnected')
  assert.deepEqual([a.errors, b.errors], [[], []])
  disconnect(a)
  disconnect(b)
})

test('a provider offline during a restore converges when it reconnects and keeps its offline edit', async () => {
  const name = uniqueDoc('restore-offline')
  const online = connect(name)
  const offline = connect(name)
  await Promise.all([waitSynced(online), waitSynced(offline)])
  const snap = (d) => ({ text: d.getText('text').toString(), map: d.getMap('map').toJSON(), pm: pmJson(d) })
  const pmMeta = newMeta()
  online.doc.transact(() => {
    online.doc.getText('text').insert(0, 'version text')
    online.doc.getMap('map').set('k', 'version')
  })
  writePm(online.doc, 'default', doc(p(t('version paragraph'))), pmMeta)
  await untilServerHas(name, online.doc, snap)
  const version = await saveVersion(name, 'v')
  online.doc.transact(() => {
    const text = online.doc.getText('text')
    text.delete(0, text.length)
    text.insert(0, 'later text')
    online.doc.getMap('map').set('k', 'later')
  })
  writePm(online.doc, 'default', doc(p(t('later paragraph'))), pmMeta)
  await untilEqual(() => snap(offline.doc), snap(online.doc), 'the later text at the second provider')
  await untilServerHas(name, online.doc, snap)

  // The second provider goes offline and edits there.
  offline.provider.disconnect()
  await waitUntil(() => !offline.provider.wsconnected && !offline.provider.wsconnecting, { what: 'the provider to be offline' })
  offline.doc.transact(() => {
    offline.doc.getText('text').insert(0, 'OFFLINE ')
    offline.doc.getMap('map').set('offline', 'kept')
    // A paragraph of its own at the end of the fragment (as an editor adds one on Enter).
    const fragment = offline.doc.getXmlFragment('default')
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText('offline paragraph')])
    fragment.insert(fragment.length, [paragraph])
  })

  await restore(name, version.id)
  await untilEqual(() => snap(online.doc), { text: 'version text', map: { k: 'version' }, pm: doc(p(t('version paragraph'))) }, 'the restore at the online provider')
  assert.deepEqual(snap(offline.doc), {
    text: 'OFFLINE later text',
    map: { k: 'later', offline: 'kept' },
    pm: doc(p(t('later paragraph')), p(t('offline paragraph')))
  }, 'nothing reaches an offline provider')

  offline.provider.connect()
  await waitSynced(offline)
  await waitUntil(() => isDeepStrictEqual(snap(online.doc), snap(offline.doc)), { what: 'both providers to converge' })
    .catch((err) => { err.message += `\nonline: ${JSON.stringify(snap(online.doc))}\noffline: ${JSON.stringify(snap(offline.doc))}`; throw err })
  const merged = snap(offline.doc)
  // The restore replaced the text the offline edit was made in; the words typed offline stay,
  // next to the restored text (where exactly is Yjs' ordering of concurrent inserts).
  assert.ok(['OFFLINE version text', 'version textOFFLINE '].includes(merged.text), `merged text: ${merged.text}`)
  assert.deepEqual(merged.map, { k: 'version', offline: 'kept' })
  const paragraphs = merged.pm.content.map((block) => block.content[0].text)
  assert.ok(['version paragraph,offline paragraph', 'offline paragraph,version paragraph'].includes(String(paragraphs)), `merged paragraphs: ${paragraphs}`)
  await untilServerHas(name, offline.doc, snap)
  assert.deepEqual(online.errors, [])
  assert.deepEqual(offline.errors, [])
  assert.deepEqual(online.closes, [], 'the online provider was never disconnected')
  assert.equal(online.attempts, 1)

  // A newcomer sees the same.
  const late = connect(name)
  await waitSynced(late)
  await untilEqual(() => snap(late.doc), merged, 'a newcomer to see the merged content')
  disconnect(late)
  disconnect(online)
  disconnect(offline)
})

// ---- every root type -------------------------------------------------------------------------------

/** Every root of the documents below, shared types spelled out (see `shape`). */
const ROOTS = { rich: 'getText', meta: 'getMap', items: 'getArray' }
const everything = (d) => ({
  ...Object.fromEntries(Object.entries(ROOTS).map(([root, get]) => [root, shape(d[get](root))])),
  // The fragment as the Tiptap editor reads it, and with every attribute.
  pm: pmJson(d, 'default'),
  xml: d.getXmlFragment('default').toString()
})
const LATE = (d) => ({
  lateMap: d.getMap('lateMap').toJSON(),
  lateText: d.getText('lateText').toString(),
  lateList: d.getArray('lateList').toJSON(),
  lateFragment: d.getXmlFragment('lateFragment').toString()
})
const EMPTY_LATE = { lateMap: {}, lateText: '', lateList: [], lateFragment: '' }

/** Fills every root with the content the version keeps. */
function writeOriginal (d) {
  const rich = d.getText('rich')
  d.transact(() => {
    rich.insert(0, 'Quarterly plan ✓ 😀 中文')
    rich.format(0, 9, { bold: true })
    rich.format(10, 4, { italic: true, color: '#ff0000' })
    rich.insert(rich.length, ' see ', {})
    rich.insert(rich.length, 'the site', { link: { href: 'https://example.com/?a=1&b=2' } })
    rich.insertEmbed(rich.length, { image: 'https://example.com/cat.png' }, { width: 120 })
    rich.insert(rich.length, '\n')
    rich.insertEmbed(rich.length, { formula: 'e^{i\\pi}+1=0' })
    rich.insert(rich.length, ' tail', { code: true, bold: true })
  })
  d.transact(() => {
    const meta = d.getMap('meta')
    meta.set('title', 'Settings ✓')
    meta.set('int', 42)
    meta.set('float', 1.5)
    meta.set('yes', true)
    meta.set('nothing', null)
    meta.set('object', { a: [1, 'two', { three: 3 }], b: { c: null } })
    const nested = new Y.Map()
    meta.set('nested', nested)
    nested.set('k', 'v')
    const deeper = new Y.Map()
    nested.set('deeper', deeper)
    deeper.set('depth', 2)
    const tags = new Y.Array()
    meta.set('tags', tags)
    tags.push(['a', 'b'])
    const tagMap = new Y.Map()
    tags.push([tagMap])
    tagMap.set('label', 'inside an array inside a map')
    const note = new Y.Text()
    meta.set('note', note)
    note.insert(0, 'a note with ')
    note.insert(note.length, 'bold', { bold: true })
    note.insertEmbed(note.length, { mention: 'alice' })
  })
  d.transact(() => {
    const items = d.getArray('items')
    items.push(['first', 2, 3.25, true, null, { k: 'v' }, [1, [2, [3]]]])
    const m = new Y.Map()
    items.push([m])
    m.set('name', 'a map in the array')
    const inner = new Y.Array()
    m.set('inner', inner)
    inner.push([1, 2, 3])
    const arr = new Y.Array()
    items.push([arr])
    arr.push(['x', 'y'])
    const txt = new Y.Text()
    items.push([txt])
    txt.insert(0, 'text in an array', { italic: true })
  })
}

/** Changes every root in every way: edits, deletions, replaced nested types. */
function writeLater (d) {
  const rich = d.getText('rich')
  d.transact(() => {
    rich.delete(3, 12)
    rich.format(0, 5, { bold: null, underline: true })
    rich.insert(0, 'NEW ', { italic: true })
    rich.insertEmbed(2, { image: 'other.png' })
  })
  d.transact(() => {
    const meta = d.getMap('meta')
    meta.set('title', 'Changed')
    meta.delete('int')
    meta.set('added', 'later')
    meta.get('nested').get('deeper').set('depth', 3)
    meta.get('nested').set('k', 'changed')
    meta.get('tags').delete(0, 1)
    meta.get('tags').get(1).set('label', 'changed')
    meta.get('note').delete(0, 2)
    meta.get('note').format(0, 4, { italic: true })
    meta.set('object', 'now a string')
  })
  d.transact(() => {
    const meta = d.getMap('meta')
    // A nested type replaced by another type under the same key.
    const replacement = new Y.Array()
    meta.set('nested', replacement)
    replacement.push(['not a map any more'])
  })
  d.transact(() => {
    const items = d.getArray('items')
    items.delete(0, 3)
    items.insert(1, ['inserted'])
    const m = items.toArray().find((x) => x instanceof Y.Map)
    m.set('name', 'changed')
    m.get('inner').delete(0, 2)
    const txt = items.toArray().find((x) => x instanceof Y.Text)
    txt.insert(0, 'more ')
    items.push([new Y.Map()])
  })
}

const ORIGINAL_PM = doc(
  h(1, t('Plait '), t('design', 'italic')),
  p(t('A '), t('bold', 'bold'), t(' and '), t('linked', link('https://example.com', { title: 'Example' }), 'italic'), t(' word,'), br(), t('code()', 'code')),
  ul(li(p(t('one'))), li(p(t('two')), ul(li(p(t('two.a')))))),
  quote(p(t('quoted'))),
  code('rust', 'fn main() {}'),
  img({ src: 'https://example.com/cat.png', alt: 'A cat', title: 'Cat' }),
  p(t('Ünïcödé 🎉 中文'))
)
const LATER_PM = doc(
  h(2, t('Other title')),
  p(t('Everything '), t('else', 'bold', 'strike')),
  ul(li(p(t('two.a'))))
)

test('a restore brings back every root type exactly, and empties roots created after the version', async () => {
  const name = uniqueDoc('restore-roots')
  const a = connect(name)
  const b = connect(name)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const meta = newMeta()
  writeOriginal(a.doc)
  writePm(a.doc, 'default', ORIGINAL_PM, meta)
  const original = everything(a.doc)
  // The test builds what it means to build: nested types, formats, embeds.
  assert.ok(original.rich['Y.Text'].some((op) => typeof op.insert === 'object'), 'the text holds embeds')
  assert.ok(original.meta['Y.Map'].nested['Y.Map'].deeper['Y.Map'], 'a Y.Map in a Y.Map in the root')
  assert.ok(original.items['Y.Array'].some((x) => x?.['Y.Text']), 'a Y.Text in the array')
  await untilEqual(() => everything(b.doc), original, 'A\'s content at B')
  await untilServerHas(name, a.doc, everything)
  const version = await saveVersion(name, 'every root')
  assert.deepEqual(everything((await versionDoc(name, version.id)).ydoc), original, 'the version holds every root as written')
  const versionJson = (await expectStatus('GET', `${versionPath(name, version.id)}/json`, 200)).json

  writeLater(a.doc)
  writePm(a.doc, 'default', LATER_PM, meta)
  // Roots the version does not have.
  a.doc.transact(() => {
    a.doc.getMap('lateMap').set('k', 'v')
    const nested = new Y.Map()
    a.doc.getMap('lateMap').set('nested', nested)
    nested.set('x', 1)
    a.doc.getText('lateText').insert(0, 'late text', { bold: true })
    a.doc.getArray('lateList').push([1, 'two', new Y.Map()])
  })
  writePm(a.doc, 'lateFragment', doc(p(t('late fragment'))), newMeta())
  const later = everything(a.doc)
  assert.notDeepEqual(later, original)
  assert.notDeepEqual(LATE(a.doc), EMPTY_LATE)
  await untilEqual(() => ({ ...everything(b.doc), ...LATE(b.doc) }), { ...later, ...LATE(a.doc) }, 'the later content at B')
  await untilServerHas(name, a.doc, (d) => ({ ...everything(d), ...LATE(d) }))

  await restore(name, version.id)
  for (const [who, client] of [['A', a], ['B', b]]) {
    await untilEqual(() => everything(client.doc), original, `every root restored at ${who}`)
    await untilEqual(() => LATE(client.doc), EMPTY_LATE, `the later roots emptied at ${who}`)
  }
  // Nested types are shared types again, not JSON copies of them.
  const restoredMeta = a.doc.getMap('meta')
  assert.ok(restoredMeta.get('nested') instanceof Y.Map)
  assert.ok(restoredMeta.get('nested').get('deeper') instanceof Y.Map)
  assert.ok(restoredMeta.get('tags') instanceof Y.Array)
  assert.ok(restoredMeta.get('tags').get(2) instanceof Y.Map)
  assert.ok(restoredMeta.get('note') instanceof Y.Text)
  assert.deepEqual(deltaOf(restoredMeta.get('note')), [
    { insert: 'a note with ' }, { insert: 'bold', attributes: { bold: true } }, { insert: { mention: 'alice' } }
  ])
  const restoredItems = a.doc.getArray('items').toArray()
  assert.ok(restoredItems[7] instanceof Y.Map && restoredItems[7].get('inner') instanceof Y.Array)
  assert.ok(restoredItems[8] instanceof Y.Array)
  assert.ok(restoredItems[9] instanceof Y.Text)
  assert.deepEqual(deltaOf(restoredItems[9]), [{ insert: 'text in an array', attributes: { italic: true } }])
  // The restored fragment is a valid document of the Tiptap schema.
  schema.nodeFromJSON(pmJson(a.doc)).check()
  assert.deepEqual(pmJson(a.doc), pmJson((await versionDoc(name, version.id)).ydoc))

  // The server holds the same, renders each root as the version renders it, and a newcomer
  // loads it.
  await untilServerHas(name, a.doc, (d) => ({ ...everything(d), ...LATE(d) }))
  const live = (await expectStatus('GET', `${docPath(name)}/json`, 200)).json
  for (const root of Object.keys(versionJson)) {
    assert.deepEqual(JSON.parse(canonicalJson(live[root])), JSON.parse(canonicalJson(versionJson[root])), `GET .../json's ${root} after the restore`)
  }
  const late = connect(name)
  await waitSynced(late)
  await untilEqual(() => ({ ...everything(late.doc), ...LATE(late.doc) }), { ...original, ...EMPTY_LATE }, 'a newcomer to load the restored document')

  // The undo version brings every root of the later content back.
  const undo = (await listVersions(name)).find((v) => v.kind === 'restore')
  await restore(name, undo.id)
  for (const [who, client] of [['A', a], ['B', b], ['the newcomer', late]]) {
    await untilEqual(() => everything(client.doc), later, `the later content back at ${who}`)
  }
  assert.deepEqual(LATE(b.doc), LATE(a.doc))
  assert.equal(LATE(b.doc).lateText, 'late text')
  assert.deepEqual([a.attempts, b.attempts, late.attempts], [1, 1, 1], 'nobody reconnected')
  assert.deepEqual([a.errors, b.errors, late.errors], [[], [], []])
  disconnect(late)
  disconnect(a)
  disconnect(b)
})

test('a root created after the version is emptied by the restore, whatever its type', async () => {
  const name = uniqueDoc('restore-late-root')
  const client = connect(name)
  await waitSynced(client)
  client.doc.getText('kept').insert(0, 'kept text')
  const snap = (d) => ({ kept: d.getText('kept').toString(), ...LATE(d) })
  await untilServerHas(name, client.doc, snap)
  const version = await saveVersion(name, 'only kept')
  client.doc.transact(() => {
    client.doc.getMap('lateMap').set('a', 1)
    client.doc.getText('lateText').insert(0, 'late')
    client.doc.getArray('lateList').push([{ x: 1 }])
  })
  writePm(client.doc, 'lateFragment', doc(p(t('late'))), newMeta())
  await untilServerHas(name, client.doc, snap)
  await restore(name, version.id)
  await untilEqual(() => snap(client.doc), { kept: 'kept text', ...EMPTY_LATE }, 'the later roots emptied')
  assert.deepEqual(snap(await serverDoc(name)), { kept: 'kept text', ...EMPTY_LATE })
  disconnect(client)
})

// ---- automatic versions ----------------------------------------------------------------------------

test('with --version-interval 1s a version is cut after an edit, and none while the document is unchanged', async () => {
  const auto = new PlaitServer({ args: ['--version-interval', '1s'] })
  await auto.start()
  try {
    const name = uniqueDoc('auto')
    const client = connect(name, auto)
    await waitSynced(client)
    const text = client.doc.getText('text')
    const autos = async () => (await listVersions(name, auto)).filter((v) => v.kind === 'auto')
    const snap = (d) => d.getText('text').toString()

    text.insert(0, 'first edit')
    await untilServerHas(name, client.doc, snap, auto)
    const first = await waitUntil(async () => { const v = await autos(); return v.length >= 1 && v }, { timeoutMs: 10000, intervalMs: 200, what: 'an automatic version after the edit' })
    assert.equal(first.length, 1, JSON.stringify(first))
    assert.equal(first[0].name, null)
    assert.equal(first[0].created_by, null)
    assert.equal(snap((await versionDoc(name, first[0].id, auto)).ydoc), 'first edit')

    // Unchanged for three intervals: no other version (the provider stays connected).
    await delay(3500)
    assert.deepEqual((await listVersions(name, auto)).map((v) => v.id), [first[0].id], 'no version while unchanged')

    text.insert(text.length, ', second edit')
    await untilServerHas(name, client.doc, snap, auto)
    const second = await waitUntil(async () => { const v = await autos(); return v.length >= 2 && v }, { timeoutMs: 10000, intervalMs: 200, what: 'an automatic version after the second edit' })
    assert.equal(second.length, 2, JSON.stringify(second))
    assert.ok(second[1].seq > second[0].seq, JSON.stringify(second))
    assert.equal(snap((await versionDoc(name, second[1].id, auto)).ydoc), 'first edit, second edit')
    await delay(2500)
    assert.equal((await autos()).length, 2, 'still no other version while unchanged')
    disconnect(client)
  } finally {
    await auto.dispose()
  }
})
