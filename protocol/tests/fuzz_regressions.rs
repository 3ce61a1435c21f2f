//! Inputs the cargo-fuzz targets (protocol/fuzz) found, kept as plain tests so they stay fixed
//! without a nightly toolchain. Each test names the target and the date it was found.

use plait_protocol::frame::{decode_frame, encode_update, Limits};
use plait_protocol::session::{handle, DocState, Outgoing, Session};
use plait_protocol::update_check::SUBDOCUMENT_REFUSED;
use plait_protocol::ProtocolError;
use yrs::block::ClientID;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, ReadTxn, Text, Transact, Update};

/// `handle_message`, 2026 run 1: a sync step2 whose update starts with a 5-byte client count near
/// 2^32. yrs reserves a hash map for that many clients before reading any of them (352 GB asked
/// from the allocator, libFuzzer/ASan reported out-of-memory). The count must be refused before
/// yrs sees the update, which the specific error message proves.
#[test]
fn step2_with_huge_client_count_is_refused_before_yrs_allocates() {
    let frame: &[u8] = &[
        0x00, 0x01, 0x1a, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0x2b, 0xee, 0xee, 0xee, 0x00,
        0x1d, 0x00, 0x00, 0x01, 0x1a, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0x2b, 0xee,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let messages = decode_frame(frame, &Limits::default()).expect("framing is valid");
    assert_eq!(messages.len(), 1);
    let msg = messages.into_iter().next().expect("one message");
    match handle(&mut state, &mut session, msg) {
        Err(ProtocolError::InvalidUpdate(why)) => {
            assert!(why.contains("clients but only"), "unexpected reason: {why}")
        }
        other => panic!("expected InvalidUpdate, got {other:?}"),
    }
    assert!(state.is_empty(), "the document must stay untouched");
}

/// The smallest form of the same bomb: 2^28 declared clients in a 7-byte update (before the fix
/// this made yrs allocate ~10 GB and zero ~270 MB of hash-map control bytes, then fail).
#[test]
fn tiny_update_declaring_many_clients_is_refused() {
    let bomb = [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00];
    let mut state = DocState::new(Doc::new());
    match state.apply_update(&bomb) {
        Err(ProtocolError::InvalidUpdate(why)) => {
            assert!(
                why.contains("268435456 clients"),
                "unexpected reason: {why}"
            )
        }
        other => panic!("expected InvalidUpdate, got {other:?}"),
    }
    // A real multi-client update still applies after the check.
    let source = Doc::with_client_id(5);
    let text = source.get_or_insert_text("t");
    text.push(&mut source.transact_mut(), "ab");
    let other = Doc::with_client_id(6);
    let other_text = other.get_or_insert_text("t");
    other_text.push(&mut other.transact_mut(), "cd");
    let merged = yrs::merge_updates_v1([
        source
            .transact()
            .encode_state_as_update_v1(&Default::default()),
        other
            .transact()
            .encode_state_as_update_v1(&Default::default()),
    ])
    .expect("merge");
    let mut session = Session::new(false);
    let frame = encode_update(&merged);
    for msg in decode_frame(&frame, &Limits::default()).expect("valid frame") {
        handle(&mut state, &mut session, msg).expect("valid update applies");
    }
    let t = state.doc().get_or_insert_text("t");
    assert_eq!(t.get_string(&state.doc().transact()).len(), 4);
}

/// `handle_message`, run 2: an update whose one client declares ~2^32 blocks. yrs reserves a
/// VecDeque of that many blocks (96 GB) before reading any; ASan reported it. In a real process
/// the reservation is either refused (yrs returns an error) or is untouched virtual memory freed
/// as soon as the blocks run out, so this is not a plait bug; the test pins that the update is
/// rejected as invalid, the document is untouched and stays usable.
#[test]
fn update_declaring_billions_of_blocks_is_rejected_cleanly() {
    let frame: &[u8] = &[
        0x00, 0x02, 0x18, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x2a, 0x00, 0x04, 0x01,
        0x04, 0x74, 0x65, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        assert!(matches!(
            handle(&mut state, &mut session, msg),
            Err(ProtocolError::InvalidUpdate(_))
        ));
    }
    assert!(state.is_empty(), "the document must stay untouched");
    let text = state.doc().get_or_insert_text("text");
    text.push(&mut state.doc().transact_mut(), "still usable");
    assert_eq!(text.get_string(&state.doc().transact()), "still usable");
}

/// `handle_message`, run 2: an update yrs accepts and parks as *pending* (its parent is
/// missing), but whose pending part yrs cannot re-read: every later `encode_state_as_update_v1`
/// then panicked inside yrs (`merge_pending_v1` unwraps `EndOfBuffer`), so the document could no
/// longer be snapshotted or served to a new client. Run 4: refused up front, because yrs cannot
/// read back its own encoding of the update (before that: dropped as pending, sender resynced).
#[test]
fn update_whose_pending_part_cannot_be_reencoded_is_refused() {
    let frame: &[u8] = &[
        0x00, 0x02, 0x18, 0x01, 0x01, 0x2a, 0x00, 0x02, 0x1d, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x18, 0x01, 0x01, 0x2a, 0x00, 0x04, 0x01, 0x90,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        let result = handle(&mut state, &mut session, msg);
        assert!(refused(&result, "re-encoding"), "got {result:?}");
    }
    // Before the fix this panicked inside yrs.
    let encoded = state.encode_state();
    assert_eq!(encoded, vec![0, 0], "nothing was applied");
}

/// `handle_message`, run 3: the same poisoning through a block that decodes and re-encodes fine
/// on its own but not once yrs has reworked it into pending data (so a round-trip check of the
/// incoming update is not enough). Run 4: the round trip that compares what yrs reads back
/// (not only whether it decodes) refuses it up front; the document stays readable either way.
#[test]
fn update_poisoning_pending_after_integration_is_refused() {
    let frame: &[u8] = &[
        0x00, 0x01, 0x1a, 0x01, 0x01, 0x00, 0x01, 0x02, 0x00, 0x2a, 0x02, 0x01, 0x03, 0x00, 0x01,
        0x01, 0x00, 0x03, 0x01, 0x00, 0xfe, 0x84, 0x57, 0x00, 0x00, 0x00, 0xd9, 0x75, 0x73,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        let result = handle(&mut state, &mut session, msg);
        assert!(refused(&result, "read back"), "got {result:?}");
    }
    // Before the fix this panicked inside yrs; now the state is readable and usable.
    let encoded = state.encode_state();
    let fresh = Doc::new();
    fresh
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&encoded).expect("decodes"))
        .expect("applies");
}

