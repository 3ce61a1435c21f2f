// Versions of a document seen from the web demo's History panel in Chromium, against the real
// plait binary (`GET/POST /api/docs/{doc}/versions`, `.../versions/{id}/update`, `.../restore`):
//  - page A saves a named version from the panel, then the text changes;
//  - page B previews that version read-only (the preview shows the old text while both live
//    editors keep the new one, and the server's document is untouched), then restores it: both
//    pages show the old text live, without a reload or a reconnect;
//  - the restore left a `restore` version in the list (also in A's open panel, which refreshes by
//    itself); restoring it from the panel brings the newer text back on both pages;
//  - the same on the Tiptap page (`?provider=hocuspocus`), whose preview renders with Tiptap's
//    schema, undone with the panel's "Undo" link.
// Run: npm ci && PLAIT_BIN=../../target/release/plait node --test --test-timeout=120000 history.test.js
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertNoConsoleErrors, docUrl, launchBrowser, openPage, pill, screenshot, text, typeAtEnd,
  uniqueDoc, until, waitConnected, waitSaved, withServerIn
} from './harness.js'

/** Both flavours of the demo edit this root (web-demo/src/main.js). */
const FIELD = 'prosemirror'

let browser
before(async () => { browser = await launchBrowser() })
after(async () => { await browser?.close() })

const withServer = (body) => withServerIn(browser, body)

/** One request to the server; `{ status, json, what }`. */
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

const docPath = (name) => `/api/docs/${encodeURIComponent(name)}`
const serverText = async (server, name) => {
  const res = await api(server, 'GET', `${docPath(name)}/json?${new URLSearchParams({ field: FIELD, format: 'text' })}`)
  assert.equal(res.status, 200, res.what)
  return res.json
}
const listVersions = async (server, name) => {
  const res = await api(server, 'GET', `${docPath(name)}/versions`)
  assert.equal(res.status, 200, res.what)
  return res.json.versions
}

const tid = (page, id) => page.locator(`[data-testid="${id}"]`)
const items = (page) => tid(page, 'version-item')
/** The list entry whose name is exactly `name`. */
const itemNamed = (page, name) => items(page).filter({
  has: page.locator('[data-testid="version-name"]', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) })
})

async function openHistory (page) {
  await tid(page, 'history-toggle').click()
  await tid(page, 'history-panel').waitFor({ state: 'visible', timeout: 5_000 })
  assert.equal(await tid(page, 'history-toggle').getAttribute('aria-expanded'), 'true')
}

/** The preview's text, one line per block (as `text()` reads the editor). */
const previewText = async (page) => (await tid(page, 'version-preview-doc').innerText())
  .split('\n').filter((line) => line.trim() !== '').join('\n')

/** Clicks a list entry and waits until its preview is rendered; returns the preview's text. */
async function preview (page, item) {
  const id = await item.getAttribute('data-version-id')
  await item.click()
  const shown = tid(page, 'version-preview')
  await until(`version ${id} previewed`, async () =>
    (await shown.getAttribute('data-version-id')) === id && (await shown.getAttribute('data-state')) === 'shown')
  return previewText(page)
}

/** Marks the page so that a reload (which would lose the mark) or a navigation is noticed. */
async function markNoReload (page) {
  await page.evaluate(() => { window.__plaitNoReload = true })
  return page.evaluate(() => performance.getEntriesByType('navigation').length)
}
async function assertNotReloaded (page, navigations) {
  assert.equal(await page.evaluate(() => window.__plaitNoReload), true, 'the page was not reloaded')
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), navigations)
}

/** Replaces the editor's whole text by typing over a select-all. */
async function retype (page, words) {
  await page.locator('.ProseMirror').click()
  await page.keyboard.press('Control+A')
  await page.keyboard.type(words)
}

const OLD = 'The reviewed draft.'
const NEW = 'Rewritten after the review.'

test('a version saved in the panel is previewed read-only and restored live on every page', async () => {
  await withServer(async ({ server, newContext }) => {
    // A `/` in the name: the panel's requests percent-encode it.
    const doc = `${uniqueDoc('history')}/notes`
    const a = await openPage(await newContext(), docUrl(server, doc))
    const b = await openPage(await newContext(), docUrl(server, doc))
    await Promise.all([waitConnected(a), waitConnected(b)])

    await typeAtEnd(a, OLD)
    await until('A\'s words in B', async () => (await text(b)) === OLD)
    await waitSaved(a)

    // A saves a named version from the panel.
    await openHistory(a)
    await tid(a, 'version-name-input').fill('before review')
    await tid(a, 'version-save').click()
    await until('the named version in A\'s list', async () => (await itemNamed(a, 'before review').count()) === 1)
    const saved = itemNamed(a, 'before review')
    assert.equal(await saved.getAttribute('data-kind'), 'named')
    assert.equal(await tid(a, 'version-name-input').inputValue(), '', 'the name field is cleared')
    assert.match(await tid(a, 'history-note').innerText(), /saved/i)
    const named = (await listVersions(server, doc)).filter((v) => v.kind === 'named')
    assert.equal(named.length, 1, JSON.stringify(named))
    assert.equal(named[0].name, 'before review')
    assert.equal(String(named[0].id), await saved.getAttribute('data-version-id'))
    // Who typed since the version before (no authentication here: "anonymous").
    assert.deepEqual(named[0].authors, [{ sub: 'anonymous', via: 'ws' }], JSON.stringify(named))
    assert.match(await saved.innerText(), /edits by anonymous/)

    // The text changes after the version.
    await retype(a, NEW)
    await until('the new text in both pages', async () => (await text(a)) === NEW && (await text(b)) === NEW)
    await Promise.all([waitSaved(a), waitSaved(b)])
    await until('the new text on the server', async () => (await serverText(server, doc)) === NEW)

    // B previews the named version: old text in the preview, the new one live everywhere.
    await openHistory(b)
    await until('the named version in B\'s list', async () => (await itemNamed(b, 'before review').count()) === 1)
    assert.equal(await preview(b, itemNamed(b, 'before review')), OLD)
    assert.equal(await tid(b, 'version-preview-title').innerText(), 'before review')
    assert.equal(await itemNamed(b, 'before review').getAttribute('aria-current'), 'true')
    assert.equal(await text(b), NEW, 'the live editor still shows the current text')
    assert.equal(await text(a), NEW)
    assert.equal(await b.locator('.ProseMirror').count(), 1, 'the preview is no second editor')
    assert.equal(await tid(b, 'version-preview-doc').evaluate((el) => el.isContentEditable), false, 'the preview is read-only')
    assert.equal(await serverText(server, doc), NEW, 'previewing changed nothing on the server')
    await screenshot(b, 'history-preview')

    // B restores it: both pages show the old text live.
    const navA = await markNoReload(a)
    const navB = await markNoReload(b)
    await tid(b, 'version-restore').click()
    await until('the restored text in B', async () => (await text(b)) === OLD)
    await until('the restored text in A, live', async () => (await text(a)) === OLD)
    await assertNotReloaded(a, navA)
    await assertNotReloaded(b, navB)
    assert.equal(await pill(a, 'connection'), 'connected')
    assert.equal(await pill(b, 'connection'), 'connected')
    await until('the restored text on the server', async () => (await serverText(server, doc)) === OLD)
    assert.match(await tid(b, 'history-note').innerText(), /restored/i)

    // The restore left a `restore` version, the one that undoes it; A's open panel lists it by
    // itself (it refreshes every few seconds).
    const restoreItem = (page) => items(page).filter({ has: page.locator('.kind[data-kind="restore"]') })
    await until('the restore version in B\'s list', async () => (await restoreItem(b).count()) === 1)
    await until('the restore version in A\'s list, unasked', async () => (await restoreItem(a).count()) === 1, 12_000)
    const undoId = await restoreItem(b).getAttribute('data-version-id')
    assert.equal(await tid(b, 'version-undo').getAttribute('data-undo-version'), undoId, 'the note\'s Undo restores that version')
    const stored = (await listVersions(server, doc)).filter((v) => v.kind === 'restore')
    assert.deepEqual(stored.map((v) => String(v.id)), [undoId])
    await screenshot(b, 'history-restored')

    // Restoring it from the panel brings the newer text back, on both pages.
    assert.equal(await preview(b, restoreItem(b)), NEW)
    await tid(b, 'version-restore').click()
    await until('the newer text back in B', async () => (await text(b)) === NEW)
    await until('the newer text back in A, live', async () => (await text(a)) === NEW)
    await assertNotReloaded(a, navA)
    await assertNotReloaded(b, navB)
    await until('the newer text back on the server', async () => (await serverText(server, doc)) === NEW)

    // Editing goes on on top of it.
    await typeAtEnd(a, ' And more.')
    await until('A\'s edit in B', async () => (await text(b)) === `${NEW} And more.`)
    await Promise.all([waitSaved(a), waitSaved(b)])
    await until('the edit on the server', async () => (await serverText(server, doc)) === `${NEW} And more.`)

    // Closing the preview and the panel.
    await tid(b, 'version-preview-close').click()
    await tid(b, 'version-preview').waitFor({ state: 'hidden', timeout: 5_000 })
    await tid(b, 'history-toggle').click()
    await tid(b, 'history-panel').waitFor({ state: 'hidden', timeout: 5_000 })
    assertNoConsoleErrors(assert, a, b)
  })
})

test('the Tiptap page previews and restores a version live, and its Undo link undoes the restore', async () => {
  await withServer(async ({ server, newContext }) => {
    const doc = uniqueDoc('history-tiptap')
    const tiptap = await openPage(await newContext(), docUrl(server, doc, { provider: 'hocuspocus' }))
    const plain = await openPage(await newContext(), docUrl(server, doc))
    await Promise.all([waitConnected(tiptap), waitConnected(plain)])
    assert.equal(await tiptap.locator('.ProseMirror.tiptap').count(), 1, 'the Tiptap editor')

    // A heading and a bold word, so the preview has to render Tiptap's nodes and marks.
    await tiptap.locator('.ProseMirror').click()
    await tiptap.keyboard.type('# Plan')
    await tiptap.keyboard.press('Enter')
    await tiptap.keyboard.type('Keep ')
    await tiptap.keyboard.press('Control+B')
    await tiptap.keyboard.type('this')
    await tiptap.keyboard.press('Control+B')
    const before = 'Plan\nKeep this'
    await until('the text in both pages', async () => (await text(tiptap)) === before && (await text(plain)) === before)
    await waitSaved(tiptap)

    await openHistory(tiptap)
    await tid(tiptap, 'version-name-input').fill('plan v1')
    await tid(tiptap, 'version-save').click()
    await until('the named version in the list', async () => (await itemNamed(tiptap, 'plan v1').count()) === 1)

    await retype(plain, 'Something else entirely')
    const after = 'Something else entirely'
    await until('the change in both pages', async () => (await text(tiptap)) === after && (await text(plain)) === after)
    await Promise.all([waitSaved(tiptap), waitSaved(plain)])

    assert.equal(await preview(tiptap, itemNamed(tiptap, 'plan v1')), before)
    assert.equal(await tid(tiptap, 'version-preview-doc').locator('h1').innerText(), 'Plan')
    assert.equal(await tid(tiptap, 'version-preview-doc').locator('strong').innerText(), 'this')
    assert.equal(await text(tiptap), after, 'the live Tiptap editor still shows the current text')

    const navT = await markNoReload(tiptap)
    const navP = await markNoReload(plain)
    await tid(tiptap, 'version-restore').click()
    await until('the version in the Tiptap page', async () => (await text(tiptap)) === before)
    await until('the version in the ProseMirror page, live', async () => (await text(plain)) === before)
    assert.equal(await tiptap.locator('.ProseMirror h1').innerText(), 'Plan')
    assert.equal(await plain.locator('.ProseMirror strong').innerText(), 'this')
    await screenshot(tiptap, 'history-tiptap-restored')

    // The note's Undo link restores the version cut just before.
    await tid(tiptap, 'version-undo').click()
    await until('the undone restore in the Tiptap page', async () => (await text(tiptap)) === after)
    await until('the undone restore in the ProseMirror page', async () => (await text(plain)) === after)
    await assertNotReloaded(tiptap, navT)
    await assertNotReloaded(plain, navP)
    await until('the undone restore on the server', async () => (await serverText(server, doc)) === after)
    await Promise.all([waitSaved(tiptap), waitSaved(plain)])
    assertNoConsoleErrors(assert, tiptap, plain)
  })
})
