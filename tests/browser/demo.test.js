// End-to-end tests of the web demo (issue 3) in Chromium against the real plait binary.
// Run: npm ci && npm test   (PLAIT_BIN overrides the binary, default ../../target/debug/plait)
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  assertNoConsoleErrors, docUrl, freePort, freshDatabase, launchBrowser, openPage, pill, screenshot,
  startServer, text, typeAtEnd, uniqueDoc, until, waitConnected, waitSaved, withServerIn
} from './harness.js'

let browser
before(async () => { browser = await launchBrowser() })
after(async () => { await browser?.close() })

/** Runs `body` with a fresh server (see harness.js). */
const withServer = (body) => withServerIn(browser, body)

test('two pages on one document see each other type and each other\'s caret', async () => {
  await withServer(async ({ server, newContext }) => {
    const doc = uniqueDoc('pair')
    const a = await openPage(await newContext(), docUrl(server, doc))
    const b = await openPage(await newContext({ viewport: { width: 390, height: 844 } }), docUrl(server, doc))
    await Promise.all([waitConnected(a), waitConnected(b)])

    await typeAtEnd(a, 'Hello from page A')
    await until('A\'s words in B', async () => (await text(b)).includes('Hello from page A'))

    const nameA = await a.locator('[data-testid="my-name"]').inputValue()
    const nameB = await b.locator('[data-testid="my-name"]').inputValue()
    assert.ok(nameA.length > 0)
    // Presence: B draws A's caret with A's name, and lists A as here.
    await until('A\'s caret in B', async () =>
      (await b.locator('.ProseMirror-yjs-cursor', { hasText: nameA }).count()) === 1)
    await until('A in B\'s presence list', async () =>
      (await b.locator('[data-testid="presence"] li').allInnerTexts()).some((t) => t.includes(nameA)))
    // Renaming shows up on the other side.
    await b.locator('[data-testid="my-name"]').fill('Renamed Reviewer')
    await until('B\'s new name in A', async () =>
      (await a.locator('[data-testid="presence"]').innerText()).includes('Renamed Reviewer'))
    assert.notEqual(nameB, 'Renamed Reviewer')

    await typeAtEnd(b, ' and B')
    await until('B\'s words in A', async () => (await text(a)).includes('Hello from page A and B'))
    await Promise.all([waitSaved(a), waitSaved(b)])
    await screenshot(a, '1-pair-a')
    await screenshot(b, '1-pair-b-narrow')
    assertNoConsoleErrors(assert, a, b)
  })
})

test('content survives a reload and a server restart', async () => {
  const databaseUrl = freshDatabase()
  const port = await freePort()
  let server = await startServer({ port, databaseUrl })
  const browserContext = await browser.newContext()
  try {
    const doc = uniqueDoc('durable')
    const page = await openPage(browserContext, docUrl(server, doc))
    await waitConnected(page)
    await typeAtEnd(page, 'Words that must reach SQL')
    await waitSaved(page)

    await page.reload()
    await page.waitForSelector('.ProseMirror')
    await until('content after reload', async () => (await text(page)).includes('Words that must reach SQL'))
    await waitSaved(page)

    page.expectNetworkErrors = true
    await server.stop()
    await until('page notices the server is gone', async () => (await pill(page, 'connection')) !== 'connected')
    server = await startServer({ port, databaseUrl })
    await waitSaved(page)
    page.expectNetworkErrors = false

    // A browser with no local copy (fresh IndexedDB) must get the text from the restarted server.
    const fresh = await openPage(await browser.newContext(), docUrl(server, doc))
    try {
      await until('content from the restarted server', async () => (await text(fresh)).includes('Words that must reach SQL'))
      await screenshot(fresh, '2-after-restart')
      assertNoConsoleErrors(assert, page, fresh)
    } finally {
      await fresh.context().close()
    }
  } finally {
    await browserContext.close()
    await server.stop()
  }
})

