//! Small helpers to build, read and compare yrs documents in assertions.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, ReadTxn, Snapshot, StateVector, Text, Transact, Update};

/// The text root `name` as a string ("" if absent).
pub fn text(doc: &Doc, name: &str) -> String {
    let text = doc.get_or_insert_text(name);
    let txn = doc.transact();
    text.get_string(&txn)
}

/// The map root `name`, every value rendered as a string.
pub fn map(doc: &Doc, name: &str) -> BTreeMap<String, String> {
    let map = doc.get_or_insert_map(name);
    let txn = doc.transact();
    map.iter(&txn)
        .map(|(k, v)| (k.to_string(), v.to_string(&txn)))
        .collect()
}

/// The CRDT identity of a document: its state vector and delete set. Two documents with equal
/// snapshots have integrated exactly the same operations.
pub fn snapshot(doc: &Doc) -> Snapshot {
    doc.transact().snapshot()
}

/// The document's full state as one v1 update.
pub fn encode_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// A fresh document holding `update` (for instance what `GET /api/docs/{doc}/update` returned).
pub fn doc_from_update(update: &[u8]) -> Result<Doc> {
    let doc = Doc::new();
    apply(&doc, update)?;
    Ok(doc)
}

/// Decodes and applies one v1 update.
pub fn apply(doc: &Doc, update: &[u8]) -> Result<()> {
    let update = Update::decode_v1(update).map_err(|e| anyhow!("undecodable update: {e}"))?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| anyhow!("update does not apply: {e}"))
}

/// A standalone update from client `client_id` that appends `chunk` to the text root `name`.
pub fn text_update(client_id: u64, name: &str, chunk: &str) -> Vec<u8> {
    let doc = Doc::with_client_id(client_id);
    let text = doc.get_or_insert_text(name);
    let mut txn = doc.transact_mut();
    text.push(&mut txn, chunk);
    txn.encode_update_v1()
}

/// Whether `update` carries operations of `client_id` (looking at the state vector it implies).
pub fn update_mentions_client(update: &[u8], client_id: u64) -> Result<bool> {
    let doc = doc_from_update(update)?;
    let sv = doc.transact().state_vector();
    Ok(sv.get(&yrs::ClientID::new(client_id)) > 0)
}

/// Appends `text` at the end of the doc's "t" text and returns that change as a v1 update.
pub fn edit(doc: &Doc, text: &str) -> Vec<u8> {
    let t = doc.get_or_insert_text("t");
    let before = doc.transact().state_vector();
    {
        let mut txn = doc.transact_mut();
        let len = t.len(&txn);
        t.insert(&mut txn, len, text);
    }
    doc.transact().encode_state_as_update_v1(&before)
}

/// The doc's "t" text (what [`edit`] writes).
pub fn text_of(doc: &Doc) -> String {
    text(doc, "t")
}

/// The update of issue 20 that overflowed the server's stack: one entry of root map "m" holding
/// arrays nested `depth` deep (2 bytes a level).
pub fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut bytes = vec![
        0x01, 0x01, 0x7b, 0x00, 0x28, 0x01, 0x01, b'm', 0x01, b'k', 0x01,
    ];
    for _ in 0..depth {
        bytes.extend_from_slice(&[0x75, 0x01]);
    }
    bytes.extend_from_slice(&[0x7e, 0x00]);
    bytes
}
