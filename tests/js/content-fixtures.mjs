// Golden fixtures for the `plait-content` crate (content/), made by the real JavaScript libraries.
//
//   cd tests/js && npm ci && node content-fixtures.mjs
//
// Rewrites content/tests/fixtures/<name>.json (and deletes the stale *.json there). Each file is
//
//   {
//     "description":  what the document holds and how it was made,
//     "update":       base64 of Y.encodeStateAsUpdate(doc) (Yjs v1),
//     "json":         every root by name as the JS gives it: y-prosemirror's
//                     yXmlFragmentToProsemirrorJSON for an XmlFragment, toJSON() otherwise
//                     (`render_all` must equal it exactly),
//     "prosemirror":  { root: yXmlFragmentToProsemirrorJSON } for every XmlFragment root, empty
//                     ones too (`render_field(root, Some(ProseMirror))`),
//     "text_delta":   { root: toDelta() } for every Y.Text root (`render_field(root, Some(Delta))`),
//     "plain_text":   { root: text } (`render_field(root, Some(Text))`): a Y.Text's toString(), or
//                     for a fragment written through the Tiptap schema ProseMirror's
//                     doc.textBetween(0, size, "\n", hardBreak -> "\n") without its empty lines,
//     "document_text": what `plain_text` gives for the whole document: the texts above in
//                     root-name order, empty ones left out, joined by "\n" (only where every
//                     text-like root has a "plain_text")
//   }
//
// ProseMirror documents go through a Tiptap 3 schema (StarterKit, Link, Image and a `comment` mark
// that does not exclude itself, so y-prosemirror stores it under a hashed key) and y-prosemirror's
// own `updateYFragment`, the function its editor binding calls on every change: a document
// "edited in several steps" is several calls with one binding metadata, as in a browser. The JSON
// written here is JSON.stringify's with two replacements that are the crate's documented choices,
// not the JS's: a Uint8Array becomes its base64 string (JSON.stringify would write {"0":..}) and
// undefined becomes null (JSON.stringify would drop an object key or write null in an array).
import * as Y from 'yjs'
import { getSchema, Mark } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Link from '@tiptap/extension-link'
import Image from '@tiptap/extension-image'
import { updateYFragment, yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const outDir = fileURLToPath(new URL('../../content/tests/fixtures/', import.meta.url))

const Comment = Mark.create({
  name: 'comment',
  excludes: '', // overlapping: y-prosemirror keys it as `comment--<hash>`
  addAttributes () { return { id: { default: null } } }
})
const schema = getSchema([
  StarterKit.configure({ link: false }),
  Link.configure({ openOnClick: false }),
  Image,
  Comment
])

// ---- ProseMirror JSON builders ----
const mark = (m) => (typeof m === 'string' ? { type: m } : m)
const t = (text, ...marks) => ({ type: 'text', text, ...(marks.length ? { marks: marks.map(mark) } : {}) })
const node = (type, attrs, content) => ({
  type,
  ...(attrs ? { attrs } : {}),
  ...(content && content.length ? { content } : {})
})
const doc = (...content) => node('doc', null, content)
const p = (...content) => node('paragraph', null, content)
const h = (level, ...content) => node('heading', { level }, content)
const li = (...content) => node('listItem', null, content)
const ul = (...items) => node('bulletList', null, items)
const ol = (start, ...items) => node('orderedList', { start }, items)
const quote = (...content) => node('blockquote', null, content)
const code = (language, text) => node('codeBlock', { language }, [t(text)])
const br = () => node('hardBreak')
const hr = () => node('horizontalRule')
const img = (attrs) => node('image', attrs)
const link = (href, extra = {}) => ({ type: 'link', attrs: { href, ...extra } })

const newMeta = () => ({ mapping: new Map(), isOMark: new Map() })

// Fixed client ids, so that running this again writes the same bytes.
let nextClient = 100
const newDoc = () => {
  const ydoc = new Y.Doc({ gc: true })
  ydoc.clientID = nextClient++
  return ydoc
}

/** Writes ProseMirror JSON into the fragment `name` as the editor binding would. */
function writePm (ydoc, name, json, meta = newMeta()) {
  const pNode = schema.nodeFromJSON(json)
  pNode.check()
  updateYFragment(ydoc, ydoc.getXmlFragment(name), pNode, meta)
  return pNode
}

/** ProseMirror's own text of a document, block separated, without empty lines. */
function pmText (pNode) {
  const text = pNode.textBetween(0, pNode.content.size, '\n', (leaf) => (leaf.type.name === 'hardBreak' ? '\n' : ''))
  return text.split('\n').filter((line) => line !== '').join('\n')
}

// ---- fixture assembly ----
const fixtures = []

/**
 * @param {string} name
 * @param {string} description
 * @param {Y.Doc} ydoc
 * @param {{fragments?: string[], texts?: string[], others?: string[], pmText?: Record<string, any>, emptyFragments?: string[]}} roots
 */
function fixture (name, description, ydoc, roots) {
  const json = {}
  const prosemirror = {}
  const textDelta = {}
  const plainText = {}
  for (const f of roots.fragments ?? []) {
    const pm = yXmlFragmentToProsemirrorJSON(ydoc.getXmlFragment(f))
    json[f] = pm
    prosemirror[f] = pm
  }
  for (const f of roots.emptyFragments ?? []) {
    prosemirror[f] = yXmlFragmentToProsemirrorJSON(ydoc.getXmlFragment(f))
    plainText[f] = ''
  }
  for (const x of roots.texts ?? []) {
    const ytext = ydoc.getText(x)
    json[x] = ytext.toJSON()
    textDelta[x] = ytext.toDelta()
    plainText[x] = ytext.toString()
  }
  for (const [x, type] of roots.others ?? []) {
    json[x] = ydoc.get(x, type).toJSON()
  }
  for (const [f, pNode] of Object.entries(roots.pmText ?? {})) {
    plainText[f] = pmText(pNode)
  }
  const out = {
    description,
    update: Buffer.from(Y.encodeStateAsUpdate(ydoc)).toString('base64'),
    json,
    prosemirror,
    text_delta: textDelta,
    plain_text: plainText
  }
  const textLike = [...(roots.fragments ?? []), ...(roots.emptyFragments ?? []), ...(roots.texts ?? [])]
  if (textLike.every((r) => r in plainText)) {
    out.document_text = textLike
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((r) => plainText[r])
      .filter((s) => s !== '')
      .join('\n')
  }
  fixtures.push([name, out])
}

/** A ProseMirror document written in one go into a fresh Y.Doc. */
function pmFixture (name, description, json, fragment = 'default') {
  const ydoc = newDoc()
  const pNode = writePm(ydoc, fragment, json)
  fixture(name, description, ydoc, { fragments: [fragment], pmText: { [fragment]: pNode } })
}

pmFixture('pm_headings', 'Headings of levels 1-3 between paragraphs with bold, italic, code, strike and underline text', doc(
  h(1, t('Plait '), t('design', 'italic')),
  p(t('A '), t('bold', 'bold'), t(' and an '), t('italic', 'italic'), t(' word, '), t('code()', 'code'), t(', '), t('gone', 'strike'), t(' and '), t('under', 'underline'), t('.')),
  h(2, t('Second level')),
  p(t('Plain paragraph.')),
  h(3, t('Third '), t('level', 'bold'))
))

pmFixture('pm_lists', 'Bullet and ordered lists nested two deep, an ordered list starting at 3', doc(
  ul(
    li(p(t('one'))),
    li(p(t('two')), ul(li(p(t('two.a'))), li(p(t('two.b'), t(' bold', 'bold'))))),
    li(p(t('three')), ol(1, li(p(t('three.1'))), li(p(t('three.2')))))
  ),
  ol(3, li(p(t('third'))), li(p(t('fourth')), ul(li(p(t('deep')))))),
  p(t('after the lists'))
), 'prosemirror')

pmFixture('pm_blocks', 'A blockquote of two paragraphs, code blocks with and without a language, a horizontal rule', doc(
  quote(p(t('Quoted '), t('text', 'italic')), p(t('second quoted paragraph'))),
  code('rust', 'fn main() {\n    println!("hi");\n}'),
  code(null, 'plain code'),
  hr(),
  quote(quote(p(t('nested quote'))))
))

pmFixture('pm_marks', 'Overlapping bold/italic ranges, links with attributes, several marks in schema order, an overlapping (non-excluding) comment mark stored under hashed keys', doc(
  p(t('b ', 'bold'), t('bi ', 'bold', 'italic'), t('i', 'italic'), t(' plain '), t('ib', 'italic', 'bold')),
  p(t('see '), t('the site', link('https://example.com/a?b=1&c=2')), t(' or '), t('bold link', link('https://example.org', { target: null, title: 'Example' }), 'bold')),
  p(t('all', 'bold', 'italic', 'strike', 'underline'), t(' '), t('code', 'code'), t(' '), t('styled link', link('#x'), 'italic', 'bold')),
  p(
    t('one ', { type: 'comment', attrs: { id: 'c1' } }),
    t('two', { type: 'comment', attrs: { id: 'c1' } }, { type: 'comment', attrs: { id: 'c2' } }),
    t(' end', { type: 'comment', attrs: { id: 'c2' } }, 'bold')
  )
))

pmFixture('pm_inline', 'Hard breaks, block images with attributes, an empty paragraph, a paragraph holding only a hard break', doc(
  p(t('line one'), br(), t('line two', 'bold'), br(), br(), t('line four')),
  img({ src: 'https://example.com/cat.png', alt: 'A cat', title: null, width: 640, height: 480 }),
  p(),
  img({ src: 'data:image/png;base64,AAAA' }),
  p(br()),
  p(t('after'))
), 'prosemirror')

pmFixture('pm_unicode', 'Emoji (surrogate pairs, ZWJ sequences, flags), CJK, combining marks, right-to-left text, marks across them', doc(
  h(1, t('Ünïcödé 🎉')),
  p(t('👩‍👩‍👧‍👦 family, 🇳🇿 flag, '), t('😀😃😄', 'bold'), t(' e\u0301 combining')),
  p(t('中文文本 '), t('日本語', 'italic'), t(' 한국어')),
  p(t('שלום עולם', 'underline'), t(' مرحبا')),
  code(null, 'tab\tand \\ "quotes" \u0000 nul')
))

{
  // Everything deleted: the root is in the update, with no visible content.
  const ydoc = newDoc()
  writePm(ydoc, 'default', doc(p(t('soon gone')), p(t('this too'))))
  const frag = ydoc.getXmlFragment('default')
  frag.delete(0, frag.length)
  fixture('pm_emptied', 'A fragment whose every paragraph was deleted: present in the update, nothing visible', ydoc, { emptyFragments: ['default'] })
}

{
  // Several editor steps with one binding metadata, as y-prosemirror's binding does.
  const ydoc = newDoc()
  const meta = newMeta()
  writePm(ydoc, 'default', doc(
    h(1, t('Draft title')),
    p(t('The quick brown fox jumps over the lazy dog.')),
    p(t('A paragraph that will be deleted.')),
    ul(li(p(t('keep'))), li(p(t('drop'))), li(p(t('keep too')))),
    p(t('Last words.'))
  ), meta)
  // Delete a paragraph and a list item, cut text in the middle of another paragraph.
  writePm(ydoc, 'default', doc(
    h(1, t('Draft title')),
    p(t('The quick fox jumps over the lazy dog.')),
    ul(li(p(t('keep'))), li(p(t('keep too')))),
    p(t('Last words.'))
  ), meta)
  // Bold a range in the middle of existing text, then italic over an overlapping range.
  writePm(ydoc, 'default', doc(
    h(1, t('Draft title')),
    p(t('The '), t('quick fox', 'bold'), t(' jumps over the lazy dog.')),
    ul(li(p(t('keep'))), li(p(t('keep too')))),
    p(t('Last words.'))
  ), meta)
  const last = writePm(ydoc, 'default', doc(
    h(2, t('Final title')),
    p(t('The '), t('quick ', 'bold'), t('fox', 'bold', 'italic'), t(' jumps', 'italic'), t(' over the lazy dog.')),
    ul(li(p(t('keep'))), li(p(t('keep '), t('too', link('https://x.test'))))),
    p(t('Last words.'), br(), t('And more.'))
  ), meta)
  fixture('pm_edited', 'A document edited in four binding steps: paragraph, list item and mid-text deletions, a heading level change, marks added over ranges of existing text', ydoc, { fragments: ['default'], pmText: { default: last } })
}

{
  // Two peers format overlapping ranges of the same text concurrently, then exchange updates.
  const a = newDoc()
  writePm(a, 'default', doc(p(t('concurrent formatting of one sentence')), p(t('second'))))
  const b = newDoc()
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  const textOf = (d) => d.getXmlFragment('default').get(0).get(0)
  textOf(a).format(0, 20, { bold: {} })
  textOf(a).format(5, 10, { link: { href: 'https://a.test', target: '_blank', rel: null, class: null, title: null } })
  textOf(b).format(11, 15, { italic: {} })
  textOf(b).insert(3, 'XY', { code: {} })
  textOf(b).delete(30, 4)
  a.getXmlFragment('default').get(1).get(0).insert(6, ' line', { underline: {}, strike: {} })
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  fixture('pm_concurrent', 'Two clients format overlapping ranges of one text concurrently (Y.XmlText.format/insert/delete), merged', a, { fragments: ['default'] })
}

{
  const ydoc = newDoc()
  const text = ydoc.getText('text')
  text.insertEmbed(0, { image: 'https://example.com/first.png' })
  text.insert(1, 'Hello ', { bold: true })
  text.insert(7, 'world', { bold: true, italic: true, color: '#f00' })
  text.insert(12, '!\n')
  text.insertEmbed(14, { formula: 'e=mc^2' }, { italic: true })
  text.insert(15, 'plain end 😀')
  text.format(0, 3, { header: 1 })
  text.format(8, 4, { italic: null })
  text.delete(13, 1)
  fixture('y_text', 'A Y.Text that starts with an embed, with bold/italic/color formatting, a formatted embed, a deletion', ydoc, { texts: ['text'] })
}

{
  const ydoc = newDoc()
  const map = ydoc.getMap('config')
  map.set('title', 'Settings ✓')
  map.set('int', 42)
  map.set('negative', -7)
  map.set('zero', 0)
  map.set('minus_zero', -0)
  map.set('float', 1.5)
  map.set('big', 2 ** 40)
  map.set('safe', -(2 ** 53) + 1)
  map.set('tiny', 1e-7)
  map.set('huge', 1e21)
  map.set('nan', NaN)
  map.set('yes', true)
  map.set('no', false)
  map.set('nothing', null)
  map.set('undef', undefined)
  map.set('bytes', new Uint8Array([0, 1, 2, 250, 255]))
  map.set('object', { a: [1, 'two', { three: 3 }], b: { c: null } })
  const arr = new Y.Array()
  map.set('list', arr)
  arr.push(['x', 1, { y: true }])
  const note = new Y.Text()
  map.set('note', note)
  note.insert(0, 'nested text', { bold: true })
  const inner = new Y.Map()
  map.set('inner', inner)
  inner.set('deep', new Y.Map())
  inner.get('deep').set('k', 'v')
  map.set('replaced', 'old')
  map.set('replaced', 'new')
  map.set('removed', 1)
  map.delete('removed')
  fixture('y_map', 'A Y.Map of numbers (integers, floats, NaN, 1e21), strings, booleans, null, undefined, bytes, plain objects, and nested Y.Array/Y.Text/Y.Map; an overwritten and a deleted key', ydoc, { others: [['config', Y.Map]] })
}

{
  const ydoc = newDoc()
  const arr = ydoc.getArray('items')
  arr.push(['first', 2, 3.25, true, null, { k: 'v' }, [1, [2, [3]]]])
  const m = new Y.Map()
  m.set('a', 1)
  arr.push([m])
  const txt = new Y.Text()
  txt.insert(0, 'text in an array')
  arr.push([txt])
  const xml = new Y.XmlElement('Paragraph')
  arr.push([xml])
  xml.setAttribute('data-n', 5)
  xml.setAttribute('class', 'x')
  xml.insert(0, [new Y.XmlText('hi')])
  xml.get(0).format(0, 1, { bold: {}, link: { href: 'u' } })
  arr.push([new Uint8Array([104, 105])])
  arr.insert(1, ['inserted'])
  arr.delete(3, 1)
  fixture('y_array', 'A Y.Array that starts with a string: mixed plain values, nested Y.Map, Y.Text and Y.XmlElement (rendered as Yjs toJSON: an XML string), bytes, an insertion and a deletion', ydoc, { others: [['items', Y.Array]] })
}

{
  const ydoc = newDoc()
  const frag = ydoc.getXmlFragment('prosemirror')
  const para = new Y.XmlElement('paragraph')
  para.setAttribute('textAlign', 'left')
  para.setAttribute('indent', 2)
  para.setAttribute('meta', { a: [1, 2], b: null })
  para.setAttribute('flag', false)
  frag.insert(0, [para, new Y.XmlElement('horizontalRule')])
  const xt = new Y.XmlText()
  para.insert(0, [xt])
  xt.insert(0, 'before ')
  xt.insertEmbed(7, { mention: { id: 7, label: '@ann' } })
  xt.insert(8, ' after', { bold: {} })
  xt.insertEmbed(14, 'string embed', { italic: {} })
  const el = new Y.XmlElement('image')
  el.setAttribute('src', 'x.png')
  para.insert(1, [el])
  para.insert(2, [new Y.XmlText('tail')])
  const top = new Y.XmlText()
  frag.insert(2, [top])
  top.insert(0, 'top-level text', { code: {} })
  frag.insert(3, [new Y.XmlText()])
  fixture('y_xml_embed', 'An XmlFragment built with Yjs alone: element attributes of every JSON type, an XmlText with embeds (object and string) between formatted text, a top-level XmlText (not flattened by y-prosemirror) and an empty one', ydoc, { fragments: ['prosemirror'] })
}

{
  const ydoc = newDoc()
  const map = ydoc.getMap('xml')
  const frag = new Y.XmlFragment()
  map.set('fragment', frag)
  const el = new Y.XmlElement('Item')
  frag.insert(0, [el, new Y.XmlText('after')])
  el.setAttribute('b', 'two')
  el.setAttribute('a', 1.5)
  el.setAttribute('z', { o: 1 })
  el.setAttribute('arr', [1, null, 'x'])
  const xt = new Y.XmlText()
  el.insert(0, [xt])
  xt.insert(0, 'bold', { strong: true, em: { class: 'c', n: 1e21 } })
  xt.insert(4, ' plain')
  xt.insert(10, ' s', { sup: 'ab' })
  const text = new Y.XmlText('standalone')
  map.set('text', text)
  const elem = new Y.XmlElement('leaf')
  map.set('element', elem)
  fixture('y_xml_in_map', 'XML types nested in a Y.Map: Yjs toJSON gives their XML strings (sorted attributes, JS value stringification, formatting as nested tags)', ydoc, { others: [['xml', Y.Map]] })
}

{
  const ydoc = newDoc()
  const pNode = writePm(ydoc, 'body', doc(h(1, t('Title')), p(t('Body '), t('text', 'bold'))))
  ydoc.getText('title').insert(0, 'A title')
  ydoc.getText('summary').insert(0, 'Short summary', { italic: true })
  ydoc.getMap('meta').set('tags', ['a', 'b'])
  ydoc.getArray('comments').push([{ by: 'ann', text: 'nice' }])
  const notes = ydoc.getXmlFragment('notes')
  writePm(ydoc, 'notes', doc(p(t('note one')), ul(li(p(t('point'))))))
  fixture('y_several_roots', 'Two fragments, two texts, a map and an array in one document', ydoc, {
    fragments: ['body', 'notes'],
    texts: ['summary', 'title'],
    others: [['meta', Y.Map], ['comments', Y.Array]],
    pmText: { body: pNode, notes: schema.nodeFromJSON(yXmlFragmentToProsemirrorJSON(notes)) }
  })
}

// ---- write ----
mkdirSync(outDir, { recursive: true })
for (const f of readdirSync(outDir)) {
  if (f.endsWith('.json')) unlinkSync(outDir + f)
}
const replacer = (_key, value) => {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  if (value === undefined) return null
  return value
}
for (const [name, out] of fixtures) {
  writeFileSync(`${outDir}${name}.json`, JSON.stringify(out, replacer, 2) + '\n')
}
console.log(`wrote ${fixtures.length} fixtures to ${outDir}`)
