// Documents as data (issue 24), tried with the real JavaScript libraries against the plait binary:
//
//  - what stock Yjs clients write (y-prosemirror with Tiptap 3's schema: StarterKit, Link, Image;
//    plain Y.Text / Y.Map / Y.Array roots) comes back from `GET /api/docs/{doc}/json` exactly as
//    the JavaScript reads it: `yXmlFragmentToProsemirrorJSON` for a fragment, `toJSON()`/
//    `toDelta()` otherwise, over y-websocket and over `POST .../update`;
//  - an edit is found by `GET /api/search` within seconds, under continuous typing too;
//  - `PUT /api/docs/{doc}/json?field=` replaces a root live in a connected y-websocket client
//    (no reconnect), round-trips through GET, and a bad body changes nothing;
//  - `DELETE /api/docs/{doc}` closes a connected stock `WebsocketProvider` with 4410, which does
//    not reconnect; the document leaves the list and search and answers 410 until
//    `POST .../undelete`, after which `provider.connect()` syncs the old content; the change feed
//    shows both, also once the document was compacted; a document deleted right after a client's
//    first edit (applied, not yet stored) is deleted too;
//  - `GET /api/docs` pages by name with `limit`/`next`/`after`, and the list and search only
//    show what a token's scope covers.
//
//   cargo build --release -p plait-server
//   cd tests/js && PLAIT_BIN=../../target/release/plait node --test documents.test.js
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { isDeepStrictEqual } from 'node:util'
import { setTimeout as delay } from 'node:timers/promises'
import * as Y from 'yjs'
import { PlaitServer, plaitBin, uniqueDoc, waitUntil } from './lib/server.js'
import { connectCounting, waitSynced, closeClient, stateVector } from './lib/clients.js'
import { request, docPath, query, listAll, search, metric, distinctiveWord } from './lib/api.js'
import {
  schema, writePm, pmJson, pmText, newMeta, withMarkAttrs,
  doc, p, t, h, ul, ol, li, quote, code, br, hr, img, link
} from './lib/prosemirror.js'

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
const connect = (name, params, target = server) => {
  const client = connectCounting(target, encodeURIComponent(name), params)
  open.push(client)
  return client
}
const disconnect = (client) => {
  const i = open.indexOf(client)
  if (i >= 0) open.splice(i, 1)
  closeClient(client)
}

const jsonPath = (name, params = {}) => docPath(name) + '/json' + query(params)

/**
 * Polls GET `path` until it answers 200 with `expected` (deep, strict); on timeout fails with
 * the last answer against the expectation.
 */
const untilServerJson = async (path, expected, what, { timeoutMs = 10000, target = server } = {}) => {
  let last = null
  try {
    await waitUntil(async () => {
      last = await request(target, 'GET', path)
      return last.status === 200 && isDeepStrictEqual(last.json, expected)
    }, { timeoutMs, what })
  } catch (err) {
    assert.equal(last?.status, 200, `${what}: ${last?.what}`)
    assert.deepEqual(last.json, expected, `${what}: GET ${path}`)
    throw err
  }
  return last
}

/** GET that must answer `status`; returns the response. */
const expectStatus = async (method, path, status, opts) => {
  const res = await request(server, method, path, opts)
  assert.equal(res.status, status, res.what)
  return res
}

/** Error answers carry `{ "error": "reason" }`. */
const assertErrorBody = (res) => {
  assert.equal(typeof res.json?.error, 'string', `an error reason in the body: ${res.what}`)
  assert.ok(res.json.error.length > 0, res.what)
}

/** Posts the whole state of `ydoc` as one Yjs v1 update. */
const postState = async (name, ydoc, target = server) => {
  const res = await fetch(`${target.httpUrl}${docPath(name)}/update`, {
    method: 'POST',
    body: Y.encodeStateAsUpdate(ydoc),
    headers: { 'content-type': 'application/octet-stream' },
    signal: AbortSignal.timeout(10000)
  })
  assert.equal(res.status, 200, `POST update: ${res.status} ${await res.text()}`)
}

/** Waits until search for `q` lists `name` (bounded); returns the hit and how long it took. */
const untilFound = async (q, name, { timeoutMs = 10000, target = server, token, prefix } = {}) => {
  const started = Date.now()
  let last = []
  try {
    const hit = await waitUntil(async () => {
      last = await search(target, q, { token, prefix })
      return last.find((r) => r.name === name)
    }, { timeoutMs, intervalMs: 100, what: `search "${q}" to find ${name}` })
    return { hit, ms: Date.now() - started }
  } catch (err) {
    err.message += `\nlast results: ${JSON.stringify(last)}`
    throw err
  }
}

