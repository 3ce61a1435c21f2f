//! Yjs values (`yrs::Any`) to JSON and back, with JavaScript's number semantics.
//!
//! Yjs runs in JavaScript, where every number is an f64 and `JSON.stringify` writes an integral
//! one without a fraction (`2`, not `2.0`). yrs keeps integers apart from floats, so a value a
//! browser wrote as `2` can come back as either; both render as the JSON integer `2`, and JSON
//! that comes in is stored the way lib0 would (integers within 2^53 as integers).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Number as JsonNumber, Value};
use yrs::any::Number;
use yrs::Any;

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// JSON of a stored value: `Buffer` becomes its base64 string (JSON has no bytes; Yjs' toJSON
/// would hand out the Uint8Array itself), `Undefined` becomes `null`, a number that is not finite
/// becomes `null` (as `JSON.stringify` writes NaN and Infinity). Object keys come out sorted, so
/// the same document always renders to the same bytes.
pub(crate) fn any_to_json(any: &Any) -> Value {
    match any {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(b) => Value::Bool(*b),
        Any::Number(n) => number_to_json(*n),
        Any::String(s) => Value::String(s.to_string()),
        Any::Buffer(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Any::Array(items) => Value::Array(items.iter().map(any_to_json).collect()),
        Any::Map(entries) => {
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            let mut map = Map::new();
            for key in keys {
                if let Some(value) = entries.get(key) {
                    map.insert(key.clone(), any_to_json(value));
                }
            }
            Value::Object(map)
        }
    }
}

/// A number as `JSON.stringify` writes it: integral values as integers.
pub(crate) fn number_to_json(n: Number) -> Value {
    match n {
        Number::Int(i) => Value::from(i),
        Number::Float(f) if !f.is_finite() => Value::Null,
        // -2^63 <= f < 2^63: exactly representable as i64 when integral.
        Number::Float(f)
            if f.trunc() == f
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
        {
            Value::from(f as i64)
        }
        Number::Float(f) => JsonNumber::from_f64(f).map_or(Value::Null, Value::Number),
    }
}

/// A JSON value as Yjs stores it. Callers bound the nesting first (see `edit::MAX_DEPTH`).
pub(crate) fn json_to_any(value: &Value) -> Any {
    match value {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => Any::Number(json_number(n)),
        Value::String(s) => Any::String(Arc::from(s.as_str())),
        Value::Array(items) => Any::Array(items.iter().map(json_to_any).collect::<Vec<_>>().into()),
        Value::Object(entries) => Any::Map(Arc::new(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), json_to_any(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// JavaScript reads every JSON number as an f64; an integral one within 2^53 is stored by lib0
/// as an integer, anything else as a float (so 2^60 loses precision exactly as in a browser).
fn json_number(n: &JsonNumber) -> Number {
    if let Some(i) = n.as_i64() {
        if (i as f64).abs() <= MAX_SAFE_INTEGER {
            return Number::Int(i);
        }
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER {
        Number::Int(f as i64)
    } else {
        Number::Float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_render_as_javascript_writes_them() {
        assert_eq!(number_to_json(Number::Float(2.0)), json!(2));
        assert_eq!(number_to_json(Number::Float(-0.0)), json!(0));
        assert_eq!(number_to_json(Number::Float(1.5)), json!(1.5));
        assert_eq!(number_to_json(Number::Float(f64::NAN)), Value::Null);
        assert_eq!(number_to_json(Number::Float(1e21)), json!(1e21));
        assert_eq!(number_to_json(Number::Int(-7)), json!(-7));
    }

    #[test]
    fn json_numbers_are_stored_as_lib0_would() {
        assert_eq!(json_to_any(&json!(2.0)), Any::Number(Number::Int(2)));
        assert!(matches!(
            json_to_any(&json!(1u64 << 60)),
            Any::Number(Number::Float(_))
        ));
        assert!(matches!(
            json_to_any(&json!(0.5)),
            Any::Number(Number::Float(_))
        ));
    }

    #[test]
    fn buffers_become_base64_and_undefined_null() {
        let bytes: &[u8] = &[0, 1, 250];
        assert_eq!(any_to_json(&Any::from(bytes)), json!("AAH6"));
        assert_eq!(any_to_json(&Any::Undefined), Value::Null);
    }
}
