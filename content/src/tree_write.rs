//! Writing a [`crate::tree`] into a document as new items: [`Writer`].
//!
//! yrs' own deep copy (`AsPrelim`) would lose what the tree keeps: it turns an XML element's
//! attributes into strings and a text's formatting into a `HashMap` per chunk (their order lost,
//! and the boundary a formatting item that changes nothing makes between two chunks too). So every item is placed directly, as `xml_write` places
//! y-prosemirror's: a text's items (characters, embeds, formatting items) one by one with
//! `insert_embed` of the raw content, last first, each at index 0, where yrs puts an item before
//! all others without adding formatting of its own; a list's values last first at their index; a
//! nested type created empty (`Shell`) and then filled. The items are ordinary Yjs items, and
//! every client integrates them into the same order.
//!
//! Callers check first that what they write holds nothing [`crate::tree::unwritable`].

use std::sync::Arc;

use yrs::block::{EmbedPrelim, ItemContent, Prelim, SplittableString};
use yrs::branch::{Branch, BranchPtr};
use yrs::types::TypeRef;
use yrs::{Any, Array, ArrayRef, Map, MapRef, Text, TextRef, TransactionMut};

use crate::tree::{List, NodeId, Piece, Tree, Val};
use crate::xml_write::Raw;

/// Writes values of one [`Tree`]. A nested type is created empty where it goes and filled by
/// [`Writer::finish`], from a work list rather than by recursion (see [`crate::tree`]).
pub(crate) struct Writer<'t> {
    tree: &'t Tree,
    pending: Vec<(BranchPtr, NodeId)>,
}

impl<'t> Writer<'t> {
    pub(crate) fn new(tree: &'t Tree) -> Self {
        Writer {
            tree,
            pending: Vec::new(),
        }
    }

    /// Sets `key` of `branch`'s map part (a map entry, an XML attribute) to `val`.
    pub(crate) fn set_entry(
        &mut self,
        txn: &mut TransactionMut,
        branch: BranchPtr,
        key: &Arc<str>,
        val: &Val,
    ) {
        let map = MapRef::from(branch);
        match val {
            Val::Any(plain) => {
                map.insert(txn, key.clone(), plain.0.clone());
            }
            Val::Node(id) => {
                let nested = map.insert(txn, key.clone(), self.shell(*id));
                self.pending.push((nested, *id));
            }
            Val::Opaque(_) => {} // refused before the transaction (`tree::unwritable`)
        }
    }

    /// Inserts `values` into `branch`'s list part at `index` (in yrs' units: one per value, as
    /// long as no value is a string yrs counts in UTF-16 units; see `restore`).
    pub(crate) fn insert_values(
        &mut self,
        txn: &mut TransactionMut,
        branch: BranchPtr,
        index: u32,
        values: &[Val],
    ) {
        let list = ArrayRef::from(branch);
        // Runs of plain values become one item each, as Yjs' `insert(i, [a, b, c])` makes one.
        let mut run: Vec<Any> = Vec::new();
        for val in values.iter().rev() {
            match val {
                Val::Any(plain) => run.push(plain.0.clone()),
                Val::Node(id) => {
                    flush(txn, &list, index, &mut run);
                    let nested = list.insert(txn, index, self.shell(*id));
                    self.pending.push((nested, *id));
                }
                Val::Opaque(_) => {}
            }
        }
        flush(txn, &list, index, &mut run);
    }

    /// Inserts a text's items at the start of the text `branch`.
    pub(crate) fn insert_pieces(
        &mut self,
        txn: &mut TransactionMut,
        branch: BranchPtr,
        pieces: &[Piece],
    ) {
        let text = TextRef::from(branch);
        for piece in pieces.iter().rev() {
            let content = match piece {
                // A zero-length item cannot be created (yrs would panic); the marked copy never
                // gives an empty run, but the check costs nothing.
                Piece::Str(s) if s.is_empty() => continue,
                Piece::Str(s) => ItemContent::String(SplittableString::from(s.as_str())),
                Piece::Embed(plain) => ItemContent::Embed(plain.0.clone()),
                Piece::Format(key, plain) => {
                    ItemContent::Format(key.clone(), Box::new(plain.0.clone()))
                }
                Piece::Type(Val::Node(id)) => {
                    let nested = text.insert_embed(txn, 0, self.shell(*id));
                    self.pending.push((nested, *id));
                    continue;
                }
                Piece::Type(_) => continue,
            };
            text.insert_embed(txn, 0, Raw(content));
        }
    }

    /// Fills every shared type created so far, and those they hold.
    pub(crate) fn finish(mut self, txn: &mut TransactionMut) {
        while let Some((branch, id)) = self.pending.pop() {
            let node = self.tree.node(id);
            for (key, val) in &node.entries {
                self.set_entry(txn, branch, key, val);
            }
            match &node.list {
                List::Nothing => {}
                List::Values(values) => self.insert_values(txn, branch, 0, values),
                List::Text(pieces) => self.insert_pieces(txn, branch, pieces),
            }
        }
    }

    fn shell(&self, id: NodeId) -> Shell {
        Shell(self.tree.node(id).shape.type_ref())
    }
}

/// The run gathered last first, inserted in order.
fn flush(txn: &mut TransactionMut, list: &ArrayRef, index: u32, run: &mut Vec<Any>) {
    if !run.is_empty() {
        run.reverse();
        list.insert_range(txn, index, std::mem::take(run));
    }
}

/// An empty shared type of the given kind; the inserting call returns its branch.
struct Shell(TypeRef);

impl Prelim for Shell {
    type Return = BranchPtr;

    fn into_content(self, _txn: &mut TransactionMut) -> (ItemContent, Option<Self>) {
        (ItemContent::Type(Branch::new(self.0)), None)
    }

    fn integrate(self, _txn: &mut TransactionMut, _inner_ref: BranchPtr) {}
}

impl From<Shell> for EmbedPrelim<Shell> {
    fn from(shell: Shell) -> Self {
        EmbedPrelim::Shared(shell)
    }
}
