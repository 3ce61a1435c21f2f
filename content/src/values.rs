//! Yjs' `toJSON()` of maps, arrays and the values in them: [`out_json`].

use serde_json::{Map as JsonMap, Value};
use yrs::branch::BranchPtr;
use yrs::types::TypeRef;
use yrs::{GetString, Map, MapRef, Out, ReadTxn, TextRef};

use crate::any_json::any_to_json;
use crate::xml_string::xml_string;

/// A value held by a map or an array, as Yjs' `toJSON()` gives it: a Y.Text as its string, a
/// Y.Map and a Y.Array recursively, an XML type as its XML string (`toString()`), a Y.XmlHook as
/// a map. A subdocument (never accepted by Plait) is `null`.
pub(crate) fn out_json<T: ReadTxn>(txn: &T, out: Out) -> Value {
    match out {
        Out::Any(any) => any_to_json(&any),
        Out::YDoc(_) => Value::Null,
        other => match other.try_branch() {
            Some(branch) => type_json(txn, BranchPtr::from(branch)),
            None => Value::Null,
        },
    }
}

/// `toJSON()` of a shared type.
pub(crate) fn type_json<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Value {
    match branch.type_ref() {
        TypeRef::Text => Value::String(TextRef::from(branch).get_string(txn)),
        TypeRef::Array => array_json(txn, branch),
        TypeRef::Map | TypeRef::XmlHook => map_json(txn, branch),
        TypeRef::XmlElement(_) | TypeRef::XmlFragment | TypeRef::XmlText => {
            Value::String(xml_string(txn, branch))
        }
        _ => Value::Null,
    }
}

/// A Y.Map's entries, keys sorted.
pub(crate) fn map_json<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Value {
    let mut entries: Vec<(String, Out)> = MapRef::from(branch)
        .iter(txn)
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut map = JsonMap::new();
    for (key, value) in entries {
        map.insert(key, out_json(txn, value));
    }
    Value::Object(map)
}

/// A Y.Array's items.
pub(crate) fn array_json<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Value {
    Value::Array(
        crate::sequence::items(txn, branch)
            .into_iter()
            .map(|v| out_json(txn, v))
            .collect(),
    )
}
