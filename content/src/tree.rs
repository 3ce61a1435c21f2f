//! A document's content as plain data: a [`Tree`] of shared types ([`Node`]) and the values in
//! them ([`Val`]), read item by item from a transaction, compared ([`same`]) and written back
//! (`tree_write`).
//!
//! The tree holds what every reader of a document sees, and no more: a map's entries, a list's
//! visible values, a text's visible items *including its formatting items* (their order is the
//! order of a delta's attributes and of y-prosemirror's marks, and a formatting item that changes
//! nothing still ends a delta chunk), an XML element's tag and attributes. Two trees that are
//! the same render alike in every format; a tree written into empty branches reads back the same.
//! Item ids, origins and deleted items are not part of it: `restore` writes new items.
//!
//! Nested types live in an arena and refer to each other by index, and reading, comparing,
//! checking and writing walk it with a work list instead of recursing: Plait stores documents
//! nested up to 1000 levels, and a recursion through yrs' iterators costs kilobytes of stack per
//! level in a debug build (a tokio worker has 2 MiB).

use std::sync::Arc;

use yrs::branch::BranchPtr;
use yrs::types::TypeRef;
use yrs::{Any, Map, MapRef, Out, ReadTxn};

use crate::chunk::RawPiece;
use crate::context::Ctx;
use crate::kind::RootKind;
use crate::same::same_any;
use crate::text_items::text_items;

/// Where a [`Node`] is in its [`Tree`].
pub(crate) type NodeId = usize;

/// The shared types read from one document.
#[derive(Default)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
}

/// A shared type.
pub(crate) struct Node {
    pub shape: Shape,
    /// The map part (a map's entries, an XML element's or text's attributes), sorted by key.
    pub entries: Vec<(Arc<str>, Val)>,
    pub list: List,
}

/// The kinds of shared type the tree writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Text,
    XmlText,
    Array,
    Map,
    XmlFragment,
    XmlElement(Arc<str>),
}

impl Shape {
    pub(crate) fn type_ref(&self) -> TypeRef {
        match self {
            Shape::Text => TypeRef::Text,
            Shape::XmlText => TypeRef::XmlText,
            Shape::Array => TypeRef::Array,
            Shape::Map => TypeRef::Map,
            Shape::XmlFragment => TypeRef::XmlFragment,
            Shape::XmlElement(tag) => TypeRef::XmlElement(tag.clone()),
        }
    }
}

/// A value held by a map, a list, an attribute or (a type) a text.
pub(crate) enum Val {
    Any(Plain),
    Node(NodeId),
    /// Something this crate cannot write (a subdocument, an XML hook, a weak link), described
    /// for messages. The same only as the very same one: its id is part of the description.
    Opaque(String),
}

/// The list part of a shared type.
pub(crate) enum List {
    /// A map's: nothing any reader looks at.
    Nothing,
    /// An array's, an XML fragment's or element's children.
    Values(Vec<Val>),
    /// A text's items; never ends with a formatting item (one after the last content changes
    /// nothing anyone reads, and deleting a text's content may leave some there).
    Text(Vec<Piece>),
}

/// One visible item of a text.
pub(crate) enum Piece {
    Str(String),
    Embed(Plain),
    Format(Arc<str>, Plain),
    /// A shared type embedded in the text (`Val::Node` or `Val::Opaque`).
    Type(Val),
}

/// A JSON-like value, equal to another when a reader could not tell them apart: numbers by their
/// bits (so NaN equals NaN and a restored NaN is not rewritten every time), an integer never
/// equal to a float (lib0 encodes them differently).
#[derive(Debug, Clone)]
pub(crate) struct Plain(pub Any);

impl PartialEq for Plain {
    fn eq(&self, other: &Self) -> bool {
        same_any(&self.0, &other.0)
    }
}

/// A text's items could not be read in order (see [`crate::text_items`]), or a list's at all
/// (see [`crate::sequence`]).
#[derive(Debug)]
pub(crate) struct Unreadable;

/// A root's content: its map part, sorted by key, and its list part.
pub(crate) struct Content {
    pub entries: Vec<(Arc<str>, Val)>,
    pub list: List,
}

/// Branches whose node is allocated but not yet read.
type Pending = Vec<(BranchPtr, NodeId)>;

