//! Loading an editing trace (josephg/editing-traces format) and turning it
//! into Yjs updates.
//!
//! Format: `{ "endContent": "...", "txns": [{ "patches": [[pos, del, "ins"]] }] }`,
//! positions in Unicode code points. Only ASCII traces are accepted, where
//! code points, bytes and yrs' text offsets agree (automerge-paper is ASCII).

use crate::error::{BenchError, Result};
use serde::Deserialize;
use std::io::Read;
use yrs::{GetString, ReadTxn, Text, Transact};

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

/// The updates that type a trace, and the document they make, encoded as one update.
pub struct Built {
    pub updates: Vec<Vec<u8>>,
    pub state: Vec<u8>,
}

/// Replay the trace into a document (text "text"), one update per `batch` trace transactions,
/// and check the result against `endContent`. With `repeat` > 1 the trace is typed again, by
/// another client each time, into the roots "text-1", "text-2", ... (a document `repeat` times
/// the trace's size and history). Each copy is typed into a document of its own and the copies'
/// states are merged without a document: applying every copy's updates to one growing document
/// took the generator ~25 min for 65 copies, typing them separately takes one copy's time each.
pub fn build_repeated(trace: &Trace, batch: usize, repeat: usize) -> Result<Built> {
    let mut updates = Vec::new();
    let mut states = Vec::new();
    for k in 0..repeat.max(1) {
        let copy = crate::walk::new_doc();
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
            updates.push(txn.encode_update_v1());
        }
        let txn = copy.transact();
        if text.get_string(&txn) != trace.end_content {
            return Err(BenchError::Mismatch(
                "local replay differs from the trace's endContent".into(),
            ));
        }
        states.push(txn.encode_state_as_update_v1(&Default::default()));
    }
    let state = yrs::merge_updates_v1(&states).map_err(|e| BenchError::Update(e.to_string()))?;
    Ok(Built { updates, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;

    #[test]
    fn replays_a_small_trace_and_checks_the_end() {
        let json = r#"{"startContent":"","endContent":"hey world",
            "txns":[{"patches":[[0,0,"hello"]]},{"patches":[[5,0," world"],[1,4,"ey"]]}]}"#;
        let mut t: Trace = serde_json::from_str(json).unwrap();
        assert_eq!(build_repeated(&t, 1, 1).unwrap().updates.len(), 2);
        t.end_content = "wrong".into();
        assert!(build_repeated(&t, 5, 1).is_err());
        t.end_content = "hey world".into();
        let built = build_repeated(&t, 1, 3).unwrap();
        assert_eq!(built.updates.len(), 6, "three copies");
        // The merged state and the updates applied one by one make the same three texts.
        let (from_state, from_updates) = (crate::walk::new_doc(), crate::walk::new_doc());
        for (doc, updates) in [
            (&from_state, vec![built.state.clone()]),
            (&from_updates, built.updates.clone()),
        ] {
            for u in updates {
                let u = yrs::Update::decode_v1(&u).unwrap();
                doc.transact_mut().apply_update(u).unwrap();
            }
            for k in 0..3 {
                let text = doc.get_or_insert_text(root_name(k).as_str());
                assert_eq!(text.get_string(&doc.transact()), "hey world", "copy {k}");
            }
        }
    }
}
