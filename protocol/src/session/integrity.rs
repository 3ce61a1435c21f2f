//! The checks an update passes on its way into a document that need the decoded update or the
//! document itself (those on the raw bytes are `crate::update_check`'s), and what is undone
//! after yrs integrated it: no pending data is ever kept.

use crate::error::ProtocolError;
use crate::guard::guard;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{IdSet, ReadTxn, StateVector, TransactionMut, Update, WriteTxn};

/// Drops whatever yrs parked as "pending" (blocks and deletions whose dependencies the document
/// does not have).
///
/// Why the server never keeps a client's pending data: it is where yrs 0.28 is fragile. The
/// `handle_message` fuzz target found pending data that re-encodes into bytes yrs cannot read back
/// (every later full encode panics), panics and a use-after-free while integrating stale pending
/// blocks, and documents whose state no longer decodes. A client's update that depends on
/// content the server lacks is instead integrated as far as it can be, the rest is dropped, and
/// the sender is asked to resync ([`Integrated::incomplete`]): its sync step 2 then carries the
/// missing content and the dependent blocks together.
pub(crate) fn clear_pending(txn: &mut TransactionMut<'_>) {
    let store = txn.store_mut();
    if let Some(pending) = store.pending_update_mut() {
        pending.update = Update::default();
        pending.missing = StateVector::default();
    }
    if let Some(ds) = store.pending_ds_mut() {
        *ds = IdSet::default();
    }
}

/// True when yrs parked blocks or deletions (an empty leftover does not count).
pub(super) fn has_pending_content(txn: &TransactionMut<'_>) -> bool {
    let store = txn.store();
    store.pending_update().is_some_and(|p| !p.update.is_empty())
        || store.pending_ds().is_some_and(|ds| !ds.is_empty())
}

/// True if some client's blocks in `update` do not continue the document's clock for that client
/// without a hole (they start past it, or the update itself skips clocks).
///
/// yrs does not park such blocks as pending when they have no other missing dependency: it
/// integrates them behind a `Skip` placeholder in the block store. That is a client's incomplete
/// data kept after all, and the `handle_message` fuzz target found the next update filling the
/// hole splitting a freed block (heap-use-after-free in `BlockSet::exclude` / `integrate_item`).
/// Such an update is handled like any other with missing dependencies: dropped, sender resyncs.
pub(super) fn leaves_a_gap(update: &Update, sv: &StateVector) -> bool {
    update.insertions(true).iter().any(|(client, ranges)| {
        let mut ranges = ranges.iter();
        let starts_past_state = ranges.next().is_some_and(|r| r.start > sv.get(client));
        // Ranges are merged when adjacent, so a second one means a hole inside the update.
        starts_past_state || ranges.next().is_some()
    })
}

/// Rejects an update that yrs does not read back as it wrote it.
///
/// Everything integrated is re-encoded by yrs (relayed delta, stored state, step2 answers), so a
/// block yrs writes differently from how it read it poisons the document for every later reader.
/// The `handle_message` fuzz target found legacy JSON content doing that (yrs 0.28.1 reads
/// `len + 1` strings but writes `len`): relayed deltas and full states stopped decoding. One encode
/// and decode of the update catches any such block without duplicating yrs' content rules. (Clock
/// layouts yrs mishandles are refused earlier, by `check_update`, which needs the raw bytes.)
pub(super) fn check_round_trip(update: &Update) -> Result<(), ProtocolError> {
    let invalid = ProtocolError::InvalidUpdate;
    let first = guard(|| update.encode_v1()).map_err(invalid)?;
    let again = guard(|| Update::decode_v1(&first))
        .map_err(invalid)?
        .map_err(|e| invalid(format!("does not survive re-encoding: {e}")))?;
    // Insertions catch block ids and lengths (yrs' `Update` equality compares block ids only).
    // Bytes are not compared: JSON maps (`Any::Map`) are hash maps, so two honest encodes of the
    // same update may order their keys differently.
    let same = guard(|| {
        again.insertions(true) == update.insertions(true)
            && again.delete_set() == update.delete_set()
    })
    .map_err(invalid)?;
    if !same {
        return Err(invalid(
            "yrs does not read back the update as it wrote it".to_owned(),
        ));
    }
    Ok(())
}
