//! Shared pieces of the fuzz targets: the step format of `handle_message` and
//! `hocuspocus_frame`, the conversation both drive through the handler ([`conversation`]), the
//! seed frames, the plan format of the structure-aware targets ([`plan`]) and the nesting
//! oracles ([`measure`], [`check_and_confirm`]).
//!
//! It exists so the targets and the corpus generator agree on one input format instead of each
//! re-deriving it.

pub mod conversation;
pub mod measure;
pub mod plan;

use measure::{measure, JSON_DEPTH_CAP};
use plait_protocol::frame::{encode_awareness, encode_step1, encode_update};
use plait_protocol::hocuspocus;
use plait_protocol::session::DocState;
use plait_protocol::update_check::{check_update, Checked, MAX_NESTING_LIMIT, SUBDOCUMENT_REFUSED};
use plait_protocol::ProtocolError;
use yrs::encoding::write::Write;
use yrs::sync::Awareness;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

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

/// The document address of the Hocuspocus seeds.
pub const HOCUSPOCUS_ADDRESS: &str = "notes";
/// The same document with a session id: a 4.x provider's address with `sessionAwareness`.
const HOCUSPOCUS_SESSION_ADDRESS: &str = "notes\0k3j4";

/// A frame as `@hocuspocus/provider` writes it: address, message type, then the body's bytes.
pub fn hocuspocus_frame(address: &str, kind: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_string(address);
    out.write_var(kind);
    out.extend_from_slice(body);
    out
}