// ---- ProseMirror documents, each a sequence of editor states written through y-prosemirror ----
const cases = [
  {
    name: 'headings and inline marks',
    steps: [doc(
      h(1, t('Plait '), t('design', 'italic')),
      p(t('A '), t('bold', 'bold'), t(' and an '), t('italic', 'italic'), t(' word, '), t('code()', 'code'), t(', '), t('gone', 'strike'), t(' and '), t('under', 'underline'), t('.')),
      h(2, t('Second level')),
      p(t('Plain paragraph.')),
      h(3, t('Third '), t('level', 'bold'))
    )]
  },
  {
    name: 'nested bullet and ordered lists',
    steps: [doc(
      ul(
        li(p(t('one'))),
        li(p(t('two')), ul(li(p(t('two.a'))), li(p(t('two.b'), t(' bold', 'bold'))))),
        li(p(t('three')), ol(1, li(p(t('three.1'))), li(p(t('three.2')))))
      ),
      ol(3, li(p(t('third'))), li(p(t('fourth')), ul(li(p(t('deep')))))),
      p(t('after the lists'))
    )]
  },
  {
    name: 'blockquotes, code blocks, horizontal rule',
    steps: [doc(
      quote(p(t('Quoted '), t('text', 'italic')), p(t('second quoted paragraph'))),
      code('rust', 'fn main() {\n    println!("hi");\n}'),
      code(null, 'plain code'),
      hr(),
      quote(quote(p(t('nested quote'))))
    )]
  },
  {
    name: 'overlapping marks and links with attributes',
    steps: [doc(
      p(t('b ', 'bold'), t('bi ', 'bold', 'italic'), t('i', 'italic'), t(' plain '), t('ib', 'italic', 'bold')),
      p(t('see '), t('the site', link('https://example.com/a?b=1&c=2')), t(' or '), t('bold link', link('https://example.org', { target: null, title: 'Example' }), 'bold')),
      p(t('all', 'bold', 'italic', 'strike', 'underline'), t(' '), t('code', 'code'), t(' '), t('styled link', link('#x', { rel: 'nofollow', class: 'fancy' }), 'italic', 'bold'))
    )]
  },
  {
    name: 'hard breaks, images, empty paragraphs',
    steps: [doc(
      p(t('line one'), br(), t('line two', 'bold'), br(), br(), t('line four')),
      img({ src: 'https://example.com/cat.png', alt: 'A cat', title: 'Cat' }),
      p(),
      img({ src: 'data:image/png;base64,AAAA' }),
      p(br()),
      p(t('after'))
    )]
  },
  {
    name: 'unicode: emoji, CJK, combining marks, right-to-left',
    steps: [doc(
      h(1, t('Ünïcödé 🎉')),
      p(t('👩‍👩‍👧‍👦 family, 🇳🇿 flag, '), t('😀😃😄', 'bold'), t(' e\u0301 combining')),
      p(t('中文文本 '), t('日本語', 'italic'), t(' 한국어')),
      p(t('שלום עולם', 'underline'), t(' مرحبا')),
      code(null, 'tab\tand \\ "quotes" 🚀')
    )]
  },
  {
    name: 'edited in four steps with deletions and marks added over existing text',
    steps: [
      doc(
        h(1, t('Draft title')),
        p(t('The quick brown fox jumps over the lazy dog.')),
        p(t('A paragraph that will be deleted.')),
        ul(li(p(t('keep'))), li(p(t('drop'))), li(p(t('keep too')))),
        p(t('Last words.'))
      ),
      doc(
        h(1, t('Draft title')),
        p(t('The quick fox jumps over the lazy dog.')),
        ul(li(p(t('keep'))), li(p(t('keep too')))),
        p(t('Last words.'))
      ),
      doc(
        h(1, t('Draft title')),
        p(t('The '), t('quick fox', 'bold'), t(' jumps over the lazy dog.')),
        ul(li(p(t('keep'))), li(p(t('keep too')))),
        p(t('Last words.'))
      ),
      doc(
        h(2, t('Final title')),
        p(t('The '), t('quick ', 'bold'), t('fox', 'bold', 'italic'), t(' jumps', 'italic'), t(' over the lazy dog.')),
        ul(li(p(t('keep'))), li(p(t('keep '), t('too', link('https://x.test'))))),
        p(t('Last words.'), br(), t('And more. 世界 🌍'))
      )
    ]
  }
]

/** Checks every rendering of the fragment `default` against the client's doc and `pNode`. */
const assertRendered = async (name, ydoc, pNode, what) => {
  const expected = pmJson(ydoc)
  await untilServerJson(jsonPath(name, { field: 'default', format: 'prosemirror' }), expected, `${what}: ?field=default&format=prosemirror`)
  const bare = await expectStatus('GET', jsonPath(name, { field: 'default' }), 200)
  assert.deepEqual(bare.json, expected, `${what}: ?field=default (default format)`)
  const whole = await expectStatus('GET', jsonPath(name), 200)
  assert.deepEqual(whole.json, { default: expected }, `${what}: the whole document`)
  if (pNode) {
    const text = await expectStatus('GET', jsonPath(name, { field: 'default', format: 'text' }), 200)
    assert.equal(text.json, pmText(pNode), `${what}: ?format=text is ProseMirror's block text`)
  }
}

test('ProseMirror documents a y-websocket client edits come back from GET .../json as y-prosemirror reads them', async (ctx) => {
  for (const c of cases) {
    await ctx.test(c.name, async () => {
      const name = uniqueDoc('pm-ws')
      const client = connect(name)
      await waitSynced(client)
      const meta = newMeta()
      for (const [i, step] of c.steps.entries()) {
        const pNode = writePm(client.doc, 'default', step, meta)
        await assertRendered(name, client.doc, pNode, `${c.name}, step ${i + 1}/${c.steps.length}`)
      }
      // What a Tiptap editor would load from the server is a valid document of its schema.
      const served = await expectStatus('GET', jsonPath(name, { field: 'default' }), 200)
      schema.nodeFromJSON(served.json).check()
      assert.equal(client.attempts, 1)
      disconnect(client)
    })
  }
})

