//! An XmlFragment as ProseMirror JSON, exactly as y-prosemirror 1.3.7's
//! `yXmlFragmentToProsemirrorJSON` gives it: [`fragment_json`].
//!
//! Its quirks are kept on purpose, since a client compares what it reads here with what its own
//! y-prosemirror gives:
//! - an element's `attrs` is present only when it has attributes, and its `content` only when
//!   it has children, even if they all turn out empty (`"content": []`);
//! - the children of an element are flattened (an XmlText gives one text node per delta chunk),
//!   but the top level is not: an XmlText directly in the fragment gives a nested array;
//! - every mark has `attrs`, `{}` when the mark has none, and its name loses a `--XXXXXXXX` hash
//!   suffix (y-prosemirror's key for marks that may overlap themselves);
//! - an embed's `text` is the embedded value itself, not a string.
//!
//! Where y-prosemirror throws (an item that is neither an XmlElement nor an XmlText, such as an
//! XmlHook or a plain value) the item is left out; a shared type embedded in a text renders as
//! its Yjs JSON.

use serde_json::{Map as JsonMap, Value};
use yrs::branch::BranchPtr;
use yrs::types::TypeRef;
use yrs::{Out, ReadTxn, Xml, XmlElementRef};

use crate::any_json::any_to_json;
use crate::chunk::{Chunk, Insert};
use crate::context::Ctx;
use crate::delta::text_chunks;
use crate::values::{out_json, type_json};

/// `{"type": "doc", "content": [...]}` of an XmlFragment (or any list-like root read as one).
pub(crate) fn fragment_json<T: ReadTxn>(ctx: &Ctx<'_, T>, branch: BranchPtr) -> Value {
    let content: Vec<Value> = crate::sequence::items(ctx.txn, branch)
        .into_iter()
        .filter_map(|child| match node(ctx, child)? {
            Node::Element(element) => Some(element),
            Node::Text(texts) => Some(Value::Array(texts)),
        })
        .collect();
    let mut doc = JsonMap::new();
    doc.insert("type".to_owned(), Value::String("doc".to_owned()));
    doc.insert("content".to_owned(), Value::Array(content));
    Value::Object(doc)
}

enum Node {
    Element(Value),
    Text(Vec<Value>),
}

/// y-prosemirror's `serialize` of one child.
fn node<T: ReadTxn>(ctx: &Ctx<'_, T>, child: Out) -> Option<Node> {
    let branch = BranchPtr::from(child.try_branch()?);
    match branch.type_ref() {
        TypeRef::XmlElement(name) => Some(Node::Element(element(ctx, branch, name.to_string()))),
        TypeRef::XmlText => Some(Node::Text(
            text_chunks(ctx, branch, true)
                .into_iter()
                .map(|c| text_node(ctx, c))
                .collect(),
        )),
        _ => None,
    }
}

fn element<T: ReadTxn>(ctx: &Ctx<'_, T>, branch: BranchPtr, name: String) -> Value {
    let mut out = JsonMap::new();
    out.insert("type".to_owned(), Value::String(name));
    let mut attrs: Vec<(String, Out)> = XmlElementRef::from(branch)
        .attributes(ctx.txn)
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    if !attrs.is_empty() {
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        let attrs: JsonMap<String, Value> = attrs
            .into_iter()
            .map(|(k, v)| (k, out_json(ctx.txn, v)))
            .collect();
        out.insert("attrs".to_owned(), Value::Object(attrs));
    }
    let children: Vec<Out> = crate::sequence::items(ctx.txn, branch);
    if !children.is_empty() {
        let mut content = Vec::new();
        for child in children {
            match node(ctx, child) {
                Some(Node::Element(element)) => content.push(element),
                Some(Node::Text(texts)) => content.extend(texts),
                None => {}
            }
        }
        out.insert("content".to_owned(), Value::Array(content));
    }
    Value::Object(out)
}

/// `{"type": "text", "text": ..., "marks": [...]}` of one delta chunk.
fn text_node<T: ReadTxn>(ctx: &Ctx<'_, T>, chunk: Chunk) -> Value {
    let mut out = JsonMap::new();
    out.insert("type".to_owned(), Value::String("text".to_owned()));
    let text = match chunk.insert {
        Insert::Text(s) => Value::String(s),
        Insert::Embed(any) => any_to_json(&any),
        Insert::Type(branch) => type_json(ctx.txn, branch),
    };
    out.insert("text".to_owned(), text);
    if !chunk.attrs.is_empty() {
        let marks = chunk
            .attrs
            .iter()
            .map(|(key, value)| {
                let mut mark = JsonMap::new();
                mark.insert("type".to_owned(), Value::String(mark_name(key).to_owned()));
                mark.insert("attrs".to_owned(), any_to_json(value));
                Value::Object(mark)
            })
            .collect();
        out.insert("marks".to_owned(), Value::Array(marks));
    }
    Value::Object(out)
}

/// y-prosemirror's `yattr2markname`: `/(.*)(--[a-zA-Z0-9+/=]{8})$/.exec(key)?.[1] ?? key`. The
/// `.` stops at line terminators, so the name is what follows the last one before the suffix.
pub(crate) fn mark_name(key: &str) -> &str {
    let bytes = key.as_bytes();
    let Some(start) = bytes.len().checked_sub(10) else {
        return key;
    };
    let suffix = &bytes[start..];
    let hashed = suffix[..2] == *b"--"
        && suffix[2..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !hashed {
        return key;
    }
    // `start` is an ASCII '-', so a char boundary.
    let name = &key[..start];
    match name.rfind(['\n', '\r', '\u{2028}', '\u{2029}']) {
        Some(i) => &name[i + name[i..].chars().next().map_or(1, char::len_utf8)..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::mark_name;

    #[test]
    fn mark_names_lose_their_hash_suffix() {
        assert_eq!(mark_name("comment--AbC+/=09"), "comment");
        assert_eq!(mark_name("bold"), "bold");
        assert_eq!(mark_name("--abcdefgh"), "");
        assert_eq!(mark_name("x--abcdefg"), "x--abcdefg"); // 7 characters
        assert_eq!(mark_name("x--abc-efgh"), "x--abc-efgh"); // '-' not in the class
        assert_eq!(mark_name("a\nb--abcdefgh"), "b");
        assert_eq!(mark_name("é--abcdefgh"), "é");
    }
}
