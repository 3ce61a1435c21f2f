//! Frees a document that holds subdocuments, which yrs 0.28 alone never does.
//!
//! When yrs integrates a subdocument (a `Y.Doc` stored in a map, array or text), the item keeps
//! a strong handle to the *parent* document (`ItemContent::Doc`'s first field, set in
//! `Item::integrate_content`). The parent's store owns that item, so the two form a reference
//! cycle: dropping the last handle of the parent frees nothing, and the whole document (every
//! block, every string) stays allocated for the life of the process. A server drops documents all
//! the time (unload after the last client leaves, every snapshot rebuilt from the log, every
//! state served over HTTP for a document not in memory), so one client that stores a subdocument
//! would make each of those leak the whole document again.
//!
//! [`release`] breaks the cycle the only way yrs' public API allows: it applies, to the document
//! being thrown away, an update that deletes every item it holds. Garbage collection at the end of
//! that transaction replaces each deleted item's content, the subdocument handles with it, and the
//! document is freed when its last handle drops. Documents without subdocuments are not touched.

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, IdSet, ReadTxn, Transact, Update, ID};

use crate::guard::guard;

/// Prepares `doc` to be dropped: if it holds subdocuments, deletes everything in it so that yrs'
/// reference cycle between the document and its subdocuments is broken (see the module docs).
///
/// Only for a document that is about to be dropped: its content is gone afterwards. Returns
/// whether it had to do anything. Never panics; a document yrs cannot clear stays allocated, as it
/// would have without this call.
pub fn release(doc: &Doc) -> bool {
    let Ok(txn) = doc.try_transact() else {
        // Someone still holds a transaction, so the document is not being dropped yet.
        return false;
    };
    if !has_subdocuments(&txn) {
        return false;
    }
    let mut everything = IdSet::new();
    for (client, clock) in txn.state_vector().iter() {
        everything.insert(ID::new(*client, 0), *clock);
    }
    drop(txn);
    // A v1 update with no blocks (a 0 client count) and a delete set covering every clock.
    let mut update = vec![0];
    update.extend(everything.encode_v1());
    let cleared = guard(|| -> Result<(), String> {
        let update = Update::decode_v1(&update).map_err(|e| e.to_string())?;
        let mut txn = doc.try_transact_mut().map_err(|e| e.to_string())?;
        txn.apply_update(update).map_err(|e| e.to_string())
    });
    matches!(cleared, Ok(Ok(())))
}

/// Whether `doc` holds subdocuments, i.e. whether [`release`] has work to do: it deletes every
/// item, tens of milliseconds for a 1 MB document, which a caller may want off its async workers.
pub fn holds(doc: &Doc) -> bool {
    doc.try_transact().is_ok_and(|txn| has_subdocuments(&txn))
}

fn has_subdocuments<T: ReadTxn>(txn: &T) -> bool {
    txn.subdocs().next().is_some()
}

#[cfg(test)]
mod tests {
    use super::{holds, release};
    use yrs::{Array, Doc, Map, ReadTxn, Text, Transact};

    #[test]
    fn a_document_without_subdocuments_is_left_as_it_is() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        text.push(&mut doc.transact_mut(), "kept");
        assert!(!holds(&doc));
        assert!(!release(&doc));
        assert_eq!(yrs::GetString::get_string(&text, &doc.transact()), "kept");
    }

    #[test]
    fn subdocuments_anywhere_are_let_go() {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("m");
        let array = doc.get_or_insert_array("a");
        {
            let mut txn = doc.transact_mut();
            map.insert(&mut txn, "top", Doc::new());
            let nested = array.push_back(&mut txn, yrs::MapPrelim::default());
            nested.insert(&mut txn, "deep", Doc::new());
        }
        assert_eq!(doc.transact().subdocs().count(), 2);
        assert!(holds(&doc));
        assert!(release(&doc));
        assert_eq!(doc.transact().subdocs().count(), 0);
        assert_eq!(array.len(&doc.transact()), 0);
    }
}