test('the same documents posted as one Yjs update (POST .../update) render identically', async (ctx) => {
  for (const c of cases) {
    await ctx.test(c.name, async () => {
      const name = uniqueDoc('pm-post')
      const ydoc = new Y.Doc()
      const meta = newMeta()
      let pNode
      for (const step of c.steps) pNode = writePm(ydoc, 'default', step, meta)
      await postState(name, ydoc)
      await assertRendered(name, ydoc, pNode, c.name)
    })
  }
})

test('a fragment whose every block was deleted renders as an empty ProseMirror doc', async () => {
  const name = uniqueDoc('pm-emptied')
  const client = connect(name)
  await waitSynced(client)
  writePm(client.doc, 'default', doc(p(t('soon gone')), p(t('this too'))))
  await untilServerJson(jsonPath(name, { field: 'default' }), pmJson(client.doc), 'the content before deletion')
  const frag = client.doc.getXmlFragment('default')
  frag.delete(0, frag.length)
  assert.deepEqual(pmJson(client.doc), { type: 'doc', content: [] })
  await untilServerJson(jsonPath(name, { field: 'default', format: 'prosemirror' }), { type: 'doc', content: [] }, 'the emptied fragment')
  disconnect(client)
})

test('two clients formatting one paragraph concurrently: the server renders what both converge to', async () => {
  const name = uniqueDoc('pm-concurrent')
  const a = connect(name)
  const b = connect(name)
  await Promise.all([waitSynced(a), waitSynced(b)])
  writePm(a.doc, 'default', doc(p(t('concurrent formatting of one sentence')), p(t('second'))))
  await waitUntil(() => isDeepStrictEqual(pmJson(b.doc), pmJson(a.doc)), { what: "A's paragraphs at B" })
  const textOf = (d, i) => d.getXmlFragment('default').get(i).get(0)
  // In one synchronous block: neither client has seen the other's edits when it makes its own.
  textOf(a.doc, 0).format(0, 20, { bold: {} })
  textOf(a.doc, 0).format(5, 10, { link: { href: 'https://a.test', target: '_blank', rel: null, class: null, title: null } })
  textOf(b.doc, 0).format(11, 15, { italic: {} })
  textOf(b.doc, 0).insert(3, 'XY', { code: {} })
  textOf(b.doc, 0).delete(30, 4)
  textOf(a.doc, 1).insert(6, ' line', { underline: {}, strike: {} })
  await waitUntil(() => isDeepStrictEqual(stateVector(a.doc), stateVector(b.doc)) && isDeepStrictEqual(pmJson(a.doc), pmJson(b.doc)),
    { what: 'the two clients to converge' })
  await untilServerJson(jsonPath(name, { field: 'default' }), pmJson(a.doc), 'the merged formatting')
  disconnect(a)
  disconnect(b)
})

test('Y.Text, Y.Map and Y.Array roots render as their toJSON(), a text also as a delta and plain text', async () => {
  const name = uniqueDoc('roots')
  const client = connect(name)
  await waitSynced(client)
  const title = client.doc.getText('title')
  const meta = client.doc.getMap('meta')
  const items = client.doc.getArray('items')
  client.doc.transact(() => {
    title.insert(0, 'Quarterly plan ✓ 😀 中文')
    title.format(0, 9, { bold: true })
    title.insert(title.length, ' (draft)', { italic: true, color: '#f00' })
  })
  client.doc.transact(() => {
    meta.set('title', 'Settings ✓')
    meta.set('int', 42)
    meta.set('negative', -7)
    meta.set('float', 1.5)
    meta.set('big', 2 ** 40)
    meta.set('yes', true)
    meta.set('no', false)
    meta.set('nothing', null)
    meta.set('object', { a: [1, 'two', { three: 3 }], b: { c: null } })
    const tags = new Y.Array()
    meta.set('tags', tags)
    tags.push(['a', 'b'])
    const inner = new Y.Map()
    meta.set('inner', inner)
    inner.set('k', 'v')
    meta.set('replaced', 'old')
  })
  meta.set('replaced', 'new')
  meta.set('removed', 1)
  meta.delete('removed')
  items.push(['first', 2, 3.25, true, null, { k: 'v' }, [1, [2, [3]]]])
  const nested = new Y.Map()
  items.push([nested])
  nested.set('a', 1)
  items.insert(1, ['inserted'])
  items.delete(3, 1)

  const expected = { title: title.toJSON(), meta: meta.toJSON(), items: items.toJSON() }
  await untilServerJson(jsonPath(name), expected, 'the whole document')
  assert.equal((await expectStatus('GET', jsonPath(name, { field: 'title' }), 200)).json, title.toString())
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'title', format: 'delta' }), 200)).json, title.toDelta())
  assert.equal((await expectStatus('GET', jsonPath(name, { field: 'title', format: 'text' }), 200)).json, title.toString())
  assert.equal((await expectStatus('GET', jsonPath(name, { field: 'title', format: 'json' }), 200)).json, title.toJSON())
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'meta' }), 200)).json, meta.toJSON())
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'meta', format: 'json' }), 200)).json, meta.toJSON())
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'items' }), 200)).json, items.toJSON())
  disconnect(client)
})