/// One `handle_message` input replayed like the fuzz target does: steps `[ctl][len u16 LE][frame]`
/// (ctl bit 0: read-only connection). Returns every message's result, tagged with its step, and
/// checks after every step what the target checks: the full state decodes and applies to a fresh
/// doc, and every relayed update decodes.
fn converse(
    state: &mut DocState,
    mut data: &[u8],
) -> Vec<(usize, Result<Vec<Outgoing>, ProtocolError>)> {
    let mut results = Vec::new();
    let mut sessions = [Session::new(false), Session::new(true)];
    let mut step = 0;
    while let Some((&ctl, rest)) = data.split_first() {
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (rest.len(), &[][..]),
        };
        let (frame, rest) = rest.split_at(len.min(rest.len()));
        data = rest;
        let read_only = ctl & 1 != 0;
        let session = &mut sessions[usize::from(read_only)];
        for msg in decode_frame(frame, &Limits::default()).unwrap_or_default() {
            let result = handle(state, session, msg);
            for out in result.iter().flatten() {
                if let Outgoing::Update(u) = out {
                    assert!(
                        Update::decode_v1(u).is_ok(),
                        "step {step}: relayed update does not decode"
                    );
                }
            }
            let failed = result.is_err();
            results.push((step, result));
            if failed {
                *session = Session::new(read_only);
                break;
            }
        }
        let encoded = state.encode_state();
        let update = Update::decode_v1(&encoded)
            .unwrap_or_else(|e| panic!("step {step}: state does not decode: {e}"));
        Doc::new()
            .transact_mut()
            .apply_update(update)
            .unwrap_or_else(|e| panic!("step {step}: state does not apply: {e}"));
        step += 1;
    }
    results
}

/// True if `result` is the refusal `check` expects (its reason names the check).
fn refused(result: &Result<Vec<Outgoing>, ProtocolError>, reason: &str) -> bool {
    matches!(result, Err(ProtocolError::InvalidUpdate(why)) if why.contains(reason))
}