impl Tree {
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Root `branch`, its list part read as `kind`'s readers read it.
    pub(crate) fn read_root<T: ReadTxn>(
        &mut self,
        ctx: &Ctx<'_, T>,
        branch: BranchPtr,
        kind: Option<RootKind>,
    ) -> Result<Content, Unreadable> {
        let mut pending = Pending::new();
        let entries = self.entries(ctx, branch, &mut pending);
        let list = match kind {
            None | Some(RootKind::Map) => List::Nothing,
            Some(RootKind::Text) => List::Text(self.pieces(ctx, branch, &mut pending)?),
            Some(RootKind::Array | RootKind::XmlFragment) => {
                List::Values(self.values(ctx, branch, &mut pending)?)
            }
        };
        while let Some((branch, id)) = pending.pop() {
            let entries = self.entries(ctx, branch, &mut pending);
            let list = match self.nodes[id].shape {
                Shape::Map => List::Nothing,
                Shape::Text | Shape::XmlText => {
                    List::Text(self.pieces(ctx, branch, &mut pending)?)
                }
                Shape::Array | Shape::XmlFragment | Shape::XmlElement(_) => {
                    List::Values(self.values(ctx, branch, &mut pending)?)
                }
            };
            let node = &mut self.nodes[id];
            node.entries = entries;
            node.list = list;
        }
        Ok(Content { entries, list })
    }