/// Valid `@hocuspocus/provider` frames the `hocuspocus_frame` corpus starts from: Auth Token
/// (4.x, with its version, and 3.x), every [`seed_frames`] message for a document and for a
/// session address, a step 1 and an update as SyncReply, Stateless, Close and the 4.x Pong.
pub fn hocuspocus_seed_frames() -> Vec<(String, Vec<u8>)> {
    let token = |version: Option<&str>| {
        let mut body = vec![0];
        body.write_string("secret-token");
        if let Some(version) = version {
            body.write_string(version);
        }
        hocuspocus_frame(HOCUSPOCUS_ADDRESS, hocuspocus::kind::AUTH, &body)
    };
    let mut seeds = vec![
        ("auth_token_4x".to_owned(), token(Some("4.8.0"))),
        ("auth_token_3x".to_owned(), token(None)),
    ];
    for (name, frame) in seed_frames() {
        seeds.push((
            name.to_owned(),
            hocuspocus::wrap(HOCUSPOCUS_ADDRESS, &frame),
        ));
        seeds.push((
            format!("session_{name}"),
            hocuspocus::wrap(HOCUSPOCUS_SESSION_ADDRESS, &frame),
        ));
        // SyncReply: a sync message under type 4 instead of 0.
        if name == "step1_empty" || name == "update_insert" {
            seeds.push((
                format!("sync_reply_{name}"),
                hocuspocus_frame(
                    HOCUSPOCUS_ADDRESS,
                    hocuspocus::kind::SYNC_REPLY,
                    &frame[1..],
                ),
            ));
        }
    }
    seeds.extend([
        (
            "stateless".to_owned(),
            hocuspocus::stateless(HOCUSPOCUS_ADDRESS, r#"{"event":"hello"}"#),
        ),
        (
            "close".to_owned(),
            hocuspocus_frame(HOCUSPOCUS_ADDRESS, hocuspocus::kind::CLOSE, &[]),
        ),
        ("pong".to_owned(), vec![hocuspocus::kind::PONG]),
    ]);
    seeds
}

/// Nesting limits the structure-aware targets pick from (by a selector byte): the default, the
/// edges around it, tiny ones (where almost everything is refused) and the largest allowed.
pub const LIMITS: [usize; 16] = [
    128,
    128,
    128,
    127,
    129,
    0,
    1,
    2,
    3,
    8,
    64,
    1000,
    MAX_NESTING_LIMIT,
    128,
    16,
    500,
];

/// `check_update` of `update` for `doc`, then, if it accepted it:
/// - yrs' own `Update::decode_v1` reads it without panicking or overflowing the stack (called
///   here without the crate's `catch_unwind` guard, which a stack overflow would pass anyway);
/// - the independent measurement ([`measure`]) reads it too whenever yrs does, finds no value
///   nested deeper than `max_depth`, no type deeper than the check said (the measurement
///   counts a parent outside the update as a root; the check, from where `doc` holds it), and
///   no subdocument (yrs 0.28.1 frees a deleted one while still using it: a heap
///   use-after-free);
/// - values parsed from JSON strings (not checked by us) stay within serde_json's limit.
///
/// If it refused the update for holding a subdocument, the update holds one: its bytes name
/// content 9 in some item (the check stops there, before the subdocument's options, which may
/// nest too deep for the measurement's recursive readers, so that is all this can confirm).
///
/// Returns what the check said, for the caller's own comparisons.
pub fn check_and_confirm(
    update: &[u8],
    max_depth: usize,
    doc: &Doc,
) -> Result<Checked, ProtocolError> {
    let checked = match check_update(update, max_depth, doc) {
        Ok(checked) => checked,
        Err(refused) => {
            if refused.to_string().contains(SUBDOCUMENT_REFUSED) {
                assert!(
                    update.iter().any(|&b| b & 0b1111 == 9),
                    "refused for a subdocument, but no byte could name content 9"
                );
            }
            return Err(refused);
        }
    };
    let decoded = Update::decode_v1(update);
    match measure(update) {
        Ok(depths) => {
            assert!(
                depths.values.max(depths.options) <= max_depth,
                "check_update accepted a value nested {depths:?}, limit {max_depth}"
            );
            assert!(
                depths.types <= checked.type_depth,
                "check_update bounded the types at {} deep, they nest {}",
                checked.type_depth,
                depths.types
            );
            assert!(
                depths.json <= JSON_DEPTH_CAP,
                "a JSON string nested {} deep decoded",
                depths.json
            );
            assert!(
                depths.subdocs == 0,
                "check_update accepted {} subdocuments",
                depths.subdocs
            );
        }
        Err(e) => assert!(
            decoded.is_err(),
            "yrs decodes an accepted update that its own readers fail on: {e}"
        ),
    }
    Ok(checked)
}

/// Checks a document's full state (as `encode_state` gives it) against `max_depth`: nothing in
/// the document nests deeper, whatever path it came in by.
pub fn confirm_state(state: &[u8], max_depth: usize) {
    let depths = measure(state)
        .unwrap_or_else(|e| panic!("the document's own encoding does not read back: {e}"));
    assert!(
        depths.values <= max_depth && depths.types <= max_depth,
        "the document holds {depths:?}, limit {max_depth}"
    );
    assert!(
        depths.json <= JSON_DEPTH_CAP,
        "the document holds JSON nested {} deep",
        depths.json
    );
    // check_update takes no subdocument.
    assert!(
        depths.subdocs == 0,
        "the document holds {} subdocuments",
        depths.subdocs
    );
}

/// The document's state decodes and applies to a fresh document.
pub fn check_usable(state: &DocState) {
    let encoded = state.encode_state();
    let update = Update::decode_v1(&encoded)
        .unwrap_or_else(|e| panic!("encoded state does not decode: {e}"));
    let fresh = Doc::new();
    fresh
        .transact_mut()
        .apply_update(update)
        .unwrap_or_else(|e| panic!("encoded state does not apply to a fresh doc: {e}"));
}

/// The update deleting everything a document holds: each client's clocks from 0 to its state.
pub fn delete_everything(state: &DocState) -> Vec<u8> {
    let sv = state.doc().transact().state_vector();
    let mut clients: Vec<(u64, u32)> = sv.iter().map(|(c, clock)| (c.get(), *clock)).collect();
    clients.sort_unstable();
    let mut bytes = vec![0];
    plan::write_var(&mut bytes, clients.len() as u64);
    for (client, clock) in clients {
        plan::write_var(&mut bytes, client);
        plan::write_var(&mut bytes, 1);
        plan::write_var(&mut bytes, 0);
        plan::write_var(&mut bytes, u64::from(clock));
    }
    bytes
}
