// Plait demo page: one Y.Doc per document name in the URL hash, synced with the Plait server over
// y-websocket, cached in IndexedDB for offline work, with presence, a live view of what the server
// has stored and a History panel of the document's versions (history-panel.js). With
// `?provider=hocuspocus` in the URL the same page runs a Tiptap editor over @hocuspocus/provider
// and Plait's /hocuspocus endpoint instead (hocuspocus.js), on the same documents: both editors
// edit the Y.XmlFragment 'prosemirror'.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { createEditor, commands } from './editor.js'
import { DurabilityTracker } from './durability.js'
import { StoragePanel } from './storage-panel.js'
import { HistoryPanel } from './history-panel.js'
import { renderPresence } from './presence.js'
import { RECENT_KEY, loadRecent, touchRecent, removeRecent } from './recent.js'
import { loadUser, saveUser } from './user.js'
import { randomDocName } from './names.js'
import './style.css'

const $ = (id) => document.getElementById(id)
const WS_BASE = location.origin.replace(/^http/, 'ws') + '/ws'
const HOCUSPOCUS_URL = location.origin.replace(/^http/, 'ws') + '/hocuspocus'
const MAX_NAME_BYTES = 255
// With authentication on (`plait serve --auth-secret ...`), open the page as
// `/?token=<token from plait token>#/d/<name>`; the token goes to the WebSocket as y-websocket's
// `params` and to the storage panel's requests as a Bearer header.
// The Hocuspocus page sends it as the provider's `token` (Hocuspocus' authentication message).
const TOKEN = new URLSearchParams(location.search).get('token')
// Loaded only on the Hocuspocus page, so the default page downloads no Tiptap code.
const hocuspocus = new URLSearchParams(location.search).get('provider') === 'hocuspocus'
  ? await import('./hocuspocus.js')
  : null
if (hocuspocus) {
  document.body.dataset.provider = 'hocuspocus'
  document.querySelector('.doc-title .muted').textContent = 'Document · Tiptap + Hocuspocus'
}

const user = loadUser()
/** @type {null | {name: string, destroy: () => void, setUser: (u: object) => void, setHistoryOpen: (open: boolean) => void}} */
let session = null
/** The History panel is open (kept when another document is opened). */
let historyOpen = false

/** The document named by `#/d/{name}`, or null when the hash names none (or an invalid one). */
function docFromHash () {
  const m = /^#\/d\/(.+)$/.exec(location.hash)
  if (!m) return null
  let name
  try {
    name = decodeURIComponent(m[1])
  } catch {
    return null
  }
  // Same rules as the server's DocName, so we never open a socket the server must refuse.
  const bytes = new TextEncoder().encode(name).length
  // eslint-disable-next-line no-control-regex
  if (bytes === 0 || bytes > MAX_NAME_BYTES || /[\u0000-\u001f\u007f-\u009f]/.test(name)) return null
  return name
}

const hashFor = (name) => `#/d/${encodeURIComponent(name)}`

function route () {
  const name = docFromHash()
  if (name === null) {
    location.replace(hashFor(randomDocName()))
    return
  }
  if (session && session.name === name) return
  if (session) session.destroy()
  session = openDocument(name)
}

function setPill (el, state, text) {
  el.dataset.state = state
  el.querySelector('span').textContent = text
}

/**
 * On disconnect y-websocket drops every remote presence state but keeps its clock, and
 * y-protocols ignores a state whose clock is not newer. The server's greeting on reconnect
 * repeats each present peer's current state with the clock we already saw, so without this the
 * people who stayed would be missing from the list and carets until their next 15 s renewal.
 */
function forgetRemoteClocks (awareness) {
  for (const id of [...awareness.meta.keys()]) {
    if (id !== awareness.clientID && !awareness.states.has(id)) awareness.meta.delete(id)
  }
}

