//! Property tests: random ProseMirror documents and JSON values written with `replace_field`
//! render back as written (after ProseMirror's normalization), and any JSON at all is either
//! written and renderable or refused with the document unchanged.

use plait_content::{render_field, replace_field, scratch_doc_with_client, Format};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

fn empty_doc(client: u64) -> Doc {
    scratch_doc_with_client(
        &Doc::new()
            .transact()
            .encode_state_as_update_v1(&StateVector::default()),
        client,
    )
    .unwrap()
}

// ---- random ProseMirror documents ----

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|i| json!(i)),
        any::<i32>().prop_map(|i| json!(i as f64 + 0.25)),
        "[a-z0-9 é]{0,6}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn attr_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::btree_map("[a-z]{1,3}", scalar(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
    ]
}

fn attrs() -> impl Strategy<Value = Option<Map<String, Value>>> {
    prop::option::of(
        prop::collection::btree_map("[a-zA-Z]{1,6}", attr_value(), 0..4)
            .prop_map(|m| m.into_iter().collect()),
    )
}

fn mark() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["bold", "italic", "link", "comment", "code"]),
        attrs(),
    )
        .prop_map(|(name, attrs)| {
            let mut mark = json!({"type": name});
            if let Some(attrs) = attrs {
                mark["attrs"] = Value::Object(attrs);
            }
            mark
        })
}

fn text_node() -> impl Strategy<Value = Value> {
    (
        "[a-zé中😀 \n]{1,6}",
        prop::option::of(prop::collection::vec(mark(), 0..4)),
    )
        .prop_map(|(text, marks)| {
            let mut node = json!({"type": "text", "text": text});
            if let Some(marks) = marks {
                node["marks"] = Value::Array(marks);
            }
            node
        })
}

fn element(children: impl Strategy<Value = Vec<Value>>) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "paragraph",
            "heading",
            "listItem",
            "bulletList",
            "image",
            "x-y",
        ]),
        attrs(),
        children,
    )
        .prop_map(|(name, attrs, content)| {
            let mut node = json!({"type": name});
            if let Some(attrs) = attrs {
                node["attrs"] = Value::Object(attrs);
            }
            if !content.is_empty() || name == "heading" {
                node["content"] = Value::Array(content);
            }
            node
        })
}

fn node() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![3 => text_node(), 1 => element(Just(Vec::new()))];
    leaf.prop_recursive(4, 40, 5, |inner| {
        element(prop::collection::vec(inner, 0..5))
    })
}

fn pm_doc() -> impl Strategy<Value = Value> {
    let block = prop_oneof![
        element(prop::collection::vec(node(), 0..5)),
        element(Just(Vec::new()))
    ];
    prop::collection::vec(block, 0..5)
        .prop_map(|content| json!({"type": "doc", "content": content}))
}

/// What y-prosemirror would write for `value` after ProseMirror read it, as it renders back.
fn normalize(value: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), value["type"].clone());
    if value["type"] == "text" {
        out.insert("text".into(), value["text"].clone());
        let mut marks: Vec<Value> = Vec::new();
        for mark in value["marks"].as_array().into_iter().flatten() {
            let attrs = match &mark["attrs"] {
                Value::Object(a) => Value::Object(a.clone()),
                _ => json!({}),
            };
            let mark = json!({"type": mark["type"], "attrs": attrs});
            if !marks.contains(&mark) {
                marks.push(mark);
            }
        }
        if !marks.is_empty() {
            out.insert("marks".into(), Value::Array(marks));
        }
        return Value::Object(out);
    }
    if let Some(attrs) = value["attrs"].as_object() {
        let attrs: Map<String, Value> = attrs
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !attrs.is_empty() && value["type"] != "doc" {
            out.insert("attrs".into(), Value::Object(attrs));
        }
    }
    let mut content: Vec<Value> = Vec::new();
    for child in value["content"].as_array().into_iter().flatten() {
        let child = normalize(child);
        if let Some(last) = content.last_mut() {
            if last["type"] == "text"
                && child["type"] == "text"
                && last.get("marks") == child.get("marks")
            {
                last["text"] = Value::String(format!(
                    "{}{}",
                    last["text"].as_str().unwrap(),
                    child["text"].as_str().unwrap()
                ));
                continue;
            }
        }
        content.push(child);
    }
    if !content.is_empty() || value["type"] == "doc" {
        out.insert("content".into(), Value::Array(content));
    }
    Value::Object(out)
}

