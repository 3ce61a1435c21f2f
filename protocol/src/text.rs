//! Cutting text to a length in bytes without splitting a character.

/// The longest prefix of `s` that is at most `max_bytes` long and ends on a character
/// boundary: WebSocket close reasons are limited to 123 bytes, log lines quote the start of what
/// they are about.
pub fn prefix(s: &str, max_bytes: usize) -> &str {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::prefix;

    #[test]
    fn cuts_on_a_character_boundary() {
        assert_eq!(prefix("hello", 3), "hel");
        assert_eq!(prefix("hello", 30), "hello");
        assert_eq!(prefix("héllo", 2), "h", "é is two bytes: not split");
        assert_eq!(prefix("", 5), "");
    }
}