test('an offline page keeps editing and converges when back online', async () => {
  await withServer(async ({ server, newContext }) => {
    const doc = uniqueDoc('offline')
    const online = await openPage(await newContext(), docUrl(server, doc))
    const ctxOff = await newContext()
    const offline = await openPage(ctxOff, docUrl(server, doc))
    await typeAtEnd(online, 'Shared start.')
    await until('start in both', async () => (await text(offline)).includes('Shared start.'))
    await Promise.all([waitSaved(online), waitSaved(offline)])

    offline.expectNetworkErrors = true
    await ctxOff.setOffline(true)
    await until('offline pill', async () => (await pill(offline, 'connection')) === 'offline')
    assert.equal(await pill(offline, 'saved'), 'offline')

    await typeAtEnd(online, ' Online edit.')
    await typeAtEnd(offline, ' Offline edit.')
    await waitSaved(online)
    assert.ok(!(await text(online)).includes('Offline edit.'), 'offline edit must not leak while offline')
    assert.ok(!(await text(offline)).includes('Online edit.'), 'online edit must not arrive while offline')

    await ctxOff.setOffline(false)
    const converged = async () => {
      const [x, y] = [await text(online), await text(offline)]
      return x === y && x.includes('Online edit.') && x.includes('Offline edit.')
    }
    await until('both pages converge', converged)
    // Presence comes back too, well before y-websocket's 15 s awareness renewal would restore it.
    const onlineName = await online.locator('[data-testid="my-name"]').inputValue()
    const offlineName = await offline.locator('[data-testid="my-name"]').inputValue()
    const lists = async (page, name) =>
      (await page.locator('[data-testid="presence"] li').allInnerTexts()).some((t) => t.includes(name))
    await until('the online visitor back in the reconnected page\'s list', () => lists(offline, onlineName), 5_000)
    await until('the reconnected visitor in the online page\'s list', () => lists(online, offlineName), 5_000)
    await Promise.all([waitSaved(online), waitSaved(offline)])
    offline.expectNetworkErrors = false
    await screenshot(offline, '3-offline-converged')

    // What converged is what the server stored: a fresh browser sees the same text.
    const check = await openPage(await newContext(), docUrl(server, doc))
    await until('fresh reader sees the merged text', async () => (await text(check)) === (await text(online)))
    assertNoConsoleErrors(assert, online, offline, check)
  })
})

test('two documents do not mix', async () => {
  await withServer(async ({ server, newContext }) => {
    const ctx = await newContext()
    const first = uniqueDoc('alpha')
    const second = `${uniqueDoc('beta')} with spaces & ünïcode`
    const a = await openPage(ctx, docUrl(server, first))
    const b = await openPage(ctx, docUrl(server, second))
    await typeAtEnd(a, 'only in alpha')
    await typeAtEnd(b, 'only in beta')
    await Promise.all([waitSaved(a), waitSaved(b)])
    assert.equal(await b.locator('[data-testid="doc-name"]').innerText(), second)

    const readerCtx = await newContext()
    const ra = await openPage(readerCtx, docUrl(server, first))
    const rb = await openPage(readerCtx, docUrl(server, second))
    await until('alpha reader', async () => (await text(ra)).includes('only in alpha'))
    await until('beta reader', async () => (await text(rb)).includes('only in beta'))
    assert.ok(!(await text(ra)).includes('beta'))
    assert.ok(!(await text(rb)).includes('alpha'))
    // Both documents are in the recently opened list, also in the tab opened before the other
    // document was (the list follows other tabs of the browser; that news arrives asynchronously).
    const recentLists = async (page) => page.locator('[data-testid="recent"] a').allInnerTexts()
    for (const page of [a, ra]) {
      await until('both documents in the recent list', async () => {
        const names = await recentLists(page)
        return names.includes(first) && names.includes(second)
      })
    }
    assert.deepEqual(await a.locator('[data-testid="recent"] a[aria-current]').allInnerTexts(), [first])
    await screenshot(rb, '4-second-doc')
    assertNoConsoleErrors(assert, a, b, ra, rb)
  })
})

test('the storage panel shows the SQL log growing as you type', async () => {
  await withServer(async ({ server, newContext }) => {
    const page = await openPage(await newContext(), docUrl(server, uniqueDoc('stats')))
    await waitConnected(page)
    assert.match(await page.locator('[data-testid="stats-note"]').innerText(), /not stored yet/i)

    const count = async () => Number.parseInt(await page.locator('[data-testid="stat-log-updates"]').innerText(), 10)
    await typeAtEnd(page, 'first words')
    await waitSaved(page)
    const before = await until('a first update count', async () => { const n = await count(); return n > 0 && n })

    await typeAtEnd(page, ' and more words')
    await waitSaved(page)
    await until('the update count to grow', async () => (await count()) > before)

    // The panel reads the documented endpoint; it agrees with the figure shown.
    const stats = await page.evaluate(async () => {
      const name = decodeURIComponent(location.hash.slice('#/d/'.length))
      return (await fetch(`/api/docs/${encodeURIComponent(name)}`)).json()
    })
    assert.ok(stats.log_updates + stats.snapshot_seq > 0)
    assert.ok(stats.last_write_at, 'last_write_at set after a write')
    await screenshot(page, '5-storage-panel')
    assertNoConsoleErrors(assert, page)
  })
})