test('GET .../json refuses: 404 for a document never written or an absent field, 400 for a bad or unfitting format', async () => {
  assertErrorBody(await expectStatus('GET', jsonPath(uniqueDoc('never')), 404))
  assertErrorBody(await expectStatus('GET', jsonPath(uniqueDoc('never'), { field: 'default' }), 404))
  const name = uniqueDoc('refusals')
  const ydoc = new Y.Doc()
  writePm(ydoc, 'default', doc(p(t('text'))))
  ydoc.getText('title').insert(0, 'a title')
  ydoc.getMap('meta').set('k', 'v')
  await postState(name, ydoc)
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'absent' }), 404))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'default', format: 'bogus' }), 400))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'default', format: 'delta' }), 400))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'meta', format: 'prosemirror' }), 400))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'meta', format: 'delta' }), 400))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'title', format: 'prosemirror' }), 400))
  // A name holding `/` is one percent-encoded path segment.
  const slashed = `${uniqueDoc('team')}/notes`
  await postState(slashed, ydoc)
  assert.ok(docPath(slashed).includes('%2F'))
  assert.deepEqual((await expectStatus('GET', jsonPath(slashed, { field: 'default' }), 200)).json, pmJson(ydoc))
})

test('an edit is found by GET /api/search within seconds; every word must occur; the snippet marks matches', async (ctx) => {
  const name = uniqueDoc('search')
  const word = distinctiveWord('quokka')
  const other = distinctiveWord('wombat')
  const client = connect(name)
  await waitSynced(client)
  writePm(client.doc, 'default', doc(
    h(1, t('Search target')),
    p(t('The '), t(word, 'bold'), t(' lives beside the '), t(other, 'italic'), t(' in a heading-free paragraph.'))
  ))
  const { hit, ms } = await untilFound(word, name)
  ctx.diagnostic(`found ${ms} ms after the edit`)
  assert.ok(hit.snippet.includes(`**${word}**`), `snippet marks the match: ${JSON.stringify(hit)}`)
  assert.equal(typeof hit.seq, 'number')
  assert.ok(!Number.isNaN(Date.parse(hit.updated_at)), `updated_at is a date: ${hit.updated_at}`)

  const both = await search(server, `${word} ${other}`)
  assert.deepEqual(both.map((r) => r.name), [name], 'both words occur')
  const snippet = both[0].snippet
  assert.ok(snippet.includes(`**${word}**`) && snippet.includes(`**${other}**`), `both words marked: ${snippet}`)
  assert.deepEqual(await search(server, `${word} ${distinctiveWord('absent')}`), [], 'a word that does not occur')
  assert.deepEqual(await search(server, word, { prefix: 'no-such-prefix-' }), [], 'outside the prefix')
  assert.deepEqual((await search(server, word, { prefix: name.slice(0, 10) })).map((r) => r.name), [name], 'within the prefix')

  // A later edit replaces the searched text: the old word goes, the new one comes.
  const later = distinctiveWord('platypus')
  writePm(client.doc, 'default', doc(p(t(`Now about ${later} only`))))
  await untilFound(later, name)
  await waitUntil(async () => (await search(server, word)).length === 0, { timeoutMs: 10000, intervalMs: 100, what: 'the old word to leave the index' })
  disconnect(client)
})

test('a document under continuous typing is searchable within about 5 s of the first edit', async (ctx) => {
  const name = uniqueDoc('typing')
  const word = distinctiveWord('numbat')
  const client = connect(name)
  await waitSynced(client)
  writePm(client.doc, 'default', doc(p(t(`Typing ${word} `))))
  const xmlText = client.doc.getXmlFragment('default').get(0).get(0)
  // One character every 100 ms: the projection never settles for 1 s, so only its 5 s cap lets
  // the document be indexed while the typing goes on.
  const typing = setInterval(() => xmlText.insert(xmlText.length, 'abcdefghij '[xmlText.length % 11]), 100)
  try {
    const { ms } = await untilFound(word, name, { timeoutMs: 8000 })
    ctx.diagnostic(`found after ${ms} ms of typing`)
  } finally {
    clearInterval(typing)
  }
  disconnect(client)
})

