//! The writer's pure decisions, tested without a task or a store.

use std::sync::Arc;

use bytes::Bytes;

use crate::store::NewUpdate;

/// The head of the queue (`(document, update)` in order) that goes in the next transaction: at
/// most `max_updates` updates and `max_bytes` bytes, and always at least one update, however
/// big.
pub(super) fn next_batch<'a>(
    queue: impl Iterator<Item = (&'a str, &'a Bytes, &'a Option<Arc<str>>)>,
    max_updates: usize,
    max_bytes: usize,
) -> Vec<NewUpdate> {
    let mut bytes = 0usize;
    queue
        .take(max_updates.max(1))
        .take_while(|(_, data, _)| {
            let first = bytes == 0;
            bytes = bytes.saturating_add(data.len().max(1));
            first || bytes <= max_bytes
        })
        .map(|(doc, data, authors)| NewUpdate {
            doc: doc.to_owned(),
            data: data.clone(),
            authors: authors.clone(),
        })
        .collect()
}

/// Growth of one document's log since its last compaction.
#[derive(Debug, Default)]
pub(super) struct LogGrowth {
    pub rows: u64,
    pub bytes: u64,
}

impl LogGrowth {
    /// A compaction rewrites the whole snapshot, so it waits until the log holds at least
    /// `threshold` rows AND half the snapshot's size: compacting a large, busy document every few
    /// hundred rows would rewrite megabytes for kilobytes of change (quadratic in its size),
    /// while this way the rewriting stays proportional to what was written and a load still
    /// reads at most 1.5 × the snapshot.
    pub fn compaction_pays(&self, threshold: u64, snapshot_bytes: u64) -> bool {
        self.rows >= threshold && self.bytes.saturating_mul(2) >= snapshot_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stops_at_the_limits_but_takes_one_update_whatever_its_size() {
        let updates: Vec<(String, Bytes)> = [10, 20, 30, 5000, 1]
            .iter()
            .map(|&n| ("d".to_owned(), Bytes::from(vec![0u8; n])))
            .collect();
        let queue = || {
            updates
                .iter()
                .map(|(doc, data)| (doc.as_str(), data, &None))
        };
        let sizes =
            |batch: Vec<NewUpdate>| -> Vec<usize> { batch.iter().map(|u| u.data.len()).collect() };
        assert_eq!(sizes(next_batch(queue(), 2, 1000)), vec![10, 20]);
        assert_eq!(sizes(next_batch(queue(), 10, 60)), vec![10, 20, 30]);
        assert_eq!(
            sizes(next_batch(queue().skip(3), 10, 60)),
            vec![5000],
            "alone"
        );
        assert_eq!(sizes(next_batch(queue(), 0, 60)), vec![10], "never empty");
    }

    #[test]
    fn a_large_snapshot_waits_until_the_log_reaches_half_its_size() {
        let grown = LogGrowth {
            rows: 500,
            bytes: 1000,
        };
        assert!(
            grown.compaction_pays(500, 0),
            "no snapshot yet: rows decide"
        );
        assert!(grown.compaction_pays(500, 2000));
        assert!(
            !grown.compaction_pays(500, 2001),
            "log under half the snapshot"
        );
        let few = LogGrowth {
            rows: 499,
            bytes: 1_000_000,
        };
        assert!(!few.compaction_pays(500, 0), "under the row threshold");
    }
}
