//! Shared pieces of the fuzz targets: the step format of `handle_message` and the seed frames.
//!
//! It exists so the targets and the corpus generator agree on one input format instead of each
//! re-deriving it.

use plait_protocol::frame::{encode_awareness, encode_step1, encode_update};
use yrs::sync::Awareness;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

/// Control bit: the frame goes to the read-only session (otherwise to the writer).
pub const CTL_READ_ONLY: u8 = 0b01;
/// Control bit: close that session after its frame, then start a fresh one in its place.
pub const CTL_CLOSE_AFTER: u8 = 0b10;

/// One step of a `handle_message` input: which session sends `frame`, and whether it then closes.
///
/// It exists so one flat fuzz input can describe a conversation of two connections.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub read_only: bool,
    pub close_after: bool,
    pub frame: &'a [u8],
}

/// Splits fuzz input into steps: `[ctl: u8][len: u16 LE][frame: len bytes]`, repeated. A length
/// running past the end takes what is left, so every input is some conversation.
pub fn split_steps(mut data: &[u8]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    while let Some((&ctl, rest)) = data.split_first() {
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (rest.len(), &[][..]),
        };
        let len = len.min(rest.len());
        let (frame, rest) = rest.split_at(len);
        steps.push(Step {
            read_only: ctl & CTL_READ_ONLY != 0,
            close_after: ctl & CTL_CLOSE_AFTER != 0,
            frame,
        });
        data = rest;
    }
    steps
}

/// Encodes steps in the format [`split_steps`] reads.
pub fn join_steps(steps: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctl, frame) in steps {
        out.push(*ctl);
        let len = u16::try_from(frame.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&frame[..usize::from(len)]);
    }
    out
}

/// Valid client frames the corpus starts from: step1, text inserts and deletes, and awareness.
pub fn seed_frames() -> Vec<(&'static str, Vec<u8>)> {
    let doc = Doc::with_client_id(42);
    let text = doc.get_or_insert_text("text");
    let empty_sv = StateVector::default();
    let insert = {
        let mut txn = doc.transact_mut();
        text.push(&mut txn, "hello world");
        txn.encode_update_v1()
    };
    let after_insert = doc.transact().state_vector();
    let delete = {
        let mut txn = doc.transact_mut();
        text.remove_range(&mut txn, 0, 6);
        txn.encode_update_v1()
    };
    let full = doc.transact().encode_state_as_update_v1(&empty_sv);

    let mut awareness = Awareness::new(Doc::with_client_id(7));
    awareness.set_local_state_raw(r##"{"user":{"name":"ann","color":"#f00"}}"##);
    let present = awareness.update().map(|u| encode_awareness(&u));
    awareness.clean_local_state();
    let gone = awareness.update().map(|u| encode_awareness(&u));

    let mut seeds = vec![
        ("step1_empty", encode_step1(&empty_sv)),
        ("step1_after_insert", encode_step1(&after_insert)),
        ("update_insert", encode_update(&insert)),
        ("update_delete", encode_update(&delete)),
        ("step2_full", plait_protocol::frame::encode_step2(&full)),
        ("query_awareness", vec![3]),
    ];
    if let Ok(frame) = present {
        seeds.push(("awareness_present", frame));
    }
    if let Ok(frame) = gone {
        seeds.push(("awareness_removed", frame));
    }
    seeds
}