    fn entries<T: ReadTxn>(
        &mut self,
        ctx: &Ctx<'_, T>,
        branch: BranchPtr,
        pending: &mut Pending,
    ) -> Vec<(Arc<str>, Val)> {
        let mut out: Vec<(Arc<str>, Val)> = Vec::new();
        for (key, value) in MapRef::from(branch).iter(ctx.txn) {
            out.push((Arc::from(key), self.val(value, pending)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn values<T: ReadTxn>(
        &mut self,
        ctx: &Ctx<'_, T>,
        branch: BranchPtr,
        pending: &mut Pending,
    ) -> Result<Vec<Val>, Unreadable> {
        // Not `sequence::items`, which reads such a list as empty: a restore must copy what is
        // there, so a list yrs cannot iterate (a hostile root holding a list and non-ASCII
        // characters) makes the root unreadable, and the restore is refused.
        if !crate::sequence::iterable(ctx.txn, branch) {
            return Err(Unreadable);
        }
        let mut out = Vec::new();
        for value in yrs::Array::iter(&yrs::ArrayRef::from(branch), ctx.txn) {
            out.push(self.val(value, pending));
        }
        Ok(out)
    }

    /// A text's visible items (see [`crate::text_items`]), the formatting items after the last
    /// content dropped.
    fn pieces<T: ReadTxn>(
        &mut self,
        ctx: &Ctx<'_, T>,
        branch: BranchPtr,
        pending: &mut Pending,
    ) -> Result<Vec<Piece>, Unreadable> {
        let raw = text_items(ctx, branch).ok_or(Unreadable)?;
        let mut out = Vec::with_capacity(raw.len());
        for piece in raw {
            out.push(match piece {
                RawPiece::Str(s) => Piece::Str(s),
                RawPiece::Embed(any) => Piece::Embed(Plain(any)),
                RawPiece::Format(key, value) => Piece::Format(key, Plain(value)),
                RawPiece::Type(nested) => Piece::Type(self.branch(nested, pending)),
            });
        }
        while matches!(out.last(), Some(Piece::Format(..))) {
            out.pop();
        }
        Ok(out)
    }

    /// A value as its reader gives it; a shared type is allocated and left `pending`.
    fn val(&mut self, out: Out, pending: &mut Pending) -> Val {
        match out {
            Out::Any(any) => Val::Any(Plain(any)),
            Out::YDoc(doc) => Val::Opaque(format!("a subdocument (guid {})", doc.guid())),
            other => match other.try_branch() {
                Some(branch) => self.branch(BranchPtr::from(branch), pending),
                None => Val::Opaque("a value of unknown type".to_owned()),
            },
        }
    }

    fn branch(&mut self, branch: BranchPtr, pending: &mut Pending) -> Val {
        let shape = match branch.type_ref() {
            TypeRef::Text => Shape::Text,
            TypeRef::XmlText => Shape::XmlText,
            TypeRef::Array => Shape::Array,
            TypeRef::Map => Shape::Map,
            TypeRef::XmlFragment => Shape::XmlFragment,
            TypeRef::XmlElement(tag) => Shape::XmlElement(tag.clone()),
            // yrs writes an XML hook without its hook name (Yjs' encoding has one), a weak link
            // needs yrs' `weak` feature: neither can be copied faithfully.
            other => {
                return Val::Opaque(format!("a shared type of kind {other} ({:?})", branch.id()))
            }
        };
        let id = self.nodes.len();
        self.nodes.push(Node {
            shape,
            entries: Vec::new(),
            list: List::Nothing,
        });
        pending.push((branch, id));
        Val::Node(id)
    }
}

/// Whether value `x` of tree `a` and value `y` of tree `b` are the same content.
pub(crate) fn same(a: &Tree, x: &Val, b: &Tree, y: &Val) -> bool {
    let mut stack = Vec::new();
    shallow(x, y, &mut stack) && same_nodes(a, b, stack)
}

/// Whether list `x` of tree `a` and list `y` of tree `b` are the same content.
pub(crate) fn same_list(a: &Tree, x: &List, b: &Tree, y: &List) -> bool {
    let mut stack = Vec::new();
    shallow_list(x, y, &mut stack) && same_nodes(a, b, stack)
}

fn same_nodes(a: &Tree, b: &Tree, mut stack: Vec<(NodeId, NodeId)>) -> bool {
    while let Some((i, j)) = stack.pop() {
        let (x, y) = (&a.nodes[i], &b.nodes[j]);
        let entries = x.entries.len() == y.entries.len()
            && x.entries
                .iter()
                .zip(&y.entries)
                .all(|((k, v), (l, w))| k == l && shallow(v, w, &mut stack));
        if x.shape != y.shape || !entries || !shallow_list(&x.list, &y.list, &mut stack) {
            return false;
        }
    }
    true
}

/// Compares what can be compared at once, and leaves pairs of nested types on `stack`.
fn shallow(x: &Val, y: &Val, stack: &mut Vec<(NodeId, NodeId)>) -> bool {
    match (x, y) {
        (Val::Any(p), Val::Any(q)) => p == q,
        (Val::Opaque(p), Val::Opaque(q)) => p == q,
        (Val::Node(i), Val::Node(j)) => {
            stack.push((*i, *j));
            true
        }
        _ => false,
    }
}

fn shallow_list(x: &List, y: &List, stack: &mut Vec<(NodeId, NodeId)>) -> bool {
    match (x, y) {
        (List::Nothing, List::Nothing) => true,
        (List::Values(p), List::Values(q)) => {
            p.len() == q.len() && p.iter().zip(q).all(|(v, w)| shallow(v, w, stack))
        }
        (List::Text(p), List::Text(q)) => {
            p.len() == q.len()
                && p.iter().zip(q).all(|pair| match pair {
                    (Piece::Str(s), Piece::Str(t)) => s == t,
                    (Piece::Embed(v), Piece::Embed(w)) => v == w,
                    (Piece::Format(k, v), Piece::Format(l, w)) => k == l && v == w,
                    (Piece::Type(v), Piece::Type(w)) => shallow(v, w, stack),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// The description of the first thing in `vals`, or in `list`, that cannot be written, if any.
pub(crate) fn unwritable<'t>(
    tree: &'t Tree,
    vals: impl IntoIterator<Item = &'t Val>,
    list: Option<&'t List>,
) -> Option<&'t str> {
    let mut stack: Vec<&'t Val> = vals.into_iter().collect();
    stack.extend(list.into_iter().flat_map(list_vals));
    while let Some(val) = stack.pop() {
        match val {
            Val::Any(_) => {}
            Val::Opaque(what) => return Some(what),
            Val::Node(id) => {
                let node = &tree.nodes[*id];
                stack.extend(node.entries.iter().map(|(_, v)| v));
                stack.extend(list_vals(&node.list));
            }
        }
    }
    None
}

/// The values and embedded types of a list.
fn list_vals(list: &List) -> Box<dyn Iterator<Item = &Val> + '_> {
    match list {
        List::Nothing => Box::new(std::iter::empty()),
        List::Values(values) => Box::new(values.iter()),
        List::Text(pieces) => Box::new(pieces.iter().filter_map(|p| match p {
            Piece::Type(val) => Some(val),
            _ => None,
        })),
    }
}