// ---- random JSON ----

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("a non-integral finite number", |f| f.is_finite()
                && f.fract() != 0.0)
            .prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,5}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON with ProseMirror's vocabulary in random places, to reach every refusal.
fn garbage() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec!["type", "content", "text", "marks", "attrs", "x"]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec!["doc", "text", "paragraph", "", "bold", "--abcdefgh"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

fn garbage_doc() -> impl Strategy<Value = Value> {
    garbage().prop_map(|content| json!({"type": "doc", "content": content}))
}

/// A document with content of every kind.
fn busy_doc() -> Doc {
    let doc = empty_doc(5);
    replace_field(&doc, "title", &json!("Title")).unwrap();
    replace_field(&doc, "meta", &json!({"k": [1, 2]})).unwrap();
    replace_field(&doc, "list", &json!([1, "x"])).unwrap();
    let body = json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi", "marks": [{"type": "bold"}, {"type": "italic"}]}]}]});
    replace_field(&doc, "body", &body).unwrap();
    doc
}

fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn prosemirror_documents_render_back(doc in pm_doc()) {
        let ydoc = empty_doc(1);
        replace_field(&ydoc, "default", &doc).unwrap();
        let got = render_field(&ydoc.transact(), "default", Some(Format::ProseMirror)).unwrap();
        prop_assert_eq!(got, normalize(&doc));
    }

    #[test]
    fn a_document_replaced_renders_as_the_last_one_here_and_where_the_updates_go(first in pm_doc(), second in pm_doc()) {
        let scratch = empty_doc(2);
        let live = empty_doc(3);
        for doc in [&first, &second] {
            let update = replace_field(&scratch, "body", doc).unwrap();
            live.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        }
        let want = normalize(&second);
        prop_assert_eq!(render_field(&scratch.transact(), "body", Some(Format::ProseMirror)).unwrap(), want.clone());
        prop_assert_eq!(render_field(&live.transact(), "body", Some(Format::ProseMirror)).unwrap(), want);
    }

    #[test]
    fn json_maps_arrays_and_strings_render_back(
        map in prop::collection::btree_map("\\PC{0,6}", json_value(), 0..6),
        array in prop::collection::vec(json_value(), 0..6),
        text in "\\PC{0,30}",
    ) {
        let doc = busy_doc();
        let map = Value::Object(map.into_iter().collect());
        let array = Value::Array(array);
        replace_field(&doc, "meta", &map).unwrap();
        replace_field(&doc, "list", &array).unwrap();
        replace_field(&doc, "title", &json!(text)).unwrap();
        let txn = doc.transact();
        prop_assert_eq!(render_field(&txn, "meta", None).unwrap(), map);
        prop_assert_eq!(render_field(&txn, "list", None).unwrap(), array);
        prop_assert_eq!(render_field(&txn, "title", None).unwrap(), json!(text));
        let delta = if text.is_empty() { json!([]) } else { json!([{"insert": text}]) };
        prop_assert_eq!(render_field(&txn, "title", Some(Format::Delta)).unwrap(), delta);
    }

    #[test]
    fn any_json_is_written_or_refused_without_a_trace(
        value in prop_oneof![garbage(), garbage_doc(), json_value()],
        field in prop::sample::select(vec!["body", "title", "meta", "list", "new"]),
    ) {
        let doc = busy_doc();
        let before = state(&doc);
        match replace_field(&doc, field, &value) {
            Ok(update) => {
                prop_assert!(Update::decode_v1(&update).is_ok());
                prop_assert!(render_field(&doc.transact(), field, None).is_ok());
            }
            Err(err) => {
                prop_assert!(!err.to_string().is_empty());
                prop_assert_eq!(state(&doc), before);
            }
        }
    }
}
