//! The check every Yjs v1 update passes before yrs decodes or applies it.
//!
//! yrs trusts the structure of an update more than a server can afford to. It decodes JSON-like
//! values (`Any`) by recursion with no depth limit, so an update of 20 KB holding arrays nested
//! 10 000 deep overflows the stack of the thread that decodes it, which aborts the whole process
//! (a stack overflow cannot be caught). It deletes and garbage-collects nested shared types by
//! recursion too, so an update nesting maps 100 000 deep is taken, and the process aborts on the
//! first deletion of the outermost one (or when the document unloads). It frees a deleted
//! subdocument's item and then writes to it (a use-after-free found by the `nested_update` fuzz
//! target; see [`check_update`]). It adds clocks unchecked
//! and trusts a client to be listed once (see [`check_clocks`]). This module walks the update's
//! bytes once, **without recursion**, with yrs' own readers, and refuses all of that with
//! [`ProtocolError::InvalidUpdate`] before yrs builds a single block.
//!
//! Every path an update takes into a document goes through [`check_update`]: client frames, HTTP
//! posts, other nodes' updates and rows read from SQL (see `DocState::integrate` and
//! [`crate::session::replay`]).
//!
//! [`check_clocks`]: self#clocks

mod nesting;
mod values;

use std::collections::{HashMap, HashSet};

use yrs::block::{
    ItemContent, BLOCK_GC_REF_NUMBER, BLOCK_ITEM_ANY_REF_NUMBER, BLOCK_ITEM_DOC_REF_NUMBER,
    BLOCK_ITEM_TYPE_REF_NUMBER, BLOCK_SKIP_REF_NUMBER, HAS_ORIGIN, HAS_PARENT_SUB,
    HAS_RIGHT_ORIGIN,
};
use yrs::encoding::read::{Cursor, Error, Read};
use yrs::updates::decoder::{Decoder, DecoderV1};

use yrs::branch::BranchID;
use yrs::{Assoc, Doc, IndexScope, ReadTxn, StickyIndex, Transact, ID};

use crate::error::ProtocolError;
use crate::guard::guard;
use nesting::{Parent, TypeTree};

/// Why an update holding a subdocument is refused (see [`check_update`]).
pub const SUBDOCUMENT_REFUSED: &str = "holds a subdocument (a Y.Doc inside the document); \
     subdocuments are not accepted (yrs 0.28.1 frees a deleted one while still using it)";

/// How deeply JSON-like values and shared types may nest by default (`--max-nesting-depth`).
/// Far beyond what editors write (a ProseMirror list indented 30 levels is about 120 types deep
/// counting its items, paragraphs and text), and far below what a worker's 2 MiB stack survives
/// (about 6 000 levels in a release build, 500 in a debug build).
pub const DEFAULT_MAX_NESTING: usize = 128;

/// The largest `--max-nesting-depth` accepted: still well inside a release build's stack.
pub const MAX_NESTING_LIMIT: usize = 1000;

/// The smallest encoding of one client's entry in a v1 update: block count, client id, clock.
const MIN_CLIENT_ENTRY_BYTES: usize = 3;

/// What the check learned about an update it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checked {
    /// How deeply the shared types this update creates nest, counting from the root types (a
    /// map inside a root map is 1 deep) and the document's own nesting. 0 if it creates none.
    pub type_depth: usize,
}

/// Checks `update` (Yjs v1) before yrs decodes it.
///
/// `doc` is the document it is for: a type this update puts inside one the document holds is
/// counted from where that one sits (see [`holder_depth`]). Refuses, with the reason, an update
/// that:
/// - does not parse (yrs would refuse it too, but only after decoding what it could);
/// - declares more clients than its bytes can hold (yrs reserves memory for the declared count);
/// - nests a JSON-like value, or a shared type, more than `max_depth` deep;
/// - holds a subdocument (a `Y.Doc` stored in a document). When one is deleted, yrs 0.28.1 frees
///   its item in the commit's garbage collection (replaced by a GC block when its parent type was
///   deleted too, or merged into a deleted neighbour written just before it by the same client,
///   as `m.set("k", 1); m.set("k", new Y.Doc()); m.delete("k")` leaves it) and then, in the same
///   commit, reads and writes that item while destroying the subdocument (`Doc::destroy`): a
///   heap use-after-free any writer could trigger, and the server too when it unloads such a
///   document. yrs offers no way to keep the item, so no subdocument gets in;
/// - has a block or deleted range running past `u32::MAX`, a client listed twice, or deleted
///   ranges that are not sorted and disjoint (see the `clocks` section below).
///
/// Never panics, never recurses, and allocates in proportion to the update's blocks.
pub fn check_update(update: &[u8], max_depth: usize, doc: &Doc) -> Result<Checked, ProtocolError> {
    let mut walk = Walk {
        decoder: DecoderV1::new(Cursor::new(update)),
        max_depth,
        tree: TypeTree::default(),
    };
    check_client_count(update)?;
    match walk.blocks().and_then(|()| walk.delete_set()) {
        Ok(()) => {}
        Err(Refusal::Invalid(error)) => return Err(error),
        Err(Refusal::Parse(error)) => {
            return Err(ProtocolError::InvalidUpdate(format!(
                "does not decode as a v1 update: {error}"
            )))
        }
    }
    let type_depth = {
        let txn = doc
            .try_transact()
            .map_err(|e| ProtocolError::InvalidUpdate(format!("document is busy: {e}")))?;
        // Each anchor is looked up once, and never further than the limit.
        let mut known: HashMap<ID, Option<usize>> = HashMap::new();
        let mut anchors = |id: &ID| {
            *known
                .entry(*id)
                .or_insert_with(|| holder_depth(&txn, *id, max_depth.saturating_add(1)))
        };
        guard(|| walk.tree.max_depth(&mut anchors)).map_err(ProtocolError::InvalidUpdate)?
    };
    if type_depth > max_depth {
        return Err(ProtocolError::InvalidUpdate(format!(
            "shared types nested {type_depth} deep; at most {max_depth} levels are allowed"
        )));
    }
    Ok(Checked { type_depth })
}

