// Tiptap's @hocuspocus/provider (4.8.0, and 3.4.4 through the npm alias `hocuspocus-provider-v3`)
// over the `ws` package, with everything the tests check recorded: the scopes of
// onAuthenticated, the reasons of onAuthenticationFailed, onStateless payloads, the
// unsyncedChanges counts, the frames the server sent (decoded), and the socket's closes.
// Also a minimal HS256 signer for tokens an application backend would mint itself.
import { createHmac } from 'node:crypto'
import * as Y from 'yjs'
import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as v4 from '@hocuspocus/provider'
import * as v3 from 'hocuspocus-provider-v3'
import { waitUntil } from './server.js'

/** The provider packages by major version. */
export const PROVIDERS = { 4: v4, 3: v3 }

/** Hocuspocus message types (the second field of every addressed frame). */
export const HP = { SYNC: 0, AWARENESS: 1, AUTH: 2, QUERY_AWARENESS: 3, SYNC_REPLY: 4, STATELESS: 5, CLOSE: 7, SYNC_STATUS: 8, PING: 9 }
/** Sub-types of an Auth message. */
export const HP_AUTH = { TOKEN: 0, PERMISSION_DENIED: 1, AUTHENTICATED: 2 }

/** The Hocuspocus endpoint of a server (anything with a `port`). */
export const hocuspocusUrl = (server) => `ws://127.0.0.1:${server.port}/hocuspocus`

/**
 * Decodes one frame the server sent: `{ address, type, ... }`; a lone byte (a connection-level
 * Ping) is `{ lone: byte }`. Auth frames carry `auth` (sub-type) and `text` (reason or scope),
 * SyncStatus frames `applied`, Close frames `reason`, Stateless frames `payload`.
 */
export const decodeServerFrame = (data) => {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
  if (bytes.length === 1) return { lone: bytes[0] }
  try {
    const d = decoding.createDecoder(bytes)
    const frame = { address: decoding.readVarString(d), type: decoding.readVarUint(d) }
    if (frame.type === HP.SYNC_STATUS) frame.applied = decoding.readVarInt(d) === 1
    if (frame.type === HP.AUTH) {
      frame.auth = decoding.readVarUint(d)
      if (frame.auth !== HP_AUTH.TOKEN) frame.text = decoding.readVarString(d)
    }
    if (frame.type === HP.CLOSE) frame.reason = decoding.readVarString(d)
    if (frame.type === HP.STATELESS) frame.payload = decoding.readVarString(d)
    return frame
  } catch (err) {
    return { undecodable: Buffer.from(bytes).toString('hex'), error: err.message }
  }
}

/**
 * A `HocuspocusProviderWebsocket` that several providers share (`version` 4 or 3), recording its
 * closes and every frame it received.
 */
export const sharedSocket = (url, { version = 4 } = {}) => {
  const shared = { version, closes: [], frames: [] }
  shared.socket = new PROVIDERS[version].HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
  shared.socket.on('close', ({ event } = {}) => shared.closes.push(event?.code ?? null))
  shared.socket.on('message', (event) => shared.frames.push(decodeServerFrame(event.data)))
  return shared
}

/**
 * A Y.Doc connected through an unmodified HocuspocusProvider for document `name`: on a socket of
 * its own at `url`, or attached to `shared` (from `sharedSocket`). `token` is passed as given
 * (string, function, async function); `awareness: null` disables awareness;
 * `sessionAwareness: true` (4.x) lets several providers of one document share a socket. Returns
 * the client with its records.
 */
