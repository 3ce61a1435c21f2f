//! The log positions this process appended, so that the SQLite watcher tells its own rows from
//! another program's.
//!
//! SQLite has no per-transaction setting a trigger could read (PostgreSQL's trigger names the
//! node from `plait.node`), and `PRAGMA data_version` moves for every other connection's commit,
//! this process's pool included. One writer at a time and AUTOINCREMENT make a transaction's
//! positions one contiguous range, so a range per transaction is enough.

use std::sync::Mutex;

use crate::store::Seq;

/// Ranges appended and not yet seen by the watcher; empty (and unused) on PostgreSQL.
#[derive(Debug, Default)]
pub struct OwnWrites {
    /// Off unless a watcher reads them: nothing would ever take them out.
    enabled: bool,
    ranges: Mutex<Vec<(Seq, Seq)>>,
}

impl OwnWrites {
    pub fn enabled() -> OwnWrites {
        OwnWrites {
            enabled: true,
            ranges: Mutex::default(),
        }
    }

    /// Whether positions are kept (a SQLite file, where a watcher reads them).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Notes positions an append is about to commit (`seqs` sorted).
    pub fn wrote(&self, seqs: &[Seq]) {
        let (Some(&first), Some(&last), true) = (seqs.first(), seqs.last(), self.enabled) else {
            return;
        };
        let mut ranges = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        ranges.push((first, last));
    }

    /// Whether this process appended every position in `from..=to` (then no other program
    /// wrote any of them, and they need not be read); forgets the ranges at or below `to` if so.
    pub fn covers(&self, from: Seq, to: Seq) -> bool {
        let mut ranges = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        ranges.sort_unstable();
        let mut next = from;
        for &(first, last) in ranges.iter() {
            if first > next {
                break;
            }
            next = next.max(last.saturating_add(1));
        }
        let covered = next > to;
        if covered {
            ranges.retain(|&(_, last)| last > to);
        }
        covered
    }

    /// Of `seqs` (sorted, all above `seen`'s previous value), those this process did not
    /// write; forgets the ranges at or below `upto`, which the watcher will not ask about again.
    pub fn others(&self, seqs: &[Seq], upto: Seq) -> Vec<Seq> {
        let mut ranges = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        let others = seqs
            .iter()
            .copied()
            .filter(|seq| !ranges.iter().any(|&(a, b)| (a..=b).contains(seq)))
            .collect();
        ranges.retain(|&(_, last)| last > upto);
        others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ranges_are_told_apart_and_forgotten_once_seen() {
        let own = OwnWrites::enabled();
        own.wrote(&[3, 4, 5]);
        own.wrote(&[9]);
        assert_eq!(own.others(&[3, 4, 5, 6, 7], 7), vec![6, 7]);
        assert_eq!(own.others(&[8, 9, 10], 10), vec![8, 10]);
        // Both ranges forgotten: a position seen again would be taken for another program's.
        assert_eq!(own.others(&[9], 10), vec![9]);
        own.wrote(&[11, 12]);
        own.wrote(&[13, 14, 15]);
        own.wrote(&[17]);
        assert!(own.covers(11, 15), "contiguous ranges cover");
        assert!(!own.covers(16, 17), "16 was another program's");
        assert!(own.covers(17, 17));
        assert!(!own.covers(18, 18), "forgotten once covered");
        let off = OwnWrites::default();
        off.wrote(&[1]);
        assert_eq!(off.others(&[1], 1), vec![1]);
    }
}
