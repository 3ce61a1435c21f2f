//! Inputs the cargo-fuzz targets (protocol/fuzz) found, kept as plain tests so they stay fixed
//! without a nightly toolchain. Each test names the target and the date it was found.

use plait_protocol::frame::{decode_frame, encode_update, Limits};
use plait_protocol::session::{handle, DocState, Outgoing, Session};
use plait_protocol::ProtocolError;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, Text, Transact};

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
/// longer be snapshotted or served to a new client. The server never keeps a client's pending
/// data: it is dropped and the sender is asked to resync.
#[test]
fn update_whose_pending_part_cannot_be_reencoded_is_refused() {
    let frame: &[u8] = &[
        0x00, 0x02, 0x18, 0x01, 0x01, 0x2a, 0x00, 0x02, 0x1d, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x18, 0x01, 0x01, 0x2a, 0x00, 0x04, 0x01, 0x90,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        assert_eq!(
            handle(&mut state, &mut session, msg),
            Ok(vec![Outgoing::Resync])
        );
    }
    // Before the fix this panicked inside yrs.
    let encoded = state.encode_state();
    assert_eq!(encoded, vec![0, 0], "nothing was applied");
}

/// `handle_message`, run 3: the same poisoning through a block that decodes and re-encodes fine
/// on its own but not once yrs has reworked it into pending data (so a round-trip check of the
/// incoming update is not enough). Dropping the pending data keeps the document readable.
#[test]
fn update_poisoning_pending_after_integration_is_refused() {
    let frame: &[u8] = &[
        0x00, 0x01, 0x1a, 0x01, 0x01, 0x00, 0x01, 0x02, 0x00, 0x2a, 0x02, 0x01, 0x03, 0x00, 0x01,
        0x01, 0x00, 0x03, 0x01, 0x00, 0xfe, 0x84, 0x57, 0x00, 0x00, 0x00, 0xd9, 0x75, 0x73,
    ];
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    for msg in decode_frame(frame, &Limits::default()).expect("framing is valid") {
        assert_eq!(
            handle(&mut state, &mut session, msg),
            Ok(vec![Outgoing::Resync])
        );
    }
    // Before the fix this panicked inside yrs; now the state is readable and usable.
    let encoded = state.encode_state();
    let fresh = Doc::new();
    fresh
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&encoded).expect("decodes"))
        .expect("applies");
}
