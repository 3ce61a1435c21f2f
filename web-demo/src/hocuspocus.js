// The page's second flavour, opened with `?provider=hocuspocus`: a Tiptap editor synced over
// Plait's Hocuspocus endpoint (`ws://HOST/hocuspocus`) by @hocuspocus/provider, on the same
// documents and the same Y.XmlFragment ('prosemirror') as the default ProseMirror + y-websocket
// page. main.js loads this module with a dynamic import, so the default page never downloads Tiptap.
//
// Schema compatibility with the ProseMirror page (prosemirror-schema-basic + prosemirror-schema-list,
// see editor.js). Both bindings store a node as a Y.XmlElement named after its node type and a mark
// as a text attribute named after its mark type, and each binding DELETES from the shared document
// whatever its own schema cannot build. So the Tiptap schema below knows every node and mark of the
// ProseMirror page by the same name, and leaves out every StarterKit extension that page lacks:
//
//   converts both ways (same name, compatible attributes):
//     doc, paragraph, text, heading (level 1–6), blockquote, and the marks code and link (href and
//     title; Tiptap's extra target/rel/class attributes are ignored on the ProseMirror page);
//   converts because StarterKit's extensions are renamed here:
//     bold → strong, italic → em, codeBlock → code_block (its `language` attribute is not in the
//     basic schema and is ignored there), hardBreak → hard_break, horizontalRule → horizontal_rule,
//     bulletList → bullet_list, orderedList → ordered_list, listItem → list_item;
//   added here because StarterKit lacks it: image (inline; src, alt, title as in the basic schema);
//   aligned: Tiptap's code mark excludes every other mark, the basic schema's only itself, so here
//     it too excludes only itself (bold inline code from the ProseMirror page stays bold);
//   does not convert:
//     an ordered list's first number (the ProseMirror page's `order` attribute vs Tiptap's `start`:
//     each side shows the other's list from 1, and an edit inside such a list on the Tiptap page
//     drops `order`);
//   left out, since the ProseMirror page would delete such text: strike and underline; and
//     StarterKit's trailing node, which would add paragraphs nobody typed.
//
// Tiptap's `enableContentCheck` (pause instead of delete) stays off: it also pauses the editor when
// the document is emptied (an undo of everything) and on bold inline code, both ordinary here.
import { Editor, Node, mergeAttributes } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import { Bold } from '@tiptap/extension-bold'
import { Code } from '@tiptap/extension-code'
import { Italic } from '@tiptap/extension-italic'
import { CodeBlock } from '@tiptap/extension-code-block'
import { HardBreak } from '@tiptap/extension-hard-break'
import { HorizontalRule } from '@tiptap/extension-horizontal-rule'
import { BulletList, OrderedList, ListItem, ListKeymap } from '@tiptap/extension-list'
import { Collaboration } from '@tiptap/extension-collaboration'
import { CollaborationCaret } from '@tiptap/extension-collaboration-caret'
import { HocuspocusProvider } from '@hocuspocus/provider'

export { HocuspocusProvider }

/** The basic schema's inline image, which StarterKit does not have. */
const Image = Node.create({
  name: 'image',
  inline: true,
  group: 'inline',
  draggable: true,
  addAttributes () {
    return { src: { default: null }, alt: { default: null }, title: { default: null } }
  },
  parseHTML () {
    return [{ tag: 'img[src]' }]
  },
  renderHTML ({ HTMLAttributes }) {
    return ['img', mergeAttributes(HTMLAttributes)]
  }
})

const LIST_ITEM = 'list_item'
const extensions = () => [
  StarterKit.configure({
    // Collaboration brings its own undo history, limited to this visitor's edits.
    undoRedo: false,
    // Replaced below by the same extensions under the ProseMirror page's names.
    bold: false,
    italic: false,
    code: false,
    codeBlock: false,
    hardBreak: false,
    horizontalRule: false,
    bulletList: false,
    orderedList: false,
    listItem: false,
    listKeymap: false,
    // Not in the ProseMirror page's schema.
    strike: false,
    underline: false,
    trailingNode: false,
    link: { openOnClick: false }
  }),
  Bold.extend({ name: 'strong' }),
  Italic.extend({ name: 'em' }),
  Code.extend({ excludes: 'code' }),
  CodeBlock.extend({ name: 'code_block' }),
  HardBreak.extend({ name: 'hard_break' }),
  HorizontalRule.extend({ name: 'horizontal_rule' }),
  BulletList.extend({ name: 'bullet_list' }).configure({ itemTypeName: LIST_ITEM }),
  OrderedList.extend({ name: 'ordered_list' }).configure({ itemTypeName: LIST_ITEM }),
  ListItem.extend({ name: LIST_ITEM }).configure({ bulletListTypeName: 'bullet_list', orderedListTypeName: 'ordered_list' }),
  ListKeymap.configure({ listTypes: [{ itemName: LIST_ITEM, wrapperNames: ['bullet_list', 'ordered_list'] }] }),
  Image
]

