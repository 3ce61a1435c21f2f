//! Validated document names.

use std::borrow::Borrow;
use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest document name accepted, in UTF-8 bytes.
const MAX_LEN: usize = 255;

/// The name of a document, as taken from the WebSocket URL (already percent-decoded).
///
/// It exists so that every layer (registry keys, storage rows, logs) handles a name that is known
/// to be non-empty, bounded, and free of control characters that could forge log lines or
/// confuse storage, instead of re-validating raw strings everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocName(String);

/// Why a string is not an acceptable [`DocName`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// The name is the empty string.
    #[error("document name is empty")]
    Empty,
    /// The name is longer than 255 bytes (the value is its length in bytes).
    #[error("document name is {0} bytes long; at most 255 bytes are allowed")]
    TooLong(usize),
    /// The name contains a control character (newline, NUL, ...).
    #[error("document name contains a control character")]
    ControlCharacter,
    /// The name contains an invisible formatting character (a bidi override, a zero-width
    /// space or joiner, ...): two names that look the same must be the same name.
    #[error("document name contains an invisible formatting character (U+{0:04X})")]
    FormatCharacter(u32),
}

impl DocName {
    /// Validates `s`: 1..=255 bytes, no control characters and no invisible format characters.
    pub fn parse(s: &str) -> Result<DocName, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(NameError::TooLong(s.len()));
        }
        if s.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        // Unicode's "format" characters (category Cf) draw nothing or reorder what follows them:
        // `notes\u{202E}txt.exe` displays as `notesexe.txt`, and `team\u{200B}a` as `teama`.
        if let Some(c) = s
            .chars()
            .find(|c| c.general_category() == GeneralCategory::Format)
        {
            return Err(NameError::FormatCharacter(u32::from(c)));
        }
        Ok(DocName(s.to_owned()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DocName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for DocName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn accepts_ordinary_and_unicode_names() {
        assert_eq!(DocName::parse("notes/2024").unwrap().as_str(), "notes/2024");
        assert_eq!(DocName::parse("café ☕").unwrap().to_string(), "café ☕");
        // Exactly at the limit, counted in bytes: 85 three-byte characters.
        let at_limit = "€".repeat(85);
        assert_eq!(at_limit.len(), 255);
        assert!(DocName::parse(&at_limit).is_ok());
    }

    #[test]
    fn rejects_with_a_reason() {
        assert_eq!(DocName::parse(""), Err(NameError::Empty));
        assert_eq!(
            DocName::parse(&"a".repeat(256)),
            Err(NameError::TooLong(256))
        );
        // 86 three-byte characters: only 86 chars but 258 bytes.
        assert_eq!(
            DocName::parse(&"€".repeat(86)),
            Err(NameError::TooLong(258))
        );
        for bad in ["a\nb", "\0", "tab\there", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(
                DocName::parse(bad),
                Err(NameError::ControlCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(
            NameError::TooLong(300).to_string(),
            "document name is 300 bytes long; at most 255 bytes are allowed"
        );
    }

    #[test]
    fn rejects_look_alike_names() {
        for (bad, code) in [
            ("notes\u{202E}txt.exe", 0x202E),
            ("team\u{200B}a", 0x200B),
            ("a\u{200D}b", 0x200D),
            ("\u{FEFF}doc", 0xFEFF),
            ("x\u{2066}y\u{2069}", 0x2066),
            ("soft\u{AD}hyphen", 0xAD),
        ] {
            assert_eq!(
                DocName::parse(bad),
                Err(NameError::FormatCharacter(code)),
                "{bad:?}"
            );
        }
        assert_eq!(
            NameError::FormatCharacter(0x202E).to_string(),
            "document name contains an invisible formatting character (U+202E)"
        );
        // Visible scripts, right-to-left ones included, stay allowed.
        for good in ["עברית", "العربية/ملاحظات", "日本語", "emoji 🧵"] {
            assert!(DocName::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn borrows_as_str_for_map_lookups() {
        let mut m = HashMap::new();
        m.insert(DocName::parse("doc").unwrap(), 1);
        assert_eq!(m.get("doc"), Some(&1));
        assert_eq!(DocName::parse("doc").unwrap().as_ref(), "doc");
    }
}
