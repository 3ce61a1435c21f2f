// A PostgreSQL outage as stock y-websocket clients live it. The server reaches its database
// through a TCP proxy the test cuts. Past --max-pending-updates the editing client is closed with
// 1013 and its reconnects are refused while a reader stays connected; the editor keeps typing
// offline, reconnects by itself once the database is back, and every edit reaches PostgreSQL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as Y from 'yjs'
import { PlaitServer, freePort, uniqueDoc, waitUntil } from './lib/server.js'
import { connectClient, waitSynced, closeClient } from './lib/clients.js'
import { PG, freshPgDatabase } from './lib/database.js'



/** A TCP proxy to PostgreSQL that can be cut (every open connection reset, new ones refused). */
class CuttableProxy {
  constructor (port) {
    this.port = port
    this.sockets = new Set()
    this.server = null
  }

  up () {
    this.server = net.createServer((client) => {
      const upstream = net.connect(Number(PG.port || 5432), PG.hostname)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, '127.0.0.1', resolve)
    })
  }

  down () {
    const closed = new Promise((resolve) => this.server ? this.server.close(resolve) : resolve())
    for (const socket of this.sockets) socket.destroy()
    this.server = null
    return closed
  }
}

const readyz = async (server) => {
  const res = await fetch(`${server.httpUrl}/readyz`, { signal: AbortSignal.timeout(5000) })
  return { status: res.status, ...(await res.json()) }
}

test('past --max-pending-updates the editor waits offline and loses nothing', async (t) => {
  const db = freshPgDatabase('plait_js_outage')
  const scratch = mkdtempSync(path.join(tmpdir(), 'plait-js-outage-'))
  const proxy = new CuttableProxy(await freePort())
  await proxy.up()
  const options = {
    databaseUrl: `postgres://${PG.username || 'postgres'}@127.0.0.1:${proxy.port}/${db.name}`,
    env: { PLAIT_MAX_PENDING_UPDATES: '3', PLAIT_UNSAVED_FILE: path.join(scratch, 'unsaved.bin') }
  }
  const server = new PlaitServer(options)
  const clients = []
  t.after(async () => {
    clients.forEach(closeClient)
    await server.dispose()
    await proxy.down()
    db.drop()
    rmSync(scratch, { recursive: true, force: true })
  })
  await server.start()
  const doc = uniqueDoc('outage')
  const editor = connectClient(server, doc)
  const reader = connectClient(server, doc)
  clients.push(editor, reader)
  await Promise.all([waitSynced(editor), waitSynced(reader)])
  const text = editor.doc.getText('text')
  const readerHas = (expected) => reader.doc.getText('text').toString() === expected
  text.insert(0, 'before;')
  await waitUntil(async () => readerHas('before;') && (await readyz(server)).pending_updates === 0, { what: 'the first edit stored' })

  await proxy.down()
  const closedWith = (code) => editor.closes.some((c) => c?.code === code)
  let sent = 0
  while (!closedWith(1013)) {
    assert.ok(sent < 10, `still taking edits with ${sent} unwritten; closes: ${JSON.stringify(editor.closes)}`)
    text.insert(text.length, `${sent};`)
    sent++
    const expected = text.toString()
    await waitUntil(() => readerHas(expected) || closedWith(1013), { what: `edit ${sent} relayed, or the editor closed` })
  }
  // The change that found 3 rows waiting was still taken (and relayed); its sender was closed.
  assert.equal(sent, 4)
  assert.equal(reader.doc.getText('text').toString(), 'before;0;1;2;3;')
  assert.ok(reader.provider.wsconnected, 'the reader was disconnected too')
  const status = await readyz(server)
  assert.equal(status.status, 503)
  assert.equal(status.accepting_edits, false)
  // The provider retries by itself and is refused (no sync) while the backlog is full.
  await waitUntil(() => editor.closes.length >= 2, { what: 'a refused reconnect' })
  assert.ok(!editor.provider.synced, 'a reconnect was accepted with the backlog full')

  text.insert(text.length, 'offline;')
  await proxy.up()
  // The writer retries within its 5 s backoff; y-websocket's own backoff is at most 2.5 s.
  await waitUntil(() => readerHas('before;0;1;2;3;offline;'), { timeoutMs: 30000, what: 'the offline edit, after the database is back' })
  await waitUntil(async () => (await readyz(server)).pending_updates === 0, { timeoutMs: 30000, what: 'everything written' })

  // What PostgreSQL holds, read by a fresh process.
  await server.stop()
  const again = new PlaitServer(options)
  t.after(() => again.dispose())
  await again.start()
  const state = await again.fetchState(doc)
  assert.equal(state.status, 200)
  const stored = new Y.Doc()
  Y.applyUpdate(stored, state.body)
  assert.equal(stored.getText('text').toString(), 'before;0;1;2;3;offline;')
})
