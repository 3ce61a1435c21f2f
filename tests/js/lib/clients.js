// Stock Yjs clients (y-websocket's WebsocketProvider over the `ws` package) and the helpers the
// tests use to compare their documents.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { waitUntil } from './server.js'

/**
 * A Y.Doc connected through an unmodified WebsocketProvider. BroadcastChannel is disabled because
 * Node has one too: two providers in this process would otherwise sync with each other without
 * the server, and the tests would prove nothing.
 */
export const connectClient = (server, docName, { awareness = true } = {}) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(server.wsUrl, docName, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  const client = { doc, provider, statuses: [], closes: [], errors: [] }
  provider.on('status', (event) => client.statuses.push(event.status))
  provider.on('connection-close', (event) => client.closes.push(event ? { code: event.code, reason: event.reason } : null))
  provider.on('connection-error', (event) => client.errors.push(event?.message ?? String(event)))
  if (!awareness) provider.awareness.setLocalState(null)
  return client
}

/**
 * A stock provider that counts the sockets it opens (its reconnects included), and records the
 * close codes it saw and its `closed` event (permanent closes, y-websocket 3.1+).
 */
export const connectCounting = (server, docName, params) => {
  const client = { doc: new Y.Doc(), attempts: 0, closes: [], statuses: [], closed: null }
  class CountingWebSocket extends WebSocket {
    constructor (...args) {
      super(...args)
      client.attempts++
    }
  }
  client.provider = new WebsocketProvider(server.wsUrl, docName, client.doc, {
    WebSocketPolyfill: CountingWebSocket,
    disableBc: true,
    params
  })
  client.provider.on('status', (e) => client.statuses.push(e.status))
  client.provider.on('connection-close', (e) => client.closes.push(e?.code ?? null))
  client.provider.on('closed', (e) => { client.closed = e })
  return client
}

/** Resolves when the provider has received the server's step 2 (bounded). */
export const waitSynced = (client, timeoutMs = 10000) => {
  if (client.provider.synced) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.provider.off('sync', onSync)
      reject(new Error(`provider for ${client.provider.roomname} not synced within ${timeoutMs} ms (statuses: ${client.statuses.join(',')}; closes: ${JSON.stringify(client.closes)})`))
    }, timeoutMs)
    const onSync = (synced) => {
      if (!synced) return
      clearTimeout(timer)
      client.provider.off('sync', onSync)
      resolve()
    }
    client.provider.on('sync', onSync)
  })
}

export const closeClient = (client) => {
  client.provider.destroy()
  client.doc.destroy()
}

/** The shared types every test edits: one of each kind a real app uses. */
export const types = (doc) => ({
  text: doc.getText('text'),
  map: doc.getMap('map'),
  xml: doc.getXmlFragment('xml')
})

/** The state vector as a plain object sorted by client id (the encoding's order is not canonical). */
export const stateVector = (doc) => {
  const sv = Y.decodeStateVector(Y.encodeStateVector(doc))
  return Object.fromEntries([...sv.entries()].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v]))
}

/** What a document holds, as plain data. */
export const contentOf = (doc) => {
  const t = types(doc)
  return { text: t.text.toString(), map: t.map.toJSON(), xml: t.xml.toString() }
}

/**
 * The content as carried by `Y.encodeStateAsUpdate`: rebuilt in a fresh doc, so two docs compare
 * equal only if what they would send to a newcomer is the same.
 */
export const encodedContentOf = (doc) => {
  const fresh = new Y.Doc()
  Y.applyUpdate(fresh, Y.encodeStateAsUpdate(doc))
  const content = { ...contentOf(fresh), sv: stateVector(fresh) }
  fresh.destroy()
  return content
}

/**
 * JSON with object keys sorted. A JSON object stored in a Y.Map is a hash map inside yrs, so an
 * update the server merged or re-encoded (coalesced relays, step2 answers, snapshots) may list
 * its keys in another order: the values are equal, only `JSON.stringify` would differ.
 */
export const canonicalJson = (value) => JSON.stringify(value, (_key, v) =>
  v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
    : v)

/** True when every doc has the same state vector and content. */
export const converged = (docs) => {
  const first = canonicalJson(encodedContentOf(docs[0]))
  return docs.every((d) => canonicalJson(encodedContentOf(d)) === first)
}

/** Waits (bounded) until all docs have converged; on timeout the error shows each doc's state. */
export const waitConverged = async (docs, timeoutMs = 15000) => {
  try {
    await waitUntil(() => converged(docs), { timeoutMs, what: 'documents to converge' })
  } catch (err) {
    const states = docs.map((d, i) => `doc ${i}: sv=${JSON.stringify(stateVector(d))} text.length=${types(d).text.length} xml children=${types(d).xml.length} map keys=${types(d).map.size}`)
    err.message += '\n' + states.join('\n')
    throw err
  }
}

/** Small deterministic PRNG (mulberry32) so a failing run can be replayed. */
export const prng = (seed) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Lets queued socket messages be delivered between edit batches (a yield, not a sleep). */
export const tick = () => new Promise((resolve) => setImmediate(resolve))
