//! Loading an editing trace (josephg/editing-traces format) and turning it
//! into Yjs updates.
//!
//! Format: `{ "endContent": "...", "txns": [{ "patches": [[pos, del, "ins"]] }] }`,
//! positions in Unicode code points. Only ASCII traces are accepted, where
//! code points, bytes and yrs' text offsets agree (automerge-paper is ASCII).

use crate::error::{BenchError, Result};
use serde::Deserialize;
use std::io::Read;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Text, Transact};

/// The parts of a trace the bigdoc scenario needs.
#[derive(Deserialize)]
pub struct Trace {
    #[serde(rename = "endContent")]
    pub end_content: String,
    pub txns: Vec<TraceTxn>,
}

/// One trace transaction: patches applied in order.
#[derive(Deserialize)]
pub struct TraceTxn {
    pub patches: Vec<(u32, u32, String)>,
}

pub fn load(path: &str) -> Result<Trace> {
    let io = |source| BenchError::Io {
        path: path.to_owned(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let mut text = String::new();
    if path.ends_with(".gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .map_err(io)?;
    } else {
        text = String::from_utf8(raw).map_err(|e| BenchError::Trace(e.to_string()))?;
    }
    let t: Trace = serde_json::from_str(&text).map_err(|e| BenchError::Trace(e.to_string()))?;
    let ascii = t.end_content.is_ascii()
        && t.txns
            .iter()
            .flat_map(|x| &x.patches)
            .all(|p| p.2.is_ascii());
    if !ascii {
        return Err(BenchError::Trace(
            "only ASCII traces are supported (positions are code points)".into(),
        ));
    }
    Ok(t)
}

/// The text root copy `k` of a repeated trace is typed into: "text", then "text-1", ...
pub fn root_name(k: usize) -> String {
    if k == 0 {
        "text".to_owned()
    } else {
        format!("text-{k}")
    }
}

/// Replay the trace into `doc` (text "text"), one update per `batch` trace transactions, and
/// check the result against `endContent`. With `repeat` > 1 the trace is typed again, by another
/// client each time, into the roots "text-1", "text-2", ... (a document `repeat` times the
/// trace's size and history; typing copies one after another into one text would cost the
/// generator time that grows with the document at every keystroke).
pub fn build_repeated(
    trace: &Trace,
    doc: &Doc,
    batch: usize,
    repeat: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for k in 0..repeat.max(1) {
        let copy = if k == 0 {
            doc.clone()
        } else {
            crate::walk::new_doc()
        };
        let text = copy.get_or_insert_text(root_name(k).as_str());
        for chunk in trace.txns.chunks(batch.max(1)) {
            let mut txn = copy.transact_mut();
            for (pos, del, ins) in chunk.iter().flat_map(|t| &t.patches) {
                if *del > 0 {
                    text.remove_range(&mut txn, *pos, *del);
                }
                if !ins.is_empty() {
                    text.insert(&mut txn, *pos, ins);
                }
            }
            let update = txn.encode_update_v1();
            drop(txn);
            if k > 0 {
                let decoded = yrs::Update::decode_v1(&update)
                    .map_err(|e| BenchError::Update(e.to_string()))?;
                doc.transact_mut()
                    .apply_update(decoded)
                    .map_err(|e| BenchError::Update(e.to_string()))?;
            }
            out.push(update);
        }
        if text.get_string(&copy.transact()) != trace.end_content {
            return Err(BenchError::Mismatch(
                "local replay differs from the trace's endContent".into(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_a_small_trace_and_checks_the_end() {
        let json = r#"{"startContent":"","endContent":"hey world",
            "txns":[{"patches":[[0,0,"hello"]]},{"patches":[[5,0," world"],[1,4,"ey"]]}]}"#;
        let mut t: Trace = serde_json::from_str(json).unwrap();
        let doc = crate::walk::new_doc();
        assert_eq!(build_repeated(&t, &doc, 1, 1).unwrap().len(), 2);
        t.end_content = "wrong".into();
        assert!(build_repeated(&t, &crate::walk::new_doc(), 5, 1).is_err());
        t.end_content = "hey world".into();
        let doc = crate::walk::new_doc();
        assert_eq!(
            build_repeated(&t, &doc, 1, 3).unwrap().len(),
            6,
            "three copies"
        );
        for k in 0..3 {
            let text = doc.get_or_insert_text(root_name(k).as_str());
            assert_eq!(text.get_string(&doc.transact()), "hey world", "copy {k}");
        }
    }
}
