//! Random documents for the property tests: a [`Plan`] of edits (roots of every kind, nested
//! shared types of every kind, formatted texts with embeds, deletions) and [`build`], which
//! applies it with yrs' own editing calls, as an application would.

use std::sync::Arc;

use plait_content::{root_kind, scratch_doc_with_client, RootKind};
use yrs::block::{EmbedPrelim, ItemContent, Prelim};
use yrs::branch::BranchPtr;
use yrs::types::Attrs;
use yrs::{
    Any, Array, ArrayPrelim, ArrayRef, Map, MapPrelim, MapRef, Text, TextPrelim, Transact,
    TransactionMut, Xml, XmlElementPrelim, XmlElementRef, XmlFragment, XmlFragmentPrelim,
    XmlFragmentRef, XmlTextPrelim,
};

use super::restoring::state;

/// A value to put in a map, an array, an attribute or (types only) a text.
#[derive(Debug, Clone)]
pub enum V {
    Any(Any),
    Map(Vec<(String, V)>),
    Array(Vec<V>),
    Text(Vec<TextOp>),
    Fragment(Vec<X>),
    Element(X),
}

/// An edit of a text; positions and lengths are taken modulo what the text holds.
#[derive(Debug, Clone)]
pub enum TextOp {
    Insert(u16, String, Vec<(String, Any)>),
    Embed(u16, Any, Vec<(String, Any)>),
    EmbedType(u16, V),
    Format(u16, u16, Vec<(String, Any)>),
    Delete(u16, u16),
}

/// A child of an XML fragment or element.
#[derive(Debug, Clone)]
pub enum X {
    Element(String, Vec<(String, V)>, Vec<X>),
    Text(Vec<TextOp>),
}

/// What is done to one root; deletions come after the insertions.
#[derive(Debug, Clone)]
pub enum Root {
    Text(Vec<TextOp>),
    Map(Vec<(String, V)>, Vec<String>),
    Array(Vec<(u16, V)>, Vec<(u16, u16)>),
    Fragment(Vec<(u16, X)>, Vec<(u16, u16)>),
}

