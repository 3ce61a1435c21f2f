//! Yjs' `toString()` of XML types, which is what their `toJSON()` gives: how an XML type nested
//! in a map or an array renders (the same JSON a browser's `map.toJSON()` shows).

use yrs::branch::BranchPtr;
use yrs::types::text::YChange;
use yrs::types::TypeRef;
use yrs::{Any, GetString, Out, ReadTxn, Text, TextRef, Xml, XmlElementRef};

use crate::js::{js_less, js_string};

/// `toString()` of an XmlElement, XmlFragment or XmlText.
pub(crate) fn xml_string<T: ReadTxn>(txn: &T, branch: BranchPtr) -> String {
    let mut out = String::new();
    write_type(txn, branch, &mut out);
    out
}

fn write_type<T: ReadTxn>(txn: &T, branch: BranchPtr, out: &mut String) {
    match branch.type_ref() {
        TypeRef::XmlElement(name) => {
            // `<${nodeName.toLocaleLowerCase()}${attrs}>${children}</${nodeName}>`, attributes
            // sorted by key, each `key="${String(value)}"` without escaping.
            let name = name.to_lowercase();
            let mut attrs: Vec<(String, String)> = XmlElementRef::from(branch)
                .attributes(txn)
                .map(|(k, v)| (k.to_owned(), value_string(txn, v)))
                .collect();
            attrs.sort_by(|a, b| js_order(&a.0, &b.0));
            out.push('<');
            out.push_str(&name);
            for (key, value) in attrs {
                out.push(' ');
                out.push_str(&key);
                out.push_str("=\"");
                out.push_str(&value);
                out.push('"');
            }
            out.push('>');
            write_children(txn, branch, out);
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
        TypeRef::XmlFragment => write_children(txn, branch, out),
        TypeRef::XmlText => write_text(txn, branch, out),
        TypeRef::Text => out.push_str(&TextRef::from(branch).get_string(txn)),
        _ => out.push_str("[object Object]"),
    }
}

fn write_children<T: ReadTxn>(txn: &T, branch: BranchPtr, out: &mut String) {
    for child in crate::sequence::items(txn, branch) {
        write_value(txn, child, out);
    }
}

/// `String(value)` of a list item, attribute value or embed.
fn write_value<T: ReadTxn>(txn: &T, value: Out, out: &mut String) {
    match value {
        Out::Any(any) => out.push_str(&js_string(&any)),
        Out::YDoc(_) => out.push_str("[object Object]"),
        other => match other.try_branch() {
            Some(branch) => write_type(txn, BranchPtr::from(branch), out),
            None => out.push_str("[object Object]"),
        },
    }
}

fn value_string<T: ReadTxn>(txn: &T, value: Out) -> String {
    let mut out = String::new();
    write_value(txn, value, &mut out);
    out
}

/// Y.XmlText's `toString()`: each delta chunk wrapped in one tag per formatting attribute, tags
/// sorted by name, the attribute's own keys (`for...in` over its value) sorted as its attributes.
fn write_text<T: ReadTxn>(txn: &T, branch: BranchPtr, out: &mut String) {
    for diff in TextRef::from(branch).diff(txn, YChange::identity) {
        let mut tags: Vec<(String, Vec<(String, String)>)> = diff
            .attributes
            .map(|attrs| {
                attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), for_in(v)))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort_by(|a, b| js_order(&a.0, &b.0));
        for (tag, attrs) in &tags {
            out.push('<');
            out.push_str(tag);
            for (key, value) in attrs {
                out.push(' ');
                out.push_str(key);
                out.push_str("=\"");
                out.push_str(value);
                out.push('"');
            }
            out.push('>');
        }
        write_value(txn, diff.insert, out);
        for (tag, _) in tags.iter().rev() {
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
        }
    }
}

/// The `[key, String(value)]` pairs `for (const key in value)` visits, sorted: an object's keys,
/// an array's or a string's indices (a string's UTF-16 units), nothing for other values.
fn for_in(value: &Any) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = match value {
        Any::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.clone(), js_string(v)))
            .collect(),
        Any::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), js_string(v)))
            .collect(),
        Any::Buffer(bytes) => bytes
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b.to_string()))
            .collect(),
        Any::String(s) => s
            .encode_utf16()
            .enumerate()
            .map(|(i, unit)| (i.to_string(), String::from_utf16_lossy(&[unit])))
            .collect(),
        _ => Vec::new(),
    };
    pairs.sort_by(|a, b| js_order(&a.0, &b.0));
    pairs
}

/// The order of JavaScript's `sort((a, b) => a < b ? -1 : 1)` on distinct strings.
fn js_order(a: &str, b: &str) -> std::cmp::Ordering {
    if js_less(a, b) {
        std::cmp::Ordering::Less
    } else if js_less(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}
