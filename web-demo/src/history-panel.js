// "History": the document's versions (GET /api/docs/{doc}/versions), a form that saves a named
// one, a read-only preview of any of them and a button that restores it.
//
// A preview is built from the version's own state (GET .../versions/{id}/update) in a Y.Doc of its
// own and rendered with the editor's schema as static HTML: it never touches the live document,
// and it is no second editor on the page. A restore is done by the server as a new edit; the
// editor receives it over its provider like anybody's typing, so the panel only asks for it.
import * as Y from 'yjs'
import { DOMSerializer } from 'prosemirror-model'
import { yXmlFragmentToProseMirrorRootNode } from 'y-prosemirror'

/** How often the open panel asks for the list (others save and restore too). */
const POLL_MS = 5000
/** The root both flavours of the page edit (main.js). */
const FIELD = 'prosemirror'

const KINDS = { auto: 'Auto', named: 'Named', restore: 'Before restore' }

const $ = (id) => document.getElementById(id)

export const versionTitle = (v) => v.name || (v.kind === 'auto' ? 'Automatic version' : `Version ${v.id}`)

const fmtWhen = (iso) => {
  const t = Date.parse(iso ?? '')
  if (Number.isNaN(t)) return ''
  const sameDay = new Date(t).toDateString() === new Date().toDateString()
  return new Date(t).toLocaleString(undefined, sameDay
    ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

/** The server's reason for a refusal (`{"error": "..."}`), else its status. */
async function refusal (res) {
  try {
    const body = await res.json()
    if (body && typeof body.error === 'string') return `${res.status}: ${body.error}`
  } catch { /* not JSON */ }
  return String(res.status)
}

export class HistoryPanel {
  /** `schema`: the editor's ProseMirror schema, which the preview renders with. */
  constructor ({ name, token, schema }) {
    this.base = `/api/docs/${encodeURIComponent(name)}/versions`
    this.headers = { accept: 'application/json' }
    if (token) this.headers.authorization = `Bearer ${token}`
    this.serializer = DOMSerializer.fromSchema(schema)
    this.schema = schema
    this.open = false
    this.connected = false
    this.timer = null
    this.inFlight = false
    this.again = false
    this.destroyed = false
    /** @type {Array<{id: number, kind: string, name: string|null, seq: number, created_at: string|null, created_by: string|null, bytes: number, authors: Array<{sub: string, via: string}>|null}>} */
    this.versions = []
    /** The list has been answered at least once (until then it shows nothing). */
    this.loaded = false
    this.shown = ''
    this.selected = null
    /** Bumped by every preview request, so a slow answer never replaces a newer choice. */
    this.previewSeq = 0
    this.el = {
      root: $('history'),
      list: $('versions'),
      note: $('history-note'),
      form: $('version-form'),
      input: $('version-name'),
      preview: $('version-preview'),
      title: $('version-preview-title'),
      meta: $('version-preview-meta'),
      doc: $('version-preview-doc'),
      restore: $('version-restore'),
      remove: $('version-delete'),
      close: $('version-preview-close')
    }
    // The elements outlive the panel (the next document reuses them): listeners go with it.
    this.listening = new AbortController()
    const on = (el, type, fn) => el.addEventListener(type, fn, { signal: this.listening.signal })
    on(this.el.form, 'submit', (e) => {
      e.preventDefault()
      this.save(this.el.input.value)
    })
    on(this.el.list, 'click', (e) => {
      const item = e.target.closest('[data-version-id]')
      if (item) this.select(Number(item.dataset.versionId))
    })
    on(this.el.restore, 'click', () => this.restore(this.selected))
    on(this.el.remove, 'click', () => this.remove(this.selected))
    on(this.el.close, 'click', () => this.closePreview())
    on(this.el.note, 'click', (e) => {
      const undo = e.target.closest('[data-undo-version]')
      if (undo) this.restore(Number(undo.dataset.undoVersion))
    })
    this.el.list.textContent = ''
    this.el.input.value = ''
    this.setNote('')
    this.closePreview()
  }

  /** Shown or hidden (the top bar's History button). */
  setOpen (open) {
    this.open = open
    this.el.root.hidden = !open
    this.schedule()
  }

  /** The page has joined the document: the list is worth asking for. */
  setConnected (connected) {
    this.connected = connected
    this.schedule()
  }

  schedule () {
    const polling = this.open && this.connected && !this.destroyed
    if (polling && !this.timer) {
      this.timer = setInterval(() => this.refresh(), POLL_MS)
      this.refresh()
    } else if (!polling && this.timer) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  async request (path, init = {}) {
    return fetch(this.base + path, { cache: 'no-store', ...init, headers: { ...this.headers, ...init.headers } })
  }

  async refresh () {
    if (this.destroyed) return
    if (this.inFlight) {
      // The answer on its way may predate the action that asked: ask once more after it.
      this.again = true
      return
    }
    this.inFlight = true
    try {
      const res = await this.request('')
      if (this.destroyed) return
      if (!res.ok) {
        this.setNote(`Could not list the versions (${await refusal(res)}).`)
        return
      }
      const { versions } = await res.json()
      if (this.destroyed) return
      this.versions = versions
      this.loaded = true
      this.renderList()
      if (this.selected !== null && !versions.some((v) => v.id === this.selected)) this.closePreview()
    } catch {
      if (!this.destroyed) this.setNote('Server unreachable – list as last seen.')
    } finally {
      this.inFlight = false
      if (this.again) {
        this.again = false
        this.refresh()
      }
    }
  }

  renderList () {
    if (!this.loaded) return
    // Unchanged lists are left alone: rebuilding would take the row from under a click.
    const key = JSON.stringify([this.versions, this.selected])
    if (key === this.shown) return
    this.shown = key
    const list = this.el.list
    list.textContent = ''
    if (this.versions.length === 0) {
      const li = document.createElement('li')
      li.className = 'muted small'
      li.textContent = 'No versions yet: save one, or keep typing for an automatic one.'
      list.append(li)
      return
    }
    // Newest first: what a visitor looks for.
    for (const v of [...this.versions].reverse()) {
      const li = document.createElement('li')
      const item = document.createElement('button')
      item.type = 'button'
      item.className = 'version'
      item.dataset.testid = 'version-item'
      item.dataset.versionId = String(v.id)
      item.dataset.kind = v.kind
      if (v.id === this.selected) item.setAttribute('aria-current', 'true')
      const head = document.createElement('span')
      head.className = 'version-head'
      const kind = document.createElement('span')
      kind.className = 'kind'
      kind.dataset.kind = v.kind
      kind.textContent = KINDS[v.kind] ?? v.kind
      const title = document.createElement('span')
      title.className = 'version-name'
      title.dataset.testid = 'version-name'
      title.textContent = versionTitle(v)
      head.append(kind, title)
      const meta = document.createElement('span')
      meta.className = 'muted small'
      meta.textContent = this.metaOf(v)
      if (v.created_at) meta.title = new Date(v.created_at).toLocaleString()
      item.append(head, meta)
      li.append(item)
      list.append(li)
    }
  }

  metaOf (v) {
    // Who changed the document since the version before (each token subject once).
    const editors = [...new Set((v.authors ?? []).map((a) => a.sub))]
    const edits = editors.length > 0 && `edits by ${editors.join(', ')}`
    return [fmtWhen(v.created_at), v.created_by && `by ${v.created_by}`, edits, `#${v.seq}`].filter(Boolean).join(' · ')
  }

  setNote (text, undoVersion) {
    const note = this.el.note
    note.textContent = text
    if (undoVersion !== undefined) {
      const undo = document.createElement('button')
      undo.type = 'button'
      undo.className = 'link'
      undo.dataset.testid = 'version-undo'
      undo.dataset.undoVersion = String(undoVersion)
      undo.textContent = 'Undo'
      note.append(' ', undo)
    }
  }

  async save (raw) {
    const name = raw.trim()
    if (!name) {
      this.setNote('Give the version a name.')
      this.el.input.focus()
      return
    }
    try {
      const res = await this.request('', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name })
      })
      if (this.destroyed) return
      if (res.status === 404) {
        this.setNote('Nothing to save yet: type something first.')
        return
      }
      if (!res.ok) {
        this.setNote(`Not saved (${await refusal(res)}).`)
        return
      }
      const version = await res.json()
      if (this.destroyed) return
      this.el.input.value = ''
      this.setNote(`Saved “${versionTitle(version)}”.`)
      this.refresh()
    } catch {
      if (!this.destroyed) this.setNote('Not saved: server unreachable.')
    }
  }

  /** Shows version `id` read-only, from its own state. */
  async select (id) {
    const v = this.versions.find((x) => x.id === id)
    if (!v) return
    this.selected = id
    this.renderList()
    const seq = ++this.previewSeq
    const { preview, title, meta, doc } = this.el
    preview.hidden = false
    preview.dataset.versionId = String(id)
    preview.dataset.state = 'loading'
    title.textContent = versionTitle(v)
    meta.textContent = `${KINDS[v.kind] ?? v.kind} · ${this.metaOf(v)}`
    doc.textContent = ''
    try {
      const res = await this.request(`/${id}/update`, { headers: { accept: 'application/octet-stream' } })
      if (!res.ok) throw new Error(`the server answered ${await refusal(res)}`)
      const update = new Uint8Array(await res.arrayBuffer())
      if (seq !== this.previewSeq || this.destroyed) return
      doc.replaceChildren(this.render(update))
      preview.dataset.state = 'shown'
    } catch (err) {
      if (seq !== this.previewSeq || this.destroyed) return
      doc.textContent = ''
      preview.dataset.state = 'failed'
      this.setNote(`Could not show this version: ${err.message}.`)
    }
  }

  /** A version's state as static HTML of the editor's schema (a scratch Y.Doc, then dropped). */
  render (update) {
    const scratch = new Y.Doc()
    try {
      Y.applyUpdate(scratch, update)
      const node = yXmlFragmentToProseMirrorRootNode(scratch.getXmlFragment(FIELD), this.schema)
      return this.serializer.serializeFragment(node.content)
    } finally {
      scratch.destroy()
    }
  }

  closePreview () {
    this.previewSeq++
    this.selected = null
    this.el.preview.hidden = true
    delete this.el.preview.dataset.versionId
    this.el.preview.dataset.state = 'closed'
    this.el.doc.textContent = ''
    this.renderList()
  }

  async restore (id) {
    if (id === null || id === undefined) return
    const v = this.versions.find((x) => x.id === id)
    const label = v ? `“${versionTitle(v)}”` : `version ${id}`
    this.el.restore.disabled = true
    try {
      const res = await this.request(`/${id}/restore`, { method: 'POST' })
      if (this.destroyed) return
      if (!res.ok) {
        this.setNote(`Not restored (${await refusal(res)}).`)
        return
      }
      const outcome = await res.json()
      if (this.destroyed) return
      // The content itself arrives in the editor over the provider.
      this.setNote(`Restored ${label}${outcome.durable ? '' : ' (not stored yet)'}.`, outcome.undo_version)
      this.refresh()
    } catch {
      if (!this.destroyed) this.setNote('Not restored: server unreachable.')
    } finally {
      this.el.restore.disabled = false
    }
  }

  async remove (id) {
    if (id === null || id === undefined) return
    try {
      const res = await this.request(`/${id}`, { method: 'DELETE' })
      if (this.destroyed) return
      if (!res.ok && res.status !== 404) {
        this.setNote(`Not deleted (${await refusal(res)}).`)
        return
      }
      this.setNote('Version deleted.')
      this.closePreview()
      this.refresh()
    } catch {
      if (!this.destroyed) this.setNote('Not deleted: server unreachable.')
    }
  }

  destroy () {
    this.destroyed = true
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.listening.abort()
  }
}
