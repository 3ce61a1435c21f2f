//! `restore` on the golden fixtures (documents made by Yjs, y-prosemirror and Tiptap's schema):
//! a document edited away from a fixture is restored to it, renders exactly as the fixture
//! (all formats, and the JavaScript's own renderings), holds nested shared types where the
//! fixture does, and restoring again writes nothing. Then undo by restoring the later version,
//! and an offline client merging its edits.

mod common;

use plait_content::{render_field, restore, scratch_doc, scratch_doc_with_client, Format};
use serde_json::Value;
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Array, ArrayPrelim, Doc, GetString, Map, MapPrelim, ReadTxn, Text, TextPrelim, Transact,
    Update, WriteTxn, Xml, XmlElementPrelim, XmlFragment, XmlOut, XmlTextPrelim,
};

use common::restoring::{apply, restored, state, EMPTY};
use common::same::assert_same;
use common::{fixtures, Fixture};

fn attrs(pairs: &[(&str, Any)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| (std::sync::Arc::from(*k), v.clone()))
        .collect()
}

/// `state` edited in three steps per root (each its own transaction, as three edits of a
/// browser would be), plus a root the original lacks.
fn edited(state_v1: &[u8]) -> Vec<u8> {
    let doc = scratch_doc_with_client(state_v1, 0xE0).unwrap();
    let roots: Vec<(String, Option<plait_content::RootKind>)> = {
        let txn = doc.transact();
        let names: Vec<String> = txn.root_refs().map(|(n, _)| n.to_owned()).collect();
        names
            .into_iter()
            .map(|n| {
                let kind = plait_content::root_kind(&txn, &n);
                (n, kind)
            })
            .collect()
    };
    use plait_content::RootKind::*;
    for (name, kind) in roots {
        match kind {
            Some(Text) => {
                let text = doc.get_or_insert_text(name.as_str());
                let mut txn = doc.transact_mut();
                text.insert_with_attributes(&mut txn, 0, "new ", attrs(&[("bold", true.into())]));
                drop(txn);
                let mut txn = doc.transact_mut();
                if text.len(&txn) > 8 {
                    text.remove_range(&mut txn, 5, 2);
                }
                drop(txn);
                let mut txn = doc.transact_mut();
                let len = text.len(&txn).min(6);
                text.format(&mut txn, 1, len - 1, attrs(&[("italic", true.into())]));
                text.insert_embed(&mut txn, 0, Any::from("embedded"));
            }
            Some(Map) => {
                let map = doc.get_or_insert_map(name.as_str());
                map.insert(&mut doc.transact_mut(), "extra", 1);
                let first = map.keys(&doc.transact()).next().map(str::to_owned);
                if let Some(first) = first {
                    map.remove(&mut doc.transact_mut(), &first);
                }
                let mut txn = doc.transact_mut();
                let nested = map.insert(&mut txn, "nested", MapPrelim::default());
                nested.insert(&mut txn, "t", TextPrelim::new("inner"));
            }
            Some(Array) => {
                let array = doc.get_or_insert_array(name.as_str());
                array.push_back(&mut doc.transact_mut(), 42);
                let mut txn = doc.transact_mut();
                if array.len(&txn) > 1 {
                    array.remove(&mut txn, 0);
                }
                drop(txn);
                let mut txn = doc.transact_mut();
                let nested = array.insert(&mut txn, 0, ArrayPrelim::default());
                nested.push_back(&mut txn, "x");
            }
            Some(XmlFragment) | None => {
                let fragment = doc.get_or_insert_xml_fragment(name.as_str());
                {
                    let mut txn = doc.transact_mut();
                    let p = fragment.insert(&mut txn, 0, XmlElementPrelim::empty("paragraph"));
                    p.push_back(&mut txn, XmlTextPrelim::new("added first"));
                }
                let mut txn = doc.transact_mut();
                let len = fragment.len(&txn);
                if len > 2 {
                    fragment.remove_range(&mut txn, len - 1, 1);
                }
                drop(txn);
                let mut txn = doc.transact_mut();
                if let Some(XmlOut::Element(block)) = fragment.get(&txn, 1) {
                    block.insert_attribute(&mut txn, "level", 9);
                    if let Some(XmlOut::Text(text)) = block.get(&txn, 0) {
                        text.insert(&mut txn, 0, "typed ");
                    }
                }
            }
        }
    }
    doc.get_or_insert_text("added")
        .insert(&mut doc.transact_mut(), 0, "not in the version");
    state(&doc)
}

/// The fixture's own JavaScript renderings, on `doc`.
fn renders_as_the_javascript(fixture: &Fixture, doc: &Doc) {
    let txn = doc.transact();
    let all = Value::Object(plait_content::render_all(&txn));
    assert_eq!(all, fixture.json["json"], "{}: render_all", fixture.name);
    for (root, want) in fixture.entries("prosemirror") {
        let got = render_field(&txn, &root, Some(Format::ProseMirror)).unwrap();
        assert_eq!(got, want, "{}: {root} as ProseMirror", fixture.name);
    }
    for (root, want) in fixture.entries("text_delta") {
        let got = render_field(&txn, &root, Some(Format::Delta)).unwrap();
        assert_eq!(got, want, "{}: {root} as delta", fixture.name);
    }
    for (root, want) in fixture.entries("plain_text") {
        let got = render_field(&txn, &root, Some(Format::Text)).unwrap();
        assert_eq!(got, want, "{}: {root} as text", fixture.name);
    }
}

