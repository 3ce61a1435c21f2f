use super::{check_update, Checked, DEFAULT_MAX_NESTING};
use crate::error::ProtocolError;
use yrs::updates::encoder::Encode;
use yrs::{
    Array, ArrayPrelim, Doc, Map, MapPrelim, MapRef, ReadTxn, StateVector, Text, Transact, Update,
    XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

const MAX: usize = DEFAULT_MAX_NESTING;

fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// The update of issue 20: one item in map "m" under key "k" holding arrays nested `depth` deep.
pub(crate) fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut update = vec![
        0x01, 0x01, 0x7b, 0x00, 0x28, 0x01, 0x01, b'm', 0x01, b'k', 0x01,
    ];
    for _ in 0..depth {
        update.extend_from_slice(&[0x75, 0x01]);
    }
    update.extend_from_slice(&[0x7e, 0x00]);
    update
}

/// A chain of `depth` maps, each inside the last, under root map "m".
fn nested_maps(client: u64, depth: usize) -> Vec<u8> {
    let doc = Doc::with_client_id(client);
    let root = doc.get_or_insert_map("m");
    let mut txn = doc.transact_mut();
    let mut current: MapRef = root.insert(&mut txn, "k", MapPrelim::default());
    for _ in 1..depth {
        current = current.insert(&mut txn, "k", MapPrelim::default());
    }
    txn.encode_update_v1()
}

