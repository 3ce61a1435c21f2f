use super::*;
use crate::update_check::DEFAULT_MAX_NESTING;
use yrs::{GetString, ReadTxn, StateVector, Text, TransactionMut};

fn text_of(state: &DocState) -> String {
    let text = state.doc().get_or_insert_text("t");
    let txn = state.doc().transact();
    text.get_string(&txn)
}

/// Appends `s` to text "t" of `doc` and returns the update.
fn type_into(doc: &Doc, s: &str) -> Vec<u8> {
    let text = doc.get_or_insert_text("t");
    let mut txn: TransactionMut = doc.transact_mut();
    let len = text.len(&txn);
    text.insert(&mut txn, len, s);
    txn.encode_update_v1()
}

fn limits() -> DocLimits {
    DocLimits::default()
}

#[test]
fn rows_rebuild_the_document_after_the_snapshot() {
    let doc = Doc::with_client_id(1);
    let first = type_into(&doc, "a");
    let snapshot = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let rows = vec![(11, type_into(&doc, "b")), (12, type_into(&doc, "c"))];
    let replayed = replay(Some(&snapshot), 10, &rows, limits());
    assert_eq!(text_of(&replayed.state), "abc");
    assert!(replayed.refused.is_empty() && replayed.incomplete.is_empty());
    let _ = first;
}

#[test]
fn bad_rows_and_a_bad_snapshot_are_refused_with_their_position_and_the_rest_is_served() {
    let doc = Doc::with_client_id(2);
    let rows = vec![
        (1, type_into(&doc, "x")),
        (2, vec![0xde, 0xad]),
        (3, plait_testkit::ydoc::nested_arrays(10_000)),
        (4, type_into(&doc, "y")),
    ];
    let replayed = replay(Some(&[1, 2, 3]), 0, &rows, limits());
    assert_eq!(text_of(&replayed.state), "xy");
    let refused: Vec<(Position, bool)> = replayed
        .refused
        .iter()
        .map(|r| (r.seq, r.snapshot))
        .collect();
    assert_eq!(refused, vec![(0, true), (2, false), (3, false)]);
    assert!(
        replayed.refused[2].reason.contains("levels deep"),
        "{}",
        replayed.refused[2].reason
    );
}

#[test]
fn a_row_that_depends_on_a_later_row_is_applied_once_that_row_is() {
    // Node B stored its client's edit (built on A's content) before A's row committed.
    let a = Doc::with_client_id(3);
    let from_a = type_into(&a, "from a. ");
    let b = Doc::with_client_id(4);
    b.transact_mut()
        .apply_update(Update::decode_v1(&from_a).unwrap_or_default())
        .unwrap_or_default();
    let from_b = type_into(&b, "from b.");
    let rows = vec![(20, from_b), (21, from_a)];
    let replayed = replay(None, 0, &rows, limits());
    assert_eq!(text_of(&replayed.state), "from a. from b.");
    assert!(replayed.incomplete.is_empty() && replayed.refused.is_empty());
}

#[test]
fn a_chain_of_rows_each_depending_on_the_next_is_applied_whole() {
    // Eight nodes in turn, each building on the one before, each stored before the one before.
    let mut rows = Vec::new();
    let mut text = String::new();
    for i in 0..8u64 {
        let doc = Doc::with_client_id(100 + i);
        for (_, row) in &rows {
            let row: &Vec<u8> = row;
            doc.transact_mut()
                .apply_update(Update::decode_v1(row).unwrap_or_default())
                .unwrap_or_default();
        }
        let word = format!("w{i} ");
        text.push_str(&word);
        let update = type_into(&doc, &word);
        rows.push((40 - i as i64, update));
    }
    rows.sort_by_key(|(seq, _)| *seq);
    let replayed = replay(None, 0, &rows, limits());
    assert_eq!(text_of(&replayed.state), text);
    assert!(replayed.incomplete.is_empty() && replayed.refused.is_empty());
}

#[test]
fn a_row_whose_dependency_never_comes_is_reported_and_nothing_is_kept_pending() {
    let a = Doc::with_client_id(5);
    let lost = type_into(&a, "lost ");
    let depends = type_into(&a, "depends");
    let rows = vec![(30, depends)];
    let replayed = replay(None, 0, &rows, limits());
    assert_eq!(replayed.incomplete, vec![30]);
    assert_eq!(text_of(&replayed.state), "");
    // Nothing parked: the state encodes to an empty document.
    assert!(replayed.state.is_empty());
    let _ = lost;
}

#[test]
fn types_nested_inside_the_snapshots_count_from_where_they_sit() {
    let limits = DocLimits {
        max_nesting: 3,
        ..DocLimits::default()
    };
    let doc = Doc::with_client_id(6);
    let root = doc.get_or_insert_map("m");
    {
        let mut txn = doc.transact_mut();
        let one = yrs::Map::insert(&root, &mut txn, "k", yrs::MapPrelim::default());
        yrs::Map::insert(&one, &mut txn, "k", yrs::MapPrelim::default());
    }
    let snapshot = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let mut replayed = replay(Some(&snapshot), 1, &[], limits);
    assert!(replayed.refused.is_empty());
    // A client may not nest two more levels inside the two of the snapshot (2 + 2 > 3)...
    let deeper = Doc::with_client_id(7);
    deeper
        .transact_mut()
        .apply_update(Update::decode_v1(&snapshot).unwrap_or_default())
        .unwrap_or_default();
    let before = deeper.transact().state_vector();
    {
        let m = deeper.get_or_insert_map("m");
        let mut txn = deeper.transact_mut();
        let mut current = m;
        for _ in 0..2 {
            let Some(yrs::Out::YMap(next)) = yrs::Map::get(&current, &txn, "k") else {
                panic!("nested map");
            };
            current = next;
        }
        let three = yrs::Map::insert(&current, &mut txn, "k", yrs::MapPrelim::default());
        yrs::Map::insert(&three, &mut txn, "k", yrs::MapPrelim::default());
    }
    let update = deeper.transact().encode_state_as_update_v1(&before);
    assert!(replayed.state.integrate(&update).is_err());
    // ...but stored rows are held only to what keeps the process safe.
    assert!(replayed.state.integrate_stored(&update).is_ok());
    let _ = DEFAULT_MAX_NESTING;
}