#[test]
fn every_fixture_is_restored_over_content_edited_away_from_it() {
    for fixture in fixtures() {
        let version = fixture.update();
        let current = edited(&version);
        let (live, update) = restored(&current, &version);
        assert_ne!(update, EMPTY, "{}: nothing written", fixture.name);
        assert_same(&fixture.doc(), &live, &fixture.name);
        renders_as_the_javascript(&fixture, &live);
        assert!(
            !Value::Object(plait_content::render_all(&live.transact()))
                .to_string()
                .contains("not in the version"),
            "{}: a root the version lacks was not emptied",
            fixture.name
        );
    }
}

#[test]
fn every_fixture_is_restored_over_every_other_fixture() {
    let all = fixtures();
    for fixture in &all {
        for other in &all {
            let (live, _) = restored(&other.update(), &fixture.update());
            assert_same(
                &fixture.doc(),
                &live,
                &format!("{} over {}", fixture.name, other.name),
            );
            renders_as_the_javascript(fixture, &live);
        }
    }
}

#[test]
fn restoring_the_current_state_writes_nothing() {
    for fixture in fixtures() {
        let doc = scratch_doc(&fixture.update()).unwrap();
        assert_eq!(
            restore(&doc, &fixture.update()).unwrap(),
            EMPTY,
            "{}",
            fixture.name
        );
    }
}

#[test]
fn a_restore_is_undone_by_restoring_the_version_before_it() {
    let v1 = fixtures()
        .into_iter()
        .find(|f| f.name == "y_several_roots")
        .unwrap();
    let v2 = edited(&v1.update());
    let (live, _) = restored(&v2, &v1.update());
    assert_same(&v1.doc(), &live, "restored to V1");
    let v2_doc = scratch_doc(&v2).unwrap();
    let (live, _) = restored(&state(&live), &v2);
    assert_same(&v2_doc, &live, "restored back to V2");
}

#[test]
fn an_offline_client_merges_its_edits_into_a_restore_in_either_order() {
    let v1 = fixtures()
        .into_iter()
        .find(|f| f.name == "y_several_roots")
        .unwrap();
    let v2 = edited(&v1.update());
    // B was synced to V2, then edits offline.
    let b = scratch_doc_with_client(&v2, 0xB).unwrap();
    let before = b.transact().state_vector();
    {
        let title = b.get_or_insert_text("title");
        let body = b.get_or_insert_xml_fragment("body");
        let meta = b.get_or_insert_map("meta");
        let mut txn = b.transact_mut();
        title.insert(&mut txn, 2, "B typed ");
        let p = body.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new("B's paragraph"));
        meta.insert(&mut txn, "from_b", true);
    }
    let b_update = b.transact().encode_state_as_update_v1(&before);
    // Meanwhile the server restores V1.
    let server = scratch_doc(&v2).unwrap();
    let r = restore(&server, &v1.update()).unwrap();

    let one = scratch_doc_with_client(&v2, 0x21).unwrap();
    apply(&one, &r);
    apply(&one, &b_update);
    let two = scratch_doc_with_client(&v2, 0x22).unwrap();
    apply(&two, &b_update);
    apply(&two, &r);
    apply(&b, &r);
    for (doc, what) in [(&two, "B first"), (&b, "B's own copy")] {
        assert_same(&one, doc, what);
        assert_eq!(
            one.transact().state_vector(),
            doc.transact().state_vector(),
            "{what}"
        );
    }
    let txn = one.transact();
    let title = render_field(&txn, "title", None).unwrap();
    assert!(title.as_str().unwrap().contains("B typed "), "{title}");
    let body = render_field(&txn, "body", Some(Format::Text)).unwrap();
    assert!(body.as_str().unwrap().contains("B's paragraph"), "{body}");
    assert_eq!(render_field(&txn, "meta", None).unwrap()["from_b"], true);
}

#[test]
fn the_update_is_a_plain_yjs_update_for_a_fresh_replica() {
    for fixture in fixtures() {
        let current = edited(&fixture.update());
        let scratch = scratch_doc(&current).unwrap();
        let update = restore(&scratch, &fixture.update()).unwrap();
        // A replica decoded from the live state, with yrs' default options (formatting cleanup
        // on, as a browser has it), and one built by merging the updates offline.
        let replica = Doc::new();
        apply(&replica, &current);
        apply(&replica, &update);
        let merged = yrs::merge_updates_v1([current.as_slice(), update.as_slice()]).unwrap();
        let from_merged = scratch_doc_with_client(&merged, 3).unwrap();
        for doc in [&replica, &from_merged] {
            assert_same(&fixture.doc(), doc, &fixture.name);
        }
    }
}