fn refused(result: Result<Checked, ProtocolError>) -> String {
    match result {
        Err(ProtocolError::InvalidUpdate(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn real_updates_pass_and_report_their_type_depth() {
    let doc = Doc::with_client_id(3);
    let text = doc.get_or_insert_text("t");
    text.push(&mut doc.transact_mut(), "hello 🌍 world");
    text.remove_range(&mut doc.transact_mut(), 1, 3);
    let map = doc.get_or_insert_map("m");
    map.insert(&mut doc.transact_mut(), "k", 1);
    map.insert(
        &mut doc.transact_mut(),
        "json",
        yrs::Any::from_json(r#"{"a":[1,{"b":[null,true,"x"]}],"c":2.5}"#).unwrap_or(yrs::Any::Null),
    );
    let array = doc.get_or_insert_array("a");
    let inner = array.insert(&mut doc.transact_mut(), 0, ArrayPrelim::default());
    inner.insert(&mut doc.transact_mut(), 0, MapPrelim::default());
    assert_eq!(
        check_update(&full_state(&doc), MAX, 0),
        Ok(Checked { type_depth: 2 })
    );
    assert_eq!(
        check_update(&Update::new().encode_v1(), MAX, 0),
        Ok(Checked::default())
    );
}

#[test]
fn prosemirror_documents_pass() {
    let doc = Doc::with_client_id(4);
    let fragment = doc.get_or_insert_xml_fragment("default");
    let mut txn = doc.transact_mut();
    let list = fragment.push_back(&mut txn, XmlElementPrelim::empty("bulletList"));
    let item = list.push_back(&mut txn, XmlElementPrelim::empty("listItem"));
    let paragraph = item.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
    paragraph.push_back(&mut txn, XmlTextPrelim::new("nested text"));
    let update = txn.encode_update_v1();
    drop(txn);
    assert_eq!(check_update(&update, MAX, 0), Ok(Checked { type_depth: 4 }));
}

#[test]
fn the_issue_20_update_is_refused_before_yrs_sees_it() {
    let reason = refused(check_update(&nested_arrays(10_000), MAX, 0));
    assert!(reason.contains("nests more than 128 levels"), "{reason}");
    // At the limit it passes, one more does not.
    assert!(check_update(&nested_arrays(MAX), MAX, 0).is_ok());
    assert!(check_update(&nested_arrays(MAX + 1), MAX, 0).is_err());
    assert!(check_update(&nested_arrays(10), 10, 0).is_ok());
    assert!(check_update(&nested_arrays(11), 10, 0).is_err());
}

#[test]
fn nested_maps_inside_maps_and_subdocument_options_are_counted() {
    // {"a": {"a": ... }} as lib0 values.
    let mut update = vec![
        0x01, 0x01, 0x07, 0x00, 0x28, 0x01, 0x01, b'm', 0x01, b'k', 0x01,
    ];
    for _ in 0..200 {
        update.extend_from_slice(&[0x76, 0x01, 0x01, b'a']);
    }
    update.extend_from_slice(&[0x7d, 0x05, 0x00]);
    let reason = refused(check_update(&update, MAX, 0));
    assert!(reason.contains("levels deep"), "{reason}");
    // A subdocument (content 9): guid, then its options as a value.
    let mut subdoc = vec![
        0x01, 0x01, 0x07, 0x00, 0x29, 0x01, 0x01, b'm', 0x01, b'k', 0x01, b'g',
    ];
    for _ in 0..200 {
        subdoc.extend_from_slice(&[0x75, 0x01]);
    }
    subdoc.extend_from_slice(&[0x7e, 0x00]);
    assert!(refused(check_update(&subdoc, MAX, 0)).contains("levels deep"));
}

#[test]
fn deeply_nested_types_are_refused_counting_the_documents_own_depth() {
    assert_eq!(
        check_update(&nested_maps(5, MAX), MAX, 0),
        Ok(Checked { type_depth: MAX })
    );
    let reason = refused(check_update(&nested_maps(5, MAX + 1), MAX, 0));
    assert!(reason.contains("shared types nested 129 deep"), "{reason}");
    // The update of 100 000 nested maps that aborted the process when its outer map was deleted.
    assert!(check_update(&nested_maps(6, 2_000), MAX, 0).is_err());

    // A type added inside one the document already holds is one deeper than the document's
    // bound: the bound decides, since an existing item's place is not known.
    let doc = Doc::with_client_id(7);
    let root = doc.get_or_insert_map("m");
    let child = root.insert(&mut doc.transact_mut(), "k", MapPrelim::default());
    let before = doc.transact().state_vector();
    child.insert(&mut doc.transact_mut(), "deeper", MapPrelim::default());
    let delta = doc.transact().encode_state_as_update_v1(&before);
    assert_eq!(check_update(&delta, MAX, 1), Ok(Checked { type_depth: 2 }));
    assert!(check_update(&delta, MAX, MAX).is_err());
    // Without new types the document's depth does not matter.
    let before = doc.transact().state_vector();
    child.insert(&mut doc.transact_mut(), "n", 1);
    let plain = doc.transact().encode_state_as_update_v1(&before);
    assert_eq!(check_update(&plain, MAX, MAX), Ok(Checked::default()));
}

#[test]
fn a_type_placed_by_its_neighbour_takes_the_neighbours_parent() {
    // Array elements after the first name no parent: yrs takes their left neighbour's.
    let doc = Doc::with_client_id(8);
    let array = doc.get_or_insert_array("a");
    let inner = array.insert(&mut doc.transact_mut(), 0, ArrayPrelim::default());
    let mut txn = doc.transact_mut();
    let mut current = inner;
    for _ in 0..3 {
        current.insert(&mut txn, 0, "x");
        current = current.push_back(&mut txn, ArrayPrelim::default());
    }
    drop(txn);
    assert_eq!(
        check_update(&full_state(&doc), MAX, 0),
        Ok(Checked { type_depth: 4 })
    );
}

#[test]
fn wrapping_and_repeated_clients_are_refused() {
    // One client, one GC block at clock u32::MAX of length 42.
    let wrap = [1, 1, 42, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 42, 0];
    assert!(refused(check_update(&wrap, MAX, 0)).contains("clock layout"));
    // Client 7 listed twice, both at clock 0.
    let twice = [2, 1, 7, 0, 0, 1, 1, 7, 0, 0, 1, 0];
    assert!(refused(check_update(&twice, MAX, 0)).contains("listed twice"));
    // A deleted range that wraps, and two that overlap.
    let ds_wrap = [0, 1, 7, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 2];
    assert!(check_update(&ds_wrap, MAX, 0).is_err());
    let ds_overlap = [0, 1, 7, 2, 5, 3, 6, 1];
    assert!(check_update(&ds_overlap, MAX, 0).is_err());
    let ds_sorted = [0, 1, 7, 2, 5, 3, 8, 1];
    assert_eq!(check_update(&ds_sorted, MAX, 0), Ok(Checked::default()));
}

#[test]
fn bytes_that_do_not_parse_and_huge_client_counts_are_refused() {
    for bad in [
        &[][..],
        &[1],
        &[1, 1, 7, 0, 0x28],
        &[0xff, 0xff, 0xff, 0x7f],
    ] {
        assert!(check_update(bad, MAX, 0).is_err(), "{bad:?}");
    }
    let reason = refused(check_update(&[0x80, 0x80, 0x80, 0x80, 0x01, 0, 0], MAX, 0));
    assert!(reason.contains("declares"), "{reason}");
    // An unknown value tag inside an item.
    let mut update = nested_arrays(0);
    let at = update.len() - 2;
    update[at] = 0x10;
    assert!(refused(check_update(&update, MAX, 0)).contains("does not decode"));
}

#[test]
fn json_strings_are_left_to_serde_json_which_stops_by_itself() {
    // An embed (content 5) holding a JSON string nested far deeper than serde_json's limit.
    let json = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let mut update = vec![0x01, 0x01, 0x07, 0x00, 0x05, 0x01, 0x01, b't'];
    update.push(0xa0);
    update.push(0x4e); // 10 000 as a varint
    update.extend_from_slice(json.as_bytes());
    update.push(0x00);
    assert_eq!(json.len(), 10_000);
    assert!(check_update(&update, MAX, 0).is_err());
}
