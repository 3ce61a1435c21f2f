use super::*;
use yrs::{GetString, Text};

/// A document whose full state is above [`FULL_STEP2_CACHE_MIN`].
fn big_update(client: u64) -> Vec<u8> {
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    text.push(&mut txn, &"x".repeat(FULL_STEP2_CACHE_MIN));
    txn.encode_update_v1()
}

fn hello_update(client: u64) -> Vec<u8> {
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    text.push(&mut txn, "hello");
    txn.encode_update_v1()
}

#[test]
fn empty_update_is_not_applied() {
    let mut state = DocState::new(Doc::new());
    assert_eq!(state.apply_update(&[0, 0]), Ok(false));
    assert!(state.is_empty());
}

#[test]
fn applied_update_changes_state_and_is_reported() {
    let mut state = DocState::new(Doc::new());
    assert_eq!(state.apply_update(&hello_update(7)), Ok(true));
    assert!(!state.is_empty());
    let text = state.doc().get_or_insert_text("text");
    assert_eq!(text.get_string(&state.doc().transact()), "hello");

    let copy = DocState::new(Doc::new());
    let mut copy = copy;
    assert_eq!(copy.apply_update(&state.encode_state()), Ok(true));
    let text = copy.doc().get_or_insert_text("text");
    assert_eq!(text.get_string(&copy.doc().transact()), "hello");
}

#[test]
fn known_update_is_reported_unchanged() {
    let mut state = DocState::new(Doc::new());
    let update = hello_update(7);
    assert_eq!(state.apply_update(&update), Ok(true));
    assert_eq!(state.apply_update(&update), Ok(false), "same blocks again");

    // A delete set the document already applied (what a reconnecting client resends).
    let doc = Doc::with_client_id(8);
    let text = doc.get_or_insert_text("text");
    doc.transact_mut()
        .apply_update(Update::decode_v1(&update).unwrap())
        .unwrap();
    let before = doc.transact().state_vector();
    text.remove_range(&mut doc.transact_mut(), 0, 2);
    let deletion = doc.transact().encode_state_as_update_v1(&before);
    assert_eq!(state.apply_update(&deletion), Ok(true));
    assert_eq!(
        state.apply_update(&deletion),
        Ok(false),
        "same deletion again"
    );
}

#[test]
fn update_with_missing_dependencies_is_dropped_and_asks_for_a_resync() {
    let doc = Doc::with_client_id(9);
    let text = doc.get_or_insert_text("text");
    text.push(&mut doc.transact_mut(), "a");
    let first = doc.transact().state_vector();
    text.push(&mut doc.transact_mut(), "b");
    let second = doc.transact().encode_state_as_update_v1(&first);
    let mut state = DocState::new(Doc::new());
    let integrated = state.integrate(&second);
    assert_eq!(
        integrated,
        Ok(Integrated {
            delta: None,
            incomplete: true
        })
    );
    // Nothing parked: the full state still encodes and decodes, and is empty.
    assert!(state.is_empty());
    // Once the dependency arrives, the same update integrates completely.
    let full = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let integrated = state.integrate(&full).unwrap_or_else(|e| panic!("{e}"));
    assert!(integrated.delta.is_some() && !integrated.incomplete);
    let read = state.doc().get_or_insert_text("text");
    assert_eq!(read.get_string(&state.doc().transact()), "ab");
}

#[test]
fn the_delta_omits_what_the_document_already_had() {
    let mut state = DocState::new(Doc::new());
    let hello = hello_update(7);
    assert!(state.apply_update(&hello).unwrap_or(false));
    let doc = Doc::with_client_id(8);
    let text = doc.get_or_insert_text("text");
    doc.transact_mut()
        .apply_update(Update::decode_v1(&hello).unwrap())
        .unwrap();
    text.push(&mut doc.transact_mut(), "!");
    // The full state of the other doc: "hello" (known) plus "!" (new).
    let full = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let integrated = state.integrate(&full).unwrap_or_else(|e| panic!("{e}"));
    let delta = integrated.delta.unwrap_or_default();
    assert!(
        delta.len() < full.len(),
        "only the new part is stored and relayed"
    );
    // Known content plus the delta rebuilds the other document exactly.
    let fresh = Doc::new();
    for part in [&hello, &delta] {
        fresh
            .transact_mut()
            .apply_update(Update::decode_v1(part).unwrap())
            .unwrap();
    }
    let read = fresh.get_or_insert_text("text");
    assert_eq!(read.get_string(&fresh.transact()), "hello!");
}

#[test]
fn joiners_with_empty_state_share_one_encoding_until_the_document_changes() {
    let mut state = DocState::new(Doc::new());
    assert!(state.apply_update(&big_update(7)).unwrap_or(false));
    let empty = StateVector::default();
    let first = state.step2_for(&empty).unwrap_or_default();
    assert!(state.full_step2.is_some(), "cached after the first joiner");
    assert_eq!(state.step2_for(&empty).unwrap_or_default(), first);
    // A change invalidates it: the next joiner sees the new content.
    let doc = Doc::with_client_id(8);
    let text = doc.get_or_insert_text("text");
    doc.transact_mut()
        .apply_update(Update::decode_v1(&big_update(7)).unwrap())
        .unwrap();
    let before = doc.transact().state_vector();
    text.push(&mut doc.transact_mut(), "!");
    let more = doc.transact().encode_state_as_update_v1(&before);
    assert!(state.apply_update(&more).unwrap_or(false));
    assert!(state.full_step2.is_none());
    let second = state.step2_for(&empty).unwrap_or_default();
    assert_ne!(second, first);
    assert_eq!(
        second,
        encode_step2(&state.doc().transact().encode_state_as_update_v1(&empty))[..]
    );
}

#[test]
fn small_documents_encode_each_joiner_afresh() {
    let mut state = DocState::new(Doc::new());
    assert!(state.apply_update(&hello_update(7)).unwrap_or(false));
    let empty = StateVector::default();
    let first = state.step2_for(&empty).unwrap_or_default();
    assert!(first.len() < FULL_STEP2_CACHE_MIN);
    assert!(state.full_step2.is_none(), "not worth its memory");
    assert_eq!(state.step2_for(&empty).unwrap_or_default(), first);
}

#[test]
fn greeting_has_awareness_only_when_someone_is_present() {
    let mut state = DocState::new(Doc::new());
    let greeting = state.greeting();
    assert_eq!(greeting, vec![vec![0, 0, 1, 0]]);
    let entry = yrs::sync::awareness::AwarenessUpdateEntry {
        clock: 1,
        json: r#"{"u":1}"#.into(),
    };
    let clients = [(ClientID::new(5), entry)].into_iter().collect();
    state
        .presence_mut()
        .apply(yrs::sync::AwarenessUpdate { clients });
    let greeting = state.greeting();
    assert_eq!(greeting.len(), 2);
    assert_eq!(greeting[1][0], 1, "second frame is an awareness message");
}
