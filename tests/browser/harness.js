// Test harness: starts the real `plait` binary on a free loopback port with a fresh SQLite file,
// drives Debian's Chromium through playwright-core, and records console errors per page.
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
export const PLAIT_BIN = process.env.PLAIT_BIN || resolve(here, '../../target/debug/plait')
export const SCREENSHOTS = join(here, 'screenshots')
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
export const TIMEOUT = 15_000

/** Polls `check` until it returns a truthy value or `timeout` ms pass; returns that value. */
export async function until (what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    try {
      const value = await check()
      if (value) return value
      last = value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`)
    await delay(50)
  }
}

export function freePort () {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolvePort(port))
    })
  })
}

/** A fresh database path in its own temporary directory. */
export function freshDatabase () {
  const dir = mkdtempSync(join(tmpdir(), 'plait-browser-'))
  return `sqlite://${join(dir, 'plait.db')}?mode=rwc`
}

/** Starts `plait serve`; resolves once GET /healthz answers 200. */
export async function startServer ({ port, databaseUrl }) {
  if (!existsSync(PLAIT_BIN)) throw new Error(`no plait binary at ${PLAIT_BIN} (build it or set PLAIT_BIN)`)
  const child = spawn(PLAIT_BIN, ['serve', '--bind', `127.0.0.1:${port}`, '--database-url', databaseUrl], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' }
  })
  let output = ''
  const keep = (chunk) => { output = (output + chunk).slice(-20_000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })))
  let dead = false
  exited.then(() => { dead = true })
  const url = `http://127.0.0.1:${port}`
  try {
    await until('plait /healthz', async () => {
      if (dead) throw new Error('exited early')
      const res = await fetch(`${url}/healthz`)
      return res.ok
    }, 30_000)
  } catch (err) {
    child.kill('SIGKILL')
    throw new Error(`plait did not become healthy: ${err.message}\n--- server output ---\n${output}`)
  }
  return {
    url,
    output: () => output,
    /** SIGTERM (graceful shutdown flushes to SQL), then SIGKILL if it hangs. */
    async stop () {
      if (dead) return exited
      child.kill('SIGTERM')
      const result = await Promise.race([exited, delay(15_000).then(() => null)])
      if (result === null) {
        child.kill('SIGKILL')
        await exited
        throw new Error(`plait did not exit within 15 s of SIGTERM\n${output}`)
      }
      return result
    }
  }
}

export function launchBrowser () {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
}

/** Network errors the browser itself logs while a test has deliberately cut the connection. */
const NETWORK_NOISE = /WebSocket connection to .* failed|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|Failed to load resource: net::/

/**
 * Opens a page and records console errors and uncaught exceptions. `page.expectNetworkErrors` is
 * set by tests only while they keep a page offline or the server down.
 */
export async function openPage (context, url) {
  const page = await context.newPage()
  page.consoleErrors = []
  page.expectNetworkErrors = false
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const text = msg.text()
    if (page.expectNetworkErrors && NETWORK_NOISE.test(text)) return
    page.consoleErrors.push(text)
  })
  page.on('pageerror', (err) => page.consoleErrors.push(`uncaught: ${err.message}`))
  await page.goto(url)
  await page.waitForSelector('.ProseMirror', { timeout: TIMEOUT })
  return page
}

/**
 * The demo page for document `name`; `{ provider: 'hocuspocus' }` opens the Tiptap page that syncs
 * over Plait's Hocuspocus endpoint instead of y-websocket.
 */
export const docUrl = (server, name, { provider } = {}) =>
  `${server.url}/${provider ? `?provider=${encodeURIComponent(provider)}` : ''}#/d/${encodeURIComponent(name)}`
export const uniqueDoc = (label) => `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

/**
 * The document's text as the editor shows it, one line per block. Remote carets are left out:
 * y-prosemirror draws them as widgets inside the text (the peer's name and two word joiners), so
 * `innerText` would mix presence into content and two converged pages would compare unequal
 * whenever either one shows the other's caret.
 */
export const text = (page) => page.locator('.ProseMirror').evaluate((root) => {
  const BLOCK = new Set(['P', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'PRE', 'LI', 'BLOCKQUOTE', 'UL', 'OL'])
  const lines = []
  let line = ''
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        line += child.data
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        if (child.classList.contains('ProseMirror-yjs-cursor')) continue
        if (child.tagName === 'BR') {
          // ProseMirror's trailing break only keeps an empty block open; a hard break is content.
          if (!child.classList.contains('ProseMirror-trailingBreak')) line += '\n'
          continue
        }
        const block = BLOCK.has(child.tagName)
        if (block && line) { lines.push(line); line = '' }
        walk(child)
        if (block && line) { lines.push(line); line = '' }
      }
    }
  }
  walk(root)
  if (line) lines.push(line)
  return lines.join('\n')
})
export const pill = (page, id) => page.locator(`[data-testid="${id}"]`).getAttribute('data-state')

export async function waitConnected (page) {
  await until('connection pill "connected"', async () => (await pill(page, 'connection')) === 'connected')
}

/** Waits until the server's durable echo covers every local edit (green "saved"). */
export async function waitSaved (page) {
  await waitConnected(page)
  await until('saved indicator', async () => (await pill(page, 'saved')) === 'saved')
}

export async function typeAtEnd (page, words) {
  await page.locator('.ProseMirror').click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(words)
}

export async function screenshot (page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

export function assertNoConsoleErrors (assert, ...pages) {
  for (const page of pages) assert.deepEqual(page.consoleErrors, [], 'console errors')
}

/** Runs `body({ server, newContext })` with a fresh server and a way to open browser contexts in
 * `browser`; closes every context it opened and the server, whatever happens. */
export async function withServerIn (browser, body) {
  const server = await startServer({ port: await freePort(), databaseUrl: freshDatabase() })
  const contexts = []
  const newContext = async (opts) => {
    const ctx = await browser.newContext(opts)
    contexts.push(ctx)
    return ctx
  }
  try {
    await body({ server, newContext })
  } finally {
    for (const ctx of contexts) await ctx.close().catch(() => {})
    await server.stop()
  }
}
