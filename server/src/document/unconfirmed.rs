//! Another node's updates this node applied before they were known to be stored, and this
//! node's own drains that must not be stored (nor acknowledged) before them.
//!
//! A node relays each update to the other nodes *before* its group commit, so theirs see it in
//! milliseconds. If that node dies before the commit, the update lives only in the other nodes'
//! memory; their clients build on it, and an edit that depends on it, acknowledged as stored,
//! is lost when the document is next read from SQL (Yjs drops what depends on missing content).
//! This happened: 513 of 1 284 acknowledged edits lost in one run of three nodes under kills.
//!
//! The rule (ARCHITECTURE.md, "Durable before acknowledged"): a drain of this node's own
//! updates goes to the writer only after every other node's update applied before it is known
//! stored (its commit's notification arrived here) or was handed to the writer by this node
//! itself. A node waits for the notification up to [`CONFIRM_WAIT`], then stores the update
//! itself: storing an update twice changes nothing in Yjs, and waiting first means that in the
//! normal case nothing is stored twice. The writer commits in submission order, so whatever a
//! drain depends on is committed with it or before it, and its echo means what it says.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// How long another node's update may stay unconfirmed before this node stores it itself.
/// The other node commits within its flush interval (100 ms by default) and its notification
/// follows at once; a dead node's never comes. An acknowledgement that depends on a dead
/// node's update is late by at most this.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(1);

/// One update another node relayed live, applied here.
struct Foreign {
    /// Orders foreign updates against the drains that may depend on them.
    id: u64,
    /// The update as the other node sent it: its stored row has exactly these bytes.
    sent: Bytes,
    /// What this node integrated of it, which this node's clients may depend on: what this node
    /// stores if the other node's row does not come.
    applied: Bytes,
    received: Instant,
}

/// A drain (`T`) waiting for the foreign updates applied before it.
struct Held<T> {
    /// The id of the last foreign update applied before the drain.
    after: u64,
    drain: T,
}

/// See the module documentation. `T` is what a drain hands to the writer.
pub struct Unconfirmed<T> {
    foreign: VecDeque<Foreign>,
    held: VecDeque<Held<T>>,
    next_id: u64,
}

impl<T> Default for Unconfirmed<T> {
    fn default() -> Self {
        Unconfirmed {
            foreign: VecDeque::new(),
            held: VecDeque::new(),
            next_id: 1,
        }
    }
}

impl<T> Unconfirmed<T> {
    /// Another node's live update `sent` was applied here, `applied` being what it changed.
    pub fn applied_live(&mut self, sent: Bytes, applied: Bytes, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        self.foreign.push_back(Foreign {
            id,
            sent,
            applied,
            received: now,
        });
    }

    /// A row another node committed arrived: the foreign update it is, if any, is stored.
    /// Returns the drains that no longer wait, in order.
    pub fn stored(&mut self, row: &[u8]) -> Vec<T> {
        if let Some(at) = self.foreign.iter().position(|f| f.sent[..] == *row) {
            let confirmed = self.foreign.remove(at);
            if let Some(confirmed) = confirmed {
                metrics::histogram!(crate::metrics::NODE_UNCONFIRMED_SECONDS)
                    .record(confirmed.received.elapsed().as_secs_f64());
            }
        }
        self.release()
    }

    /// A drain of this node's own updates: `Some` to store now, or `None` if it was held
    /// because a foreign update applied before it is not known stored (nor is an older held
    /// drain, which it may depend on).
    pub fn pass(&mut self, drain: T) -> Option<T> {
        if self.foreign.is_empty() && self.held.is_empty() {
            return Some(drain);
        }
        let after = self.next_id - 1;
        self.held.push_back(Held { after, drain });
        None
    }

    /// When the oldest unconfirmed foreign update is due to be stored by this node.
    pub fn due(&self) -> Option<Instant> {
        self.foreign.front().map(|f| f.received + CONFIRM_WAIT)
    }

    /// The foreign updates waited for long enough (all of them with `all`: shutting down), to
    /// hand to the writer now, then the drains that no longer wait, in the order to store them.
    pub fn expire(&mut self, now: Instant, all: bool) -> (Vec<Bytes>, Vec<T>) {
        let mut own = Vec::new();
        while let Some(front) = self.foreign.front() {
            if !all && front.received + CONFIRM_WAIT > now {
                break;
            }
            if let Some(foreign) = self.foreign.pop_front() {
                own.push(foreign.applied);
            }
        }
        (own, self.release())
    }

    /// Whether nothing waits: no foreign update unconfirmed, no drain held.
    pub fn is_empty(&self) -> bool {
        self.foreign.is_empty() && self.held.is_empty()
    }

    /// Takes the held drains whose foreign updates are all stored (or handed to the writer).
    fn release(&mut self) -> Vec<T> {
        let oldest = self.foreign.front().map_or(u64::MAX, |f| f.id);
        let mut released = Vec::new();
        while self.held.front().is_some_and(|held| held.after < oldest) {
            if let Some(held) = self.held.pop_front() {
                released.push(held.drain);
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn without_foreign_updates_a_drain_passes() {
        let mut waiting = Unconfirmed::default();
        assert_eq!(waiting.pass("d1"), Some("d1"));
        assert!(waiting.is_empty());
        assert_eq!(waiting.due(), None);
    }

    #[test]
    fn a_drain_waits_for_the_row_of_a_foreign_update_applied_before_it() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(bytes("a1"), bytes("a1"), now);
        assert_eq!(waiting.pass("d1"), None, "held behind a1");
        assert_eq!(
            waiting.pass("d2"),
            None,
            "behind d1, which it may depend on"
        );
        assert_eq!(waiting.stored(b"other row"), Vec::<&str>::new());
        assert_eq!(waiting.stored(b"a1"), vec!["d1", "d2"]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_drain_does_not_wait_for_foreign_updates_applied_after_it() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(bytes("a1"), bytes("a1"), now);
        assert_eq!(waiting.pass("d1"), None);
        waiting.applied_live(bytes("a2"), bytes("a2"), now);
        assert_eq!(waiting.pass("d2"), None);
        // a1's row: d1 may go, d2 still waits for a2.
        assert_eq!(waiting.stored(b"a1"), vec!["d1"]);
        assert_eq!(waiting.stored(b"a2"), vec!["d2"]);
    }

    #[test]
    fn a_foreign_update_whose_row_never_comes_is_stored_by_this_node() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(bytes("a1 as sent"), bytes("a1 as applied"), now);
        assert_eq!(waiting.pass("d1"), None);
        assert_eq!(waiting.due(), Some(now + CONFIRM_WAIT));
        let (own, drains) = waiting.expire(now + CONFIRM_WAIT / 2, false);
        assert!(own.is_empty() && drains.is_empty(), "not due yet");
        let (own, drains) = waiting.expire(now + CONFIRM_WAIT, false);
        assert_eq!(
            own,
            vec![bytes("a1 as applied")],
            "what this node holds of it"
        );
        assert_eq!(drains, vec!["d1"], "after it, in that order");
        assert!(waiting.is_empty());
    }

    #[test]
    fn at_shutdown_everything_goes_to_the_writer_in_order() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(bytes("a1"), bytes("a1"), now);
        assert_eq!(waiting.pass("d1"), None);
        waiting.applied_live(bytes("a2"), bytes("a2"), now);
        let (own, drains) = waiting.expire(now, true);
        assert_eq!(own, vec![bytes("a1"), bytes("a2")]);
        assert_eq!(drains, vec!["d1"]);
    }
}
