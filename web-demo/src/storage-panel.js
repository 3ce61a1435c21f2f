// "Stored on the server": polls GET /api/docs/{doc} once a second so a visitor can watch their
// keystrokes land in the SQL log, and feeds the answers to the durability tracker.
const POLL_MS = 1000

const fmtBytes = (n) => n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`

const fmtAgo = (iso) => {
  if (!iso) return 'never'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const s = Math.max(0, Math.round((Date.now() - t) / 1000))
  // Recent writes as an age (what a visitor watching their keystrokes wants), older ones as a
  // clock time; the exact instant is in the tooltip. Short enough for the narrow side card.
  return s < 60 ? `${s}s ago` : new Date(t).toLocaleTimeString()
}

export class StoragePanel {
  constructor ({ name, doc, provider, tracker, token }) {
    this.url = `/api/docs/${encodeURIComponent(name)}`
    this.tracker = tracker
    this.headers = { accept: 'application/json' }
    if (token) this.headers.authorization = `Bearer ${token}`
    this.connected = false
    this.timer = null
    this.inFlight = false
    this.again = false
    this.destroyed = false
    this.dl = document.getElementById('stats')
    this.note = document.getElementById('stats-note')
    this.doc = doc
    this.provider = provider
    this.render(null)
  }

  setConnected (connected) {
    this.connected = connected
    if (connected && !this.timer) {
      this.timer = setInterval(() => this.poll(), POLL_MS)
      this.poll()
    } else if (!connected && this.timer) {
      clearInterval(this.timer)
      this.timer = null
      this.note.textContent = 'Server unreachable – figures as last seen.'
    }
  }

  async poll () {
    if (!this.connected) return
    if (this.inFlight) {
      // The answer on its way may predate what the caller wants to see: ask once more after it.
      this.again = true
      return
    }
    this.inFlight = true
    const sentAt = Date.now()
    try {
      const res = await fetch(this.url, { cache: 'no-store', headers: this.headers })
      if (this.destroyed) return
      if (res.ok) {
        // A document never written answers `stored: false` with zero figures.
        const stats = await res.json()
        if (this.destroyed) return
        this.render(stats.stored ? stats : null)
        this.tracker.serverStats(stats, sentAt)
      } else {
        this.note.textContent = `Server answered ${res.status}.`
      }
    } catch {
      if (!this.destroyed) this.note.textContent = 'Server unreachable – figures as last seen.'
    } finally {
      this.inFlight = false
      if (this.again) {
        this.again = false
        this.poll()
      }
    }
  }

  render (stats) {
    const set = (key, text) => { this.dl.querySelector(`[data-stat="${key}"]`).textContent = text }
    if (!stats) {
      for (const key of ['log_updates', 'log_bytes', 'snapshot_bytes', 'last_write_at', 'connections']) set(key, '–')
      this.note.textContent = 'Not stored yet – type something.'
      this.dl.dataset.stored = 'false'
      return
    }
    this.dl.dataset.stored = 'true'
    set('log_updates', String(stats.log_updates))
    set('log_bytes', fmtBytes(stats.log_bytes))
    set('snapshot_bytes', stats.snapshot_bytes ? `${fmtBytes(stats.snapshot_bytes)} (up to #${stats.snapshot_seq})` : 'none yet')
    set('last_write_at', fmtAgo(stats.last_write_at))
    this.dl.querySelector('[data-stat="last_write_at"]').title = stats.last_write_at ? new Date(stats.last_write_at).toLocaleString() : ''
    set('connections', String(stats.connections ?? '–'))
    this.note.textContent = `Log position #${stats.last_seq}${stats.pending ? `, ${stats.pending} waiting to be written` : ''}.`
  }

  destroy () {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    // The page reuses the panel's elements for the next document: a late answer must not land there.
    this.connected = false
    this.destroyed = true
  }
}
