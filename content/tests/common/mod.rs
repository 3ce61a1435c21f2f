//! Shared by the integration tests: the golden fixtures and documents built from them.
#![allow(dead_code)] // each test file uses a part

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;
use yrs::Doc;

pub mod plan;
pub mod restoring;
pub mod same;

/// One file of `content/tests/fixtures/` (see `tests/js/content-fixtures.mjs` for its fields).
pub struct Fixture {
    pub name: String,
    pub json: Value,
}

impl Fixture {
    pub fn update(&self) -> Vec<u8> {
        let b64 = self.json["update"]
            .as_str()
            .expect("fixture without an update");
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("fixture update is not base64")
    }

    /// The fixture's document in a fresh scratch document, as the server loads one.
    pub fn doc(&self) -> Doc {
        plait_content::scratch_doc_with_client(&self.update(), 0x1234_5678)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// `(root, value)` pairs of one of the fixture's maps.
    pub fn entries(&self, field: &str) -> Vec<(String, Value)> {
        match &self.json[field] {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Value::Null => Vec::new(),
            other => panic!("{}: {field} is not an object: {other}", self.name),
        }
    }
}

/// Every fixture, by name.
pub fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .expect("content/tests/fixtures is missing: run `node tests/js/content-fixtures.mjs`")
        .map(|entry| entry.expect("unreadable fixture directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("unreadable fixture");
            Fixture {
                name: path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned(),
                json: serde_json::from_str(&text).expect("fixture is not JSON"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 10,
        "expected the generated fixtures, found {}",
        out.len()
    );
    out
}

/// The ProseMirror fixtures: `(fixture, root, ProseMirror JSON)` for every non-empty fragment.
pub fn prosemirror_docs() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for fixture in fixtures() {
        for (root, pm) in fixture.entries("prosemirror") {
            out.push((fixture.name.clone(), root, pm));
        }
    }
    out
}

/// ProseMirror JSON as this crate writes it back: adjacent text nodes with the same marks joined
/// (ProseMirror's own normalization, which y-prosemirror applies before writing).
pub fn normalize_pm(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if k == "content" {
                    out.insert(
                        k.clone(),
                        Value::Array(join_texts(v.as_array().expect("content"))),
                    );
                } else {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn join_texts(content: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for node in content {
        let node = normalize_pm(node);
        if let (Some(last), true) = (out.last_mut(), node["type"] == "text") {
            if last["type"] == "text" && last.get("marks") == node.get("marks") {
                let joined = format!(
                    "{}{}",
                    last["text"].as_str().unwrap_or(""),
                    node["text"].as_str().unwrap_or("")
                );
                last["text"] = Value::String(joined);
                continue;
            }
        }
        out.push(node);
    }
    out
}
