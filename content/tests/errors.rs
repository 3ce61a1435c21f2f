//! Refused edits and renders: the exact messages (they reach users as HTTP 400 bodies), and an
//! unchanged document after every refused edit.

use plait_content::{
    render_field, replace_field, scratch_doc_with_client, EditError, Format, RenderError, MAX_DEPTH,
};
use serde_json::{json, Value};
use yrs::{Doc, ReadTxn, StateVector, Transact};

/// A document with a text "title", a map "meta", an array "list" and a fragment "body".
fn doc() -> Doc {
    let doc = scratch_doc_with_client(
        &Doc::new()
            .transact()
            .encode_state_as_update_v1(&StateVector::default()),
        9,
    )
    .unwrap();
    replace_field(&doc, "title", &json!("Title")).unwrap();
    replace_field(&doc, "meta", &json!({"k": 1})).unwrap();
    replace_field(&doc, "list", &json!([1])).unwrap();
    let body = json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]});
    replace_field(&doc, "body", &body).unwrap();
    doc
}

fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// Asserts that writing `value` into `field` fails with `message` and changes nothing.
fn refused(field: &str, value: Value, message: &str) -> EditError {
    let doc = doc();
    let before = state(&doc);
    let err = replace_field(&doc, field, &value).expect_err(message);
    assert_eq!(err.to_string(), message);
    assert_eq!(state(&doc), before, "the document changed: {message}");
    err
}

fn pm(content: Value) -> Value {
    json!({"type": "doc", "content": content})
}

#[test]
fn values_that_do_not_fit_the_field() {
    refused(
        "body",
        json!("text"),
        "field \"body\" holds an xmlfragment (a ProseMirror document); a string does not fit it (an xmlfragment (a ProseMirror document) takes an object with \"type\": \"doc\")",
    );
    refused("title", pm(json!([])), "field \"title\" holds a text; a ProseMirror document does not fit it (a text takes a string)");
    refused(
        "meta",
        json!([1]),
        "field \"meta\" holds a map; an array does not fit it (a map takes an object)",
    );
    refused(
        "list",
        json!({"a": 1}),
        "field \"list\" holds an array; an object does not fit it (an array takes an array)",
    );
    refused(
        "list",
        json!(3),
        "field \"list\" holds an array; a number does not fit it (an array takes an array)",
    );
    let err = refused(
        "new",
        Value::Null,
        "null cannot be the content of field \"new\": send a string (text), an array, an object (map) or a ProseMirror document (an object with \"type\": \"doc\")",
    );
    assert_eq!(
        err,
        EditError::NotContent {
            field: "new".into(),
            found: "null"
        }
    );
    refused("new", json!(true), "a boolean cannot be the content of field \"new\": send a string (text), an array, an object (map) or a ProseMirror document (an object with \"type\": \"doc\")");
}

#[test]
fn malformed_prosemirror_documents_name_the_path() {
    let para = |content: Value| json!({"type": "paragraph", "content": content});
    let cases = [
        (json!({"type": "page"}), "document: the top-level node must have \"type\": \"doc\""),
        (json!({"type": "doc", "content": {}}), "document: \"content\" is not an array"),
        (pm(json!([1])), "content[0]: a node must be an object"),
        (pm(json!([{"content": []}])), "content[0]: node without a string \"type\""),
        (pm(json!([{"type": 5}])), "content[0]: node without a string \"type\""),
        (pm(json!([{"type": ""}])), "content[0]: node with an empty \"type\""),
        (pm(json!([{"type": "text", "text": "x"}])), "content[0]: a text node cannot be a direct child of the document (put it in a block such as a paragraph)"),
        (pm(json!([para(json!("x"))])), "content[0]: \"content\" is not an array"),
        (pm(json!([para(json!([])), para(json!([{"type": "text"}]))])), "content[1].content[0]: text node without a string \"text\""),
        (pm(json!([para(json!([{"type": "text", "text": ""}]))])), "content[0].content[0]: empty text node (ProseMirror allows none)"),
        (pm(json!([para(json!([{"type": "text", "text": "a", "content": []}]))])), "content[0].content[0]: a text node cannot have \"content\""),
        (pm(json!([{"type": "heading", "attrs": [1]}])), "content[0]: \"attrs\" is not an object"),
        (pm(json!([para(json!([{"type": "text", "text": "a", "marks": {}}]))])), "content[0].content[0]: \"marks\" is not an array"),
        (pm(json!([para(json!([{"type": "text", "text": "a", "marks": ["bold"]}]))])), "content[0].content[0].marks[0]: a mark must be an object"),
        (
            pm(json!([para(json!([para(json!([])), para(json!([{"type": "text", "text": "a", "marks": [{"type": "bold"}, {"attrs": {}}]}]))]))])),
            "content[0].content[1].content[0].marks[1]: mark without a string \"type\"",
        ),
        (pm(json!([para(json!([{"type": "text", "text": "a", "marks": [{"type": ""}]}]))])), "content[0].content[0].marks[0]: mark with an empty \"type\""),
        (pm(json!([para(json!([{"type": "text", "text": "a", "marks": [{"type": "link", "attrs": "x"}]}]))])), "content[0].content[0].marks[0]: mark \"attrs\" is not an object"),
        (pm(json!([{"type": "image", "marks": [{"type": 1}]}])), "content[0].marks[0]: mark without a string \"type\""),
    ];
    for (value, message) in cases {
        refused("body", value.clone(), message);
        // The same into a new field, whose kind the value decides.
        if value["type"] == "doc" {
            refused("fresh", value, message);
        }
    }
}

