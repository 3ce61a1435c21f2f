//! Fuzz target: the per-connection message handler on one document with two connections.
//!
//! Input: steps `[ctl][len u16 LE][frame]` (see `plait_fuzz::split_steps`); ctl bit 0 picks the
//! read-only connection, bit 1 closes it after its frame. Each frame goes through `decode_frame`
//! and every message through `session::handle`, exactly as the server does. After every step:
//! - nothing panicked (a yrs panic caught by the crate's guard still aborts here, because
//!   libfuzzer-sys' panic hook aborts first: we want to see those too);
//! - the document still encodes, and that state decodes and applies into a fresh Doc;
//! - a read-only connection changed neither the state vector nor the delete set, and was
//!   never told to relay an update;
//! - every frame the handler produced for peers decodes with our own `decode_frame`;
//! - every update a writer sends is also checked here with `update_check::check_update` against
//!   the document: what it accepts yrs decodes without panic or stack overflow and nests within
//!   the limit by an independent measurement (`plait_fuzz::check_and_confirm`), and the handler
//!   never applies what it refuses;
//! - the document's state nests within the limit (`plait_fuzz::confirm_state`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_fuzz::{check_and_confirm, check_usable, confirm_state, split_steps};
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::session::{close, handle, DocState, Outgoing, Session};
use plait_protocol::update_check::DEFAULT_MAX_NESTING;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

fn check_frame_decodes(frame: &[u8], limits: &Limits, what: &str) {
    if let Err(e) = decode_frame(frame, limits) {
        panic!("{what} frame {frame:?} does not decode with our own decoder: {e}");
    }
}

/// The document nests within the default limit, and its state decodes into a fresh one.
fn check_state(state: &DocState) {
    confirm_state(&state.encode_state(), DEFAULT_MAX_NESTING);
    check_usable(state);
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut state = DocState::new(Doc::with_client_id(1));
    let mut writer = Session::new(false);
    let mut reader = Session::new(true);
    for step in split_steps(data) {
        // What a read-only step must not change: the blocks (state vector) and the deletions.
        // Not the encoded bytes: yrs encodes a subdocument's options from a fresh `HashMap`, so
        // two encodings of one unchanged document can list those keys in different orders.
        let before = step.read_only.then(|| state.doc().transact().snapshot());
        let session = if step.read_only {
            &mut reader
        } else {
            &mut writer
        };
        if let Ok(messages) = decode_frame(step.frame, &limits) {
            for msg in messages {
                let checked = match &msg {
                    Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u))
                        if !step.read_only =>
                    {
                        Some(check_and_confirm(u, DEFAULT_MAX_NESTING, state.doc()))
                    }
                    _ => None,
                };
                let handled = handle(&mut state, session, msg);
                if let (Some(Err(refused)), Ok(_)) = (&checked, &handled) {
                    panic!("the handler applied an update check_update refuses: {refused}");
                }
                // An error closes the connection in the server; model that.
                let Ok(out) = handled else {
                    if let Some(frame) = close(&mut state, session) {
                        check_frame_decodes(&frame, &limits, "close");
                    }
                    *session = Session::new(step.read_only);
                    break;
                };
                for o in out {
                    match o {
                        Outgoing::Update(u) => {
                            assert!(!step.read_only, "read-only session relayed an update");
                            Update::decode_v1(&u)
                                .unwrap_or_else(|e| panic!("relayed update does not decode: {e}"));
                        }
                        Outgoing::Reply(f) => check_frame_decodes(&f, &limits, "reply"),
                        Outgoing::Resync => {}
                        Outgoing::AwarenessChanged(ids) => {
                            if let Some(f) = state.awareness_frame(&ids) {
                                check_frame_decodes(&f, &limits, "awareness");
                            }
                        }
                    }
                }
            }
        }
        if step.close_after {
            if let Some(frame) = close(&mut state, session) {
                check_frame_decodes(&frame, &limits, "close");
            }
            *session = Session::new(step.read_only);
        }
        if let Some(snapshot) = before {
            assert!(
                state.doc().transact().snapshot() == snapshot,
                "read-only session changed the document"
            );
        }
        check_state(&state);
    }
});
