//! Fuzz target: the per-connection message handler on one document with two connections.
//!
//! Input: steps `[ctl][len u16 LE][frame]` (see `plait_fuzz::split_steps`); ctl bit 0 picks the
//! read-only connection, bit 1 closes it after its frame. Each frame goes through `decode_frame`
//! and every message through `session::handle`, exactly as the server does. After every step
//! `plait_fuzz::conversation::Conversation::step` checks the handler's invariants: no panic, a
//! state that encodes, decodes and nests within the limit, a read-only connection that changed
//! nothing and relayed nothing, peer frames that decode, and no update applied that
//! `update_check::check_update` refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_fuzz::conversation::Conversation;
use plait_fuzz::split_steps;
use plait_protocol::frame::{decode_frame, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut conversation = Conversation::default();
    for step in split_steps(data) {
        // An undecodable frame hands the handler nothing; the step's close and the checks
        // still run.
        let messages = decode_frame(step.frame, &limits).unwrap_or_default();
        conversation.step(&step, messages);
    }
});
