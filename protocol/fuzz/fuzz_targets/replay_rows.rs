//! Fuzz target: `session::replay`, which rebuilds a stored document from its snapshot and the
//! log rows after it (the path every document load takes, and the one a stored deep update
//! would crash at every load if it got in).
//!
//! Input: `[flags]`, then a plan (`plait_fuzz::plan`) whose updates are the stored data, so rows
//! hold deep values and types, depend on each other, and can be raw bytes too. flags bit 0: a
//! snapshot exists; bit 1: it is the plan's first update as is (else the state of a document
//! that integrated the first `flags >> 4` updates, as compaction writes it); bits 2-3: the rows
//! in plan order, reversed (dependencies after their dependents: the retry passes), rotated, or
//! each one twice. The plan's selector picks the node's nesting limit.
//!
//! Checks: `replay` never panics or aborts; every row is applied, refused or reported
//! incomplete, exactly once, and nothing else is reported; a row holding a value or types nested
//! past the limit is refused; every block of an applied row is in the document; the document
//! nests within the limit, encodes, decodes into a fresh one, and survives deleting everything.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use plait_fuzz::plan::{self, Plan};
use plait_fuzz::{check_usable, confirm_state, delete_everything, LIMITS};
use plait_protocol::session::{replay, DocLimits, DocState, Position};
use plait_protocol::update_check::{check_update, MAX_NESTING_LIMIT};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

const SNAPSHOT_SEQ: Position = 7;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let plan: Plan = plan::read(rest);
    let limits = DocLimits {
        max_size: usize::MAX,
        max_nesting: LIMITS[usize::from(plan.selector) % LIMITS.len()],
    };
    // Stored rows meet the largest of this node's limit and the largest allowed.
    let effective = MAX_NESTING_LIMIT.max(limits.max_nesting);
    let updates: Vec<(usize, &[u8])> = plan
        .updates
        .iter()
        .enumerate()
        .map(|(i, u)| (i, u.bytes.as_slice()))
        .collect();

    // The snapshot, and which updates it stands for.
    let (snapshot, first_row) = match (flags & 1 != 0, flags & 2 != 0) {
        (false, _) => (None, 0),
        (true, true) => (updates.first().map(|(_, b)| b.to_vec()), 1),
        (true, false) => {
            let covered = usize::from(flags >> 4).min(updates.len());
            let mut compacted = DocState::with_limits(Doc::new(), limits);
            for (_, bytes) in &updates[..covered] {
                let _ = compacted.integrate_stored(bytes);
            }
            (Some(compacted.encode_state()), covered)
        }
    };
    let mut rows: Vec<(usize, &[u8])> = updates.iter().skip(first_row).copied().collect();
    match (flags >> 2) & 3 {
        0 => {}
        1 => rows.reverse(),
        2 if !rows.is_empty() => rows.rotate_left(1),
        2 => {}
        _ => rows = rows.iter().flat_map(|&r| [r, r]).collect(),
    }
    let stored: Vec<(Position, Vec<u8>)> = rows
        .iter()
        .zip(SNAPSHOT_SEQ + 1..)
        .map(|(&(_, bytes), seq)| (seq, bytes.to_vec()))
        .collect();

    let replayed = replay(snapshot.as_deref(), SNAPSHOT_SEQ, &stored, limits);

    // Every row once: applied, refused or incomplete; nothing else reported.
    let seqs: HashSet<Position> = stored.iter().map(|(seq, _)| *seq).collect();
    let mut refused = HashSet::new();
    for r in &replayed.refused {
        if r.snapshot {
            assert!(
                snapshot.is_some() && r.seq == SNAPSHOT_SEQ,
                "refused a snapshot that was not given: {r:?}"
            );
        } else {
            assert!(seqs.contains(&r.seq), "refused an unknown row: {r:?}");
        }
        assert!(refused.insert((r.snapshot, r.seq)), "reported twice: {r:?}");
    }
    let mut incomplete = HashSet::new();
    for &seq in &replayed.incomplete {
        assert!(seqs.contains(&seq), "unknown row {seq} reported incomplete");
        assert!(
            !refused.contains(&(false, seq)),
            "row {seq} both refused and incomplete"
        );
        assert!(
            incomplete.insert(seq),
            "row {seq} reported incomplete twice"
        );
    }

    // Rows nested past the limit whatever the document holds are refused.
    let too_deep = |u: &plan::PlannedUpdate| {
        u.planned
            && (u.value_depth > effective || (u.self_contained && u.type_depth(&plan) > effective))
    };
    for (&(index, _), (seq, _)) in rows.iter().zip(&stored) {
        if too_deep(&plan.updates[index]) {
            assert!(
                refused.contains(&(false, *seq)),
                "row {seq} (update {index}) nests past {effective} and was not refused"
            );
        }
    }
    if flags & 3 == 3
        && updates
            .first()
            .is_some_and(|&(i, _)| too_deep(&plan.updates[i]))
    {
        assert!(
            refused.contains(&(true, SNAPSHOT_SEQ)),
            "a snapshot nested past the limit was taken"
        );
    }

    // Every block of an applied row is in the document.
    let state = replayed.state;
    let sv = state.doc().transact().state_vector();
    for (seq, bytes) in &stored {
        if refused.contains(&(false, *seq)) || incomplete.contains(seq) {
            continue;
        }
        // It passed the check; against an empty document (parents counted as roots) it does
        // too, so yrs may decode it here.
        if check_update(bytes, effective, &Doc::new()).is_err() {
            panic!("row {seq} was applied although check_update refuses it");
        }
        let Ok(update) = Update::decode_v1(bytes) else {
            panic!("row {seq} was applied although it does not decode");
        };
        for (client, ranges) in update.insertions(true).iter() {
            for range in ranges.iter() {
                assert!(
                    range.end <= sv.get(client),
                    "row {seq} applied but its blocks {client}:{range:?} are not in the document"
                );
            }
        }
    }

    confirm_state(&state.encode_state(), effective);
    check_usable(&state);
    let mut state = state;
    let deletion = delete_everything(&state);
    if let Err(e) = state.integrate_stored(&deletion) {
        panic!("deleting everything failed: {e}");
    }
    check_usable(&state);
});
