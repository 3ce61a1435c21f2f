//! Writing a validated ProseMirror document into an XmlFragment the way y-prosemirror does:
//! [`write_fragment`].
//!
//! y-prosemirror makes an element node a `Y.XmlElement` named after the node type, with one
//! attribute per non-null node attribute (values keep their JSON type), and a run of text nodes
//! one `Y.XmlText` filled by `applyDelta`, which brackets every text node with its marks: the
//! item sequence is `[m1][m2] "text" [m1: null][m2: null]`, the mark's attrs as each formatting
//! item's value. A browser's y-prosemirror reads the order of `m1, m2` back as the order of the
//! marks, so that order is part of what is written.
//!
//! yrs writes formatting from a `HashMap` (its order lost), so the items are placed directly:
//! each text run is built from its last item to its first, every item inserted at index 0 of
//! the empty XmlText, where yrs puts a new item before all others (formatting items included).
//! Elements are written the same way, last child first, so that no insertion walks the list.
//! The items are ordinary Yjs items (origin none, right origin the next item); every client
//! integrates them into the same order, without a walk either.

use std::sync::Arc;

use yrs::block::{EmbedPrelim, ItemContent, Prelim, SplittableString, Unused};
use yrs::branch::{Branch, BranchPtr};
use yrs::{
    Any, Text, TransactionMut, Xml, XmlElementPrelim, XmlElementRef, XmlFragment, XmlFragmentRef,
    XmlTextPrelim, XmlTextRef,
};

use crate::pm_input::{Child, Element, PmDoc, TextNode};
use crate::prosemirror::mark_name;

/// Replaces everything in `fragment` by `doc`.
pub(crate) fn write_fragment(txn: &mut TransactionMut, fragment: &XmlFragmentRef, doc: &PmDoc) {
    // In the document's own offset units, which is what `remove_range` counts in.
    let len = AsRef::<Branch>::as_ref(fragment).content_len();
    if len > 0 {
        fragment.remove_range(txn, 0, len);
    }
    // Last to first, each at index 0: yrs finds index 0 at once, while appending walks the
    // whole list each time (quadratic in the number of blocks).
    for block in doc.blocks.iter().rev() {
        let element = fragment.insert(txn, 0, XmlElementPrelim::empty(block.name.as_str()));
        write_element(txn, &element, block);
    }
}

fn write_element(txn: &mut TransactionMut, element: &XmlElementRef, node: &Element) {
    for (key, value) in &node.attrs {
        element.insert_attribute(txn, key.as_str(), value.clone());
    }
    for child in node.children.iter().rev() {
        match child {
            Child::Element(node) => {
                let child = element.insert(txn, 0, XmlElementPrelim::empty(node.name.as_str()));
                write_element(txn, &child, node);
            }
            Child::Text(run) => {
                let text = element.insert(txn, 0, XmlTextPrelim::new(""));
                write_run(txn, &text, run);
            }
        }
    }
}

/// Fills an empty XmlText with a run of text nodes, as y-prosemirror's `applyDelta` would.
fn write_run(txn: &mut TransactionMut, text: &XmlTextRef, run: &[TextNode]) {
    let mut items: Vec<ItemContent> = Vec::new();
    for node in run {
        let keys = mark_keys(&node.marks);
        for (key, (_, attrs)) in keys.iter().zip(&node.marks) {
            items.push(ItemContent::Format(key.clone(), Box::new(attrs.clone())));
        }
        items.push(ItemContent::String(SplittableString::from(
            node.text.as_str(),
        )));
        for key in &keys {
            items.push(ItemContent::Format(key.clone(), Box::new(Any::Null)));
        }
    }
    for item in items.into_iter().rev() {
        text.insert_embed(txn, 0, Raw(item));
    }
}

/// The attribute key of each mark: its type, or for a second mark of the same type (a mark that
/// may overlap itself, like a comment) the type with a `--XXXXXXXX` suffix, which readers strip
/// as they strip y-prosemirror's hash.
fn mark_keys(marks: &[(String, Any)]) -> Vec<Arc<str>> {
    let mut keys: Vec<Arc<str>> = Vec::with_capacity(marks.len());
    for (name, _) in marks {
        let repeats = marks_before(&keys, name);
        keys.push(if repeats == 0 {
            Arc::from(name.as_str())
        } else {
            format!("{name}--{repeats:08}").into()
        });
    }
    keys
}

fn marks_before(keys: &[Arc<str>], name: &str) -> usize {
    keys.iter().filter(|k| mark_name(k) == name).count()
}

/// One item's content, inserted as is (yrs' `insert_embed` takes any `Prelim`).
pub(crate) struct Raw(pub(crate) ItemContent);

impl Prelim for Raw {
    type Return = Unused;

    fn into_content(self, _txn: &mut TransactionMut) -> (ItemContent, Option<Self>) {
        (self.0, None)
    }

    fn integrate(self, _txn: &mut TransactionMut, _inner_ref: BranchPtr) {}
}

impl From<Raw> for EmbedPrelim<Raw> {
    fn from(raw: Raw) -> Self {
        EmbedPrelim::Shared(raw)
    }
}
