//! The golden fixtures: documents made by the real JavaScript libraries (Yjs, y-prosemirror,
//! Tiptap's schema; see `tests/js/content-fixtures.mjs`), loaded into yrs, must render exactly as
//! the JavaScript rendered them.

mod common;

use plait_content::{
    plain_text, render_all, render_field, root_kind, Format, RenderError, RootKind,
};
use serde_json::Value;
use yrs::Transact;

use common::fixtures;

#[test]
fn render_all_equals_the_javascript() {
    for fixture in fixtures() {
        let doc = fixture.doc();
        let txn = doc.transact();
        let got = Value::Object(render_all(&txn));
        assert_eq!(got, fixture.json["json"], "{}: render_all", fixture.name);
    }
}

#[test]
fn fragments_render_as_y_prosemirror() {
    let mut seen = 0;
    for fixture in fixtures() {
        let doc = fixture.doc();
        let txn = doc.transact();
        for (root, want) in fixture.entries("prosemirror") {
            let got = render_field(&txn, &root, Some(Format::ProseMirror)).unwrap();
            assert_eq!(got, want, "{}: {root}", fixture.name);
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} fragments");
}

#[test]
fn texts_render_as_yjs_deltas() {
    let mut seen = 0;
    for fixture in fixtures() {
        let doc = fixture.doc();
        let txn = doc.transact();
        for (root, want) in fixture.entries("text_delta") {
            let got = render_field(&txn, &root, Some(Format::Delta)).unwrap();
            assert_eq!(got, want, "{}: {root}", fixture.name);
            seen += 1;
        }
    }
    assert!(seen >= 3, "only {seen} texts");
}

#[test]
fn plain_text_matches_prosemirror_text_between() {
    for fixture in fixtures() {
        let doc = fixture.doc();
        let txn = doc.transact();
        for (root, want) in fixture.entries("plain_text") {
            let got = render_field(&txn, &root, Some(Format::Text)).unwrap();
            assert_eq!(got, want, "{}: {root}", fixture.name);
        }
        if let Some(want) = fixture.json.get("document_text") {
            assert_eq!(plain_text(&txn), *want, "{}: plain_text", fixture.name);
        }
    }
}

#[test]
fn kinds_are_inferred_from_content() {
    for fixture in fixtures() {
        let doc = fixture.doc();
        let txn = doc.transact();
        for (root, value) in fixture.entries("json") {
            let want = if fixture
                .entries("prosemirror")
                .iter()
                .any(|(r, _)| *r == root)
            {
                RootKind::XmlFragment
            } else {
                match value {
                    Value::String(_) => RootKind::Text,
                    Value::Array(_) => RootKind::Array,
                    _ => RootKind::Map,
                }
            };
            assert_eq!(
                root_kind(&txn, &root),
                Some(want),
                "{}: {root}",
                fixture.name
            );
        }
    }
}

#[test]
fn an_emptied_fragment_has_no_kind_but_renders_empty_in_any_format() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == "pm_emptied")
        .unwrap();
    let doc = fixture.doc();
    let txn = doc.transact();
    assert_eq!(root_kind(&txn, "default"), None);
    assert!(render_all(&txn).is_empty());
    assert_eq!(
        render_field(&txn, "default", None),
        Err(RenderError::NoSuchField {
            field: "default".into()
        })
    );
    let pm = render_field(&txn, "default", Some(Format::ProseMirror)).unwrap();
    assert_eq!(pm, fixture.json["prosemirror"]["default"]);
    assert_eq!(
        render_field(&txn, "default", Some(Format::Text)).unwrap(),
        ""
    );
    assert_eq!(
        render_field(&txn, "default", Some(Format::Delta)).unwrap(),
        serde_json::json!([])
    );
    assert_eq!(
        render_field(&txn, "default", Some(Format::Json)).unwrap(),
        Value::Null
    );
}

#[test]
fn json_of_a_fragment_is_its_prosemirror_json() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == "pm_marks")
        .unwrap();
    let doc = fixture.doc();
    let txn = doc.transact();
    let json = render_field(&txn, "default", Some(Format::Json)).unwrap();
    assert_eq!(json, fixture.json["json"]["default"]);
    assert_eq!(render_field(&txn, "default", None).unwrap(), json);
}
