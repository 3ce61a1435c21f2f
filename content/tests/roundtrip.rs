//! Writing the fixtures' ProseMirror documents back: `replace_field` then `render_field` gives
//! the document again, in an empty document, over different content, and on a copy of the
//! document the update is sent to (the server's path: edit a scratch copy, apply its update to
//! the live document).

mod common;

use plait_content::{
    render_all, render_field, replace_field, scratch_doc_with_client, Format, RootKind,
};
use serde_json::{json, Value};
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Transact, Update};

use common::{fixtures, normalize_pm, prosemirror_docs};

/// The fixtures whose ProseMirror JSON is writable: all but the one built with Yjs alone, whose
/// top-level XmlText and embeds are not ProseMirror nodes.
fn writable() -> Vec<(String, String, Value)> {
    let docs: Vec<_> = prosemirror_docs()
        .into_iter()
        .filter(|(name, _, _)| name != "y_xml_embed")
        .collect();
    assert!(docs.len() >= 10);
    docs
}

fn empty_doc() -> yrs::Doc {
    scratch_doc_with_client(
        &yrs::Doc::new()
            .transact()
            .encode_state_as_update_v1(&StateVector::default()),
        7,
    )
    .unwrap()
}

#[test]
fn fixtures_written_into_an_empty_document_render_back() {
    for (name, root, pm) in writable() {
        let doc = empty_doc();
        let update = replace_field(&doc, &root, &pm).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!update.is_empty());
        let txn = doc.transact();
        let got = render_field(&txn, &root, Some(Format::ProseMirror)).unwrap();
        assert_eq!(got, normalize_pm(&pm), "{name}: {root}");
        assert_eq!(
            plait_content::root_kind(&txn, &root),
            Some(RootKind::XmlFragment)
        );
    }
}

#[test]
fn fixtures_written_over_other_content_render_back_and_the_update_carries_it() {
    let others = fixtures();
    for (i, (name, root, pm)) in writable().into_iter().enumerate() {
        // Another fixture's document, with this root's name given to its fragment if it has one.
        let base = &others[(i + 3) % others.len()];
        let state = base.update();
        let scratch = scratch_doc_with_client(&state, 1000 + i as u64).unwrap();
        let live = scratch_doc_with_client(&state, 2000 + i as u64).unwrap();
        let before: Vec<(String, Value)> = render_all(&live.transact()).into_iter().collect();

        let update = replace_field(&scratch, &root, &pm);
        let kind_before = plait_content::root_kind(&live.transact(), &root);
        match kind_before {
            Some(kind) if kind != RootKind::XmlFragment => {
                // A field of another kind refuses the document (see tests/errors.rs).
                assert!(
                    update.is_err(),
                    "{name} over {}: {root} is a {kind}",
                    base.name
                );
                continue;
            }
            _ => {}
        }
        let update = update.unwrap_or_else(|e| panic!("{name} over {}: {e}", base.name));
        live.transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();

        let want = normalize_pm(&pm);
        for doc in [&scratch, &live] {
            let txn = doc.transact();
            let got = render_field(&txn, &root, Some(Format::ProseMirror)).unwrap();
            assert_eq!(got, want, "{name} over {}", base.name);
        }
        // Every other root is untouched.
        let after = render_all(&live.transact());
        for (other, value) in before {
            if other != root {
                assert_eq!(
                    after.get(&other),
                    Some(&value),
                    "{name} over {}: {other}",
                    base.name
                );
            }
        }
    }
}

#[test]
fn rewriting_the_same_document_twice_renders_it_once() {
    let (_, root, pm) = writable()
        .into_iter()
        .find(|(n, _, _)| n == "pm_marks")
        .unwrap();
    let doc = empty_doc();
    replace_field(&doc, &root, &pm).unwrap();
    replace_field(&doc, &root, &pm).unwrap();
    assert_eq!(
        render_field(&doc.transact(), &root, None).unwrap(),
        normalize_pm(&pm)
    );
}

#[test]
fn maps_arrays_and_texts_round_trip() {
    let doc = empty_doc();
    let map = json!({"a": 1, "b": [1.5, "x", null, {"c": true}], "d": {"e": -3}});
    let array = json!([1, "two", {"three": 3}, [4], null, false]);
    replace_field(&doc, "m", &map).unwrap();
    replace_field(&doc, "a", &array).unwrap();
    replace_field(&doc, "t", &json!("héllo 😀")).unwrap();
    let txn = doc.transact();
    assert_eq!(render_field(&txn, "m", None).unwrap(), map);
    assert_eq!(render_field(&txn, "a", None).unwrap(), array);
    assert_eq!(render_field(&txn, "t", None).unwrap(), json!("héllo 😀"));
    assert_eq!(
        render_field(&txn, "t", Some(Format::Delta)).unwrap(),
        json!([{"insert": "héllo 😀"}])
    );
    drop(txn);

    // Replacing keeps the kind and drops the old content.
    replace_field(&doc, "m", &json!({"z": 0})).unwrap();
    replace_field(&doc, "a", &json!([])).unwrap();
    replace_field(&doc, "t", &json!("")).unwrap();
    let txn = doc.transact();
    assert_eq!(render_field(&txn, "m", None).unwrap(), json!({"z": 0}));
    // Emptied; the kind is still known here, where `replace_field` defined the root.
    assert_eq!(render_field(&txn, "a", None).unwrap(), json!([]));
    assert_eq!(
        render_field(&txn, "t", Some(Format::Text)).unwrap(),
        json!("")
    );
}

#[test]
fn a_formatted_text_is_replaced_by_plain_text() {
    let fixture = fixtures().into_iter().find(|f| f.name == "y_text").unwrap();
    let doc = fixture.doc();
    replace_field(&doc, "text", &json!("plain")).unwrap();
    let txn = doc.transact();
    assert_eq!(
        render_field(&txn, "text", Some(Format::Delta)).unwrap(),
        json!([{"insert": "plain"}])
    );
}
