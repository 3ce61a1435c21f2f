//! `restore` at its edges: refusals that leave the document unchanged, roots whose kind changed,
//! nesting a thousand levels deep on a worker's stack, and (ignored, run by hand in release) the
//! time it takes on a large document.

mod common;

use plait_content::{
    render_field, restore, scratch_doc, scratch_doc_with_client, Format, RestoreError, RootKind,
};
use serde_json::json;
use yrs::types::Attrs;
use yrs::{
    Any, Array, Doc, Map, MapPrelim, Text, Transact, WriteTxn, XmlElementPrelim, XmlFragment,
    XmlTextPrelim,
};

use common::restoring::{restored, state, EMPTY};
use common::same::assert_same;

fn built(client: u64, build: impl FnOnce(&mut yrs::TransactionMut)) -> Vec<u8> {
    let doc = scratch_doc_with_client(&EMPTY, client).unwrap();
    build(&mut doc.transact_mut());
    state(&doc)
}

#[test]
fn a_version_that_does_not_load_is_refused_and_nothing_changes() {
    let current = built(1, |txn| txn.get_or_insert_text("t").insert(txn, 0, "kept"));
    let doc = scratch_doc(&current).unwrap();
    for bad in [&[1u8, 2, 3][..], &[], &[0xff; 8]] {
        let err = restore(&doc, bad).unwrap_err();
        assert!(matches!(err, RestoreError::Version(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("the version does not load"),
            "{err}"
        );
        assert_eq!(state(&doc), current);
    }
}

#[test]
fn a_root_holding_another_kind_now_is_restored_as_the_version_holds_it() {
    let bold = Attrs::from([("bold".into(), Any::from(true))]);
    let version = built(1, |txn| {
        txn.get_or_insert_text("x")
            .insert_with_attributes(txn, 0, "was a text", bold);
        txn.get_or_insert_map("y").insert(txn, "k", 1);
        txn.get_or_insert_array("z").insert_range(txn, 0, [1, 2]);
    });
    let current = built(2, |txn| {
        let x = txn.get_or_insert_map("x");
        x.insert(txn, "now", "a map");
        let y = txn.get_or_insert_xml_fragment("y");
        let p = y.push_back(txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(txn, XmlTextPrelim::new("now a fragment"));
        txn.get_or_insert_text("z").insert(txn, 0, "now a text");
    });
    let (live, _) = restored(&current, &version);
    assert_same(&scratch_doc(&version).unwrap(), &live, "kinds changed back");
    let txn = live.transact();
    assert_eq!(
        render_field(&txn, "x", Some(Format::Delta)).unwrap(),
        json!([{"insert": "was a text", "attributes": {"bold": true}}])
    );
    assert_eq!(render_field(&txn, "y", None).unwrap(), json!({"k": 1}));
    assert_eq!(render_field(&txn, "z", None).unwrap(), json!([1, 2]));
}

#[test]
fn a_root_this_doc_declared_as_another_kind_is_refused() {
    let version = built(1, |txn| txn.get_or_insert_text("x").insert(txn, 0, "text"));
    let doc = scratch_doc(&EMPTY).unwrap();
    doc.get_or_insert_map("x")
        .insert(&mut doc.transact_mut(), "k", 1);
    let before = state(&doc);
    let err = restore(&doc, &version).unwrap_err();
    assert_eq!(
        err,
        RestoreError::KindConflict {
            root: "x".into(),
            declared: RootKind::Map,
            version: RootKind::Text
        }
    );
    assert!(err.to_string().contains("declared as a map"), "{err}");
    assert_eq!(state(&doc), before);
}

#[test]
fn a_subdocument_is_refused_where_it_would_be_written_and_kept_where_it_is_equal() {
    // Plait refuses subdocuments (`update_check`), so a stored version never holds one; a
    // version that does is refused rather than restored without it.
    let version = built(1, |txn| {
        let m = txn.get_or_insert_map("m");
        m.insert(txn, "sub", Doc::new());
    });
    let current = built(2, |txn| {
        txn.get_or_insert_map("m").insert(txn, "x", 1);
    });
    let doc = scratch_doc(&current).unwrap();
    let err = restore(&doc, &version).unwrap_err();
    assert!(
        matches!(&err, RestoreError::Unsupported { root, what } if root == "m" && what.contains("subdocument")),
        "{err:?}"
    );
    assert_eq!(state(&doc), current);
    // Unchanged, it needs no writing.
    let same = scratch_doc(&version).unwrap();
    assert_eq!(restore(&same, &version).unwrap(), EMPTY);
}

#[test]
fn a_busy_document_is_refused() {
    let version = built(1, |txn| txn.get_or_insert_text("t").insert(txn, 0, "v"));
    let doc = scratch_doc(&EMPTY).unwrap();
    let _reading = doc.transact();
    assert!(matches!(
        restore(&doc, &version),
        Err(RestoreError::Busy(_))
    ));
}

/// Found by the `content_restore` fuzz target (its first run): a fragment in a map whose text
/// "bold plain" has an item, " plain", whose left and right origins are the same item (the "d").
/// yrs integrates it after the "d" in the document but elsewhere in the marked copy, whose items
/// the restore reads; written from there the text would read "bol plaind". Such a text is
/// refused, and nothing changes.
#[test]
fn a_version_whose_text_items_contradict_their_origins_is_refused() {
    let hex: String = [
        "01157200270103786d6c08667261676d656e74040700720003044974656d8772010604007202056166746572",
        "28007201016201770374776f280072010161017c3fc0000028007201017a017601016f7d0128007201036172",
        "720175037d017e77017807007201060600720c067374726f6e67047472756586720d02656d177b22636c6173",
        "73223a2263222c226e223a31652b32317d84720e04626f6c64867212067374726f6e67046e756c6c86721302",
        "656d046e756c6cc4721272120620706c61696e86721403737570042261622284721b02207386721d03737570",
        "046e756c6c270103786d6c0474657874060400721f0a7374616e64616c6f6e65270103786d6c07656c656d65",
        "6e7403046c65616600",
    ]
    .concat();
    let version: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let doc = scratch_doc(&EMPTY).unwrap();
    let err = restore(&doc, &version).unwrap_err();
    assert_eq!(err, RestoreError::Unreadable { root: "xml".into() });
    assert_eq!(state(&doc), EMPTY);
}

fn on_a_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Shared types `levels` deep (as `update_check` counts them): blockquotes around a text in a
/// fragment, and maps around `text` in a map.
fn deep(client: u64, levels: usize, text: &'static str) -> Vec<u8> {
    built(client, |txn| {
        let fragment = txn.get_or_insert_xml_fragment("body");
        let mut element = fragment.push_back(txn, XmlElementPrelim::empty("blockquote"));
        for _ in 2..levels {
            element = element.push_back(txn, XmlElementPrelim::empty("blockquote"));
        }
        element
            .push_back(txn, XmlTextPrelim::new(""))
            .insert(txn, 0, text);
        let mut map = txn.get_or_insert_map("meta");
        for _ in 0..levels {
            map = map.insert(txn, "k", MapPrelim::default());
        }
        map.insert(txn, "leaf", text);
    })
}

#[test]
fn documents_a_thousand_levels_deep_are_restored_on_a_2_mib_stack() {
    let version = deep(1, 1000, "version");
    let current = deep(2, 1000, "current");
    let (v, c) = (version.clone(), current.clone());
    on_a_worker_stack(move || {
        let scratch = scratch_doc(&c).unwrap();
        let update = restore(&scratch, &v).unwrap();
        assert_eq!(restore(&scratch, &v).unwrap(), EMPTY);
        let live = scratch_doc_with_client(&c, 3).unwrap();
        common::restoring::apply(&live, &update);
        let txn = live.transact();
        assert_eq!(plait_content::plain_text(&txn), "version");
        let mut meta = render_field(&txn, "meta", None).unwrap();
        for _ in 0..1000 {
            meta = meta["k"].take();
        }
        assert_eq!(meta["leaf"], "version");
    });
    // The whole comparison (this file's own recursive helper) on a bigger stack.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let (live, _) = restored(&current, &version);
            assert_same(&scratch_doc(&version).unwrap(), &live, "deep");
        })
        .unwrap()
        .join()
        .unwrap();
}
