//! A text's visible items, formatting items included, in order: [`text_items`].
//!
//! They are read from the marked copy of the document ([`crate::shadow`]), where formatting
//! items are visible. That copy holds the same items with the same ids and origins, so they
//! integrate into the same order, except where the origins contradict each other (a hostile
//! update can give an item a right origin left of its left origin): yrs then places it by a
//! scan whose outcome the marked content can change. So the items are checked against the
//! original text: chunked as Yjs' `toDelta()` chunks them, they must give exactly the delta
//! yrs gives for the original (same runs, embeds, types and attributes), or they are refused.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::branch::{BranchID, BranchPtr};
use yrs::types::text::{Diff, YChange};
use yrs::{Any, Out, ReadTxn, Text, TextRef};

use crate::chunk::RawPiece;
use crate::context::Ctx;
use crate::same::same_any;

/// The visible items of the text `branch` of the document `ctx` reads, or `None` when they
/// cannot be read faithfully (the marked copy cannot be built, or disagrees with the original).
pub(crate) fn text_items<T: ReadTxn>(ctx: &Ctx<'_, T>, branch: BranchPtr) -> Option<Vec<RawPiece>> {
    let pieces = ctx.shadow()?.pieces(ctx.txn, &branch.id())?;
    let original = TextRef::from(branch).diff(ctx.txn, YChange::identity);
    agrees(&pieces, &original).then_some(pieces)
}

/// What a chunk of the delta inserts.
enum Ins<'a> {
    Text(String),
    Embed(&'a Any),
    Type(BranchID),
}

/// Whether `pieces` chunk into `original`, as Yjs' `toDelta()` and yrs' `diff` chunk: a run of
/// characters ends at every formatting item and embed, and each chunk carries the attributes
/// set so far (a null value unsets).
fn agrees(pieces: &[RawPiece], original: &[Diff<YChange>]) -> bool {
    let mut chunks: Vec<(Ins<'_>, HashMap<Arc<str>, Any>)> = Vec::new();
    let mut attrs: HashMap<Arc<str>, Any> = HashMap::new();
    let mut run = String::new();
    for piece in pieces {
        if !matches!(piece, RawPiece::Str(_)) && !run.is_empty() {
            chunks.push((Ins::Text(std::mem::take(&mut run)), attrs.clone()));
        }
        match piece {
            RawPiece::Str(s) => run.push_str(s),
            RawPiece::Format(key, Any::Null) => {
                attrs.remove(key);
            }
            RawPiece::Format(key, value) => {
                attrs.insert(key.clone(), value.clone());
            }
            RawPiece::Embed(value) => chunks.push((Ins::Embed(value), attrs.clone())),
            RawPiece::Type(branch) => chunks.push((Ins::Type(branch.id()), attrs.clone())),
        }
    }
    if !run.is_empty() {
        chunks.push((Ins::Text(run), attrs));
    }
    chunks.len() == original.len()
        && chunks.iter().zip(original).all(|((ins, attrs), diff)| {
            let insert = match (ins, &diff.insert) {
                (Ins::Text(s), Out::Any(Any::String(t))) => **s == **t,
                (Ins::Embed(v), Out::Any(w)) => same_any(v, w),
                (Ins::Type(id), other) => other
                    .try_branch()
                    .is_some_and(|b| BranchPtr::from(b).id() == *id),
                _ => false,
            };
            let theirs = diff.attributes.as_deref();
            let same_attrs = attrs.len() == theirs.map_or(0, HashMap::len)
                && attrs.iter().all(|(k, v)| {
                    theirs
                        .and_then(|t| t.get(k))
                        .is_some_and(|w| same_any(v, w))
                });
            insert && same_attrs
        })
}
