//! Property tests of `restore`: random documents (roots of every kind, nested shared types of
//! every kind, formatted texts with embeds, deletions) as the version and as the current
//! document, either independent or the version edited further, restore to equal content
//! (renderings and structure), on the scratch copy and on the live one, and restoring again
//! writes nothing.

mod common;

use std::collections::HashMap;

use plait_content::scratch_doc_with_client;
use proptest::prelude::*;
use yrs::Any;

use common::plan::{build, Plan, Root, TextOp, V, X};
use common::restoring::{restored, state};
use common::same::assert_same;

fn any_value() -> impl Strategy<Value = Any> {
    let leaf = prop_oneof![
        Just(Any::Null),
        Just(Any::Undefined),
        any::<bool>().prop_map(Any::from),
        (-1000i64..1000).prop_map(Any::from),
        prop_oneof![Just(1.5f64), Just(-0.0), Just(f64::NAN), Just(1e21)].prop_map(Any::from),
        "[a-zé中 ]{0,4}".prop_map(Any::from),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(Any::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Any::from),
            prop::collection::hash_map("[a-c]", inner, 0..3).prop_map(Any::from),
        ]
    })
}

fn attrs() -> impl Strategy<Value = Vec<(String, Any)>> {
    let value = prop_oneof![
        3 => Just(Any::Bool(true)),
        1 => Just(Any::Null),
        1 => any_value(),
    ];
    prop::collection::vec(
        (
            prop::sample::select(vec!["bold", "italic", "link", "comment--abcdefgh"]),
            value,
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        0..3,
    )
}

fn text_ops(value: BoxedStrategy<V>) -> impl Strategy<Value = Vec<TextOp>> {
    let op = prop_oneof![
        4 => (any::<u16>(), "[a-zé中 ]{1,6}", attrs()).prop_map(|(i, s, a)| TextOp::Insert(i, s, a)),
        1 => (any::<u16>(), any_value(), attrs()).prop_map(|(i, v, a)| TextOp::Embed(i, v, a)),
        1 => (any::<u16>(), value).prop_map(|(i, v)| TextOp::EmbedType(i, v)),
        2 => (any::<u16>(), 1u16..6, attrs()).prop_map(|(i, n, a)| TextOp::Format(i, n, a)),
        1 => (any::<u16>(), 1u16..4).prop_map(|(i, n)| TextOp::Delete(i, n)),
    ];
    prop::collection::vec(op, 0..10)
}

fn xml(value: BoxedStrategy<V>) -> impl Strategy<Value = X> {
    let text = text_ops(value.clone()).prop_map(X::Text);
    let leaf = prop_oneof![
        text,
        (
            prop::sample::select(vec!["p", "img"]),
            prop::collection::vec(("[a-c]", value.clone()), 0..3)
        )
            .prop_map(|(tag, attrs)| X::Element(tag.to_owned(), attrs, Vec::new())),
    ];
    leaf.prop_recursive(2, 12, 3, move |inner| {
        (
            prop::sample::select(vec!["paragraph", "blockquote", "listItem"]),
            prop::collection::vec(("[a-c]", value.clone()), 0..2),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(tag, attrs, children)| X::Element(tag.to_owned(), attrs, children))
    })
}

fn value() -> BoxedStrategy<V> {
    let leaf = any_value().prop_map(V::Any).boxed();
    leaf.prop_recursive(3, 16, 3, |inner| {
        let inner = inner.boxed();
        prop_oneof![
            prop::collection::vec(("[a-c]", inner.clone()), 0..3).prop_map(V::Map),
            prop::collection::vec(inner.clone(), 0..3).prop_map(V::Array),
            text_ops(inner.clone()).prop_map(V::Text),
            prop::collection::vec(xml(inner.clone()), 0..2).prop_map(V::Fragment),
            xml(inner).prop_map(V::Element),
        ]
    })
    .boxed()
}

fn root() -> impl Strategy<Value = Root> {
    let span = (any::<u16>(), 1u16..3);
    prop_oneof![
        text_ops(value()).prop_map(Root::Text),
        (
            prop::collection::vec(("[a-e]", value()), 0..7),
            prop::collection::vec("[a-d]", 0..2)
        )
            .prop_map(|(set, del)| Root::Map(set, del)),
        (
            prop::collection::vec((any::<u16>(), value()), 0..7),
            prop::collection::vec(span.clone(), 0..2)
        )
            .prop_map(|(ins, del)| Root::Array(ins, del)),
        (
            prop::collection::vec((any::<u16>(), xml(value())), 0..4),
            prop::collection::vec(span, 0..2)
        )
            .prop_map(|(ins, del)| Root::Fragment(ins, del)),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    prop::collection::vec(
        (prop::sample::select(vec!["a", "b", "c", "d"]), root()),
        0..7,
    )
}

const EMPTY_DOC: [u8; 2] = [0, 0];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_random_version_is_restored_over_an_independent_document(version in plan(), current in plan()) {
        let version = build(&EMPTY_DOC, 1, &version);
        let current = build(&EMPTY_DOC, 2, &current);
        let (live, _) = restored(&current, &version);
        assert_same(&scratch_doc_with_client(&version, 3).unwrap(), &live, "restored");
    }

    #[test]
    fn a_random_version_is_restored_over_its_own_later_edits(
        version in plan(),
        later in plan(),
        more in plan(),
    ) {
        let v1 = build(&EMPTY_DOC, 1, &version);
        let v2 = build(&v1, 2, &later);
        let v3 = build(&v2, 4, &more);
        let (live, _) = restored(&v3, &v1);
        assert_same(&scratch_doc_with_client(&v1, 3).unwrap(), &live, "restored to V1");
        // Undone: V2 restored over the restore.
        let (live, _) = restored(&state(&live), &v2);
        assert_same(&scratch_doc_with_client(&v2, 3).unwrap(), &live, "restored to V2");
    }
}

#[test]
fn a_text_holding_every_kind_of_item_is_restored_item_for_item() {
    let plan: Plan = vec![(
        "t",
        Root::Text(vec![
            TextOp::Insert(0, "abcdef".into(), vec![]),
            TextOp::Format(
                1,
                3,
                vec![("italic".into(), true.into()), ("bold".into(), true.into())],
            ),
            TextOp::Format(2, 1, vec![("italic".into(), Any::Null)]),
            TextOp::Embed(
                3,
                Any::from(HashMap::from([("img".to_owned(), Any::from("x"))])),
                vec![("link".into(), "u".into())],
            ),
            TextOp::EmbedType(
                5,
                V::Text(vec![TextOp::Insert(
                    0,
                    "inner".into(),
                    vec![("bold".into(), true.into())],
                )]),
            ),
        ]),
    )];
    let version = build(&EMPTY_DOC, 1, &plan);
    let (live, _) = restored(&build(&EMPTY_DOC, 2, &vec![]), &version);
    assert_same(
        &scratch_doc_with_client(&version, 3).unwrap(),
        &live,
        "text",
    );
}
