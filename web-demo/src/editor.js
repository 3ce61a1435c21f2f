// The ProseMirror editor bound to a Y.XmlFragment: collaborative content (ySyncPlugin), remote
// carets (yCursorPlugin) and an undo history limited to this visitor's own edits (yUndoPlugin).
import { EditorState } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { Schema } from 'prosemirror-model'
import { schema as basicSchema } from 'prosemirror-schema-basic'
import { addListNodes, wrapInList, splitListItem, liftListItem, sinkListItem } from 'prosemirror-schema-list'
import { keymap } from 'prosemirror-keymap'
import { baseKeymap, toggleMark, setBlockType, lift } from 'prosemirror-commands'
import {
  inputRules, wrappingInputRule, textblockTypeInputRule, smartQuotes, ellipsis, emDash
} from 'prosemirror-inputrules'
import { ySyncPlugin, yCursorPlugin, yUndoPlugin, undo, redo } from 'y-prosemirror'

export const schema = new Schema({
  nodes: addListNodes(basicSchema.spec.nodes, 'paragraph block*', 'block'),
  marks: basicSchema.spec.marks
})

const markdownRules = () => inputRules({
  rules: [
    ...smartQuotes, ellipsis, emDash,
    textblockTypeInputRule(/^(#{1,3})\s$/, schema.nodes.heading, (m) => ({ level: m[1].length })),
    textblockTypeInputRule(/^```$/, schema.nodes.code_block),
    wrappingInputRule(/^\s*([-+*])\s$/, schema.nodes.bullet_list),
    wrappingInputRule(/^(\d+)\.\s$/, schema.nodes.ordered_list, (m) => ({ order: +m[1] }),
      (m, node) => node.childCount + node.attrs.order === +m[1]),
    wrappingInputRule(/^\s*>\s$/, schema.nodes.blockquote)
  ]
})

const undoCmd = (state) => undo(state)
const redoCmd = (state) => redo(state)

/** Toolbar buttons: what they do, and how to tell whether they are "on" at the cursor. */
export const commands = {
  paragraph: { run: setBlockType(schema.nodes.paragraph), active: (s) => blockIs(s, 'paragraph') },
  h1: { run: setBlockType(schema.nodes.heading, { level: 1 }), active: (s) => blockIs(s, 'heading', 1) },
  h2: { run: setBlockType(schema.nodes.heading, { level: 2 }), active: (s) => blockIs(s, 'heading', 2) },
  h3: { run: setBlockType(schema.nodes.heading, { level: 3 }), active: (s) => blockIs(s, 'heading', 3) },
  bold: { run: toggleMark(schema.marks.strong), active: (s) => markIs(s, schema.marks.strong) },
  italic: { run: toggleMark(schema.marks.em), active: (s) => markIs(s, schema.marks.em) },
  code: { run: toggleMark(schema.marks.code), active: (s) => markIs(s, schema.marks.code) },
  codeBlock: { run: setBlockType(schema.nodes.code_block), active: (s) => blockIs(s, 'code_block') },
  bulletList: { run: toggleList(schema.nodes.bullet_list), active: (s) => inList(s, 'bullet_list') },
  orderedList: { run: toggleList(schema.nodes.ordered_list), active: (s) => inList(s, 'ordered_list') },
  undo: { run: undoCmd, active: () => false },
  redo: { run: redoCmd, active: () => false }
}

function blockIs (state, type, level) {
  const { $from, to } = state.selection
  const node = $from.parent
  if (node.type.name !== type) return false
  if (level !== undefined && node.attrs.level !== level) return false
  return to <= $from.end()
}

function markIs (state, mark) {
  const { from, $from, to, empty } = state.selection
  if (empty) return !!mark.isInSet(state.storedMarks || $from.marks())
  return state.doc.rangeHasMark(from, to, mark)
}

function inList (state, type) {
  const { $from } = state.selection
  for (let d = $from.depth; d > 0; d--) {
    if ($from.node(d).type.name === type) return true
  }
  return false
}

function toggleList (listType) {
  return (state, dispatch) => {
    if (inList(state, listType.name)) return liftListItem(schema.nodes.list_item)(state, dispatch)
    return wrapInList(listType)(state, dispatch)
  }
}

/**
 * Creates the editor in `mount`. `onState` is called after every transaction so the toolbar can
 * reflect the marks/blocks at the cursor.
 */
export function createEditor ({ mount, fragment, awareness, onState }) {
  const state = EditorState.create({
    schema,
    plugins: [
      ySyncPlugin(fragment),
      yCursorPlugin(awareness),
      yUndoPlugin(),
      markdownRules(),
      keymap({
        'Mod-z': undoCmd,
        'Mod-y': redoCmd,
        'Mod-Shift-z': redoCmd,
        'Mod-b': toggleMark(schema.marks.strong),
        'Mod-i': toggleMark(schema.marks.em),
        'Mod-`': toggleMark(schema.marks.code),
        'Mod-Alt-1': setBlockType(schema.nodes.heading, { level: 1 }),
        'Mod-Alt-2': setBlockType(schema.nodes.heading, { level: 2 }),
        'Mod-Alt-0': setBlockType(schema.nodes.paragraph),
        Enter: splitListItem(schema.nodes.list_item),
        Tab: sinkListItem(schema.nodes.list_item),
        'Shift-Tab': liftListItem(schema.nodes.list_item),
        'Mod-[': lift
      }),
      keymap(baseKeymap)
    ]
  })
  const view = new EditorView(mount, {
    state,
    attributes: { 'aria-label': 'Document text', spellcheck: 'true' },
    // `this` is the view; plugins may dispatch while the constructor runs, before `view` is bound.
    dispatchTransaction (tr) {
      this.updateState(this.state.apply(tr))
      onState(this.state)
    }
  })
  onState(view.state)
  return view
}
