// Documents as data (issue 24) seen from the web demo in Chromium, against the real plait binary:
//  - words typed in the demo's default editor (ProseMirror + y-prosemirror over y-websocket, the
//    Y.XmlFragment `prosemirror`) are found by `GET /api/search` within seconds, and
//    `GET /api/docs/{doc}/json` renders them;
//  - `PUT /api/docs/{doc}/json?field=prosemirror` with ProseMirror JSON of the demo's schema
//    replaces what the open page shows, live, without a reload or a reconnect, and the page
//    keeps editing on top of it; the same for the demo's Tiptap page (`?provider=hocuspocus`, over
//    the Hocuspocus endpoint; its schema uses the ProseMirror page's node and mark names).
// Run: npm ci && PLAIT_BIN=../../target/release/plait node --test documents.test.js
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertNoConsoleErrors, docUrl, launchBrowser, openPage, pill, screenshot, text, typeAtEnd,
  uniqueDoc, until, waitConnected, waitSaved, withServerIn
} from './harness.js'

/** The demo's default editor edits this root of the document (web-demo/src/main.js). */
const FIELD = 'prosemirror'

let browser
before(async () => { browser = await launchBrowser() })
after(async () => { await browser?.close() })

/** Runs `body` with a fresh server (see harness.js). */
const withServer = (body) => withServerIn(browser, body)

/** One JSON request to the server; `{ status, json, what }`. */
async function api (server, method, path, body) {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000)
  })
  const raw = await res.text()
  let json = null
  try { json = JSON.parse(raw) } catch { /* not JSON */ }
  return { status: res.status, json, what: `${method} ${path} -> ${res.status} ${raw.slice(0, 500)}` }
}

const jsonPath = (name, params) => `/api/docs/${encodeURIComponent(name)}/json?${new URLSearchParams(params)}`
const randomWord = (stem) => stem + Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')

test('words typed in the demo are found by GET /api/search within seconds', async (ctx) => {
  await withServer(async ({ server, newContext }) => {
    const doc = `${uniqueDoc('search')}/notes`
    const page = await openPage(await newContext(), docUrl(server, doc))
    await waitConnected(page)
    const word = randomWord('quokka')
    await typeAtEnd(page, `Meeting notes about ${word} and more`)
    const typed = Date.now()
    // The projection settles 1 s after the last keystroke (5 s at most under typing).
    let last = null
    const hit = await until(`search for "${word}" to list ${doc}`, async () => {
      last = await api(server, 'GET', `/api/search?${new URLSearchParams({ q: word })}`)
      return last.status === 200 && last.json.results.find((r) => r.name === doc)
    }, 8_000).catch((err) => { throw new Error(`${err.message}\nlast answer: ${last?.what}`) })
    const took = Date.now() - typed
    assert.ok(hit.snippet.includes(`**${word}**`), `the snippet marks the word: ${JSON.stringify(hit)}`)
    assert.ok(took < 8_000, `found after ${took} ms`)
    ctx.diagnostic(`found ${took} ms after typing`)

    const json = await api(server, 'GET', jsonPath(doc, { field: FIELD, format: 'text' }))
    assert.equal(json.status, 200, json.what)
    assert.equal(json.json, await text(page), 'the plain text is what the page shows')
    const whole = await api(server, 'GET', jsonPath(doc, { field: FIELD }))
    assert.equal(whole.status, 200, whole.what)
    assert.equal(whole.json.type, 'doc')
    assert.ok(JSON.stringify(whole.json).includes(word), whole.what)

    // Two words of the text: found; a word not in it: not.
    const both = await api(server, 'GET', `/api/search?${new URLSearchParams({ q: `meeting ${word}` })}`)
    assert.deepEqual(both.json.results.map((r) => r.name), [doc], both.what)
    const none = await api(server, 'GET', `/api/search?${new URLSearchParams({ q: `${word} ${randomWord('absent')}` })}`)
    assert.deepEqual(none.json.results, [], none.what)
    await waitSaved(page)
    assertNoConsoleErrors(assert, page)
  })
})

