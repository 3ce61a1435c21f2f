//! Making a document's content equal to an earlier version, as a forward edit: [`restore`].
//!
//! A version is a whole document's state at an earlier position, garbage collected: its deleted
//! content is gone, so Yjs' snapshots cannot bring it back. Instead every root of the version is
//! read into a [`crate::tree`] and compared with the same root of the document; where they differ
//! the document gets new items (by its own client id) that make it equal, in one transaction.
//! Connected editors receive that as any other edit, offline ones merge into it as Yjs merges,
//! and restoring the version cut before it undoes it.
//!
//! What is written, per root:
//! - the map part (a map's entries, a root's attributes) key by key: a key equal in both is left
//!   alone, one the version lacks is deleted, any other is set to the version's value (a nested
//!   shared type is written whole, new);
//! - the list part, when it differs: an array's or XML fragment's values keep their common first
//!   and last values (so an offline edit inside an untouched paragraph survives), the values in
//!   between are deleted and the version's inserted; a text is deleted and written whole (its
//!   formatting items cannot be deleted one by one through yrs' API);
//! - nothing at all for a root already equal, so restoring twice writes nothing the second time.
//!
//! Kinds: Yjs' encoding gives root types no kind (each client calls `getText`, `getMap`, ...), so
//! a root's items are written as the version holds them, even where the document now holds
//! content of another kind: the update then brings back exactly the earlier state, and a client
//! holding the root as another type sees what it saw at that version. Only a root whose type this
//! `Doc` has declared (`get_or_insert_*`, which a [`crate::scratch_doc`] never does) cannot take
//! content of another kind, since the document itself would read it as the declared one:
//! [`RestoreError::KindConflict`].

use yrs::branch::{Branch, BranchID, BranchPtr};
use yrs::{Array, ArrayRef, Doc, Map, MapRef, ReadTxn, Transact, TransactionMut, WriteTxn};

use crate::context::Ctx;
pub use crate::error::RestoreError;
use crate::kind::RootKind;
use crate::restore_plan::{plan_root, RootPlan};
use crate::scratch::scratch_doc_with_client;
use crate::tree::{List, Tree};
use crate::tree_write::Writer;

/// Makes every root type of `doc` equal to the same root of `version` (a Yjs v1 update of the
/// whole document), in ONE transaction on `doc`, and returns that transaction's update (Yjs v1).
/// Roots present in `doc` but not in `version` are emptied. Roots whose content is already equal
/// are left untouched (no items written). Nothing changes on error.
///
/// Give it a document made for the purpose ([`crate::scratch_doc`] of the live state): the
/// update is attributed to `doc`'s client id. Like `scratch_doc`, `version` must have passed the
/// server's update checks. See the module documentation for what is written.
pub fn restore(doc: &Doc, version: &[u8]) -> Result<Vec<u8>, RestoreError> {
    let version_doc = scratch_doc_with_client(version, 1).map_err(RestoreError::Version)?;
    let version_txn = version_doc
        .try_transact()
        .map_err(|e| RestoreError::Busy(e.to_string()))?;
    let mut txn = doc
        .try_transact_mut()
        .map_err(|e| RestoreError::Busy(e.to_string()))?;
    // Planned under the write transaction, so that nothing changes between the reading and the
    // writing; nothing is written before every root has been planned and checked.
    let mut tree = Tree::default();
    let plans = {
        let version = Ctx::new(&version_txn);
        let ctx = Ctx::new(&txn);
        let mut names: Vec<String> = version_txn
            .root_refs()
            .chain(txn.root_refs())
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names.dedup();
        let mut plans = Vec::new();
        for name in names {
            if let Some(plan) = plan_root(&version, &mut tree, &ctx, name)? {
                plans.push(plan);
            }
        }
        plans
    };
    let mut writer = Writer::new(&tree);
    for plan in plans {
        apply(&mut txn, &mut writer, plan);
    }
    writer.finish(&mut txn);
    Ok(txn.encode_update_v1())
}

fn apply(txn: &mut TransactionMut, writer: &mut Writer<'_>, plan: RootPlan) {
    let branch = match BranchID::get_root(txn, plan.name.as_str()) {
        Some(branch) => branch,
        None => create_root(txn, &plan.name, plan.kind),
    };
    for (key, val) in &plan.entries {
        match val {
            Some(val) => writer.set_entry(txn, branch, key, val),
            None => {
                MapRef::from(branch).remove(txn, key);
            }
        }
    }
    let Some(list) = plan.list else { return };
    // In the document's own offset units, which is what `remove_range` counts in. yrs' array
    // walk, not its text deletion: it deletes every countable item (a text's `remove_range`
    // leaves JSON-like values, then panics on the count) and skips formatting items, which
    // then all sit after the new content and change nothing.
    let delete = list.delete.unwrap_or(branch.content_len());
    if delete > 0 {
        ArrayRef::from(branch).remove_range(txn, list.index, delete);
    }
    match &list.insert {
        List::Nothing => {}
        List::Values(values) => writer.insert_values(txn, branch, list.index, values),
        List::Text(pieces) => writer.insert_pieces(txn, branch, pieces),
    }
}

/// A root the document has no branch for yet, declared as the version's kind.
fn create_root(txn: &mut TransactionMut, name: &str, kind: RootKind) -> BranchPtr {
    match kind {
        RootKind::Text => branch_of(&txn.get_or_insert_text(name)),
        RootKind::Map => branch_of(&txn.get_or_insert_map(name)),
        RootKind::Array => branch_of(&txn.get_or_insert_array(name)),
        RootKind::XmlFragment => branch_of(&txn.get_or_insert_xml_fragment(name)),
    }
}

fn branch_of<R: AsRef<Branch>>(root: &R) -> BranchPtr {
    BranchPtr::from(root.as_ref())
}
