// Tracks which local edits the server has durably stored, so the "saved" badge means "in SQL",
// not merely "sent". The server echoes each update back to its sender only after the SQL
// transaction holding it has committed; the echo may merge several of our updates, so an echo
// is matched by id ranges rather than by bytes.
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'

const MESSAGE_SYNC = 0

/** Merges [start, end) intervals per client so containment checks are a simple scan. */
const normalise = (byClient) => {
  const out = new Map()
  for (const [client, ranges] of byClient) {
    ranges.sort((a, b) => a[0] - b[0])
    const merged = []
    for (const [s, e] of ranges) {
      const last = merged[merged.length - 1]
      if (last && s <= last[1]) last[1] = Math.max(last[1], e)
      else merged.push([s, e])
    }
    out.set(client, merged)
  }
  return out
}

const push = (map, client, start, end) => {
  if (end <= start) return
  let list = map.get(client)
  if (!list) map.set(client, (list = []))
  list.push([start, end])
}

/** The id ranges an update inserts (structs) and deletes (delete set), per client. */
export const updateRanges = (update) => {
  const { structs, ds } = Y.decodeUpdate(update)
  const inserts = new Map()
  for (const s of structs) {
    // Skip structs are gaps in a merged update, not content.
    if (s instanceof Y.Skip) continue
    push(inserts, s.id.client, s.id.clock, s.id.clock + s.length)
  }
  const deletes = new Map()
  for (const [client, items] of ds.clients) {
    for (const item of items) push(deletes, client, item.clock, item.clock + item.len)
  }
  return { inserts: normalise(inserts), deletes: normalise(deletes) }
}

const within = (inner, outer) => {
  for (const [client, ranges] of inner) {
    const cover = outer.get(client) || []
    for (const [s, e] of ranges) {
      if (!cover.some(([cs, ce]) => cs <= s && e <= ce)) return false
    }
  }
  return true
}

/** True when every insert and delete range of `pending` is contained in `echo`. */
export const covers = (echo, pending) =>
  within(pending.inserts, echo.inserts) && within(pending.deletes, echo.deletes)

/** True when the server state vector holds all of `pending`'s inserts and its delete set all deletes. */
const coveredByServerState = (sv, ds, pending) => {
  for (const [client, ranges] of pending.inserts) {
    const known = sv.get(client) || 0
    if (ranges.some(([, e]) => e > known)) return false
  }
  return within(pending.deletes, ds)
}

/**
 * Watches a doc and its WebsocketProvider and reports 'saving' | 'saved'.
 *
 * Echoes of our own updates change nothing in the doc (Yjs applies them as no-ops), so they are
 * observed where they arrive: a per-provider wrapper around y-websocket's sync message handler.
 *
 * After a reconnect, edits the server already received on the previous connection are never
 * echoed again; those are settled when the server's sync reply shows it holds them (state vector
 * + delete set) and a later /api/docs poll reports no writes pending for the document.
 */
export class DurabilityTracker {
  constructor (doc, provider, onChange) {
    this.doc = doc
    this.provider = provider
    this.onChange = onChange
    /** @type {Array<{ranges: ReturnType<typeof updateRanges>, heldByServerAt: number|null}>} */
    this.pending = []
    this.serverSv = null
    this.serverDs = null
    this.syncedAt = 0

    this._onUpdate = (update, origin) => {
      if (origin === provider) return
      this.pending.push({ ranges: updateRanges(update), heldByServerAt: null })
      this._changed()
    }
    doc.on('update', this._onUpdate)

    const original = provider.messageHandlers[MESSAGE_SYNC]
    provider.messageHandlers[MESSAGE_SYNC] = (encoder, decoder, prov, emitSynced, type) => {
      // emitSynced is true only for frames from the WebSocket (not BroadcastChannel).
      if (emitSynced) this._peek(decoding.clone(decoder))
      original(encoder, decoder, prov, emitSynced, type)
    }
  }

  _peek (decoder) {
    try {
      const type = decoding.readVarUint(decoder)
      if (type === syncProtocol.messageYjsSyncStep1) {
        this.serverSv = Y.decodeStateVector(decoding.readVarUint8Array(decoder))
        this._checkServerState()
      } else if (type === syncProtocol.messageYjsSyncStep2) {
        this.serverDs = updateRanges(decoding.readVarUint8Array(decoder)).deletes
        this._checkServerState()
      } else if (type === syncProtocol.messageYjsUpdate) {
        const echo = updateRanges(decoding.readVarUint8Array(decoder))
        const before = this.pending.length
        this.pending = this.pending.filter((p) => !covers(echo, p.ranges))
        if (this.pending.length !== before) this._changed()
      }
    } catch (err) {
      // A frame we cannot parse is y-websocket's problem to report; never break the provider.
      console.warn('plait: could not inspect sync message', err)
    }
  }

  _checkServerState () {
    if (!this.serverSv || !this.serverDs) return
    const now = Date.now()
    for (const p of this.pending) {
      if (p.heldByServerAt === null && coveredByServerState(this.serverSv, this.serverDs, p.ranges)) {
        p.heldByServerAt = now
      }
    }
  }

  /** Called with each /api/docs answer; `fetchedAt` is when the request was sent. */
  serverStats (stats, fetchedAt) {
    if (!stats || stats.pending !== 0) return
    const before = this.pending.length
    this.pending = this.pending.filter((p) => p.heldByServerAt === null || p.heldByServerAt > fetchedAt)
    if (this.pending.length !== before) this._changed()
  }

  /** A new connection starts a new handshake; old state vectors say nothing about it. */
  resetHandshake () {
    this.serverSv = null
    this.serverDs = null
  }

  get state () {
    return this.pending.length === 0 ? 'saved' : 'saving'
  }

  _changed () {
    this.onChange(this.state)
  }

  destroy () {
    this.doc.off('update', this._onUpdate)
  }
}
