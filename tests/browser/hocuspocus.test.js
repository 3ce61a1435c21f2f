// End-to-end: the default page (ProseMirror + y-websocket on /ws/{doc}) and the Tiptap page
// (`/?provider=hocuspocus`, @hocuspocus/provider on /hocuspocus) edit one document together, in
// Chromium against the real plait binary. Run: npm ci && npm test (PLAIT_BIN overrides the binary).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertNoConsoleErrors, docUrl, freePort, freshDatabase, launchBrowser, openPage, screenshot,
  startServer, text, typeAtEnd, uniqueDoc, until, waitConnected, waitSaved
} from './harness.js'

let browser
before(async () => { browser = await launchBrowser() })
after(async () => { await browser?.close() })

/** A new context whose pages record the path of every WebSocket they open, from the first load on. */
async function recordingContext (contexts) {
  const ctx = await browser.newContext()
  contexts.push(ctx)
  ctx.on('page', (page) => {
    page.socketPaths = []
    page.on('websocket', (ws) => page.socketPaths.push(new URL(ws.url()).pathname))
  })
  return ctx
}

/** Records every value the page's "saved" pill takes from now on. */
const recordSavedStates = (page) => page.evaluate(() => {
  const el = document.querySelector('[data-testid="saved"]')
  window.savedStates = [el.dataset.state]
  new MutationObserver(() => window.savedStates.push(el.dataset.state))
    .observe(el, { attributes: true, attributeFilter: ['data-state'] })
})

const nameOf = (page) => page.locator('[data-testid="my-name"]').inputValue()
const listed = async (page, name) =>
  (await page.locator('[data-testid="presence"] li').allInnerTexts()).some((t) => t.includes(name))
const caretOf = async (page, name) =>
  (await page.locator('.ProseMirror-yjs-cursor', { hasText: name }).count()) === 1
/** The text of each element matching `selector` in the editor, remote carets left out. */
const textsOf = (page, selector) => page.locator(`.ProseMirror ${selector}`).evaluateAll((els) => els.map((el) => {
  const copy = el.cloneNode(true)
  for (const caret of copy.querySelectorAll('.ProseMirror-yjs-cursor')) caret.remove()
  return copy.textContent
}))

test('a y-websocket page and a Hocuspocus page edit one document together', async () => {
  const server = await startServer({ port: await freePort(), databaseUrl: freshDatabase() })
  const contexts = []
  try {
    const doc = uniqueDoc('mixed')
    const a = await openPage(await recordingContext(contexts), docUrl(server, doc))
    const b = await openPage(await recordingContext(contexts), docUrl(server, doc, { provider: 'hocuspocus' }))
    await Promise.all([waitConnected(a), waitConnected(b)])

    // A is the ProseMirror page on /ws, B the Tiptap page on /hocuspocus.
    assert.equal(await a.locator('.ProseMirror.tiptap').count(), 0)
    assert.equal(await b.locator('.ProseMirror.tiptap').count(), 1)
    assert.ok(a.socketPaths.length > 0 && a.socketPaths.every((p) => p.startsWith('/ws/')), `A's sockets: ${a.socketPaths}`)
    assert.ok(b.socketPaths.length > 0 && b.socketPaths.every((p) => p === '/hocuspocus'), `B's sockets: ${b.socketPaths}`)

    await typeAtEnd(a, 'Typed on the y-websocket page.')
    await until('A\'s words in B', async () => (await text(b)) === 'Typed on the y-websocket page.')

    await recordSavedStates(b)
    await typeAtEnd(b, ' Typed on the Hocuspocus page.')
    await b.keyboard.press('Enter')
    await b.keyboard.type('A second paragraph from B')
    const expected = 'Typed on the y-websocket page. Typed on the Hocuspocus page.\nA second paragraph from B'
    await until('B\'s words in A', async () => (await text(a)) === expected)
    assert.equal(await text(b), expected)

    // Each sees the other, in the list and as a named caret.
    const [nameA, nameB] = [await nameOf(a), await nameOf(b)]
    assert.notEqual(nameA, nameB)
    await until('B in A\'s presence list', () => listed(a, nameB))
    await until('A in B\'s presence list', () => listed(b, nameA))
    await until('B\'s caret in A', () => caretOf(a, nameB))
    await until('A\'s caret in B', () => caretOf(b, nameA))

    // B's badge went to "saving" for its edits and back to "saved" once Plait acknowledged them.
    await Promise.all([waitSaved(a), waitSaved(b)])
    const states = await b.evaluate(() => window.savedStates)
    assert.ok(states.includes('saving'), `B's saved pill never showed saving: ${states}`)
    assert.equal(states.at(-1), 'saved')

    // Formatting crosses over too: a heading typed on A, bold typed on B (strong on both pages).
    await typeAtEnd(a, '')
    await a.keyboard.press('Enter')
    await a.keyboard.type('## Heading from A')
    await until('A\'s heading in B', async () => (await textsOf(b, 'h2')).includes('Heading from A'))
    await typeAtEnd(b, '')
    await b.keyboard.press('Enter')
    await b.keyboard.press('Control+b')
    await b.keyboard.type('Bold from B')
    await until('B\'s bold in A', async () => (await textsOf(a, 'p strong')).includes('Bold from B'))
    await until('both pages converge', async () => (await text(a)) === (await text(b)))
    await Promise.all([waitSaved(a), waitSaved(b)])
    await screenshot(a, '6-mixed-y-websocket')
    await screenshot(b, '6-mixed-hocuspocus')

    // What both pages saw is what the server holds: fresh browsers on either provider load it.
    const final = await text(a)
    const readers = []
    for (const provider of [undefined, 'hocuspocus']) {
      const reader = await openPage(await recordingContext(contexts), docUrl(server, doc, { provider }))
      await until(`a fresh ${provider ?? 'y-websocket'} reader sees the text`, async () => (await text(reader)) === final)
      readers.push(reader)
    }
    assertNoConsoleErrors(assert, a, b, ...readers)
  } finally {
    for (const ctx of contexts) await ctx.close().catch(() => {})
    await server.stop()
  }
})