test('PUT .../json replaces the content of an open page live, without a reload', async () => {
  await withServer(async ({ server, newContext }) => {
    const doc = uniqueDoc('put')
    const page = await openPage(await newContext(), docUrl(server, doc))
    await waitConnected(page)
    await typeAtEnd(page, 'Typed before the PUT')
    await waitSaved(page)
    await until('the typed text on the server', async () => {
      const res = await api(server, 'GET', jsonPath(doc, { field: FIELD, format: 'text' }))
      return res.status === 200 && res.json === 'Typed before the PUT'
    })
    // A marker that a reload would lose.
    await page.evaluate(() => { window.__plaitNoReload = true })
    const navigations = await page.evaluate(() => performance.getEntriesByType('navigation').length)

    // ProseMirror JSON of the demo's schema (prosemirror-schema-basic + lists).
    const body = {
      type: 'doc',
      content: [
        { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'Replaced by PUT' }] },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'Plain then ' },
            { type: 'text', marks: [{ type: 'strong' }], text: 'bold' },
            { type: 'text', text: ' then ' },
            { type: 'text', marks: [{ type: 'em' }], text: 'italic 😀' }
          ]
        },
        {
          type: 'bullet_list',
          content: [
            { type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'first item' }] }] },
            { type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'second item' }] }] }
          ]
        }
      ]
    }
    const put = await api(server, 'PUT', jsonPath(doc, { field: FIELD }), body)
    assert.equal(put.status, 200, put.what)
    assert.equal(put.json.applied, true, put.what)
    assert.equal(put.json.durable, true, put.what)

    const expected = 'Replaced by PUT\nPlain then bold then italic 😀\nfirst item\nsecond item'
    await until('the PUT content in the page', async () => (await text(page)) === expected)
    assert.equal(await page.locator('.ProseMirror h2').innerText(), 'Replaced by PUT')
    assert.equal(await page.locator('.ProseMirror strong').innerText(), 'bold')
    assert.equal(await page.locator('.ProseMirror em').innerText(), 'italic 😀')
    assert.equal(await page.locator('.ProseMirror ul > li').count(), 2)
    assert.equal(await page.evaluate(() => window.__plaitNoReload), true, 'the page was not reloaded')
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), navigations)
    assert.equal(await pill(page, 'connection'), 'connected')

    // The page goes on editing on top of the replaced content, and the server sees it.
    await typeAtEnd(page, ' and more')
    await waitSaved(page)
    await until('the new words on the server', async () => {
      const res = await api(server, 'GET', jsonPath(doc, { field: FIELD, format: 'text' }))
      return res.status === 200 && res.json === `${expected} and more`
    })
    // A second page opened now reads the same.
    const other = await openPage(await newContext(), docUrl(server, doc))
    await until('the same text in a fresh page', async () => (await text(other)) === `${expected} and more`)
    await screenshot(page, 'documents-put-live')
    assertNoConsoleErrors(assert, page, other)
  })
})

test('PUT .../json reaches the demo\'s Tiptap page (Hocuspocus provider) live', async () => {
  await withServer(async ({ server, newContext }) => {
    const doc = uniqueDoc('put-tiptap')
    const page = await openPage(await newContext(), docUrl(server, doc, { provider: 'hocuspocus' }))
    await waitConnected(page)
    assert.equal(await page.locator('.ProseMirror.tiptap').count(), 1, 'the Tiptap editor')
    await typeAtEnd(page, 'Typed in Tiptap')
    await waitSaved(page)
    await page.evaluate(() => { window.__plaitNoReload = true })

    const body = {
      type: 'doc',
      content: [
        { type: 'heading', attrs: { level: 1 }, content: [{ type: 'text', text: 'Tiptap by PUT' }] },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'with ' },
            { type: 'text', marks: [{ type: 'strong' }], text: 'bold' },
            { type: 'text', text: ' and ' },
            { type: 'text', marks: [{ type: 'strong' }, { type: 'em' }], text: 'both' }
          ]
        },
        { type: 'bullet_list', content: [{ type: 'list_item', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'an item 中文' }] }] }] }
      ]
    }
    const put = await api(server, 'PUT', jsonPath(doc, { field: FIELD }), body)
    assert.equal(put.status, 200, put.what)
    const expected = 'Tiptap by PUT\nwith bold and both\nan item 中文'
    let shown = null
    await until('the PUT content in the Tiptap page', async () => (shown = await text(page)) === expected)
      .catch(async (err) => {
        const stored = await api(server, 'GET', jsonPath(doc, { field: FIELD }))
        throw new Error(`${err.message}\npage shows: ${JSON.stringify(shown)}\nserver: ${stored.what}`)
      })
    assert.equal(await page.locator('.ProseMirror h1').innerText(), 'Tiptap by PUT')
    assert.equal(await page.locator('.ProseMirror ul > li').count(), 1)
    assert.equal(await page.locator('.ProseMirror strong').count(), 2)
    assert.equal(await page.evaluate(() => window.__plaitNoReload), true, 'the page was not reloaded')
    await waitConnected(page)
    // The editor kept every node and mark (a binding deletes from the document what its schema
    // cannot build): the server still holds exactly the PUT body, marks with `attrs: {}`.
    const withAttrs = (n) => ({ ...n, ...(n.marks ? { marks: n.marks.map((m) => ({ ...m, attrs: {} })) } : {}), ...(n.content ? { content: n.content.map(withAttrs) } : {}) })
    const stored = await api(server, 'GET', jsonPath(doc, { field: FIELD }))
    assert.deepEqual(stored.json, withAttrs(body), stored.what)

    await typeAtEnd(page, '!')
    await waitSaved(page)
    await until('the Tiptap edit on the server', async () => {
      const res = await api(server, 'GET', jsonPath(doc, { field: FIELD, format: 'text' }))
      return res.status === 200 && res.json === `${expected}!`
    })
    assertNoConsoleErrors(assert, page)
  })
})