/// `handle_message`, run 4 (after the "never keep pending data" change): a sync update whose
/// blocks start at clock 9 of a client the document has never seen, with no other missing
/// dependency. yrs does not park those as pending: it integrates them behind a `Skip` hole in the
/// block store (the relayed delta was empty). The next update filling the hole made
/// `BlockSet::exclude` free a block that `integrate_item` then read (heap-use-after-free under
/// ASan). Such an update is now dropped before yrs sees it and the sender is asked to resync.
#[test]
fn update_starting_past_the_document_clock_is_dropped_not_integrated_behind_a_hole() {
    let input: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x06, 0x00, 0x00, 0x02, 0x03, 0x01, 0x2a,
        0x0b, 0x00, 0x1b, 0x00, 0x00, 0x02, 0x18, 0x01, 0x01, 0x2a, 0x09, 0x04, 0x01, 0x04, 0x74,
        0x65, 0x78, 0x74, 0x0b, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64,
        0x00, 0x01, 0x09, 0x00, 0x00, 0x02, 0x06, 0x00, 0x01, 0x2a, 0x01, 0x00, 0x06, 0x00, 0x1d,
        0x00, 0x00, 0x01, 0x1a, 0x01, 0x02, 0x2a, 0x00, 0x01, 0x01, 0x04, 0x74, 0x65, 0x78, 0x74,
        0x06, 0x84, 0x2a, 0x05, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x01, 0x2a, 0x01, 0x00, 0x06,
        0x01, 0x01, 0x00, 0x03, 0x00, 0x2c, 0x2f, 0x22, 0x00, 0x2a, 0x01, 0x22, 0x63, 0x6f, 0x6c,
        0x6f, 0x72, 0x22, 0x3a, 0x22, 0x23, 0x66, 0x30, 0x30, 0x22, 0x7d, 0x7d, 0x01, 0x03, 0x00,
        0x01, 0x6e, 0x6e, 0x22, 0x2c, 0x22, 0x63, 0x6f, 0x6c, 0x6f, 0x72, 0x22, 0x3a, 0x22, 0x23,
        0x66, 0x30, 0x30, 0x22, 0x7d, 0x7d, 0x01, 0x03, 0x00, 0x01, 0x01, 0x00, 0x03, 0x01, 0x00,
        0x03,
    ];
    let mut state = DocState::new(Doc::with_client_id(1));
    let results = converse(&mut state, input);
    let step2: Vec<_> = results.iter().filter(|(step, _)| *step == 2).collect();
    assert_eq!(step2.len(), 1);
    assert_eq!(
        step2[0].1,
        Ok(vec![Outgoing::Resync]),
        "the gapped update asks for a resync"
    );
    // The later contiguous update (step 4, clocks 0..11 of client 42) integrates normally.
    let text = state.doc().get_or_insert_text("text");
    assert_eq!(text.get_string(&state.doc().transact()), "world");
    assert_eq!(
        state
            .doc()
            .transact()
            .state_vector()
            .get(&ClientID::new(42)),
        11
    );
}

/// `handle_message`, run 4: an update carrying a legacy JSON content block (ref 2). yrs 0.28.1
/// reads `count + 1` strings for it but writes `count`, so once integrated, every encoding of the
/// document (the relayed delta, snapshots, step2 answers) failed to decode, and the next full
/// encode panicked inside yrs (`transaction.rs:390`). Refused because yrs does not read back its
/// own encoding of it.
#[test]
fn update_that_yrs_cannot_reencode_is_refused() {
    let frame: &[u8] = &[
        0x00, 0x01, 0x1a, 0x01, 0x02, 0x2a, 0x00, 0x01, 0x01, 0x00, 0x9e, 0x21, 0x02, 0x01, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0x5d, 0x84, 0xd9, 0x75, 0x73, 0x00,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        let result = handle(&mut state, &mut session, msg);
        assert!(refused(&result, "re-encoding"), "got {result:?}");
    }
    assert!(state.is_empty(), "nothing was integrated");
}

