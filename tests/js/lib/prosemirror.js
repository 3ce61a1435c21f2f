// ProseMirror documents as a Tiptap editor makes them, for tests of the JSON API: Tiptap 3's
// schema (StarterKit, Link, Image), builders for ProseMirror JSON, and y-prosemirror's own
// functions to write such a document into a Y.XmlFragment and read it back.
import { getSchema } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Link from '@tiptap/extension-link'
import Image from '@tiptap/extension-image'
import { updateYFragment, yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'

/** The schema a Tiptap editor with StarterKit, Link and Image uses. */
export const schema = getSchema([
  StarterKit.configure({ link: false }),
  Link.configure({ openOnClick: false }),
  Image
])

// ---- ProseMirror JSON builders (no empty `attrs`/`content`, as y-prosemirror renders) ----
const mark = (m) => (typeof m === 'string' ? { type: m } : m)
export const t = (text, ...marks) => ({ type: 'text', text, ...(marks.length ? { marks: marks.map(mark) } : {}) })
export const node = (type, attrs, content) => ({
  type,
  ...(attrs ? { attrs } : {}),
  ...(content && content.length ? { content } : {})
})
export const doc = (...content) => node('doc', null, content)
export const p = (...content) => node('paragraph', null, content)
export const h = (level, ...content) => node('heading', { level }, content)
export const li = (...content) => node('listItem', null, content)
export const ul = (...items) => node('bulletList', null, items)
export const ol = (start, ...items) => node('orderedList', { start }, items)
export const quote = (...content) => node('blockquote', null, content)
export const code = (language, text) => node('codeBlock', { language }, [t(text)])
export const br = () => node('hardBreak')
export const hr = () => node('horizontalRule')
export const img = (attrs) => node('image', attrs)
export const link = (href, extra = {}) => ({ type: 'link', attrs: { href, ...extra } })

/** y-prosemirror's binding metadata; one per editor, reused across its steps. */
export const newMeta = () => ({ mapping: new Map(), isOMark: new Map() })

/**
 * Writes ProseMirror JSON into the fragment `field` of `ydoc` the way y-prosemirror's editor
 * binding does on every change (`updateYFragment`, one transaction). Returns the checked node.
 */
export function writePm (ydoc, field, json, meta = newMeta()) {
  const pNode = schema.nodeFromJSON(json)
  pNode.check()
  updateYFragment(ydoc, ydoc.getXmlFragment(field), pNode, meta)
  return pNode
}

/**
 * What y-prosemirror reads from the fragment `field`, as plain JSON (y-prosemirror hands out
 * ProseMirror's null-prototype `attrs` objects, which strict deep equality tells apart).
 */
export const pmJson = (ydoc, field = 'default') => JSON.parse(JSON.stringify(yXmlFragmentToProsemirrorJSON(ydoc.getXmlFragment(field))))

/** ProseMirror's text of a document: blocks and hard breaks on lines of their own, no empty lines. */
export function pmText (pNode) {
  const text = pNode.textBetween(0, pNode.content.size, '\n', (leaf) => (leaf.type.name === 'hardBreak' ? '\n' : ''))
  return text.split('\n').filter((line) => line !== '').join('\n')
}

/**
 * ProseMirror JSON as y-prosemirror renders it back: every mark carries `attrs` (`{}` when it had
 * none). Other parts are kept as given.
 */
export const withMarkAttrs = (json) => {
  if (Array.isArray(json)) return json.map(withMarkAttrs)
  if (!json || typeof json !== 'object') return json
  const out = { ...json }
  if (out.marks) out.marks = out.marks.map((m) => ({ ...m, attrs: m.attrs ?? {} }))
  if (out.content) out.content = out.content.map(withMarkAttrs)
  return out
}
