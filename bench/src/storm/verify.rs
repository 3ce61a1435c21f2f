//! After the storm: does every document hold every edit every client made?

use crate::client::{connect_many, Target};
use crate::error::BenchError;
use crate::stats::Errors;
use std::time::Duration;
use tokio::time::Instant;
use yrs::updates::decoder::Decode;
use yrs::{Doc, Map, ReadTxn, Transact, Update};

/// How long the verifier retries a document that misses edits: an edit a client sent just
/// before the verifier connected may still be on its way through the server.
pub(super) const VERIFY_FOR: Duration = Duration::from_secs(5);

/// Open one fresh connection per document and count the expected keys it holds; documents
/// that miss some are tried again until [`VERIFY_FOR`] has passed. Returns (found, rounds).
pub(super) async fn verify(
    target: &Target,
    concurrency: usize,
    names: &[String],
    expected: &[Vec<String>],
    errors: &mut Errors,
) -> (usize, usize) {
    let give_up = Instant::now() + VERIFY_FOR;
    let mut found = vec![0usize; names.len()];
    let mut todo: Vec<usize> = (0..names.len())
        .filter(|&d| !expected[d].is_empty())
        .collect();
    let mut rounds = 0;
    while !todo.is_empty() {
        rounds += 1;
        let wanted = todo.iter().map(|&d| names[d].clone()).collect();
        let results = connect_many(target, wanted, concurrency).await;
        let mut again = Vec::new();
        let last = Instant::now() >= give_up;
        for (&d, r) in todo.iter().zip(results) {
            let counted = r.and_then(|s| {
                let doc = Doc::new();
                let u = Update::decode_v1(&s.step2).map_err(|e| BenchError::Update(e.to_string()));
                tokio::spawn(s.client.close());
                let mut txn = doc.transact_mut();
                txn.apply_update(u?)
                    .map_err(|e| BenchError::Update(e.to_string()))?;
                let map = txn.get_map("storm");
                Ok(expected[d]
                    .iter()
                    .filter(|k| map.as_ref().is_some_and(|m| m.contains_key(&txn, k)))
                    .count())
            });
            match counted {
                Ok(n) => found[d] = n,
                Err(e) if last => errors.push(format!("verifier of {}: {e}", names[d])),
                Err(_) => {}
            }
            if found[d] < expected[d].len() {
                again.push(d);
            }
        }
        if last {
            break;
        }
        todo = again;
        if !todo.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    (found.iter().sum(), rounds)
}