/// `handle_message`, runs 3 and 4: updates whose clocks wrap past `u32::MAX` (a GC block at clock
/// `u32::MAX`, a deleted range of length ~2^32). yrs adds them unchecked and its block store then
/// panicked: `store.rs:234` (unwrap on `None`), `block_store.rs:60` (divide by zero),
/// `block_store.rs:62` (index out of bounds), one of them while unwinding, which aborts the whole
/// process past the panic guard. Refused by the clock check before yrs integrates anything.
#[test]
fn updates_with_wrapping_clocks_are_refused() {
    let inputs: [&[u8]; 2] = [
        &[
            0x00, 0x1d, 0x00, 0x00, 0x01, 0x1a, 0x01, 0x02, 0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f,
            0x00, 0x29, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x01, 0x00, 0x00,
            0x09, 0xff, 0xff, 0x01, 0x84, 0xd9, 0x75, 0x73,
        ],
        &[
            0x00, 0x1d, 0x00, 0x00, 0x01, 0x1a, 0x01, 0x02, 0x77, 0x01, 0x00, 0x03, 0x00, 0xf5,
            0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xff, 0x07, 0x00, 0x00, 0xf5, 0xf5,
            0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5,
            0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5,
            0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5,
            0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5, 0xf5,
            0x7d, 0x01, 0x98, 0x03, 0x02, 0x01,
        ],
    ];
    for input in inputs {
        let mut state = DocState::new(Doc::with_client_id(1));
        let results = converse(&mut state, input);
        assert!(
            results.iter().any(|(_, r)| refused(r, "clock layout")),
            "got {results:?}"
        );
        // The document is untouched and still takes ordinary edits.
        assert!(state.is_empty());
        let text = state.doc().get_or_insert_text("t");
        text.push(&mut state.doc().transact_mut(), "ok");
        assert_eq!(text.get_string(&state.doc().transact()), "ok");
    }
}

/// `nested_update` and `replay_rows`, 2026-12-06 (found in 2–3 s once plans could place a
/// subdocument anywhere): client 100 puts a map at `m.k` and a subdocument inside it, then
/// deletes the map (`m.set("k", inner); inner.set("k", new Y.Doc()); m.delete("k")`). yrs 0.28.1
/// garbage-collects the subdocument's item with the map and then reads the freed item while
/// destroying the subdocument (ASan: heap-use-after-free in `Doc::destroy`). Refusing
/// subdocuments in nested types only was not enough: run 12 found the same in root types, where
/// the deleted subdocument's item is merged into a deleted neighbour the same client wrote just
/// before it (`m.set("k", 1); m.set("k", new Y.Doc()); m.delete("k")`, or a value then a
/// subdocument pushed to an array, both deleted), and freed there. So every update holding a
/// subdocument is refused, and the deletions that would follow have nothing to free.
#[test]
fn subdocuments_are_refused_so_their_deletion_frees_nothing() {
    let subdoc_in_map: &[u8] = &[
        0x01, 0x02, 0x64, 0x00, 0x27, 0x01, 0x01, 0x6d, 0x01, 0x6b, 0x01, 0x29, 0x00, 0x64, 0x00,
        0x01, 0x6b, 0x01, 0x67, 0x76, 0x01, 0x01, 0x61, 0x7e, 0x00,
    ];
    let delete_the_map: &[u8] = &[0x00, 0x01, 0x64, 0x01, 0x00, 0x01];
    let refuses = |state: &mut DocState, update: &[u8]| match state.apply_update(update) {
        Err(ProtocolError::InvalidUpdate(why)) => assert!(why.contains(SUBDOCUMENT_REFUSED)),
        other => panic!("expected InvalidUpdate, got {other:?}"),
    };
    let mut state = DocState::new(Doc::with_client_id(1));
    refuses(&mut state, subdoc_in_map);
    assert!(state.is_empty(), "nothing of the refused update is kept");
    // The deletion names blocks the document never got: nothing to do, nothing freed.
    let _ = state.apply_update(delete_the_map);

    // A value, then a subdocument under the same key of a root map: refused with its value.
    let source = Doc::with_client_id(7);
    let root = source.get_or_insert_map("m");
    root.insert(&mut source.transact_mut(), "k", 1);
    root.insert(&mut source.transact_mut(), "k", Doc::new());
    let overwrite = source
        .transact()
        .encode_state_as_update_v1(&Default::default());
    let mut state = DocState::new(Doc::with_client_id(1));
    refuses(&mut state, &overwrite);
    assert!(state.is_empty());
    let text = state.doc().get_or_insert_text("t");
    text.push(&mut state.doc().transact_mut(), "ok");
    assert_eq!(text.get_string(&state.doc().transact()), "ok");
}