test('PUT .../json replaces a root live in a connected y-websocket client, round-trips through GET, and a bad body changes nothing', async () => {
  const name = uniqueDoc('put')
  const client = connect(name)
  await waitSynced(client)
  writePm(client.doc, 'default', doc(h(1, t('Before the PUT')), p(t('old paragraph'))))
  client.doc.getText('title').insert(0, 'old title')
  client.doc.getMap('meta').set('old', 'key')
  client.doc.getMap('meta').set('a', 1)
  client.doc.getArray('items').push(['old item'])
  await untilServerJson(jsonPath(name, { field: 'default' }), pmJson(client.doc), 'the initial content')
  await untilServerJson(jsonPath(name, { field: 'items' }), ['old item'], 'the initial items')

  const seqs = []
  const put = async (field, body) => {
    const res = await request(server, 'PUT', jsonPath(name, { field }), { json: body })
    assert.equal(res.status, 200, res.what)
    assert.equal(res.json.applied, true, res.what)
    assert.equal(res.json.durable, true, res.what)
    assert.ok(Number.isInteger(res.json.seq), res.what)
    seqs.push(res.json.seq)
  }

  // A fragment: Tiptap-shaped ProseMirror JSON, marks with and without attrs.
  const pm = doc(
    h(2, t('Replaced '), t('by', 'italic'), t(' PUT')),
    p(t('Bold ', 'bold'), t('bold italic', 'bold', 'italic'), t(' plain '), t('a link', link('https://example.com/?q=1', { target: '_blank', rel: 'noopener noreferrer nofollow', class: null, title: null })), t(' '), t('code', 'code')),
    ul(li(p(t('item one'))), li(p(t('item two')), ol(1, li(p(t('nested')))))),
    quote(p(t('quoted'))),
    code('js', 'const x = 1\nconsole.log(x)'),
    p(t('line'), br(), t('break 😀 中文')),
    img({ src: 'https://example.com/i.png', alt: 'an image' }),
    p()
  )
  schema.nodeFromJSON(pm).check()
  // Every remote update the client applies while the PUT arrives, and what it showed after each.
  const seen = []
  const onUpdate = (_update, origin) => { if (origin === client.provider) seen.push(pmJson(client.doc)) }
  client.doc.on('update', onUpdate)
  await put('default', pm)
  const expectedPm = withMarkAttrs(pm)
  await waitUntil(() => isDeepStrictEqual(pmJson(client.doc), expectedPm), { what: 'the PUT content in the client' })
  client.doc.off('update', onUpdate)
  assert.deepEqual(pmJson(client.doc), expectedPm)
  assert.equal(seen.length, 1, `the replacement arrives as one Yjs update (no half-replaced state): ${seen.length} updates`)
  schema.nodeFromJSON(pmJson(client.doc)).check()
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'default' }), 200)).json, expectedPm, 'GET after PUT')
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'default', format: 'prosemirror' }), 200)).json, expectedPm)
  // PUT what GET gave: nothing changes.
  await put('default', expectedPm)
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'default' }), 200)).json, expectedPm, 'GET after a PUT of GET')

  // A Y.Text, a Y.Map (old keys go), a Y.Array.
  await put('title', 'New title ✓ 🎉')
  await waitUntil(() => client.doc.getText('title').toString() === 'New title ✓ 🎉', { what: 'the new title in the client' })
  assert.equal((await expectStatus('GET', jsonPath(name, { field: 'title' }), 200)).json, 'New title ✓ 🎉')
  const metaBody = { b: 2, flag: true, none: null, nested: { k: [1, 'two', null], deep: { x: 1.5 } }, text: 'é 😀' }
  await put('meta', metaBody)
  await waitUntil(() => isDeepStrictEqual(client.doc.getMap('meta').toJSON(), metaBody), { what: 'the new map in the client' })
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'meta' }), 200)).json, metaBody)
  const itemsBody = ['one', 2, { three: [3] }, null, true]
  await put('items', itemsBody)
  await waitUntil(() => isDeepStrictEqual(client.doc.getArray('items').toJSON(), itemsBody), { what: 'the new array in the client' })
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'items' }), 200)).json, itemsBody)
  assert.deepEqual((await expectStatus('GET', jsonPath(name), 200)).json,
    { default: expectedPm, title: 'New title ✓ 🎉', meta: metaBody, items: itemsBody }, 'the whole document after the PUTs')
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq grows: ${seqs}`)

  // All of it arrived live, on the first connection.
  assert.equal(client.attempts, 1, 'no reconnect')
  assert.deepEqual(client.closes, [])
  assert.equal(client.provider.wsconnected, true)

  // Bad bodies: 400 with a reason, and neither the server's document nor the client's changes.
  const before = { sv: stateVector(client.doc), json: (await expectStatus('GET', jsonPath(name), 200)).json }
  const bad = [
    ['default', { raw: '{"type":"doc","content":[' }, 'not JSON'],
    ['default', { raw: '' }, 'an empty body'],
    ['default', { json: 'a string for a fragment' }, 'a string for an XML fragment'],
    ['default', { json: { type: 'doc', content: [{ content: [] }] } }, 'a node without a type'],
    ['default', { json: { type: 'doc', content: [{ type: 'paragraph', content: [{ type: 'text' }] }] } }, 'a text node without text'],
    ['default', { json: [1, 2] }, 'an array for an XML fragment'],
    ['title', { json: { not: 'a string' } }, 'an object for a Y.Text'],
    ['title', { json: 42 }, 'a number for a Y.Text'],
    ['meta', { json: [1, 2] }, 'an array for a Y.Map'],
    ['meta', { json: 'str' }, 'a string for a Y.Map'],
    ['items', { json: { a: 1 } }, 'an object for a Y.Array'],
    [undefined, { json: 'no field' }, 'no field']
  ]
  for (const [field, body, what] of bad) {
    const res = await request(server, 'PUT', jsonPath(name, { field }), body)
    assert.equal(res.status, 400, `${what}: ${res.what}`)
    assertErrorBody(res)
    const now = await request(server, 'GET', jsonPath(name))
    assert.deepEqual(now.json, before.json, `${what}: the server's document is unchanged`)
  }
  const stored = await server.fetchState(name)
  const fresh = new Y.Doc()
  Y.applyUpdate(fresh, stored.body)
  assert.deepEqual(stateVector(fresh), before.sv, "the server's state vector is the client's")
  // A barrier: a later, valid PUT reaches the client after anything sent before it.
  await put('barrier', 'after the bad bodies')
  await waitUntil(() => client.doc.getText('barrier').toString() === 'after the bad bodies', { what: 'the barrier' })
  assert.deepEqual(pmJson(client.doc), expectedPm, "the client's fragment is unchanged")
  assert.equal(client.doc.getText('title').toString(), 'New title ✓ 🎉')
  assert.deepEqual(client.doc.getMap('meta').toJSON(), metaBody)
  assert.deepEqual(client.doc.getArray('items').toJSON(), itemsBody)
  assert.equal(client.attempts, 1)
  disconnect(client)

  // PUT creates a document that was never written.
  const created = uniqueDoc('put-new')
  const res = await request(server, 'PUT', jsonPath(created, { field: 'default' }), { json: doc(p(t('fresh'))) })
  assert.equal(res.status, 200, res.what)
  assert.deepEqual((await expectStatus('GET', jsonPath(created), 200)).json, { default: withMarkAttrs(doc(p(t('fresh')))) })
  const joiner = connect(created)
  await waitSynced(joiner)
  assert.deepEqual(pmJson(joiner.doc), doc(p(t('fresh'))), 'a client joining later reads the PUT document')
  disconnect(joiner)
})