export const connectHocuspocus = (url, name, { version = 4, token = null, shared = null, doc = new Y.Doc(), awareness, sessionAwareness = false } = {}) => {
  const client = {
    name,
    version,
    doc,
    shared,
    authenticated: [],
    authFailures: [],
    stateless: [],
    unsynced: [],
    frames: [],
    closes: []
  }
  const config = {
    name,
    document: doc,
    token,
    onAuthenticated: ({ scope }) => client.authenticated.push(scope),
    onAuthenticationFailed: ({ reason }) => client.authFailures.push(reason),
    onStateless: ({ payload }) => client.stateless.push(payload),
    onUnsyncedChanges: ({ number }) => client.unsynced.push(number),
    // `undefined`: the provider's own Awareness; `null` disables it
    ...(awareness !== undefined ? { awareness } : {}),
    // 4.x: address every frame as `name + "\0" + sessionId`, so one socket can carry several
    // providers of one document
    ...(sessionAwareness ? { sessionAwareness } : {})
    // (not `onMessage`: a provider that makes its own socket hands its whole configuration to
    // it, and the socket calls `onMessage` with the raw event)
  }
  if (shared) {
    config.websocketProvider = shared.socket
  } else {
    config.url = url
    config.WebSocketPolyfill = WebSocket
  }
  client.provider = new PROVIDERS[version].HocuspocusProvider(config)
  client.provider.on('message', ({ event }) => client.frames.push(decodeServerFrame(event.data)))
  client.socket = client.provider.configuration.websocketProvider
  if (shared) {
    client.provider.attach()
  } else {
    client.socket.on('close', ({ event } = {}) => client.closes.push(event?.code ?? null))
  }
  return client
}

/** Resolves once the provider has applied the server's sync step 2 (bounded). */
export const waitHpSynced = (client, timeoutMs = 10000) =>
  waitUntil(() => client.provider.isSynced, {
    timeoutMs,
    what: `Hocuspocus provider ${client.version}.x for ${client.name} to sync ` +
      `(authenticated: ${JSON.stringify(client.authenticated)}, failures: ${JSON.stringify(client.authFailures)}, ` +
      `frames: ${client.frames.length})`
  })

/**
 * Resolves once every update of the provider has been acknowledged: the last `unsyncedChanges`
 * event said 0 and `hasUnsyncedChanges` is false (bounded).
 */
export const waitSaved = async (client, timeoutMs = 10000) => {
  try {
    await waitUntil(() => client.unsynced.at(-1) === 0 && !client.provider.hasUnsyncedChanges,
      { timeoutMs, what: `the unsyncedChanges of ${client.name} to reach 0` })
  } catch (err) {
    err.message += ` (unsyncedChanges now ${client.provider.unsyncedChanges}; events ${JSON.stringify(client.unsynced.slice(-20))}; ` +
      `SyncStatus frames ${JSON.stringify(syncStatuses(client))})`
    throw err
  }
}

/** The SyncStatus values the server sent to this provider, in order. */
export const syncStatuses = (client) =>
  client.frames.filter((f) => f.type === HP.SYNC_STATUS).map((f) => f.applied)

/** The Auth token requests (Auth Token without a token) the server sent to this provider. */
export const tokenRequests = (client) =>
  client.frames.filter((f) => f.type === HP.AUTH && f.auth === HP_AUTH.TOKEN)

/** Destroys the provider (and its own socket; a shared one is left to `closeShared`). */
export const closeHocuspocus = (client) => {
  client.provider.destroy()
  client.doc.destroy()
}

export const closeShared = (shared) => shared.socket.destroy()

/** The awareness state of `owner`'s client as `observer` sees it (either kind of provider). */
export const awarenessOf = (observer, owner) =>
  observer.provider.awareness.getStates().get(owner.doc.clientID)

export const textOf = (client, field = 'text') => client.doc.getText(field).toString()

const base64url = (data) => Buffer.from(data).toString('base64url')

/**
 * An HS256 token with Plait's claims (`doc`, `mode`, `exp`, `iat`, `sub`), as an application
 * backend mints it with the shared secret.
 */
export const signToken = ({ secret, doc, mode, ttlSeconds = 3600, sub = 'js-test' }) => {
  const now = Math.floor(Date.now() / 1000)
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const claims = base64url(JSON.stringify({ sub, doc, mode, exp: now + ttlSeconds, iat: now }))
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url')
  return `${header}.${claims}.${signature}`
}

/** The `exp` claim of a token (seconds since the epoch). */
export const expiryOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp
