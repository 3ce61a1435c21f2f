//! What kind of shared type a root is: [`RootKind`] and [`root_kind`].
//!
//! A document loaded from an update does not know the types of its roots (Yjs never encodes
//! them: a browser calls `doc.getXmlFragment("default")` and yrs sees only items whose parent is
//! named "default"), so the kind is read from the content, like yrs' own
//! `infer_type_from_content` (out.rs) but telling an XML fragment (whose children are XML
//! elements and texts) from an array, which yrs does not.

use std::fmt;

use yrs::branch::{BranchID, BranchPtr};
use yrs::types::text::YChange;
use yrs::types::TypeRef;
use yrs::{Any, Array, ArrayRef, GetString, Map, MapRef, Out, ReadTxn, Text, TextRef};

/// The kind of a root shared type, as this crate renders and writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// `Y.Text`: rendered as a string (or a Quill delta).
    Text,
    /// `Y.Map`: rendered as a JSON object.
    Map,
    /// `Y.Array`: rendered as a JSON array.
    Array,
    /// `Y.XmlFragment`: rendered as ProseMirror JSON (what Tiptap and y-prosemirror keep).
    XmlFragment,
}

impl RootKind {
    /// The kind's name: "text", "map", "array" or "xmlfragment".
    pub fn as_str(self) -> &'static str {
        match self {
            RootKind::Text => "text",
            RootKind::Map => "map",
            RootKind::Array => "array",
            RootKind::XmlFragment => "xmlfragment",
        }
    }
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of root `name`, inferred from its content (see the module documentation): a root
/// holding characters is a Text; else its first visible list item tells Text (an embed),
/// XmlFragment (an XML element, text or hook) or Array (anything else); a root with only map
/// entries is a Map. A root whose type was
/// defined in this `Doc` instance (`get_or_insert_*`) is that type. `None` when the root is
/// absent or holds nothing visible to tell its type by (everything deleted).
pub fn root_kind<T: ReadTxn>(txn: &T, name: &str) -> Option<RootKind> {
    let branch = BranchID::get_root(txn, name)?;
    branch_kind(txn, branch)
}

/// [`root_kind`] of a root already looked up.
pub(crate) fn branch_kind<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Option<RootKind> {
    match branch.type_ref() {
        TypeRef::Text | TypeRef::XmlText => Some(RootKind::Text),
        TypeRef::Map => Some(RootKind::Map),
        TypeRef::Array => Some(RootKind::Array),
        TypeRef::XmlFragment | TypeRef::XmlElement(_) => Some(RootKind::XmlFragment),
        _ => infer(txn, branch),
    }
}

fn infer<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Option<RootKind> {
    // Characters are only ever in a text (an array's strings are values, an XML fragment's
    // text is in its XmlText children), whatever its first item (an embed, an embedded type):
    // a root holding any is a text. Asked first, and without yrs' iterator, which may never
    // return on a sequence holding non-ASCII characters (see `sequence`).
    if !TextRef::from(branch).get_string(txn).is_empty() {
        return Some(RootKind::Text);
    }
    // The first visible countable item (formatting items are not countable, and a text made
    // only of them shows nothing anyway).
    let first = ArrayRef::from(branch).iter(txn).next();
    let Some(first) = first else {
        return (MapRef::from(branch).len(txn) > 0).then_some(RootKind::Map);
    };
    Some(match first {
        // yrs reads a text's characters one by one, and an array's values (strings too) and a
        // text's embeds whole. A text's characters are what `get_string` collects; an embed is
        // what its delta starts with; an array's values are in neither.
        Out::Any(any) => {
            let starts_text = matches!(&any, Any::String(s) if s.chars().count() == 1
                && TextRef::from(branch).get_string(txn).starts_with(&**s));
            let starts_delta = || {
                let delta = TextRef::from(branch).diff(txn, YChange::identity);
                matches!(delta.first().map(|d| &d.insert), Some(Out::Any(first)) if *first == any)
            };
            if starts_text || starts_delta() {
                RootKind::Text
            } else {
                RootKind::Array
            }
        }
        other => match other.try_branch().map(|b| b.type_ref()) {
            Some(TypeRef::XmlElement(_) | TypeRef::XmlText | TypeRef::XmlHook) => {
                RootKind::XmlFragment
            }
            _ => RootKind::Array,
        },
    })
}