test('DELETE closes a connected WebsocketProvider with 4410 for good; undelete serves the document again', async () => {
  const name = `${uniqueDoc('trash')}/notes`
  const word = distinctiveWord('axolotl')
  const content = doc(h(1, t('To the trash')), p(t(`A note about ${word}.`)))
  const a = connect(name)
  await waitSynced(a)
  writePm(a.doc, 'default', content)
  await untilServerJson(jsonPath(name, { field: 'default' }), pmJson(a.doc), 'the content before the deletion')
  await untilFound(word, name)
  assert.deepEqual((await listAll(server, { prefix: name })).names, [name])
  let closedAt = null
  a.provider.on('closed', () => { closedAt = Date.now() })

  // Delete.
  const del = await request(server, 'DELETE', docPath(name))
  assert.equal(del.status, 200, del.what)
  assert.equal(del.json.name, name)
  assert.ok(Number.isInteger(del.json.seq), del.what)
  const deletedAt = Date.parse(del.json.deleted_at)
  const purgeAfter = Date.parse(del.json.purge_after)
  assert.ok(Math.abs(deletedAt - Date.now()) < 60_000, `deleted_at is now: ${del.what}`)
  assert.ok(Math.abs(purgeAfter - deletedAt - 7 * 24 * 3600 * 1000) < 1000, `purge_after is deleted_at + 7 days (default --trash-retention): ${del.what}`)

  // The provider is closed with 4410, emits `closed`, and stays closed.
  await waitUntil(() => closedAt !== null, { timeoutMs: 5000, what: 'the `closed` event' })
  assert.deepEqual(a.closes, [4410])
  assert.equal(a.closed.code, 4410)
  const opened = await metric(server, 'plait_connections_opened_total')
  // Whether a reconnect happens is a matter of time: watch for a while (y-websocket's first
  // backoff is 100 ms).
  await delay(3000)
  assert.equal(a.attempts, 1, `reconnect attempts after 4410: ${a.attempts - 1}`)
  assert.deepEqual(a.closes, [4410])
  assert.equal(a.provider.wsconnected, false)
  assert.equal(a.provider.shouldConnect, false)
  assert.equal(await metric(server, 'plait_connections_opened_total'), opened, 'no connection reached the server')

  // A new connection is closed with 4410 too, and does not retry.
  const b = connect(name)
  await waitUntil(() => b.closed !== null, { timeoutMs: 5000, what: "the new provider's `closed`" })
  assert.deepEqual(b.closes, [4410])
  assert.equal(b.attempts, 1)
  assert.equal(b.doc.getXmlFragment('default').length, 0, 'nothing of the deleted document reached it')

  // Gone from every API.
  assertErrorBody(await expectStatus('GET', docPath(name) + '/update', 410))
  assertErrorBody(await expectStatus('GET', jsonPath(name), 410))
  assertErrorBody(await expectStatus('GET', jsonPath(name, { field: 'default' }), 410))
  assertErrorBody(await expectStatus('PUT', jsonPath(name, { field: 'default' }), 410, { json: doc(p(t('resurrect'))) }))
  assert.deepEqual((await listAll(server, { prefix: name })).names, [], 'not listed')
  assert.deepEqual(await search(server, word), [], 'not searchable')
  // Undelete.
  const undel = await request(server, 'POST', docPath(name) + '/undelete')
  assert.equal(undel.status, 200, undel.what)
  assert.equal(undel.json.name, name)
  assert.equal(undel.json.restored, true)
  assert.ok(undel.json.seq > del.json.seq, undel.what)
  assert.deepEqual((await expectStatus('GET', jsonPath(name, { field: 'default' }), 200)).json, pmJson(a.doc))
  assert.deepEqual((await listAll(server, { prefix: name })).names, [name], 'listed again')
  await untilFound(word, name)

  // The refused provider connects and gets the old content; the first one edits live again.
  b.provider.connect()
  await waitSynced(b)
  assert.deepEqual(pmJson(b.doc), withMarkAttrs(content))
  a.provider.connect()
  await waitSynced(a)
  writePm(a.doc, 'default', doc(h(1, t('Back from the trash')), p(t(`A note about ${word}.`))))
  await waitUntil(() => isDeepStrictEqual(pmJson(b.doc), pmJson(a.doc)), { what: "the restored document's live edit at the other client" })
  await untilServerJson(jsonPath(name, { field: 'default' }), pmJson(a.doc), 'the edit after the restore')
  disconnect(a)
  disconnect(b)
})

