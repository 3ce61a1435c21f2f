//! JavaScript's `String(value)` for the values Yjs stores, as its `toString()` of XML types uses
//! them (`key="${value}"`).

use yrs::any::Number;
use yrs::Any;

/// `String(value)` of a value decoded from a Yjs update.
pub(crate) fn js_string(any: &Any) -> String {
    match any {
        Any::Null => "null".to_owned(),
        Any::Undefined => "undefined".to_owned(),
        Any::Bool(b) => b.to_string(),
        Any::Number(Number::Int(i)) => i.to_string(),
        Any::Number(Number::Float(f)) => js_number(*f),
        Any::String(s) => s.to_string(),
        // A Uint8Array joins its bytes with commas.
        Any::Buffer(bytes) => join(bytes.iter().map(u8::to_string)),
        // Array.prototype.join: null and undefined elements become empty strings.
        Any::Array(items) => join(items.iter().map(|item| match item {
            Any::Null | Any::Undefined => String::new(),
            other => js_string(other),
        })),
        Any::Map(_) => "[object Object]".to_owned(),
    }
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(",")
}

/// `Number.prototype.toString()` (ECMAScript Number::toString with radix 10): the shortest digits
/// that round-trip, written plainly for exponents in [-7, 21) and in exponent form otherwise.
/// Rust's `Display` never uses an exponent (1e21 prints 22 digits), hence this.
pub(crate) fn js_number(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return "0".to_owned(); // -0 too
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7", "1e21".
    let formatted = format!("{:e}", f.abs());
    let (mantissa, exponent) = formatted
        .split_once('e')
        .unwrap_or((formatted.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let k = digits.len() as i64; // number of significant digits
    let n = exponent + 1; // position of the decimal point relative to the digits
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

/// JavaScript's `a < b` on strings: by UTF-16 code units (differs from Rust's byte order only
/// between characters above U+FFFF and those in U+E000..U+FFFF).
pub(crate) fn js_less(a: &str, b: &str) -> bool {
    a.encode_utf16().lt(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_javascript() {
        let cases = [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.25, "-2.25"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (0.000001, "0.000001"),
            (123456.789, "123456.789"),
            (-0.0, "0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, want) in cases {
            assert_eq!(js_number(f), want, "{f:?}");
        }
    }

    #[test]
    fn values_stringify_like_javascript() {
        let array = Any::Array(vec![Any::Null, Any::from(1.5), Any::from("x")].into());
        assert_eq!(js_string(&array), ",1.5,x");
        assert_eq!(js_string(&Any::from(vec![104u8, 105])), "104,105");
        assert_eq!(js_string(&Any::Bool(false)), "false");
    }
}
