//! How a field is rendered: [`Format`].

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::kind::RootKind;

/// A rendering of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ProseMirror JSON, exactly as y-prosemirror's `yXmlFragmentToProsemirrorJSON` gives it.
    /// XmlFragment only.
    ProseMirror,
    /// Plain text: a Text's characters, or an XmlFragment's text one block per line.
    Text,
    /// A Quill delta, `[{"insert": "abc", "attributes": {"bold": true}}, ...]`. Text only.
    Delta,
    /// The kind's own JSON: Yjs' `toJSON()` for Text, Map and Array, ProseMirror JSON for an
    /// XmlFragment (Yjs would give an XML string).
    Json,
}

/// The formats a kind can be rendered in, for error messages.
const NAMES: &str = "prosemirror, text, delta, json";

impl Format {
    /// The format's name: "prosemirror", "text", "delta" or "json".
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ProseMirror => "prosemirror",
            Format::Text => "text",
            Format::Delta => "delta",
            Format::Json => "json",
        }
    }

    /// The format a kind renders in when none is asked for.
    pub fn default_for(kind: RootKind) -> Format {
        match kind {
            RootKind::XmlFragment => Format::ProseMirror,
            RootKind::Text | RootKind::Map | RootKind::Array => Format::Json,
        }
    }

    /// Whether a field of `kind` can be rendered in this format.
    pub fn fits(self, kind: RootKind) -> bool {
        match self {
            Format::ProseMirror => kind == RootKind::XmlFragment,
            Format::Text => matches!(kind, RootKind::Text | RootKind::XmlFragment),
            Format::Delta => kind == RootKind::Text,
            Format::Json => true,
        }
    }

    /// What a field that is absent (or holds nothing visible) renders as: the format's empty
    /// value. JSON has no empty value without a kind, so it is `null`.
    pub(crate) fn empty_value(self) -> Value {
        match self {
            Format::ProseMirror => json!({"type": "doc", "content": []}),
            Format::Text => json!(""),
            Format::Delta => json!([]),
            Format::Json => Value::Null,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`Format`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format \"{0}\": expected one of {NAMES}")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prosemirror" => Ok(Format::ProseMirror),
            "text" => Ok(Format::Text),
            "delta" => Ok(Format::Delta),
            "json" => Ok(Format::Json),
            // Echoed into an error message: cut to a readable length.
            other if other.chars().count() > 40 => {
                Err(UnknownFormat(other.chars().take(40).chain(['…']).collect()))
            }
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}
