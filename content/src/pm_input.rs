//! ProseMirror JSON coming in: validated whole, into a tree the writer can follow without
//! checking anything ([`parse_doc`]).
//!
//! The shape is ProseMirror's `Node.toJSON()`: a node is `{"type": string, "attrs"?: object,
//! "content"?: [node], "marks"?: [mark]}`, a text node `{"type": "text", "text": string,
//! "marks"?: [mark]}`, a mark `{"type": string, "attrs"?: object}`. No schema is known here, so
//! any node and mark names are taken. What the tree keeps is what y-prosemirror would write for
//! the same document after ProseMirror read it:
//! - attributes whose value is null are dropped (y-prosemirror skips them);
//! - a mark without `attrs` has `{}` (ProseMirror's `mark.attrs` of a mark without attributes);
//! - a mark listed twice with equal attributes counts once (ProseMirror's mark sets);
//! - adjacent text nodes with the same marks are one (ProseMirror joins them);
//! - the marks of non-text nodes are checked and dropped (y-prosemirror 1.3 does not store them),
//!   and so are the document node's own `attrs` and `marks`.

use serde_json::{Map as JsonMap, Value};
use yrs::Any;

use crate::any_json::json_to_any;
use crate::error::{EditError, Path, MAX_DEPTH};

/// A document's top-level blocks.
pub(crate) struct PmDoc {
    pub blocks: Vec<Element>,
}

/// An element node (anything but text).
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, Any)>,
    pub children: Vec<Child>,
}

/// A child of an element: an element, or a run of consecutive text nodes (one Y.XmlText).
pub(crate) enum Child {
    Element(Element),
    Text(Vec<TextNode>),
}

pub(crate) struct TextNode {
    pub text: String,
    /// `(mark type, attrs)`, in the order given.
    pub marks: Vec<(String, Any)>,
}

/// Reads a whole ProseMirror document, or says what is wrong and where.
pub(crate) fn parse_doc(value: &Value) -> Result<PmDoc, EditError> {
    let mut path = Path::default();
    let doc = value
        .as_object()
        .ok_or_else(|| malformed(&path, "a ProseMirror document must be an object"))?;
    if doc.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(malformed(
            &path,
            "the top-level node must have \"type\": \"doc\"",
        ));
    }
    if let Some(marks) = doc.get("marks") {
        marks_of(marks, &mut path)?;
    }
    let mut blocks = Vec::new();
    for (i, child) in content_of(doc, &path)?.iter().enumerate() {
        path.key("content").index(i);
        match parse_node(child, &mut path, 1)? {
            Node::Element(element) => blocks.push(element),
            Node::Text(_) => {
                return Err(malformed(
                    &path,
                    "a text node cannot be a direct child of the document (put it in a block such as a paragraph)",
                ))
            }
        }
        path.pop();
        path.pop();
    }
    Ok(PmDoc { blocks })
}

enum Node {
    Element(Element),
    Text(TextNode),
}

fn parse_node(value: &Value, path: &mut Path, depth: usize) -> Result<Node, EditError> {
    if depth > MAX_DEPTH {
        return Err(EditError::TooDeep {
            path: path.render("document"),
        });
    }
    let node = value
        .as_object()
        .ok_or_else(|| malformed(path, "a node must be an object"))?;
    let name = match node.get("type") {
        Some(Value::String(name)) if name.is_empty() => {
            return Err(malformed(path, "node with an empty \"type\""))
        }
        Some(Value::String(name)) => name,
        _ => return Err(malformed(path, "node without a string \"type\"")),
    };
    let marks = match node.get("marks") {
        Some(marks) => marks_of(marks, path)?,
        None => Vec::new(),
    };
    if name == "text" {
        let text = match node.get("text") {
            Some(Value::String(text)) if text.is_empty() => {
                return Err(malformed(path, "empty text node (ProseMirror allows none)"))
            }
            Some(Value::String(text)) => text.clone(),
            _ => return Err(malformed(path, "text node without a string \"text\"")),
        };
        if node.get("content").is_some_and(|c| !c.is_null()) {
            return Err(malformed(path, "a text node cannot have \"content\""));
        }
        return Ok(Node::Text(TextNode { text, marks }));
    }
    let attrs = match node.get("attrs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(attrs)) => {
            path.key("attrs");
            let attrs = attrs_of(attrs, path)?;
            path.pop();
            attrs
        }
        Some(_) => return Err(malformed(path, "\"attrs\" is not an object")),
    };
    let mut children: Vec<Child> = Vec::new();
    for (i, child) in content_of(node, path)?.iter().enumerate() {
        path.key("content").index(i);
        match parse_node(child, path, depth + 1)? {
            Node::Element(element) => children.push(Child::Element(element)),
            Node::Text(text) => match children.last_mut() {
                Some(Child::Text(run)) => join(run, text),
                _ => children.push(Child::Text(vec![text])),
            },
        }
        path.pop();
        path.pop();
    }
    Ok(Node::Element(Element {
        name: name.clone(),
        attrs,
        children,
    }))
}

