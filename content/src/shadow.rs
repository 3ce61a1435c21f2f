//! The marked copy of a document (see [`crate::transcode`]): where a text's formatting
//! attributes are read in Yjs' order, and its formatting items one by one.

use std::sync::Arc;

use yrs::branch::{BranchID, BranchPtr};
use yrs::types::text::YChange;
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, Out, ReadTxn, StateVector, Text, TextRef, Transact, Update};

use crate::chunk::{Chunk, Insert, RawPiece};
use crate::transcode::mark_formats;

/// A document loaded from the marked encoding of another.
pub(crate) struct Shadow {
    doc: Doc,
}

impl Shadow {
    /// The marked copy of the document `txn` reads, or `None` if yrs cannot read its own encoding
    /// back (a document holding legacy JSON content, which yrs 0.28 misreads); the caller then
    /// falls back to yrs' unordered attributes.
    pub(crate) fn build<T: ReadTxn>(txn: &T) -> Option<Shadow> {
        let state = txn.encode_state_as_update_v1(&StateVector::default());
        let marked = mark_formats(&state).ok()?;
        let update = Update::decode_v1(&marked).ok()?;
        let doc = Doc::new();
        doc.transact_mut().apply_update(update).ok()?;
        Some(Shadow { doc })
    }

    /// The chunks of the text `id` names, with attributes in Yjs' order, as Yjs' `toDelta()`
    /// packs them: a chunk ends at every visible formatting item and around every embed. A shared
    /// type embedded in the text is handed out as the original document's (`orig`).
    pub(crate) fn chunks<T: ReadTxn>(&self, orig: &T, id: &BranchID) -> Option<Vec<Chunk>> {
        let txn = self.doc.transact();
        let branch = id.get_branch(&txn)?;
        let mut attrs: Vec<(Arc<str>, Any)> = Vec::new();
        let mut chunks = Vec::new();
        for diff in TextRef::from(branch).diff(&txn, YChange::identity) {
            let insert = match diff.insert {
                Out::Any(Any::String(s)) => Insert::Text(s.to_string()),
                Out::Any(Any::Array(marker)) => match &marker[..] {
                    [Any::String(key), value] => {
                        set_attribute(&mut attrs, key, value);
                        continue;
                    }
                    [value] => Insert::Embed(value.clone()),
                    _ => continue, // not a marker this module writes
                },
                Out::Any(_) | Out::YDoc(_) => continue,
                other => {
                    let shadow_branch = other.try_branch().map(BranchPtr::from)?;
                    Insert::Type(shadow_branch.id().get_branch(orig)?)
                }
            };
            chunks.push(Chunk {
                insert,
                attrs: attrs.clone(),
            });
        }
        Some(chunks)
    }

    /// The visible items of the text `id` names, in order: what a text holds item by item, which
    /// its chunks do not tell (a formatting item that changes nothing still ends a chunk in Yjs'
    /// `toDelta()`, and the order of the attributes is the order of their items). A shared type
    /// embedded in the text is handed out as the original document's (`orig`). Unchecked: see
    /// [`crate::text_items`].
    pub(crate) fn pieces<T: ReadTxn>(&self, orig: &T, id: &BranchID) -> Option<Vec<RawPiece>> {
        let txn = self.doc.transact();
        let branch = id.get_branch(&txn)?;
        let mut pieces = Vec::new();
        for diff in TextRef::from(branch).diff(&txn, YChange::identity) {
            pieces.push(match diff.insert {
                Out::Any(Any::String(s)) => RawPiece::Str(s.to_string()),
                Out::Any(Any::Array(marker)) => match &marker[..] {
                    [Any::String(key), value] => RawPiece::Format(key.clone(), value.clone()),
                    [value] => RawPiece::Embed(value.clone()),
                    _ => continue, // not a marker `transcode` writes
                },
                Out::Any(_) | Out::YDoc(_) => continue,
                other => {
                    let shadow_branch = other.try_branch().map(BranchPtr::from)?;
                    RawPiece::Type(shadow_branch.id().get_branch(orig)?)
                }
            });
        }
        Some(pieces)
    }
}

/// Yjs' `updateCurrentAttributes` on its insertion-ordered `Map`: null deletes the key, a new key
/// goes last, an existing key keeps its place.
fn set_attribute(attrs: &mut Vec<(Arc<str>, Any)>, key: &Arc<str>, value: &Any) {
    let existing = attrs.iter().position(|(k, _)| k == key);
    match (value, existing) {
        (Any::Null, Some(i)) => {
            attrs.remove(i);
        }
        (Any::Null, None) => {}
        (value, Some(i)) => attrs[i].1 = value.clone(),
        (value, None) => attrs.push((key.clone(), value.clone())),
    }
}
