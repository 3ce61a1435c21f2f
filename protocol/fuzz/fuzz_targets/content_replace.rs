//! Fuzz target: `plait_content::replace_field` with arbitrary JSON (the body of an HTTP edit).
//!
//! The bytes are read with `serde_json::from_slice` (as the server reads a body); JSON that does
//! not parse is skipped. The value is written into each field of a document holding a text, a
//! map, an array and a ProseMirror fragment, and into a new field. For each: no panic; a refusal
//! leaves the document's state byte for byte as it was; an accepted value gives an update that
//! `check_update` accepts at the stored limit against the live copy, that applies there, and
//! after which both copies render the field (`render_field`, `render_all`, `plain_text`) alike.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plait_content::{
    plain_text, render_all, render_field, replace_field, root_kind, scratch_doc_with_client,
};
use plait_protocol::update_check::{check_update, MAX_NESTING_LIMIT};
use serde_json::{json, Value};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

const FIELDS: [&str; 5] = ["body", "title", "meta", "list", "new"];

/// The starting state: one field of each kind, with formatting in the fragment.
fn base_state() -> &'static [u8] {
    static STATE: OnceLock<Vec<u8>> = OnceLock::new();
    STATE.get_or_init(|| {
        let doc = scratch_doc_with_client(&[0, 0], 1).expect("the empty update loads");
        let body = json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Title"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "bold italic", "marks": [{"type": "bold"}, {"type": "italic"}]},
                {"type": "text", "text": " link", "marks": [{"type": "link", "attrs": {"href": "https://x.test"}}]}
            ]}
        ]});
        for (field, value) in [
            ("body", body),
            ("title", json!("A title")),
            ("meta", json!({"k": [1, 2.5, "x"]})),
            ("list", json!([1, {"a": null}])),
        ] {
            replace_field(&doc, field, &value).expect("the base document is valid");
        }
        state(&doc)
    })
}

fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for field in FIELDS {
        let scratch = scratch_doc_with_client(base_state(), 2).expect("base state loads");
        match replace_field(&scratch, field, &value) {
            Err(err) => {
                assert!(!err.to_string().is_empty());
                assert_eq!(
                    state(&scratch),
                    base_state(),
                    "refused ({err}) but the document changed"
                );
            }
            Ok(update) => {
                let live = scratch_doc_with_client(base_state(), 3).expect("base state loads");
                check_update(&update, MAX_NESTING_LIMIT, &live).unwrap_or_else(|e| {
                    panic!("the server's check refuses the edit of {field}: {e}")
                });
                let decoded = Update::decode_v1(&update).expect("the update decodes");
                live.transact_mut()
                    .apply_update(decoded)
                    .expect("the update applies");
                let (s, l) = (scratch.transact(), live.transact());
                let got = render_field(&s, field, None).expect("a written field renders");
                match root_kind(&l, field) {
                    Some(_) => {
                        assert_eq!(render_field(&l, field, None).expect("renders live"), got)
                    }
                    // Written empty: nothing in the live copy tells the kind (the scratch copy
                    // defined its root), so the scratch copy must render an empty value.
                    None => {
                        let empty = [
                            json!(""),
                            json!([]),
                            json!({}),
                            json!({"type": "doc", "content": []}),
                        ];
                        assert!(
                            empty.contains(&got),
                            "{field} renders {got} but holds nothing"
                        );
                        assert!(!render_all(&l).contains_key(field));
                    }
                }
                assert_eq!(
                    render_all(&l),
                    render_all(&s)
                        .into_iter()
                        .filter(|(k, _)| root_kind(&l, k).is_some())
                        .collect()
                );
                let _ = plain_text(&l);
            }
        }
    }
});