function openDocument (name) {
  const doc = new Y.Doc()
  // Both flavours of the page share this cache: they hold the same document.
  const local = new IndexeddbPersistence(`plait:${name}`, doc)
  const provider = hocuspocus
    ? new hocuspocus.HocuspocusProvider({ url: HOCUSPOCUS_URL, name, document: doc, token: TOKEN })
    : new WebsocketProvider(WS_BASE, encodeURIComponent(name), doc, {
      // Every byte goes through the server, so two tabs of one browser show what two machines see.
      disableBc: true,
      params: TOKEN ? { token: TOKEN } : {}
    })
  provider.awareness.setLocalStateField('user', { name: user.name, color: user.color })

  $('doc-name').textContent = name
  document.title = `${name} – Plait`
  $('api-link').textContent = `GET /api/docs/${encodeURIComponent(name)}`
  touchRecent(name)
  renderRecent(name)

  const connection = $('connection')
  const saved = $('saved')
  let status = 'connecting'
  // Hocuspocus refuses a bad token in the protocol, on an open socket.
  let denied = false
  // On the Hocuspocus page an open socket has joined the document only once the server answered
  // the token (Authenticated); until then the page says "connecting" and asks /api nothing.
  const joined = () => status === 'connected' && !denied && (!hocuspocus || provider.isAuthenticated)

  const renderConnection = () => {
    if (denied) setPill(connection, 'offline', 'access denied')
    else if (joined()) setPill(connection, 'connected', 'connected')
    else if (status === 'disconnected') setPill(connection, 'offline', 'offline')
    else setPill(connection, 'connecting', 'connecting…')
  }
  const renderSaved = () => {
    if (!joined()) setPill(saved, 'offline', 'offline – saved locally')
    else if (tracker.state === 'saving') setPill(saved, 'saving', 'saving…')
    else setPill(saved, 'saved', 'saved')
  }
  /** @type {StoragePanel | null} */
  let panel = null
  /** @type {HistoryPanel | null} */
  let history = null
  const onSavedChange = (state) => {
    renderSaved()
    // The badge just turned green: refresh the figures now rather than at the next 1 s poll, so
    // the panel never says "not stored yet" next to a green "saved".
    if (state === 'saved') panel?.poll()
  }
  const tracker = hocuspocus
    ? new hocuspocus.UnsyncedChangesTracker(provider, onSavedChange)
    : new DurabilityTracker(doc, provider, onSavedChange)
  panel = new StoragePanel({ name, doc, provider, tracker, token: TOKEN })

  const render = () => {
    renderConnection()
    renderSaved()
    panel.setConnected(joined())
    history?.setConnected(joined())
  }
  const onStatus = ({ status: s }) => {
    status = s
    if (s !== 'connected') {
      tracker.resetHandshake()
      forgetRemoteClocks(provider.awareness)
      denied = false
    }
    render()
  }
  provider.on('status', onStatus)
  const onDenied = ({ reason }) => {
    denied = true
    console.warn('plait: the server refused this page\'s token:', reason)
    render()
  }
  if (hocuspocus) {
    provider.on('authenticated', render)
    provider.on('authenticationFailed', onDenied)
  }
  // y-websocket does not watch the network; without this a dead link shows "connected" until its
  // 30 s message timeout. Going offline stops reconnect attempts; coming back resyncs at once.
  const onOffline = () => provider.disconnect()
  const onOnline = () => provider.connect()
  window.addEventListener('offline', onOffline)
  window.addEventListener('online', onOnline)
  if (!navigator.onLine) provider.disconnect()

  const onAwareness = () => renderPresence($('presence'), provider.awareness)
  provider.awareness.on('change', onAwareness)
  onAwareness()

  const mount = $('editor')
  mount.textContent = ''
  const editor = hocuspocus
    ? hocuspocus.createTiptapEditor({
      mount,
      doc,
      provider,
      user,
      onState: renderToolbar
    })
    : proseMirrorEditor(createEditor({
      mount,
      fragment: doc.getXmlFragment('prosemirror'),
      awareness: provider.awareness,
      onState: (state) => renderToolbar((cmd) => commands[cmd].active(state), (cmd) => commands[cmd].run(state))
    }))
  currentEditor = editor
  renderSaved()
  // Previews render with the editor's own schema (ProseMirror's or Tiptap's).
  history = new HistoryPanel({ name, token: TOKEN, schema: editor.schema })
  history.setConnected(joined())
  history.setOpen(historyOpen)

  return {
    name,
    destroy () {
      currentEditor = null
      provider.off('status', onStatus)
      if (hocuspocus) {
        provider.off('authenticated', render)
        provider.off('authenticationFailed', onDenied)
      }
      window.removeEventListener('offline', onOffline)
      window.removeEventListener('online', onOnline)
      provider.awareness.off('change', onAwareness)
      panel.destroy()
      history.destroy()
      tracker.destroy()
      editor.destroy()
      provider.destroy()
      local.destroy()
      doc.destroy()
    },
    setUser (u) {
      if (editor.setUser) editor.setUser(u)
      else provider.awareness.setLocalStateField('user', { name: u.name, color: u.color })
    },
    setHistoryOpen (open) {
      history.setOpen(open)
    }
  }
}

