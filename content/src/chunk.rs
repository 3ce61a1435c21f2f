//! One formatted piece of a Y.Text or Y.XmlText, in the order and shape Yjs' `toDelta()` gives.

use std::sync::Arc;

use yrs::branch::BranchPtr;
use yrs::Any;

/// What a [`Chunk`] inserts.
pub(crate) enum Insert {
    /// A run of characters between two formatting boundaries.
    Text(String),
    /// An embedded JSON-like value (`insertEmbed` with an object or a string).
    Embed(Any),
    /// A shared type embedded in the text (rare; see the crate documentation).
    Type(BranchPtr),
}

/// One `{insert, attributes}` entry of a Yjs delta.
pub(crate) struct Chunk {
    pub insert: Insert,
    /// The formatting attributes in force, in the order Yjs lists them: the order in which each
    /// key was last set (after being unset) walking the text from its start. y-prosemirror turns
    /// this list into a text node's `marks`, so the order is part of the output.
    pub attrs: Vec<(Arc<str>, Any)>,
}

/// One visible item of a text.
pub(crate) enum RawPiece {
    /// A run of characters between two other items.
    Str(String),
    /// An embedded JSON-like value.
    Embed(Any),
    /// A formatting item: the attribute's key and the value it sets from here on (null unsets).
    Format(Arc<str>, Any),
    /// A shared type embedded in the text, as the original document's branch.
    Type(BranchPtr),
}
