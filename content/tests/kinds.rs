//! Kind inference on documents loaded from an update, whose roots carry no type.

use plait_content::{render_field, root_kind, scratch_doc_with_client, RootKind};
use serde_json::json;
use yrs::types::Attrs;
use yrs::{
    Any, Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, WriteTxn,
    XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

/// `build`'s document as a server loads it: through its encoded state, roots untyped.
fn loaded(build: impl FnOnce(&mut yrs::TransactionMut)) -> Doc {
    let doc = Doc::with_client_id(1);
    build(&mut doc.transact_mut());
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    scratch_doc_with_client(&state, 2).unwrap()
}

#[test]
fn texts_arrays_maps_and_fragments_are_told_apart() {
    let doc = loaded(|txn| {
        txn.get_or_insert_text("emoji").insert(txn, 0, "😀 first");
        let embed = txn.get_or_insert_text("embed");
        embed.insert_embed(txn, 0, Any::from("an embed"));
        embed.insert(txn, 1, "text");
        txn.get_or_insert_array("strings")
            .insert_range(txn, 0, ["😀", "b"]);
        txn.get_or_insert_array("long_string")
            .insert_range(txn, 0, ["abc"]);
        txn.get_or_insert_array("numbers")
            .insert_range(txn, 0, [1, 2]);
        txn.get_or_insert_map("map").insert(txn, "k", "v");
        let fragment = txn.get_or_insert_xml_fragment("text_only");
        fragment.insert(txn, 0, XmlTextPrelim::new("top"));
        let fragment = txn.get_or_insert_xml_fragment("elements");
        fragment.insert(txn, 0, XmlElementPrelim::empty("p"));
        let formatted = txn.get_or_insert_text("formatted");
        formatted.insert_with_attributes(txn, 0, "bold", Attrs::from([("b".into(), true.into())]));
        let gone = txn.get_or_insert_array("gone");
        gone.insert(txn, 0, 1);
        gone.remove(txn, 0);
    });
    let txn = doc.transact();
    let cases = [
        ("emoji", Some(RootKind::Text)),
        ("embed", Some(RootKind::Text)),
        ("strings", Some(RootKind::Array)),
        ("long_string", Some(RootKind::Array)),
        ("numbers", Some(RootKind::Array)),
        ("map", Some(RootKind::Map)),
        ("text_only", Some(RootKind::XmlFragment)),
        ("elements", Some(RootKind::XmlFragment)),
        ("formatted", Some(RootKind::Text)),
        ("gone", None),
        ("absent", None),
    ];
    for (name, want) in cases {
        assert_eq!(root_kind(&txn, name), want, "{name}");
    }
    assert_eq!(
        render_field(&txn, "strings", None).unwrap(),
        json!(["😀", "b"])
    );
    assert_eq!(
        render_field(&txn, "emoji", None).unwrap(),
        json!("😀 first")
    );
    assert_eq!(
        render_field(&txn, "text_only", None).unwrap(),
        json!({"type": "doc", "content": [[{"type": "text", "text": "top"}]]})
    );
}

#[test]
fn a_root_defined_in_this_doc_keeps_its_type() {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text("t");
    let txn = doc.transact();
    assert_eq!(root_kind(&txn, "t"), Some(RootKind::Text));
    assert_eq!(text.get_string(&txn), "");
    assert_eq!(render_field(&txn, "t", None).unwrap(), json!(""));
}
