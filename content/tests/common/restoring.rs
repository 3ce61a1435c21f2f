//! Restoring as the server does, with the checks every restore must pass.

use plait_content::{restore, scratch_doc, scratch_doc_with_client};
use plait_protocol::update_check::{check_update, MAX_NESTING_LIMIT};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::same::assert_same;

/// What a restore writes when nothing differs: no client, no deletion.
pub const EMPTY: [u8; 2] = [0, 0];

pub fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

pub fn apply(doc: &Doc, update: &[u8]) {
    doc.transact_mut()
        .apply_update(Update::decode_v1(update).expect("the update decodes"))
        .expect("the update applies");
}

/// Restores `version` over `current` as the server does: on a scratch copy of the live
/// document, its update checked by the server's update check and applied to the live one.
/// Both copies then hold the same content, and restoring again writes nothing on either.
/// Returns the live document and the update.
pub fn restored(current: &[u8], version: &[u8]) -> (Doc, Vec<u8>) {
    let live = scratch_doc_with_client(current, 0x11).unwrap();
    let scratch = scratch_doc(current).unwrap();
    let update = restore(&scratch, version).unwrap_or_else(|e| panic!("restore refused: {e}"));
    check_update(&update, MAX_NESTING_LIMIT, &live)
        .unwrap_or_else(|e| panic!("the server's check refuses the restore: {e}"));
    apply(&live, &update);
    assert_same(&live, &scratch, "the live copy and the scratch copy");
    assert_eq!(restore(&scratch, version).unwrap(), EMPTY, "restored twice");
    assert_eq!(
        restore(&live, version).unwrap(),
        EMPTY,
        "restored on the live copy"
    );
    (live, update)
}