#[test]
fn nesting_is_bounded() {
    // MAX_DEPTH nodes below the document are fine, one more is not.
    let nested = |levels: usize| {
        let mut node = json!({"type": "text", "text": "deep"});
        for _ in 1..levels {
            node = json!({"type": "blockquote", "content": [node]});
        }
        pm(json!([node]))
    };
    let doc = doc();
    replace_field(&doc, "body", &nested(MAX_DEPTH)).unwrap();
    let path = format!("content[0]{}", ".content[0]".repeat(MAX_DEPTH));
    let err = refused(
        "body",
        nested(MAX_DEPTH + 1),
        &format!("{path}: nested deeper than 200 levels"),
    );
    assert_eq!(err, EditError::TooDeep { path });

    let mut value = json!(1);
    for _ in 0..MAX_DEPTH {
        value = json!([value]);
    }
    // A map's entry values and an array's items are level 1: here the 200 arrays wrapped in
    // "b" reach level 201 at the innermost one, the scalar wrapped in an item at level 201 too.
    refused(
        "meta",
        json!({"a": {"b": value.clone()}}),
        &format!(
            "a.b{}: nested deeper than 200 levels",
            "[0]".repeat(MAX_DEPTH - 1)
        ),
    );
    refused(
        "list",
        json!([value]),
        &format!(
            "{}: nested deeper than 200 levels",
            "[0]".repeat(MAX_DEPTH + 1)
        ),
    );
    replace_field(&doc, "list", &json!(value[0].clone())).unwrap();
}

#[test]
fn formats_that_do_not_fit_and_absent_fields() {
    let doc = doc();
    let txn = doc.transact();
    let cases = [
        ("title", Format::ProseMirror, "field \"title\" is a text, which cannot be rendered as prosemirror: a text renders as text, delta or json"),
        ("meta", Format::Text, "field \"meta\" is a map, which cannot be rendered as text: a map or an array renders as json only"),
        ("list", Format::Delta, "field \"list\" is an array, which cannot be rendered as delta: a map or an array renders as json only"),
        ("body", Format::Delta, "field \"body\" is an xmlfragment (a ProseMirror document), which cannot be rendered as delta: an xmlfragment renders as prosemirror, text or json"),
    ];
    for (field, format, message) in cases {
        let err = render_field(&txn, field, Some(format)).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert!(matches!(err, RenderError::FormatDoesNotFit { .. }));
    }
    let err = render_field(&txn, "nope", None).unwrap_err();
    assert_eq!(
        err,
        RenderError::NoSuchField {
            field: "nope".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "the document has no field \"nope\" (or it holds nothing); ask for a format to get that format's empty value"
    );
    assert_eq!(
        render_field(&txn, "nope", Some(Format::ProseMirror)).unwrap(),
        pm(json!([]))
    );
}

#[test]
fn format_names() {
    for format in [
        Format::ProseMirror,
        Format::Text,
        Format::Delta,
        Format::Json,
    ] {
        assert_eq!(format.as_str().parse::<Format>(), Ok(format));
    }
    assert_eq!(
        "html".parse::<Format>().unwrap_err().to_string(),
        "unknown format \"html\": expected one of prosemirror, text, delta, json"
    );
    let long = "x".repeat(100);
    assert_eq!(
        long.parse::<Format>().unwrap_err().to_string(),
        format!(
            "unknown format \"{}…\": expected one of prosemirror, text, delta, json",
            "x".repeat(40)
        )
    );
}
