//! No document holds a subdocument (a `Y.Doc` stored in a document): yrs 0.28.1 frees a deleted
//! subdocument's item and then uses it, and never frees a document holding one (a reference
//! cycle), so `update_check` refuses them on every path. Here: a client's update, and rows and
//! snapshots read back from storage, where the rest of the document must still be served.
//! (Over WebSocket and HTTP with a real Yjs client: `tests/js/limits.test.js`.)

use plait_protocol::session::DocState;
use plait_protocol::update_check::SUBDOCUMENT_REFUSED;
use plait_protocol::ProtocolError;
use plait_storage::StoredDoc;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

/// `ymap.set('page', new Y.Doc())`, as a client's update.
fn a_subdocument_in_a_map() -> Vec<u8> {
    let doc = Doc::with_client_id(5);
    let pages = doc.get_or_insert_map("pages");
    pages.insert(&mut doc.transact_mut(), "page", Doc::new());
    plait_tests::ydoc::encode_state(&doc)
}

/// Text "kept" by client 4.
fn some_text() -> Vec<u8> {
    let doc = Doc::with_client_id(4);
    let text = doc.get_or_insert_text("content");
    text.insert(&mut doc.transact_mut(), 0, "kept");
    plait_tests::ydoc::encode_state(&doc)
}

fn text_of(state: &[u8]) -> String {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("content");
    doc.transact_mut()
        .apply_update(Update::decode_v1(state).expect("the state decodes"))
        .expect("the state applies");
    let txn = doc.transact();
    assert_eq!(txn.subdocs().count(), 0, "no subdocument got in");
    text.get_string(&txn)
}

#[test]
fn a_client_update_holding_a_subdocument_is_refused() {
    let mut state = DocState::new(Doc::new());
    state.apply_update(&some_text()).expect("text is taken");
    match state.apply_update(&a_subdocument_in_a_map()) {
        Err(ProtocolError::InvalidUpdate(why)) => assert!(why.contains(SUBDOCUMENT_REFUSED)),
        other => panic!("expected InvalidUpdate, got {other:?}"),
    }
    let encoded = state
        .doc()
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    assert_eq!(text_of(&encoded), "kept");
}

#[test]
fn a_stored_row_holding_a_subdocument_is_quarantined_and_the_rest_served() {
    let rebuilt = StoredDoc {
        snapshot: Some(some_text()),
        snapshot_seq: 3,
        updates: vec![(4, a_subdocument_in_a_map())],
        unreadable: Vec::new(),
        deleted_at: None,
    }
    .rebuild();
    assert_eq!(rebuilt.refused.len(), 1, "{:?}", rebuilt.refused);
    let refused = &rebuilt.refused[0];
    assert!(!refused.snapshot && refused.seq == 4, "{refused:?}");
    assert!(refused.reason.contains(SUBDOCUMENT_REFUSED), "{refused:?}");
    assert_eq!(text_of(&rebuilt.state), "kept");
}

#[test]
fn a_snapshot_holding_a_subdocument_is_quarantined_and_the_rows_after_it_served() {
    let rebuilt = StoredDoc {
        snapshot: Some(a_subdocument_in_a_map()),
        snapshot_seq: 3,
        updates: vec![(4, some_text())],
        unreadable: Vec::new(),
        deleted_at: None,
    }
    .rebuild();
    assert_eq!(rebuilt.refused.len(), 1, "{:?}", rebuilt.refused);
    assert!(rebuilt.refused[0].snapshot, "{:?}", rebuilt.refused);
    assert_eq!(text_of(&rebuilt.state), "kept");
}
