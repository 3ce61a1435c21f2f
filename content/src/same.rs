//! Equality of stored values as a restore compares them: numbers by their bits (a NaN equals
//! itself, so a restored NaN is not rewritten every time), an integer never equal to a float.

use yrs::any::Number;
use yrs::Any;

/// Whether `a` and `b` are the same stored value.
pub(crate) fn same_any(a: &Any, b: &Any) -> bool {
    match (a, b) {
        (Any::Number(Number::Float(x)), Any::Number(Number::Float(y))) => {
            x.to_bits() == y.to_bits()
        }
        (Any::Array(x), Any::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_any(x, y))
        }
        (Any::Map(x), Any::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_any(v, w)))
        }
        _ => a == b,
    }
}