/// How deep the branch holding item `id` of the document sits (a root type's items: 0), walking
/// up its parents no further than `limit`; `None` if the document does not hold the item.
///
/// yrs' items keep their parent to themselves (`pub(crate)`); a sticky index relative to an
/// item resolves to the branch holding it, and a nested branch names the item that created it,
/// so the walk goes up one public call at a time. Each step also counts the item's left
/// siblings (the index yrs computes): a few microseconds for a paragraph among thousands, and
/// only for updates that create shared types.
pub fn holder_depth<T: ReadTxn>(txn: &T, id: ID, limit: usize) -> Option<usize> {
    let mut depth = 0;
    let mut item = id;
    loop {
        let offset = StickyIndex::new(IndexScope::Relative(item), Assoc::After).get_offset(txn)?;
        match offset.branch.id() {
            BranchID::Root(_) => return Some(depth),
            BranchID::Nested(parent) => {
                depth += 1;
                if depth >= limit {
                    return Some(depth);
                }
                item = parent;
            }
        }
    }
}

/// Rejects a v1 update whose leading client count cannot fit in its bytes.
///
/// yrs reserves a hash map for the declared count before reading a single client, and hashbrown
/// fills the control bytes of what it reserved: a 7-byte update declaring 2^28 clients made it
/// allocate ~10 GB and touch ~270 MB (found by the `handle_message` fuzz target). Each entry
/// takes at least [`MIN_CLIENT_ENTRY_BYTES`], so a real count is bounded by the update's length.
fn check_client_count(update: &[u8]) -> Result<(), ProtocolError> {
    let mut cursor = Cursor::new(update);
    let count: u32 = cursor
        .read_var()
        .map_err(|e| ProtocolError::InvalidUpdate(format!("client count: {e}")))?;
    let remaining = update.len().saturating_sub(cursor.next);
    if usize::try_from(count).map_or(true, |c| c > remaining / MIN_CLIENT_ENTRY_BYTES) {
        return Err(ProtocolError::InvalidUpdate(format!(
            "update declares {count} clients but only {remaining} bytes remain"
        )));
    }
    Ok(())
}

/// Why the walk stopped.
enum Refusal {
    /// The bytes do not parse.
    Parse(Error),
    /// They parse, into something refused.
    Invalid(ProtocolError),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Refusal::Parse(error)
    }
}

/// A refusal of the update's clock layout.
fn clocks(why: impl std::fmt::Display) -> Refusal {
    Refusal::Invalid(ProtocolError::InvalidUpdate(format!("clock layout: {why}")))
}

/// One pass over the update, mirroring yrs' own `Update::decode_v1` reader by reader.
struct Walk<'a> {
    decoder: DecoderV1<'a>,
    max_depth: usize,
    /// The items read so far, for the nesting depth of shared types.
    tree: TypeTree,
}

