use super::{check_update, Checked, DEFAULT_MAX_NESTING, SUBDOCUMENT_REFUSED};
use crate::error::ProtocolError;
use plait_testkit::ydoc::nested_arrays;
use yrs::updates::decoder::Decode;
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
        check_update(&full_state(&doc), MAX, &Doc::new()),
        Ok(Checked { type_depth: 2 })
    );
    assert_eq!(
        check_update(&Update::new().encode_v1(), MAX, &Doc::new()),
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
    assert_eq!(
        check_update(&update, MAX, &Doc::new()),
        Ok(Checked { type_depth: 4 })
    );
}

#[test]
fn the_issue_20_update_is_refused_before_yrs_sees_it() {
    let reason = refused(check_update(&nested_arrays(10_000), MAX, &Doc::new()));
    assert!(reason.contains("nests more than 128 levels"), "{reason}");
    // At the limit it passes, one more does not.
    assert!(check_update(&nested_arrays(MAX), MAX, &Doc::new()).is_ok());
    assert!(check_update(&nested_arrays(MAX + 1), MAX, &Doc::new()).is_err());
    assert!(check_update(&nested_arrays(10), 10, &Doc::new()).is_ok());
    assert!(check_update(&nested_arrays(11), 10, &Doc::new()).is_err());
}

#[test]
fn nested_maps_inside_maps_are_counted_and_subdocuments_refused_unread() {
    // {"a": {"a": ... }} as lib0 values.
    let mut update = vec![
        0x01, 0x01, 0x07, 0x00, 0x28, 0x01, 0x01, b'm', 0x01, b'k', 0x01,
    ];
    for _ in 0..200 {
        update.extend_from_slice(&[0x76, 0x01, 0x01, b'a']);
    }
    update.extend_from_slice(&[0x7d, 0x05, 0x00]);
    let reason = refused(check_update(&update, MAX, &Doc::new()));
    assert!(reason.contains("levels deep"), "{reason}");
    // A subdocument (content 9): guid, then its options as a value, refused before those are
    // read (so nothing deep in them is ever decoded).
    let mut subdoc = vec![
        0x01, 0x01, 0x07, 0x00, 0x29, 0x01, 0x01, b'm', 0x01, b'k', 0x01, b'g',
    ];
    for _ in 0..200 {
        subdoc.extend_from_slice(&[0x75, 0x01]);
    }
    subdoc.extend_from_slice(&[0x7e, 0x00]);
    assert_eq!(
        refused(check_update(&subdoc, MAX, &Doc::new())),
        SUBDOCUMENT_REFUSED
    );
}

#[test]
fn deeply_nested_types_are_refused_counting_the_documents_own_depth() {
    let fresh = Doc::new();
    assert_eq!(
        check_update(&nested_maps(5, MAX), MAX, &fresh),
        Ok(Checked { type_depth: MAX })
    );
    let reason = refused(check_update(&nested_maps(5, MAX + 1), MAX, &fresh));
    assert!(reason.contains("shared types nested 129 deep"), "{reason}");
    // The update of 100 000 nested maps that aborted the process when its outer map was deleted.
    assert!(check_update(&nested_maps(6, 2_000), MAX, &fresh).is_err());

    // A type added inside one the document already holds counts from where that one sits.
    let target = at_depth(MAX - 1);
    assert_eq!(
        check_update(&shallow_of(&target), MAX, &target),
        Ok(Checked { type_depth: 2 }),
        "a type near the root of a deep document is counted where it is"
    );
    assert_eq!(
        check_update(&deeper_of(&target, 1), MAX, &target),
        Ok(Checked { type_depth: MAX })
    );
    assert!(check_update(&deeper_of(&target, 2), MAX, &target).is_err());
    // Without new types the document's depth does not matter.
    let m = target.get_or_insert_map("m");
    let before = target.transact().state_vector();
    m.insert(&mut target.transact_mut(), "n", 1);
    let plain = target.transact().encode_state_as_update_v1(&before);
    assert_eq!(check_update(&plain, MAX, &target), Ok(Checked::default()));
}

/// A document holding a chain of `depth` maps under root map "m", key "k" each.
fn at_depth(depth: usize) -> Doc {
    let doc = Doc::with_client_id(11);
    let root = doc.get_or_insert_map("m");
    let mut current = root.insert(&mut doc.transact_mut(), "k", MapPrelim::default());
    for _ in 1..depth {
        current = current.insert(&mut doc.transact_mut(), "k", MapPrelim::default());
    }
    doc
}

/// The innermost map of [`at_depth`]'s chain.
fn innermost(doc: &Doc) -> MapRef {
    let mut current = doc.get_or_insert_map("m");
    let txn = doc.transact();
    while let Some(yrs::Out::YMap(next)) = current.get(&txn, "k") {
        current = next;
    }
    current
}

/// An update by another client adding a map under the document's first nested map.
fn shallow_of(doc: &Doc) -> Vec<u8> {
    let other = copy_of(doc, 12);
    let before = other.transact().state_vector();
    let root = other.get_or_insert_map("m");
    let first = {
        let txn = other.transact();
        match root.get(&txn, "k") {
            Some(yrs::Out::YMap(first)) => first,
            _ => panic!("the chain starts with a map"),
        }
    };
    first.insert(&mut other.transact_mut(), "side", MapPrelim::default());
    let update = other.transact().encode_state_as_update_v1(&before);
    update
}

/// An update by another client adding `levels` nested maps under the innermost one.
fn deeper_of(doc: &Doc, levels: usize) -> Vec<u8> {
    let other = copy_of(doc, 13);
    let before = other.transact().state_vector();
    let mut current = innermost(&other);
    for _ in 0..levels {
        current = current.insert(&mut other.transact_mut(), "deeper", MapPrelim::default());
    }
    let update = other.transact().encode_state_as_update_v1(&before);
    update
}