/** Remote carets drawn exactly as y-prosemirror draws them on the other page (same CSS, same tests). */
function caret (user) {
  const cursor = document.createElement('span')
  cursor.classList.add('ProseMirror-yjs-cursor')
  cursor.style.borderColor = user.color
  const label = document.createElement('div')
  label.style.backgroundColor = user.color
  label.append(String(user.name ?? 'anonymous'))
  cursor.append('\u2060', label, '\u2060')
  return cursor
}

/** Toolbar buttons (index.html's data-cmd names) as Tiptap commands. */
const TOOLBAR = {
  paragraph: { run: (c) => c.setParagraph(), active: (e) => e.isActive('paragraph') },
  h1: { run: (c) => c.setHeading({ level: 1 }), active: (e) => e.isActive('heading', { level: 1 }) },
  h2: { run: (c) => c.setHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
  h3: { run: (c) => c.setHeading({ level: 3 }), active: (e) => e.isActive('heading', { level: 3 }) },
  bold: { run: (c) => c.toggleBold(), active: (e) => e.isActive('strong') },
  italic: { run: (c) => c.toggleItalic(), active: (e) => e.isActive('em') },
  code: { run: (c) => c.toggleCode(), active: (e) => e.isActive('code') },
  codeBlock: { run: (c) => c.setCodeBlock(), active: (e) => e.isActive('code_block') },
  bulletList: { run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bullet_list') },
  orderedList: { run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('ordered_list') },
  undo: { run: (c) => c.undo(), active: () => false },
  redo: { run: (c) => c.redo(), active: () => false }
}

/**
 * Creates the Tiptap editor in `mount`, bound to `doc`'s 'prosemirror' fragment with carets from
 * `provider`'s awareness. `onState(isActive, canRun)` is called after every transaction so the
 * toolbar can follow the cursor.
 */
export function createTiptapEditor ({ mount, doc, provider, user, onState }) {
  const editor = new Editor({
    element: mount,
    extensions: [
      ...extensions(),
      Collaboration.configure({ document: doc, field: 'prosemirror' }),
      CollaborationCaret.configure({ provider, user: { name: user.name, color: user.color }, render: caret })
    ],
    editorProps: { attributes: { 'aria-label': 'Document text', spellcheck: 'true' } }
  })
  const report = () => onState(
    (cmd) => TOOLBAR[cmd].active(editor),
    (cmd) => TOOLBAR[cmd].run(editor.can().chain()).run()
  )
  editor.on('transaction', report)
  report()
  return {
    schema: editor.schema,
    run (cmd) {
      TOOLBAR[cmd].run(editor.chain().focus()).run()
    },
    setUser (u) {
      editor.commands.updateUser({ name: u.name, color: u.color })
    },
    destroy () {
      editor.off('transaction', report)
      editor.destroy()
    }
  }
}

/**
 * The "saved" badge for the Hocuspocus page. Plait acknowledges each update with a SyncStatus
 * message only once it is committed to SQL, and the provider counts updates not yet acknowledged
 * (`unsyncedChanges`), so "no unsynced changes" means "in SQL". Same interface as
 * DurabilityTracker, so the page and the storage panel need not know which one they have.
 */
export class UnsyncedChangesTracker {
  constructor (provider, onChange) {
    this.provider = provider
    this._last = this.state
    this._onUnsynced = () => {
      const state = this.state
      if (state === this._last) return
      this._last = state
      onChange(state)
    }
    provider.on('unsyncedChanges', this._onUnsynced)
  }

  get state () {
    return this.provider.hasUnsyncedChanges ? 'saving' : 'saved'
  }

  /** Not needed: the acknowledgements say it all. */
  serverStats () {}
  resetHandshake () {}

  destroy () {
    this.provider.off('unsyncedChanges', this._onUnsynced)
  }
}