test('the change feed shows the deletion and the restoration (kind delete, kind undelete) at their seqs', async (ctx) => {
  // Both ways a document is held when it is deleted: by a connected editor, and by no one (its
  // last write came over HTTP).
  for (const held of [true, false]) {
    await ctx.test(held ? 'deleted while a client is connected' : 'deleted while no client is connected', async () => {
      const name = `${uniqueDoc('feed')}/notes`
      let client = null
      if (held) {
        client = connect(name)
        await waitSynced(client)
        client.doc.getText('text').insert(0, 'written by a client')
        // Stored, not only applied (see the next test for a deletion before that).
        await waitUntil(async () => (await listAll(server, { prefix: name })).names.length === 1, { what: 'the edit stored' })
      } else {
        const ydoc = new Y.Doc()
        ydoc.getText('text').insert(0, 'posted')
        await postState(name, ydoc)
      }
      const feed = async () => (await expectStatus('GET', '/api/changes' + query({ prefix: name }), 200)).json.changes
      const shown = (changes) => JSON.stringify(changes.map(({ kind, seq }) => `${kind}@${seq}`))

      const del = await request(server, 'DELETE', docPath(name))
      assert.equal(del.status, 200, del.what)
      if (client) await waitUntil(() => client.closed !== null, { timeoutMs: 5000, what: 'the client closed with 4410' })
      const afterDelete = await feed()
      assert.ok(afterDelete.some((c) => c.kind === 'delete' && c.seq === del.json.seq && c.doc === name),
        `GET /api/changes?prefix=${name} right after DELETE (seq ${del.json.seq}) holds kind "delete": ${shown(afterDelete)}`)

      const undel = await request(server, 'POST', docPath(name) + '/undelete')
      assert.equal(undel.status, 200, undel.what)
      const expected = [`delete@${del.json.seq}`, `undelete@${undel.json.seq}`]
      const kinds = (changes) => changes.filter((c) => c.seq >= del.json.seq).map((c) => `${c.kind}@${c.seq}`)
      const afterUndelete = await feed()
      assert.deepEqual(kinds(afterUndelete), expected, `GET /api/changes?prefix=${name} after the undelete: ${shown(afterUndelete)}`)
      // After a compaction the markers stay at their positions and a snapshot stands for the
      // updates folded (no compaction runs while a document is in the trash):
      // storage/tests/catalog.rs checks it on both databases.
      if (client) disconnect(client)
    })
  }
})

test('DELETE of a document a connected client has just written (applied, not yet stored) deletes it', async () => {
  // Five in a row: the window between "applied" and "stored" is a few milliseconds.
  for (let i = 0; i < 5; i++) {
    const name = uniqueDoc('trash-fresh')
    const client = connect(name)
    await waitSynced(client)
    client.doc.getText('text').insert(0, 'brand new')
    // The server holds the edit: GET .../json serves it (it includes what is not stored yet).
    await untilServerJson(jsonPath(name), { text: 'brand new' }, 'the edit on the server')
    const del = await request(server, 'DELETE', docPath(name))
    let afterwards = ''
    if (del.status !== 200) {
      // What became of the document the DELETE refused.
      await delay(1000)
      const json = await request(server, 'GET', jsonPath(name))
      afterwards = `; 1 s later: listed ${JSON.stringify((await listAll(server, { prefix: name })).names)}, ` +
        `GET .../json ${json.status} ${json.text}, client connected ${client.provider.wsconnected}, closes ${JSON.stringify(client.closes)}`
    }
    assert.equal(del.status, 200, `attempt ${i + 1}: a document GET .../json serves (200) and a client edits is deleted: ${del.what}${afterwards}`)
    await waitUntil(() => client.closed !== null, { timeoutMs: 5000, what: 'the 4410 close' })
    assert.deepEqual(client.closes, [4410])
    assertErrorBody(await expectStatus('GET', jsonPath(name), 410))
    disconnect(client)
  }
})

test('GET /api/docs pages in name order with limit, next and after, with each document\'s figures', async () => {
  const prefix = `${uniqueDoc('list')}/`
  const names = ['e', 'a', 'd', 'b', 'c'].map((n) => prefix + n)
  const written = Date.now()
  for (const n of names) {
    const res = await request(server, 'PUT', jsonPath(n, { field: 'text' }), { json: `document ${n}` })
    assert.equal(res.status, 200, res.what)
  }
  const sorted = [...names].sort()

  const page1 = await expectStatus('GET', '/api/docs' + query({ prefix, limit: 2 }), 200)
  assert.deepEqual(page1.json.documents.map((d) => d.name), sorted.slice(0, 2), page1.what)
  assert.equal(page1.json.next, sorted[1])
  const page2 = await expectStatus('GET', '/api/docs' + query({ prefix, limit: 2, after: page1.json.next }), 200)
  assert.deepEqual(page2.json.documents.map((d) => d.name), sorted.slice(2, 4), page2.what)
  assert.equal(page2.json.next, sorted[3])
  const page3 = await expectStatus('GET', '/api/docs' + query({ prefix, limit: 2, after: page2.json.next }), 200)
  assert.deepEqual(page3.json.documents.map((d) => d.name), sorted.slice(4), page3.what)
  assert.equal(page3.json.next, null, 'the last page')
  const all = await expectStatus('GET', '/api/docs' + query({ prefix }), 200)
  assert.deepEqual(all.json.documents.map((d) => d.name), sorted)
  assert.equal(all.json.next, null)
  const after = await expectStatus('GET', '/api/docs' + query({ prefix, after: prefix + 'b' }), 200)
  assert.deepEqual(after.json.documents.map((d) => d.name), sorted.slice(2))
  assert.deepEqual((await listAll(server, { prefix, limit: 1 })).names, sorted, 'one at a time')

  for (const d of all.json.documents) {
    const shown = JSON.stringify(d)
    assert.deepEqual(Object.keys(d).sort(), ['bytes', 'created_at', 'last_seq', 'log_bytes', 'log_updates', 'name', 'snapshot_bytes', 'snapshot_seq', 'updated_at'], shown)
    for (const k of ['bytes', 'snapshot_bytes', 'log_bytes', 'log_updates', 'snapshot_seq', 'last_seq']) {
      assert.ok(Number.isInteger(d[k]) && d[k] >= 0, `${k}: ${shown}`)
    }
    assert.ok(d.bytes > 0, shown)
    assert.equal(d.bytes, d.snapshot_bytes + d.log_bytes, `bytes is the snapshot and the log: ${shown}`)
    assert.ok(d.last_seq >= d.snapshot_seq && d.last_seq > 0, shown)
    for (const k of ['created_at', 'updated_at']) {
      const at = Date.parse(d[k])
      assert.ok(Math.abs(at - written) < 60_000, `${k} is about now: ${shown}`)
    }
  }
  // Another write moves last_seq and updated_at on.
  const first = all.json.documents[0]
  await delay(20)
  await request(server, 'PUT', jsonPath(first.name, { field: 'text' }), { json: 'rewritten' })
  const again = (await expectStatus('GET', '/api/docs' + query({ prefix, limit: 1 }), 200)).json.documents[0]
  assert.equal(again.name, first.name)
  assert.ok(again.last_seq > first.last_seq, `${JSON.stringify(first)} then ${JSON.stringify(again)}`)
  assert.ok(Date.parse(again.updated_at) >= Date.parse(first.updated_at))
  assert.equal(again.created_at, first.created_at)

  assertErrorBody(await expectStatus('GET', '/api/docs' + query({ limit: 0 }), 400))
  assertErrorBody(await expectStatus('GET', '/api/docs' + query({ limit: 'ten' }), 400))
  assert.deepEqual((await expectStatus('GET', '/api/docs' + query({ prefix: uniqueDoc('nothing-here') }), 200)).json, { documents: [], next: null })
})