/// Appends a text node to a run, joining it with the last one when their marks are the same.
fn join(run: &mut Vec<TextNode>, text: TextNode) {
    match run.last_mut() {
        Some(last) if last.marks == text.marks => last.text.push_str(&text.text),
        _ => run.push(text),
    }
}

/// A node's `content`, absent or null meaning none.
fn content_of<'v>(node: &'v JsonMap<String, Value>, path: &Path) -> Result<&'v [Value], EditError> {
    match node.get("content") {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(content)) => Ok(content),
        Some(_) => Err(malformed(path, "\"content\" is not an array")),
    }
}

/// A node's `marks`: `[{"type": string, "attrs"?: object}]`, duplicates dropped.
fn marks_of(marks: &Value, path: &mut Path) -> Result<Vec<(String, Any)>, EditError> {
    let list = match marks {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(malformed(path, "\"marks\" is not an array")),
    };
    let mut out: Vec<(String, Any)> = Vec::new();
    for (i, mark) in list.iter().enumerate() {
        path.key("marks").index(i);
        let mark = mark
            .as_object()
            .ok_or_else(|| malformed(path, "a mark must be an object"))?;
        let name = match mark.get("type") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            Some(Value::String(_)) => return Err(malformed(path, "mark with an empty \"type\"")),
            _ => return Err(malformed(path, "mark without a string \"type\"")),
        };
        let attrs = match mark.get("attrs") {
            None | Some(Value::Null) => Any::Map(Default::default()),
            Some(attrs @ Value::Object(_)) => {
                path.key("attrs");
                check_depth(attrs, path, 1)?;
                path.pop();
                json_to_any(attrs)
            }
            Some(_) => return Err(malformed(path, "mark \"attrs\" is not an object")),
        };
        if !out.iter().any(|(n, a)| *n == name && *a == attrs) {
            out.push((name, attrs));
        }
        path.pop();
        path.pop();
    }
    Ok(out)
}

/// A node's attributes, nulls dropped.
fn attrs_of(
    attrs: &JsonMap<String, Value>,
    path: &mut Path,
) -> Result<Vec<(String, Any)>, EditError> {
    let mut out = Vec::new();
    for (key, value) in attrs {
        if value.is_null() {
            continue;
        }
        path.key(key);
        check_depth(value, path, 1)?;
        path.pop();
        out.push((key.clone(), json_to_any(value)));
    }
    Ok(out)
}

/// Refuses a JSON value nesting deeper than [`MAX_DEPTH`] (`depth` is the value's own level).
pub(crate) fn check_depth(value: &Value, path: &mut Path, depth: usize) -> Result<(), EditError> {
    if depth > MAX_DEPTH {
        return Err(EditError::TooDeep {
            path: path.render("value"),
        });
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.index(i);
                check_depth(item, path, depth + 1)?;
                path.pop();
            }
        }
        Value::Object(entries) => {
            for (key, item) in entries {
                path.key(key);
                check_depth(item, path, depth + 1)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn malformed(path: &Path, reason: &str) -> EditError {
    EditError::Malformed {
        path: path.render("document"),
        reason: reason.to_owned(),
    }
}
