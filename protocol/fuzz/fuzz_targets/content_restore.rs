//! Fuzz target: `plait_content::restore` of one document state over another (issue 25).
//!
//! Input: `[n: u16 LE][current: n bytes][version: the rest]`. Each part is integrated into a
//! fresh `DocState` as a stored row (the server's checks: `check_update` at the stored limit,
//! round trip, clocks); an input either part of which the server would refuse is skipped, and
//! what is kept is each document's encoded state, as a live document and a stored version are.
//! Then `restore` on a scratch copy of the current state: never panics; a refusal leaves the
//! scratch copy byte for byte as it was; an accepted update passes `check_update` against a live
//! copy, applies there, after which every root of the live copy renders as the version's
//! (`render_field` in every format its kind takes, `render_all`, `plain_text`), and restoring
//! again writes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_content::{
    plain_text, render_all, render_field, restore, root_kind, scratch_doc_with_client, Format,
    RootKind,
};
use plait_protocol::session::DocState;
use plait_protocol::update_check::{check_update, MAX_NESTING_LIMIT};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// The state a document holds after the server integrated `update`, if it accepted it.
fn stored(update: &[u8]) -> Option<Vec<u8>> {
    let mut state = DocState::new(Doc::new());
    state.integrate_stored(update).ok()?;
    Some(state.encode_state())
}

fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (current, version) = rest.split_at(split);
    let (Some(current), Some(version)) = (stored(current), stored(version)) else {
        return;
    };
    let Ok(scratch) = scratch_doc_with_client(&current, 2) else {
        return;
    };
    let before = state(&scratch);
    let update = match restore(&scratch, &version) {
        Err(err) => {
            assert!(!err.to_string().is_empty());
            assert_eq!(
                state(&scratch),
                before,
                "refused ({err}) but the document changed"
            );
            return;
        }
        Ok(update) => update,
    };
    let live = scratch_doc_with_client(&current, 3).expect("the current state loads twice");
    check_update(&update, MAX_NESTING_LIMIT, &live)
        .unwrap_or_else(|e| panic!("the server's check refuses the restore: {e}"));
    live.transact_mut()
        .apply_update(Update::decode_v1(&update).expect("the restore decodes"))
        .expect("the restore applies");
    let want = scratch_doc_with_client(&version, 4).expect("the version loads");
    let (l, w) = (live.transact(), want.transact());
    let mut names: Vec<String> = l
        .root_refs()
        .chain(w.root_refs())
        .map(|(n, _)| n.to_owned())
        .collect();
    names.sort();
    names.dedup();
    for name in &names {
        let kind = root_kind(&w, name);
        assert_eq!(root_kind(&l, name), kind, "{name}: kind");
        let mut formats = vec![None, Some(Format::Json)];
        match kind {
            Some(RootKind::Text) => formats.extend([Some(Format::Delta), Some(Format::Text)]),
            Some(RootKind::XmlFragment) => {
                formats.extend([Some(Format::ProseMirror), Some(Format::Text)])
            }
            _ => {}
        }
        for format in formats {
            assert_eq!(
                render_field(&l, name, format),
                render_field(&w, name, format),
                "{name} as {format:?}"
            );
        }
    }
    assert_eq!(render_all(&l), render_all(&w));
    assert_eq!(plain_text(&l), plain_text(&w));
    drop((l, w));
    assert_eq!(
        restore(&scratch, &version).expect("restores again"),
        [0, 0],
        "restoring twice wrote something"
    );
});