test('with authentication, the list and search show only what the token\'s scope covers', async (ctx) => {
  const SECRET = 'js-documents-secret-0123456789abcdef-0123456789abcdef'
  const authed = new PlaitServer({ env: { PLAIT_AUTH_SECRET: SECRET } })
  ctx.after(() => authed.dispose())
  await authed.start()
  const mint = (scope, mode) => execFileSync(plaitBin, ['token', '--doc', scope, '--mode', mode, '--ttl', '1h'], {
    env: { ...process.env, PLAIT_AUTH_SECRET: SECRET },
    encoding: 'utf8'
  }).trim()
  const base = `${uniqueDoc('scope')}/`
  const word = distinctiveWord('kakapo')
  const names = [`${base}a/1`, `${base}a/2`, `${base}b/1`]
  const writer = mint(`${base}*`, 'write')
  for (const n of names) {
    const res = await request(authed, 'PUT', jsonPath(n, { field: 'text' }), { json: `shared ${word} in ${n}`, token: writer })
    assert.equal(res.status, 200, res.what)
  }
  const listed = async (token, prefix) => (await listAll(authed, { token, prefix })).names
  const found = async (token, prefix) => (await search(authed, word, { token, prefix })).map((r) => r.name).sort()

  // The writer's scope covers all three; wait for the projection once.
  await waitUntil(async () => (await found(writer)).length === 3, { timeoutMs: 10000, intervalMs: 100, what: 'all three documents to be searchable' })
  assert.deepEqual(await listed(writer), names)

  const readA = mint(`${base}a/*`, 'read')
  assert.deepEqual(await listed(readA), names.slice(0, 2))
  assert.deepEqual(await listed(readA, base), names.slice(0, 2), 'a wider prefix is narrowed to the scope')
  assert.deepEqual(await listed(readA, `${base}a/2`), [`${base}a/2`])
  assert.deepEqual(await listed(readA, `${base}b/`), [], 'a prefix outside the scope')
  assert.deepEqual(await found(readA), names.slice(0, 2))
  assert.deepEqual(await found(readA, `${base}b/`), [])

  const readB1 = mint(`${base}b/1`, 'read')
  assert.deepEqual(await listed(readB1), [`${base}b/1`])
  assert.deepEqual(await found(readB1), [`${base}b/1`])

  // Without a token: 401. A read token cannot write or delete; a scope does not reach beyond itself.
  assertErrorBody(await (async () => { const r = await request(authed, 'GET', '/api/docs'); assert.equal(r.status, 401, r.what); return r })())
  assertErrorBody(await (async () => { const r = await request(authed, 'GET', '/api/search' + query({ q: word })); assert.equal(r.status, 401, r.what); return r })())
  const refused = async (method, path, token, status, opts = {}) => {
    const r = await request(authed, method, path, { token, ...opts })
    assert.equal(r.status, status, r.what)
  }
  await refused('PUT', jsonPath(`${base}a/1`, { field: 'text' }), readA, 403, { json: 'overwrite' })
  await refused('DELETE', docPath(`${base}a/1`), readA, 403)
  await refused('DELETE', docPath(`${base}b/1`), mint(`${base}a/*`, 'write'), 403)
  await refused('GET', jsonPath(`${base}b/1`), readA, 403)
  assert.equal((await request(authed, 'GET', jsonPath(`${base}a/1`, { field: 'text' }), { token: readA })).json, `shared ${word} in ${base}a/1`)

  // The writer deletes one: it leaves the list and search of every scope.
  const del = await request(authed, 'DELETE', docPath(`${base}a/2`), { token: writer })
  assert.equal(del.status, 200, del.what)
  assert.deepEqual(await listed(readA), [`${base}a/1`])
  assert.deepEqual(await found(readA), [`${base}a/1`])
})
