//! Fuzz target: `decode_frame` on arbitrary bytes.
//!
//! Checks that decoding never panics and that whatever it accepts round-trips: re-encoding every
//! message with yrs' `Encode::encode_v1` and decoding again gives the same messages, one by one
//! and all in one frame (so accepted input means what a yrs/Yjs peer would read from it).
//! Every update it carries also goes through `update_check::check_update`: what that accepts,
//! yrs decodes without panic or stack overflow, and nests within the limit by an independent
//! measurement (`plait_fuzz::check_and_confirm`). This target runs ~20 times faster than
//! `handle_message`, so it reaches the check's corners sooner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_fuzz::check_and_confirm;
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::update_check::DEFAULT_MAX_NESTING;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::Doc;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    // The check counts types from where a document holds their parents; here, an empty one.
    let empty = Doc::with_client_id(1);
    let Ok(messages) = decode_frame(data, &limits) else {
        return;
    };
    assert!(
        !messages.is_empty(),
        "an accepted frame holds at least one message"
    );
    let mut joined = Vec::new();
    for msg in &messages {
        if let Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) = msg {
            let _ = check_and_confirm(u, DEFAULT_MAX_NESTING, &empty);
        }
        let bytes = msg.encode_v1();
        let again = decode_frame(&bytes, &limits)
            .unwrap_or_else(|e| panic!("re-encoded {msg:?} no longer decodes: {e}"));
        assert_eq!(again, vec![msg.clone()], "single message round trip");
        joined.extend_from_slice(&bytes);
    }
    let again = decode_frame(&joined, &limits)
        .unwrap_or_else(|e| panic!("re-encoded frame no longer decodes: {e}"));
    assert_eq!(again, messages, "whole frame round trip");
});