fn copy_of(doc: &Doc, client: u64) -> Doc {
    let copy = Doc::with_client_id(client);
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    copy.transact_mut()
        .apply_update(Update::decode_v1(&state).unwrap_or_default())
        .unwrap_or_default();
    copy
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
        check_update(&full_state(&doc), MAX, &Doc::new()),
        Ok(Checked { type_depth: 4 })
    );
}

#[test]
fn wrapping_and_repeated_clients_are_refused() {
    // One client, one GC block at clock u32::MAX of length 42.
    let wrap = [1, 1, 42, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 42, 0];
    assert!(refused(check_update(&wrap, MAX, &Doc::new())).contains("clock layout"));
    // Client 7 listed twice, both at clock 0.
    let twice = [2, 1, 7, 0, 0, 1, 1, 7, 0, 0, 1, 0];
    assert!(refused(check_update(&twice, MAX, &Doc::new())).contains("listed twice"));
    // A deleted range that wraps, and two that overlap.
    let ds_wrap = [0, 1, 7, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 2];
    assert!(check_update(&ds_wrap, MAX, &Doc::new()).is_err());
    let ds_overlap = [0, 1, 7, 2, 5, 3, 6, 1];
    assert!(check_update(&ds_overlap, MAX, &Doc::new()).is_err());
    let ds_sorted = [0, 1, 7, 2, 5, 3, 8, 1];
    assert_eq!(
        check_update(&ds_sorted, MAX, &Doc::new()),
        Ok(Checked::default())
    );
}

#[test]
fn bytes_that_do_not_parse_and_huge_client_counts_are_refused() {
    for bad in [
        &[][..],
        &[1],
        &[1, 1, 7, 0, 0x28],
        &[0xff, 0xff, 0xff, 0x7f],
    ] {
        assert!(check_update(bad, MAX, &Doc::new()).is_err(), "{bad:?}");
    }
    let reason = refused(check_update(
        &[0x80, 0x80, 0x80, 0x80, 0x01, 0, 0],
        MAX,
        &Doc::new(),
    ));
    assert!(reason.contains("declares"), "{reason}");
    // An unknown value tag inside an item.
    let mut update = nested_arrays(0);
    let at = update.len() - 2;
    update[at] = 0x10;
    assert!(refused(check_update(&update, MAX, &Doc::new())).contains("does not decode"));
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
    assert!(check_update(&update, MAX, &Doc::new()).is_err());
}

/// Siblings do not add up: a document edited like a ProseMirror one (a paragraph with its text
/// added 300 times, each next to the last) stays 2 levels deep, whatever the limit.
#[test]
fn paragraphs_added_one_after_another_stay_at_their_depth() {
    let server = Doc::new();
    let editor = Doc::with_client_id(14);
    let fragment = editor.get_or_insert_xml_fragment("default");
    for i in 0..300 {
        let before = editor.transact().state_vector();
        {
            let mut txn = editor.transact_mut();
            let at = if i % 2 == 0 { 0 } else { fragment.len(&txn) };
            let paragraph = fragment.insert(&mut txn, at, XmlElementPrelim::empty("paragraph"));
            paragraph.push_back(&mut txn, XmlTextPrelim::new("text"));
        }
        let update = editor.transact().encode_state_as_update_v1(&before);
        assert_eq!(
            check_update(&update, 3, &server),
            Ok(Checked { type_depth: 2 }),
            "paragraph {i}"
        );
        server
            .transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap_or_default())
            .unwrap_or_default();
    }
}

/// yrs 0.28.1 frees a deleted subdocument's item and then uses it (see `check_update`), in root
/// types too: every subdocument is refused, wherever it sits.
#[test]
fn subdocuments_are_refused_anywhere() {
    let fresh = Doc::new();
    let is_subdocument = |reason: String| {
        assert!(reason.contains(SUBDOCUMENT_REFUSED), "{reason}");
    };
    // Directly in a root map, and after a value in a root array (placed by neighbour).
    let source = Doc::with_client_id(8);
    let docs = source.get_or_insert_map("docs");
    docs.insert(&mut source.transact_mut(), "a", Doc::new());
    is_subdocument(refused(check_update(&full_state(&source), MAX, &fresh)));
    let source = Doc::with_client_id(8);
    let list = source.get_or_insert_array("list");
    {
        let mut txn = source.transact_mut();
        list.push_back(&mut txn, 1);
        list.push_back(&mut txn, Doc::new());
    }
    is_subdocument(refused(check_update(&full_state(&source), MAX, &fresh)));

    // Inside a map in a root map.
    let nested = Doc::with_client_id(9);
    let outer = nested.get_or_insert_map("m");
    {
        let mut txn = nested.transact_mut();
        let inner: MapRef = outer.insert(&mut txn, "k", MapPrelim::default());
        inner.insert(&mut txn, "d", Doc::new());
    }
    is_subdocument(refused(check_update(&full_state(&nested), MAX, &fresh)));

    // Inside a map the document already holds, by a later update; the map alone is taken.
    let held = Doc::with_client_id(10);
    let outer = held.get_or_insert_map("m");
    let inner: MapRef = outer.insert(&mut held.transact_mut(), "k", MapPrelim::default());
    let server = Doc::new();
    let first = full_state(&held);
    assert!(check_update(&first, MAX, &server).is_ok());
    server
        .transact_mut()
        .apply_update(Update::decode_v1(&first).expect("decodes"))
        .expect("applies");
    let before = held.transact().state_vector();
    inner.insert(&mut held.transact_mut(), "d", Doc::new());
    let later = held.transact().encode_state_as_update_v1(&before);
    is_subdocument(refused(check_update(&later, MAX, &server)));
}