#[test]
fn paragraphs_the_version_shares_are_kept_and_an_offline_edit_in_them_survives() {
    let doc = Doc::with_client_id(1);
    let body = doc.get_or_insert_xml_fragment("body");
    {
        let mut txn = doc.transact_mut();
        for i in 0..5 {
            let p = body.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new(format!("paragraph {i}")));
        }
    }
    let v1 = state(&doc);
    {
        let mut txn = doc.transact_mut();
        body.remove_range(&mut txn, 2, 1);
        let p = body.insert(&mut txn, 2, XmlElementPrelim::empty("heading"));
        p.push_back(&mut txn, XmlTextPrelim::new("changed"));
    }
    let v2 = state(&doc);
    let b = scratch_doc_with_client(&v2, 0xB).unwrap();
    let before = b.transact().state_vector();
    {
        let body = b.get_or_insert_xml_fragment("body");
        let mut txn = b.transact_mut();
        if let Some(XmlOut::Element(p)) = body.get(&txn, 0) {
            if let Some(XmlOut::Text(t)) = p.get(&txn, 0) {
                t.insert(&mut txn, 0, "B: ");
            }
        }
    }
    let b_update = b.transact().encode_state_as_update_v1(&before);
    let (live, update) = restored(&v2, &v1);
    // One block deleted and one written: the update holds the new paragraph and its text only.
    let decoded = Update::decode_v1(&update).unwrap();
    assert_eq!(
        decoded.state_vector().iter().map(|(_, c)| *c).sum::<u32>(),
        2 + "paragraph 2".len() as u32
    );
    apply(&live, &b_update);
    let text = render_field(&live.transact(), "body", Some(Format::Text)).unwrap();
    assert_eq!(
        text,
        "B: paragraph 0\nparagraph 1\nparagraph 2\nparagraph 3\nparagraph 4"
    );
}

#[test]
fn nested_types_of_every_kind_are_restored_as_shared_types() {
    let doc = Doc::with_client_id(1);
    {
        let mut txn = doc.transact_mut();
        let map = txn.get_or_insert_map("config");
        let text = map.insert(&mut txn, "text", TextPrelim::new(""));
        text.insert_with_attributes(
            &mut txn,
            0,
            "styled",
            attrs(&[("italic", true.into()), ("bold", true.into())]),
        );
        text.insert_embed(
            &mut txn,
            3,
            Any::from(std::collections::HashMap::from([(
                "k".to_owned(),
                Any::from(1),
            )])),
        );
        let array = map.insert(&mut txn, "array", ArrayPrelim::default());
        array.push_back(&mut txn, Any::Null);
        let inner = array.push_back(&mut txn, MapPrelim::default());
        inner.insert(&mut txn, "deep", ArrayPrelim::from([1, 2]));
        let xml = array.push_back(&mut txn, yrs::XmlFragmentPrelim::default());
        let element = xml.push_back(&mut txn, XmlElementPrelim::empty("img"));
        element.insert_attribute(&mut txn, "width", 640);
        element.insert_attribute(
            &mut txn,
            "meta",
            Any::from(std::collections::HashMap::from([(
                "a".to_owned(),
                Any::from(true),
            )])),
        );
        let xt = element.push_back(&mut txn, XmlTextPrelim::new(""));
        xt.insert_with_attributes(
            &mut txn,
            0,
            "caption",
            attrs(&[(
                "code",
                Any::from(std::collections::HashMap::<String, Any>::new()),
            )]),
        );
        let list = txn.get_or_insert_array("list");
        list.push_back(&mut txn, TextPrelim::new("a text in an array"));
        list.insert_range(
            &mut txn,
            1,
            [Any::from(1.5), Any::from(f64::NAN), Any::from(vec![1u8, 2])],
        );
        let t = txn.get_or_insert_text("with_types");
        t.insert(&mut txn, 0, "ab");
        t.insert_embed(
            &mut txn,
            1,
            MapPrelim::from([("inside".to_owned(), Any::from("text"))]),
        );
    }
    let version = state(&doc);
    {
        let mut txn = doc.transact_mut();
        let map = txn.get_or_insert_map("config");
        // A JSON value that renders like the nested text: the structure check must see it.
        map.insert(&mut txn, "text", "styled");
        map.remove(&mut txn, "array");
        txn.get_or_insert_array("list").remove_range(&mut txn, 0, 2);
        let t = txn.get_or_insert_text("with_types");
        t.remove_range(&mut txn, 0, 1);
    }
    let (live, _) = restored(&state(&doc), &version);
    assert_same(&scratch_doc(&version).unwrap(), &live, "nested");
    let txn = live.transact();
    let config = txn.get_map("config").unwrap();
    assert!(
        matches!(config.get(&txn, "text"), Some(yrs::Out::YText(t)) if t.get_string(&txn) == "styled")
    );
}
