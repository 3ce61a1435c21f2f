//! What [`crate::restore`] writes into one root to make it equal the version's: [`plan_root`].

use std::sync::Arc;

use yrs::branch::BranchID;
use yrs::types::TypeRef;
use yrs::{Any, Map, MapRef, ReadTxn};

use crate::context::Ctx;
use crate::error::RestoreError;
use crate::kind::{branch_kind, RootKind};
use crate::tree::{same, same_list, unwritable, Content, List, Plain, Tree, Val};

/// What to write into one root. Its values belong to the version's [`Tree`].
pub(crate) struct RootPlan {
    pub name: String,
    /// The version's kind, to create the root with if the document has none of that name.
    pub kind: RootKind,
    /// Keys to set (`Some`) or delete (`None`).
    pub entries: Vec<(Arc<str>, Option<Val>)>,
    pub list: Option<ListPlan>,
}

/// Delete `delete` units of the list from `index` (`None`: everything), then insert `insert`
/// there.
pub(crate) struct ListPlan {
    pub index: u32,
    pub delete: Option<u32>,
    pub insert: List,
}

/// What root `name` of the document (`ctx`) needs to equal the version's, read into `tree`;
/// `None` if it already does.
pub(crate) fn plan_root<V: ReadTxn, T: ReadTxn>(
    version: &Ctx<'_, V>,
    tree: &mut Tree,
    ctx: &Ctx<'_, T>,
    name: String,
) -> Result<Option<RootPlan>, RestoreError> {
    let want_branch = BranchID::get_root(version.txn, name.as_str());
    let want_kind = want_branch.and_then(|b| branch_kind(version.txn, b));
    let want = match want_branch {
        Some(b) => tree
            .read_root(version, b, want_kind)
            .map_err(|_| RestoreError::Unreadable { root: name.clone() })?,
        None => empty(),
    };
    let branch = BranchID::get_root(ctx.txn, name.as_str());
    let kind = branch.and_then(|b| branch_kind(ctx.txn, b));
    if let (Some(b), Some(declared), Some(version)) = (branch, kind, want_kind) {
        if !matches!(b.type_ref(), TypeRef::Undefined) && declared != version {
            return Err(RestoreError::KindConflict {
                root: name,
                declared,
                version,
            });
        }
    }
    // The document's side, `None` where its texts cannot be read in order: then every key and
    // the whole list are written.
    let mut have_tree = Tree::default();
    let have = match branch {
        Some(b) => have_tree.read_root(ctx, b, kind).ok(),
        None => Some(empty()),
    };
    let have_entries: Vec<(Arc<str>, Option<&Val>)> = match (&have, branch) {
        (Some(have), _) => have
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), Some(v)))
            .collect(),
        (None, Some(b)) => {
            let mut keys: Vec<Arc<str>> = MapRef::from(b).keys(ctx.txn).map(Arc::from).collect();
            keys.sort();
            keys.into_iter().map(|k| (k, None)).collect()
        }
        (None, None) => Vec::new(),
    };
    let mut entries = Vec::new();
    let mut have_entries = have_entries.into_iter().peekable();
    for (key, val) in want.entries {
        while let Some((k, _)) = have_entries.next_if(|(k, _)| *k < key) {
            entries.push((k, None));
        }
        match have_entries.next_if(|(k, _)| *k == key) {
            Some((_, Some(old))) if same(&have_tree, old, tree, &val) => {}
            _ => entries.push((key, Some(val))),
        }
    }
    entries.extend(have_entries.map(|(k, _)| (k, None)));
    let list = match have {
        Some(have) if same_list(&have_tree, &have.list, tree, &want.list) => None,
        have => Some(list_change(
            &have_tree,
            have.map(|h| h.list),
            tree,
            want.list,
        )),
    };

    let written = entries.iter().filter_map(|(_, v)| v.as_ref());
    if let Some(what) = unwritable(tree, written, list.as_ref().map(|l| &l.insert)) {
        return Err(RestoreError::Unsupported {
            root: name,
            what: what.to_owned(),
        });
    }
    if entries.is_empty() && list.is_none() {
        return Ok(None);
    }
    Ok(Some(RootPlan {
        name,
        // Only a root the version holds something in needs creating.
        kind: want_kind.unwrap_or(RootKind::Map),
        entries,
        list,
    }))
}

fn empty() -> Content {
    Content {
        entries: Vec::new(),
        list: List::Nothing,
    }
}

/// How to turn the document's list (`have`, in `have_tree`; `None`: unreadable) into the
/// version's (`want`, in `tree`), which differ. An array's or a fragment's common first and last
/// values are kept; anything else is replaced whole.
fn list_change(have_tree: &Tree, have: Option<List>, tree: &Tree, want: List) -> ListPlan {
    let whole = |insert| ListPlan {
        index: 0,
        delete: None,
        insert,
    };
    let (have, mut want) = match (have, want) {
        (Some(List::Values(have)), List::Values(want)) => (have, want),
        (_, want) => return whole(want),
    };
    // yrs counts a string item in UTF-16 units but lists it by characters; with no string
    // value, a unit is a value and the indices below are yrs'.
    if have
        .iter()
        .any(|v| matches!(v, Val::Any(Plain(Any::String(_)))))
    {
        return whole(List::Values(want));
    }
    let same_at = |(a, b): (&Val, &Val)| same(have_tree, a, tree, b);
    let front = have.iter().zip(&want).take_while(|&p| same_at(p)).count();
    let room = have.len().min(want.len()) - front;
    let back = have
        .iter()
        .rev()
        .zip(want.iter().rev())
        .take(room)
        .take_while(|&p| same_at(p))
        .count();
    let (Ok(index), Ok(delete)) = (
        u32::try_from(front),
        u32::try_from(have.len() - front - back),
    ) else {
        return whole(List::Values(want)); // more values than yrs can count: never
    };
    want.truncate(want.len() - back);
    let insert = want.split_off(front);
    ListPlan {
        index,
        delete: Some(delete),
        insert: List::Values(insert),
    }
}
