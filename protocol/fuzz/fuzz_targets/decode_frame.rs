//! Fuzz target: `decode_frame` on arbitrary bytes.
//!
//! Checks that decoding never panics and that whatever it accepts round-trips: re-encoding every
//! message with yrs' `Encode::encode_v1` and decoding again gives the same messages, one by one
//! and all in one frame (so accepted input means what a yrs/Yjs peer would read from it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_protocol::frame::{decode_frame, Limits};
use yrs::updates::encoder::Encode;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(messages) = decode_frame(data, &limits) else {
        return;
    };
    assert!(
        !messages.is_empty(),
        "an accepted frame holds at least one message"
    );
    let mut joined = Vec::new();
    for msg in &messages {
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