// --- toolbar -------------------------------------------------------------------------------------
/** The open document's editor: `run(cmd)` for a toolbar button's data-cmd, its `schema`, and `destroy()`. */
let currentEditor = null

/** `isActive(cmd)` / `canRun(cmd)` answer for the editor state at hand. */
function renderToolbar (isActive, canRun) {
  for (const btn of $('toolbar').querySelectorAll('button[data-cmd]')) {
    const cmd = btn.dataset.cmd
    btn.classList.toggle('active', isActive(cmd))
    // Undo/redo are always offered: their availability lives in the Yjs UndoManager.
    if (cmd !== 'undo' && cmd !== 'redo') btn.disabled = !canRun(cmd)
  }
}

/** The ProseMirror view behind the toolbar's interface. */
const proseMirrorEditor = (view) => ({
  schema: view.state.schema,
  run (cmd) {
    commands[cmd].run(view.state, view.dispatch, view)
    view.focus()
  },
  destroy: () => view.destroy()
})

$('toolbar').addEventListener('mousedown', (e) => {
  // Keep the editor's selection: a click on the toolbar must not blur it.
  if (e.target.closest('button')) e.preventDefault()
})
$('toolbar').addEventListener('click', (e) => {
  const btn = e.target.closest('button[data-cmd]')
  if (!btn || !currentEditor) return
  currentEditor.run(btn.dataset.cmd)
})

// --- identity, documents -------------------------------------------------------------------------
const nameInput = $('my-name')
nameInput.value = user.name
$('my-color').style.background = user.color
nameInput.addEventListener('input', () => {
  const name = nameInput.value.trim()
  if (!name) return
  user.name = name.slice(0, 40)
  saveUser(user)
  session?.setUser(user)
})

$('history-toggle').addEventListener('click', () => {
  historyOpen = !historyOpen
  $('history-toggle').setAttribute('aria-expanded', String(historyOpen))
  $('history-toggle').classList.toggle('active', historyOpen)
  session?.setHistoryOpen(historyOpen)
})

$('new-doc').addEventListener('click', () => {
  location.hash = hashFor(randomDocName())
})

$('share').addEventListener('click', async () => {
  const btn = $('share')
  try {
    await navigator.clipboard.writeText(location.href)
    btn.textContent = 'Link copied'
  } catch {
    window.prompt('Copy this link to share the document', location.href)
  }
  setTimeout(() => { btn.textContent = 'Copy link' }, 1500)
})

function renderRecent (current) {
  const list = $('recent')
  list.textContent = ''
  for (const entry of loadRecent()) {
    const li = document.createElement('li')
    const a = document.createElement('a')
    a.href = hashFor(entry.name)
    a.textContent = entry.name
    if (entry.name === current) a.setAttribute('aria-current', 'page')
    const when = document.createElement('span')
    when.className = 'muted small'
    when.textContent = new Date(entry.openedAt).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    const forget = document.createElement('button')
    forget.type = 'button'
    forget.className = 'forget'
    forget.title = 'Remove from this list'
    forget.textContent = '×'
    forget.addEventListener('click', () => {
      removeRecent(entry.name)
      renderRecent(session?.name)
    })
    li.append(a, when, forget)
    list.append(li)
  }
}

// Another tab of this browser opened or forgot a document: keep this tab's list in step, so the
// list means "documents opened in this browser", not "as of when this tab loaded".
window.addEventListener('storage', (e) => {
  if (e.key === null || e.key === RECENT_KEY) renderRecent(session?.name)
})

window.addEventListener('hashchange', route)
route()

if ('serviceWorker' in navigator && window.isSecureContext && !import.meta.env.DEV) {
  // Lets the page itself load while the network is down, so offline edits survive a reload.
  navigator.serviceWorker.register('/sw.js').catch((err) => console.warn('plait: offline cache unavailable', err))
}
