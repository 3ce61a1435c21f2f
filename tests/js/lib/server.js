// Starts the real `plait` binary for a test: a free loopback port, a fresh SQLite file, a bounded
// wait for /healthz, and a stop that waits for the process to exit (SIGTERM, then SIGKILL).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const jsRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The binary under test: $PLAIT_BIN, else the debug build of this workspace. */
export const plaitBin = process.env.PLAIT_BIN
  ? path.resolve(process.env.PLAIT_BIN)
  : path.resolve(jsRoot, '../../target/debug/plait')

const LOG_LIMIT = 64 * 1024

/** Asks the kernel for a loopback port that is free right now. */
export const freePort = () => new Promise((resolve, reject) => {
  const srv = createServer()
  srv.unref()
  srv.on('error', reject)
  srv.listen(0, '127.0.0.1', () => {
    const { port } = srv.address()
    srv.close(() => resolve(port))
  })
})

/** A fresh temp directory holding the SQLite file; removed by `cleanup()`. */
export const tempDb = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'plait-js-'))
  return { dir, file: path.join(dir, 'plait.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Polls `check` (sync or async) until it returns a truthy value or `timeoutMs` passes. */
export const waitUntil = async (check, { timeoutMs = 10000, intervalMs = 20, what = 'condition' } = {}) => {
  const deadline = Date.now() + timeoutMs
  let lastError = null
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value) return value
    } catch (err) {
      lastError = err
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (lastError ? ` (last error: ${lastError.message})` : ''))
}

/**
 * A running plait process. `start()` resolves once /healthz answers 200.
 * Options: `dbFile` (reuse a database across restarts), `databaseUrl` (any other database, e.g.
 * PostgreSQL; no SQLite file then), `env` (extra environment), `args` (extra `plait serve` flags,
 * e.g. `['--version-interval', '1s']`).
 */
export class PlaitServer {
  constructor ({ dbFile, databaseUrl, env = {}, args = [] } = {}) {
    this.db = dbFile || databaseUrl ? null : tempDb()
    this.dbFile = dbFile ?? this.db?.file
    this.databaseUrl = databaseUrl ?? `sqlite://${this.dbFile}?mode=rwc`
    this.env = env
    this.args = args
    this.proc = null
    this.port = 0
    this.log = ''
  }

  get httpUrl () { return `http://127.0.0.1:${this.port}` }
  /** The y-websocket server URL: the provider appends `/{doc}`. */
  get wsUrl () { return `ws://127.0.0.1:${this.port}/ws` }

  async start ({ timeoutMs = 20000 } = {}) {
    if (!existsSync(plaitBin)) {
      throw new Error(`plait binary not found at ${plaitBin}: run \`cargo build -p plait-server\` or set PLAIT_BIN`)
    }
    // A port can be taken between freePort() and bind(); retry a few times on early exit.
    let lastError = null
    for (let attempt = 0; attempt < 3; attempt++) {
      this.port = await freePort()
      try {
        await this._spawnAndWait(timeoutMs)
        return this
      } catch (err) {
        lastError = err
        await this.stop()
        if (!/exited/.test(err.message)) break
      }
    }
    throw lastError
  }

  async _spawnAndWait (timeoutMs) {
    this.log = ''
    const proc = spawn(plaitBin, [
      'serve',
      '--bind', `127.0.0.1:${this.port}`,
      '--database-url', this.databaseUrl,
      ...this.args
    ], {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.proc = proc
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
    const append = (chunk) => {
      this.log = (this.log + chunk.toString()).slice(-LOG_LIMIT)
      if (process.env.PLAIT_JS_VERBOSE) process.stderr.write(chunk)
    }
    proc.stdout.on('data', append)
    proc.stderr.on('data', append)
    let exitInfo = null
    this.exited.then((info) => { exitInfo = info })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (exitInfo) {
        throw new Error(`plait exited early (code ${exitInfo.code}, signal ${exitInfo.signal}):\n${this.log}`)
      }
      try {
        const res = await fetch(`${this.httpUrl}/healthz`, { signal: AbortSignal.timeout(1000) })
        if (res.status === 200) return
      } catch { /* not listening yet */ }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`plait did not answer /healthz within ${timeoutMs} ms:\n${this.log}`)
  }

  /**
   * Stops the process with `signal` and waits for it to exit (SIGKILL after `timeoutMs`).
   * Resolves to `{ code, signal }`.
   */
  async stop (signal = 'SIGTERM', { timeoutMs = 15000 } = {}) {
    const proc = this.proc
    if (!proc) return null
    this.proc = null
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
    let timer
    const killed = new Promise((resolve) => {
      timer = setTimeout(() => { proc.kill('SIGKILL'); resolve() }, timeoutMs)
    })
    const result = await Promise.race([this.exited, killed.then(() => this.exited)])
    clearTimeout(timer)
    return result
  }

  /** Stops the process and removes the temp database (unless it was given by the caller). */
  async dispose () {
    await this.stop()
    this.db?.cleanup()
  }

  /** GET /api/docs/{doc}/update: `{ status, body: Uint8Array }`. */
  async fetchState (doc) {
    const res = await fetch(`${this.httpUrl}/api/docs/${encodeURIComponent(doc)}/update`, { signal: AbortSignal.timeout(5000) })
    return { status: res.status, contentType: res.headers.get('content-type'), body: new Uint8Array(await res.arrayBuffer()) }
  }
}

/** A document name no other test uses. */
export const uniqueDoc = (prefix) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