pub type Plan = Vec<(&'static str, Root)>;

/// A prelim embedded in a text as a shared type (yrs only converts JSON-like values itself).
struct Embedded<P>(P);

impl<P: Prelim> Prelim for Embedded<P> {
    type Return = P::Return;

    fn into_content(self, txn: &mut TransactionMut) -> (ItemContent, Option<Self>) {
        let (content, rest) = self.0.into_content(txn);
        (content, rest.map(Embedded))
    }

    fn integrate(self, txn: &mut TransactionMut, inner_ref: BranchPtr) {
        self.0.integrate(txn, inner_ref)
    }
}

impl<P: Prelim> From<Embedded<P>> for EmbedPrelim<Embedded<P>> {
    fn from(e: Embedded<P>) -> Self {
        EmbedPrelim::Shared(e)
    }
}

fn to_attrs(pairs: &[(String, Any)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| (Arc::from(k.as_str()), v.clone()))
        .collect()
}

fn text_edit<T: Text>(txn: &mut TransactionMut, text: &T, ops: &[TextOp]) {
    for op in ops {
        let len = text.len(txn);
        let at = |i: &u16| u32::from(*i) % (len + 1);
        match op {
            TextOp::Insert(i, s, a) if a.is_empty() => text.insert(txn, at(i), s),
            TextOp::Insert(i, s, a) => text.insert_with_attributes(txn, at(i), s, to_attrs(a)),
            TextOp::Embed(i, v, a) => {
                text.insert_embed_with_attributes(txn, at(i), v.clone(), to_attrs(a));
            }
            TextOp::EmbedType(i, v) => {
                let i = at(i);
                match v {
                    V::Any(any) => {
                        text.insert_embed(txn, i, any.clone());
                    }
                    V::Map(entries) => {
                        let m = text.insert_embed(txn, i, Embedded(MapPrelim::default()));
                        map_edit(txn, &m, entries);
                    }
                    V::Array(values) => {
                        let a = text.insert_embed(txn, i, Embedded(ArrayPrelim::default()));
                        for v in values {
                            let n = a.len(txn);
                            put_in_array(txn, &a, n, v);
                        }
                    }
                    V::Text(ops) => {
                        let t = text.insert_embed(txn, i, Embedded(TextPrelim::new("")));
                        text_edit(txn, &t, ops);
                    }
                    V::Fragment(children) => {
                        let f = text.insert_embed(txn, i, Embedded(XmlFragmentPrelim::default()));
                        fragment_edit(txn, &f, children);
                    }
                    V::Element(x) => {
                        let e = text.insert_embed(txn, i, Embedded(XmlElementPrelim::empty("em")));
                        if let X::Element(_, attrs, children) = x {
                            element_edit(txn, &e, attrs, children);
                        }
                    }
                }
            }
            TextOp::Format(i, n, a) => {
                let i = at(i);
                let n = u32::from(*n).min(len - i);
                if n > 0 {
                    text.format(txn, i, n, to_attrs(a));
                }
            }
            TextOp::Delete(i, n) => {
                let i = at(i);
                let n = u32::from(*n).min(len - i);
                if n > 0 {
                    text.remove_range(txn, i, n);
                }
            }
        }
    }
}

fn map_edit(txn: &mut TransactionMut, map: &MapRef, entries: &[(String, V)]) {
    for (key, v) in entries {
        let key = key.as_str();
        match v {
            V::Any(any) => {
                map.insert(txn, key, any.clone());
            }
            V::Map(e) => {
                let m = map.insert(txn, key, MapPrelim::default());
                map_edit(txn, &m, e);
            }
            V::Array(values) => {
                let a = map.insert(txn, key, ArrayPrelim::default());
                for v in values {
                    let n = a.len(txn);
                    put_in_array(txn, &a, n, v);
                }
            }
            V::Text(ops) => {
                let t = map.insert(txn, key, TextPrelim::new(""));
                text_edit(txn, &t, ops);
            }
            V::Fragment(children) => {
                let f = map.insert(txn, key, XmlFragmentPrelim::default());
                fragment_edit(txn, &f, children);
            }
            V::Element(x) => {
                let e = map.insert(txn, key, XmlElementPrelim::empty("in-map"));
                if let X::Element(_, attrs, children) = x {
                    element_edit(txn, &e, attrs, children);
                }
            }
        }
    }
}

fn put_in_array(txn: &mut TransactionMut, array: &ArrayRef, i: u32, v: &V) {
    match v {
        V::Any(any) => {
            array.insert(txn, i, any.clone());
        }
        V::Map(e) => {
            let m = array.insert(txn, i, MapPrelim::default());
            map_edit(txn, &m, e);
        }
        V::Array(values) => {
            let a = array.insert(txn, i, ArrayPrelim::default());
            for v in values {
                let n = a.len(txn);
                put_in_array(txn, &a, n, v);
            }
        }
        V::Text(ops) => {
            let t = array.insert(txn, i, TextPrelim::new(""));
            text_edit(txn, &t, ops);
        }
        V::Fragment(children) => {
            let f = array.insert(txn, i, XmlFragmentPrelim::default());
            fragment_edit(txn, &f, children);
        }
        V::Element(x) => {
            let e = array.insert(txn, i, XmlElementPrelim::empty("in-array"));
            if let X::Element(_, attrs, children) = x {
                element_edit(txn, &e, attrs, children);
            }
        }
    }
}

fn put_xml<F: XmlFragment>(txn: &mut TransactionMut, parent: &F, i: u32, x: &X) {
    match x {
        X::Element(tag, attrs, children) => {
            let e = parent.insert(txn, i, XmlElementPrelim::empty(tag.as_str()));
            element_edit(txn, &e, attrs, children);
        }
        X::Text(ops) => {
            let t = parent.insert(txn, i, XmlTextPrelim::new(""));
            text_edit(txn, &t, ops);
        }
    }
}

fn element_edit(
    txn: &mut TransactionMut,
    e: &XmlElementRef,
    attrs: &[(String, V)],
    children: &[X],
) {
    for (key, v) in attrs {
        match v {
            V::Any(any) => {
                e.insert_attribute(txn, key.as_str(), any.clone());
            }
            // A shared type as an attribute value (Yjs allows it): a map.
            other => {
                let m = e.insert_attribute(txn, key.as_str(), MapPrelim::default());
                map_edit(txn, &m, &[("v".to_owned(), other.clone())]);
            }
        }
    }
    fragment_edit(txn, e, children);
}

fn fragment_edit<F: XmlFragment>(txn: &mut TransactionMut, f: &F, children: &[X]) {
    for x in children {
        let n = f.len(txn);
        put_xml(txn, f, n, x);
    }
}

/// `plan` applied to the document `base` holds (one transaction per root, as separate edits).
pub fn build(base: &[u8], client: u64, plan: &Plan) -> Vec<u8> {
    let doc = scratch_doc_with_client(base, client).unwrap();
    for (name, root) in plan {
        let mut txn = doc.transact_mut();
        // A root edited as another kind than it holds would mix items yrs' own edits cannot
        // handle (a text's deletion panics on an array's values). Restoring over a root of
        // another kind is still covered: the version and the current document differ there.
        let kind = match root {
            Root::Text(_) => RootKind::Text,
            Root::Map(..) => RootKind::Map,
            Root::Array(..) => RootKind::Array,
            Root::Fragment(..) => RootKind::XmlFragment,
        };
        if root_kind(&txn, name).is_some_and(|k| k != kind) {
            continue;
        }
        match root {
            Root::Text(ops) => {
                let text = yrs::WriteTxn::get_or_insert_text(&mut txn, *name);
                text_edit(&mut txn, &text, ops);
            }
            Root::Map(set, del) => {
                let map = yrs::WriteTxn::get_or_insert_map(&mut txn, *name);
                map_edit(&mut txn, &map, set);
                for key in del {
                    map.remove(&mut txn, key);
                }
            }
            Root::Array(ins, del) => {
                let array = yrs::WriteTxn::get_or_insert_array(&mut txn, *name);
                for (i, v) in ins {
                    let i = u32::from(*i) % (array.len(&txn) + 1);
                    put_in_array(&mut txn, &array, i, v);
                }
                for (i, n) in del {
                    let len = array.len(&txn);
                    let i = u32::from(*i) % (len + 1);
                    let n = u32::from(*n).min(len - i);
                    if n > 0 {
                        array.remove_range(&mut txn, i, n);
                    }
                }
            }
            Root::Fragment(ins, del) => {
                let f: XmlFragmentRef = yrs::WriteTxn::get_or_insert_xml_fragment(&mut txn, *name);
                for (i, x) in ins {
                    let i = u32::from(*i) % (f.len(&txn) + 1);
                    put_xml(&mut txn, &f, i, x);
                }
                for (i, n) in del {
                    let len = f.len(&txn);
                    let i = u32::from(*i) % (len + 1);
                    let n = u32::from(*n).min(len - i);
                    if n > 0 {
                        f.remove_range(&mut txn, i, n);
                    }
                }
            }
        }
    }
    state(&doc)
}
