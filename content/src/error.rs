//! Why an edit is refused: [`EditError`], and the nesting limit it names.

use crate::kind::RootKind;
use crate::scratch::ScratchError;

/// How deeply a written value may nest: ProseMirror nodes below the document, or a map's or an
/// array's JSON values. Far beyond what editors write; it bounds this crate's recursion. (A
/// server's `--max-nesting-depth`, 128 by default, may refuse the resulting update earlier.)
pub const MAX_DEPTH: usize = 200;

/// Why [`crate::replace_field`] refused a value. The document is unchanged. The messages are
/// meant for the person who sent the value (an HTTP 400 body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The field already holds content of another kind.
    #[error("field \"{field}\" holds {}; {found} does not fit it ({} takes {})", kind.described(), kind.described(), kind.takes())]
    DoesNotFit {
        field: String,
        kind: RootKind,
        found: &'static str,
    },
    /// The field is new (or empty) and the value is not something a field can hold.
    #[error("{found} cannot be the content of field \"{field}\": send a string (text), an array, an object (map) or a ProseMirror document (an object with \"type\": \"doc\")")]
    NotContent { field: String, found: &'static str },
    /// A ProseMirror document that is not well formed; `path` locates the node or mark from the
    /// document, e.g. `content[2].content[0].marks[1]`.
    #[error("{path}: {reason}")]
    Malformed { path: String, reason: String },
    /// A value nested deeper than [`MAX_DEPTH`].
    #[error("{path}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep { path: String },
    /// yrs refused the transaction (another one is open on this document).
    #[error("the document is busy: {0}")]
    Busy(String),
}

impl RootKind {
    /// The kind with its article, for messages.
    pub(crate) fn described(self) -> &'static str {
        match self {
            RootKind::Text => "a text",
            RootKind::Map => "a map",
            RootKind::Array => "an array",
            RootKind::XmlFragment => "an xmlfragment (a ProseMirror document)",
        }
    }

    /// What a value for this kind must be, for messages.
    fn takes(self) -> &'static str {
        match self {
            RootKind::Text => "a string",
            RootKind::Map => "an object",
            RootKind::Array => "an array",
            RootKind::XmlFragment => "an object with \"type\": \"doc\"",
        }
    }
}

/// A JSON path being walked, for error messages: `content[2].marks[1]`, `settings.list[3]`.
#[derive(Default)]
pub(crate) struct Path(Vec<Segment>);

enum Segment {
    Key(String),
    Index(usize),
}

impl Path {
    pub(crate) fn key(&mut self, key: &str) -> &mut Self {
        self.0.push(Segment::Key(key.to_owned()));
        self
    }

    pub(crate) fn index(&mut self, i: usize) -> &mut Self {
        self.0.push(Segment::Index(i));
        self
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    /// The path as text; `root` names the empty path.
    pub(crate) fn render(&self, root: &str) -> String {
        if self.0.is_empty() {
            return root.to_owned();
        }
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }
}

/// "a string", "an object", ... for a JSON value, in messages.
pub(crate) fn describe(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
            "a ProseMirror document"
        }
        Value::Object(_) => "an object",
    }
}

/// Why [`crate::restore()`] refused. The document is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The version is not a Yjs v1 update yrs can load.
    #[error("the version does not load: {0}")]
    Version(ScratchError),
    /// A text of the version whose items cannot be read in order: the version holds legacy JSON
    /// content (which yrs 0.28 cannot encode back), or items whose origins contradict each
    /// other (see `text_items`).
    #[error("root \"{root}\" of the version holds a text whose items cannot be read in order")]
    Unreadable { root: String },
    /// The version holds, where the document differs, something that cannot be written anew.
    #[error("root \"{root}\" of the version holds {what}, which cannot be restored")]
    Unsupported { root: String, what: String },
    /// This `Doc` declared the root's type, and the version holds another kind there.
    #[error("root \"{root}\" is declared as {} in this document but holds {} in the version", declared.described(), version.described())]
    KindConflict {
        root: String,
        declared: RootKind,
        version: RootKind,
    },
    /// yrs refused the transaction (another one is open on this document).
    #[error("the document is busy: {0}")]
    Busy(String),
}
