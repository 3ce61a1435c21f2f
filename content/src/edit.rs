//! Writing JSON into a document: [`replace_field`].

use serde_json::Value;
use yrs::branch::Branch;
use yrs::{Any, Array, Doc, Map, Text, Transact, WriteTxn};

use crate::any_json::json_to_any;
use crate::error::{describe, EditError, Path};
use crate::kind::{root_kind, RootKind};
use crate::pm_input::{check_depth, parse_doc, PmDoc};
use crate::xml_write::write_fragment;

/// A value checked against its field and converted, ready to be written without a failure.
enum Content {
    Text(String),
    Map(Vec<(String, Any)>),
    Array(Vec<Any>),
    XmlFragment(PmDoc),
}

/// Replaces the content of root `name` with `value` in one transaction on `doc` and returns
/// that transaction's update (Yjs v1).
///
/// The field keeps its kind when it has one ([`root_kind`]); a new or empty field takes the
/// value's: an object with `"type": "doc"` is a ProseMirror document (XmlFragment), a string a
/// Text, an array an Array, any other object a Map. A Map or an Array holds the JSON as plain
/// values (what `Y.Map.set(key, json)` stores), not nested shared types.
///
/// Everything is checked before the transaction opens: on `Err` the document is unchanged.
/// Give it a document made for the purpose ([`crate::scratch_doc`]): the update deletes the old
/// content and inserts the new, attributed to `doc`'s client id.
pub fn replace_field(doc: &Doc, name: &str, value: &Value) -> Result<Vec<u8>, EditError> {
    let kind = {
        let txn = doc
            .try_transact()
            .map_err(|e| EditError::Busy(e.to_string()))?;
        root_kind(&txn, name)
    };
    let content = check(name, kind, value)?;
    let mut txn = doc
        .try_transact_mut()
        .map_err(|e| EditError::Busy(e.to_string()))?;
    match content {
        Content::Text(text) => {
            let root = txn.get_or_insert_text(name);
            let len = root.len(&txn);
            if len > 0 {
                root.remove_range(&mut txn, 0, len);
            }
            root.insert(&mut txn, 0, &text);
        }
        Content::Map(entries) => {
            let root = txn.get_or_insert_map(name);
            root.clear(&mut txn);
            for (key, value) in entries {
                root.insert(&mut txn, key, value);
            }
        }
        Content::Array(items) => {
            let root = txn.get_or_insert_array(name);
            // In the document's own offset units, which is what `remove_range` counts in.
            let len = AsRef::<Branch>::as_ref(&root).content_len();
            if len > 0 {
                root.remove_range(&mut txn, 0, len);
            }
            root.insert_range(&mut txn, 0, items);
        }
        Content::XmlFragment(pm) => {
            let root = txn.get_or_insert_xml_fragment(name);
            write_fragment(&mut txn, &root, &pm);
        }
    }
    Ok(txn.encode_update_v1())
}

/// The kind the value is written as, and the value converted for it.
fn check(name: &str, kind: Option<RootKind>, value: &Value) -> Result<Content, EditError> {
    let kind = match kind {
        Some(kind) => kind,
        None => match value {
            Value::String(_) => RootKind::Text,
            Value::Array(_) => RootKind::Array,
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
                RootKind::XmlFragment
            }
            Value::Object(_) => RootKind::Map,
            other => {
                return Err(EditError::NotContent {
                    field: name.to_owned(),
                    found: describe(other),
                })
            }
        },
    };
    let does_not_fit = || EditError::DoesNotFit {
        field: name.to_owned(),
        kind,
        found: describe(value),
    };
    let mut path = Path::default();
    match (kind, value) {
        (RootKind::Text, Value::String(text)) => Ok(Content::Text(text.clone())),
        (RootKind::Map, Value::Object(entries)) => {
            let mut out = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                path.key(key);
                check_depth(value, &mut path, 1)?;
                path.pop();
                out.push((key.clone(), json_to_any(value)));
            }
            Ok(Content::Map(out))
        }
        (RootKind::Array, Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.index(i);
                check_depth(item, &mut path, 1)?;
                path.pop();
                out.push(json_to_any(item));
            }
            Ok(Content::Array(out))
        }
        (RootKind::XmlFragment, Value::Object(_)) => Ok(Content::XmlFragment(parse_doc(value)?)),
        _ => Err(does_not_fit()),
    }
}
