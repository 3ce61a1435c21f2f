//! A text's content as Yjs' `toDelta()` gives it: [`text_chunks`].

use std::sync::Arc;

use yrs::branch::BranchPtr;
use yrs::types::text::{Diff, YChange};
use yrs::{Any, Out, ReadTxn, Text, TextRef};

use crate::chunk::{Chunk, Insert};
use crate::context::Ctx;

/// The chunks of a Y.Text or Y.XmlText, attributes in Yjs' order.
///
/// yrs' `diff` chunks the text exactly as Yjs does but hands each chunk's attributes out as a
/// `HashMap`. When no chunk has more than one attribute the order is moot and `diff` is used as
/// is; otherwise the order comes from the marked copy of the document ([`crate::shadow`]).
/// `order_matters`: false when the caller puts the attributes in a JSON object anyway (a Quill
/// delta), which spares building that copy.
pub(crate) fn text_chunks<T: ReadTxn>(
    ctx: &Ctx<'_, T>,
    branch: BranchPtr,
    order_matters: bool,
) -> Vec<Chunk> {
    let diffs = TextRef::from(branch).diff(ctx.txn, YChange::identity);
    let ordered = diffs
        .iter()
        .all(|d| d.attributes.as_ref().is_none_or(|a| a.len() <= 1));
    if order_matters && !ordered {
        if let Some(chunks) = ctx.shadow().and_then(|s| s.chunks(ctx.txn, &branch.id())) {
            return chunks;
        }
    }
    diffs.into_iter().filter_map(from_diff).collect()
}

/// A chunk from yrs' diff; attributes sorted by key when there are several (only reached when the
/// marked copy cannot be built).
fn from_diff(diff: Diff<YChange>) -> Option<Chunk> {
    let insert = match diff.insert {
        Out::Any(Any::String(s)) => Insert::Text(s.to_string()),
        Out::Any(any) => Insert::Embed(any),
        Out::YDoc(_) => return None,
        other => Insert::Type(other.try_branch().map(BranchPtr::from)?),
    };
    let mut attrs: Vec<(Arc<str>, Any)> = diff
        .attributes
        .map(|a| a.into_iter().collect())
        .unwrap_or_default();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Chunk { insert, attrs })
}
