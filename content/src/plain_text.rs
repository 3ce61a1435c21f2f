//! The plain text of a document, for full-text search: [`plain_text`].
//!
//! An XmlFragment's text is one line per text block, the way ProseMirror's
//! `doc.textBetween(0, size, "\n")` separates blocks, without its empty lines (an empty
//! paragraph, an image). Without the editor's schema a text block is recognised by its content:
//! an element holding an XmlText directly is a block whose line is all the text inside it
//! (inline elements included, a hard break as a line break); any other element gives the lines
//! of its children (list items, blockquotes, table cells).

use yrs::branch::{BranchID, BranchPtr};
use yrs::types::TypeRef;
use yrs::{GetString, Out, ReadTxn, TextRef};

use crate::kind::{branch_kind, RootKind};

/// The text of every Text and XmlFragment root, in root-name order, joined by "\n". Roots
/// without text are left out.
pub fn plain_text<T: ReadTxn>(txn: &T) -> String {
    let mut names: Vec<String> = txn.root_refs().map(|(name, _)| name.to_owned()).collect();
    names.sort();
    let mut parts = Vec::new();
    for name in names {
        let Some(branch) = BranchID::get_root(txn, name.as_str()) else {
            continue;
        };
        let text = match branch_kind(txn, branch) {
            Some(RootKind::Text) => TextRef::from(branch).get_string(txn),
            Some(RootKind::XmlFragment) => fragment_text(txn, branch),
            _ => continue,
        };
        if !text.is_empty() {
            parts.push(text);
        }
    }
    parts.join("\n")
}

/// An XmlFragment's text, one block per line, no empty lines and no trailing newline.
pub(crate) fn fragment_text<T: ReadTxn>(txn: &T, branch: BranchPtr) -> String {
    let mut lines = Vec::new();
    block_lines(txn, branch, &mut lines);
    let mut out = String::new();
    for line in lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .filter(|l| !l.is_empty())
    {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// The lines of a container's children.
fn block_lines<T: ReadTxn>(txn: &T, container: BranchPtr, lines: &mut Vec<String>) {
    for child in children(txn, container) {
        match child.type_ref() {
            TypeRef::XmlText => lines.push(TextRef::from(child).get_string(txn)),
            TypeRef::XmlElement(_) if holds_text(txn, child) => {
                let mut line = String::new();
                inline_text(txn, child, &mut line);
                lines.push(line);
            }
            TypeRef::XmlElement(_) => block_lines(txn, child, lines),
            _ => {}
        }
    }
}

/// All the text inside an element, hard breaks as "\n".
fn inline_text<T: ReadTxn>(txn: &T, element: BranchPtr, line: &mut String) {
    for child in children(txn, element) {
        match child.type_ref() {
            TypeRef::XmlText => line.push_str(&TextRef::from(child).get_string(txn)),
            TypeRef::XmlElement(name) if is_hard_break(name) => line.push('\n'),
            TypeRef::XmlElement(_) => inline_text(txn, child, line),
            _ => {}
        }
    }
}

fn holds_text<T: ReadTxn>(txn: &T, element: BranchPtr) -> bool {
    children(txn, element).any(|c| matches!(c.type_ref(), TypeRef::XmlText))
}

/// Tiptap's `hardBreak`, prosemirror-schema-basic's `hard_break`, HTML's `br`.
fn is_hard_break(name: &str) -> bool {
    matches!(name, "hardBreak" | "hard_break" | "br")
}

/// The shared types among a list's visible items.
fn children<'t, T: ReadTxn>(txn: &'t T, branch: BranchPtr) -> impl Iterator<Item = BranchPtr> + 't {
    crate::sequence::items(txn, branch)
        .into_iter()
        .filter_map(|out: Out| out.try_branch().map(BranchPtr::from))
}