// # Clocks
//
// yrs 0.28.1 adds block and deletion lengths to `u32` clocks unchecked (wrapping in release
// builds), and appends the blocks of a client listed twice to one list with overlapping clocks.
// The `handle_message` fuzz target found both reaching yrs' block store: divide by zero and index
// out of bounds in `block_store.rs`, `unwrap` on `None` in `store.rs` (some of them while
// unwinding, which aborts the process past the panic guard), and full states that no longer
// decode. Yjs never writes such updates. Block lengths come from yrs' own `ItemContent::decode`
// (or, for JSON-like values, from counting them), so they are exactly the lengths yrs will use.
impl Walk<'_> {
    /// The block section: `[clients][blocks client clock block*]*`.
    fn blocks(&mut self) -> Result<(), Refusal> {
        let clients: u32 = self.decoder.read_var()?;
        let mut seen = HashSet::new();
        for _ in 0..clients {
            let blocks: u32 = self.decoder.read_var()?;
            let client = self.decoder.read_client()?;
            let mut clock: u32 = self.decoder.read_var()?;
            if !seen.insert(client) {
                return Err(clocks(format_args!("client {client} is listed twice")));
            }
            for _ in 0..blocks {
                let len = self.block(client.get(), clock)?;
                clock = clock.checked_add(len).ok_or_else(|| {
                    clocks(format_args!(
                        "a block of client {client} at clock {clock} with length {len} runs \
                         past u32::MAX"
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Reads one block and returns the clock length yrs gives it (0 for content yrs drops).
    fn block(&mut self, client: u64, clock: u32) -> Result<u32, Refusal> {
        let decoder = &mut self.decoder;
        let info = decoder.read_info()?;
        match info {
            BLOCK_SKIP_REF_NUMBER => Ok(decoder.read_var()?),
            BLOCK_GC_REF_NUMBER => Ok(decoder.read_len()?),
            info => {
                let origin = if info & HAS_ORIGIN != 0 {
                    Some(decoder.read_left_id()?)
                } else {
                    None
                };
                let right_origin = if info & HAS_RIGHT_ORIGIN != 0 {
                    Some(decoder.read_right_id()?)
                } else {
                    None
                };
                let parent = match (origin, right_origin) {
                    (Some(origin), _) => Parent::SameAs(origin),
                    (None, Some(right)) => Parent::SameAs(right),
                    (None, None) => {
                        let parent = if decoder.read_parent_info()? {
                            decoder.read_string()?;
                            Parent::Root
                        } else {
                            Parent::Type(decoder.read_left_id()?)
                        };
                        if info & HAS_PARENT_SUB != 0 {
                            decoder.read_string()?;
                        }
                        parent
                    }
                };
                let len = self.content(info)?;
                if len > 0 {
                    let is_type = info & 0b1111 == BLOCK_ITEM_TYPE_REF_NUMBER;
                    self.tree.push(client, clock, len, parent, is_type);
                }
                Ok(len)
            }
        }
    }

    /// Reads an item's content; its length in clocks.
    fn content(&mut self, info: u8) -> Result<u32, Refusal> {
        let decoder = &mut self.decoder;
        match info & 0b1111 {
            // Read here rather than by yrs, which would recurse into nested values.
            BLOCK_ITEM_ANY_REF_NUMBER => {
                let count = decoder.read_len()?;
                for _ in 0..count {
                    values::skip_any(decoder, self.max_depth)?;
                }
                Ok(count)
            }
            // See `check_update`: yrs 0.28.1 frees a deleted subdocument's item while using it.
            BLOCK_ITEM_DOC_REF_NUMBER => Err(Refusal::Invalid(ProtocolError::InvalidUpdate(
                SUBDOCUMENT_REFUSED.to_owned(),
            ))),
            // Strings, binaries, deleted lengths, JSON strings (parsed by serde_json, which stops
            // at 128 levels by itself) and type references: nothing recursive.
            _ => Ok(ItemContent::decode(decoder, info)?.len_utf16()),
        }
    }

    /// The delete set: `[clients][client ranges (clock len)*]*`.
    fn delete_set(&mut self) -> Result<(), Refusal> {
        let decoder = &mut self.decoder;
        let clients: u32 = decoder.read_var()?;
        let mut seen = HashSet::new();
        for _ in 0..clients {
            decoder.reset_ds_cur_val();
            let client: u64 = decoder.read_var()?;
            if !seen.insert(client) {
                return Err(clocks(format_args!(
                    "client {client} is listed twice in the delete set"
                )));
            }
            let ranges: u32 = decoder.read_var()?;
            let mut previous_end = 0u32;
            for _ in 0..ranges {
                let clock = decoder.read_ds_clock()?;
                let len = decoder.read_ds_len()?;
                let end = clock.checked_add(len).ok_or_else(|| {
                    clocks(format_args!(
                        "deleted range {clock}+{len} of client {client} runs past u32::MAX"
                    ))
                })?;
                // yrs keeps decoded ranges as they come (`IdRanges::from_raw`) but relies on them
                // being sorted and disjoint, which is how Yjs writes them.
                if clock < previous_end {
                    return Err(clocks(format_args!(
                        "deleted ranges of client {client} are not sorted and disjoint"
                    )));
                }
                previous_end = end;
            }
        }
        Ok(())
    }
}

impl From<values::TooDeep> for Refusal {
    fn from(too_deep: values::TooDeep) -> Self {
        match too_deep {
            values::TooDeep::Parse(error) => Refusal::Parse(error),
            values::TooDeep::Depth { max } => Refusal::Invalid(ProtocolError::InvalidUpdate(
                format!("a value nests more than {max} levels deep"),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
