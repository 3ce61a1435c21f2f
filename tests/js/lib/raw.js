// A bare WebSocket client that speaks the y-protocols wire format itself (y-protocols/sync +
// lib0 encoding), so a test can see every frame the server sends and when.
import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'

export const MESSAGE_SYNC = 0
export const MESSAGE_AWARENESS = 1

const SYNC_NAMES = {
  [syncProtocol.messageYjsSyncStep1]: 'step1',
  [syncProtocol.messageYjsSyncStep2]: 'step2',
  [syncProtocol.messageYjsUpdate]: 'update'
}

/** Decodes every message in one frame into `{ type, sub?, payload }` (throws on malformed input). */
export const decodeFrame = (bytes) => {
  const decoder = decoding.createDecoder(bytes)
  const messages = []
  while (decoding.hasContent(decoder)) {
    const type = decoding.readVarUint(decoder)
    if (type === MESSAGE_SYNC) {
      const sub = decoding.readVarUint(decoder)
      messages.push({ type: 'sync', sub: SYNC_NAMES[sub] ?? `unknown(${sub})`, payload: decoding.readVarUint8Array(decoder) })
    } else if (type === MESSAGE_AWARENESS) {
      messages.push({ type: 'awareness', payload: decoding.readVarUint8Array(decoder) })
    } else {
      messages.push({ type: `unknown(${type})`, payload: decoding.readTailAsUint8Array(decoder) })
      break
    }
  }
  return messages
}

const frame = (write) => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  write(encoder)
  return encoding.toUint8Array(encoder)
}
export const encodeStep1 = (doc) => frame((e) => syncProtocol.writeSyncStep1(e, doc))
export const encodeUpdate = (update) => frame((e) => syncProtocol.writeUpdate(e, update))

/**
 * Opens `ws://.../ws/{doc}` and records every decoded message with its arrival time.
 * `waitFor(pred)` resolves with the first recorded message (past or future) matching `pred`.
 */
export const openRaw = (server, docName) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`${server.wsUrl}/${encodeURIComponent(docName)}`)
  ws.binaryType = 'nodebuffer'
  const client = {
    ws,
    received: [],
    decodeErrors: [],
    waiters: new Set(),
    closed: null,
    send: (bytes) => new Promise((resolve, reject) => ws.send(bytes, (err) => (err ? reject(err) : resolve()))),
    waitFor (pred, { timeoutMs = 10000, what = 'message' } = {}) {
      const found = client.received.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (m) => { clearTimeout(waiter.timer); client.waiters.delete(waiter); resolve(m) }
        }
        waiter.timer = setTimeout(() => {
          client.waiters.delete(waiter)
          reject(new Error(`raw client: no ${what} within ${timeoutMs} ms; received: ${client.describe()}`))
        }, timeoutMs)
        client.waiters.add(waiter)
      })
    },
    describe: () => JSON.stringify(client.received.map((m) => `${m.type}${m.sub ? '/' + m.sub : ''}(${m.payload.length}B)`)),
    close: () => new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve()
      ws.once('close', () => resolve())
      ws.close()
    })
  }
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      client.decodeErrors.push('text frame from server')
      return
    }
    let messages
    try {
      messages = decodeFrame(new Uint8Array(data))
    } catch (err) {
      client.decodeErrors.push(err.message)
      return
    }
    const at = performance.now()
    for (const m of messages) {
      m.at = at
      client.received.push(m)
      for (const w of [...client.waiters]) if (w.pred(m)) w.resolve(m)
    }
  })
  ws.on('close', (code, reason) => { client.closed = { code, reason: reason.toString() } })
  ws.once('open', () => resolve(client))
  ws.once('error', reject)
})
