//! Another node's updates this node applied before they were known to be stored, and the
//! acknowledgements of this node's own drains that must not leave before them.
//!
//! A node relays each update to the other nodes *before* its group commit, so theirs see it in
//! milliseconds. If that node dies before the commit, the update lives only in the other nodes'
//! memory; their clients build on it, and an edit that depends on it, acknowledged as stored,
//! is lost when the document is next read from SQL (Yjs drops what depends on missing content).
//! This happened: 513 of 1 284 acknowledged edits lost in one run of three nodes under kills.
//!
//! The rule (ARCHITECTURE.md, "Durable before acknowledged"): a drain of this node's own updates
//! goes to the writer at once, but its acknowledgement (the echo, an HTTP post's answer) leaves
//! only once every other node's update applied before it is known stored too: its commit's
//! notification arrived here, or this node stored it itself. A node waits for the notification
//! up to [`CONFIRM_WAIT`], then stores the update itself: storing an update twice changes nothing
//! in Yjs, and waiting first means that in the normal case nothing is stored twice.
//!
//! Holding the drain itself, as this module did first, made a convoy: with every node typing
//! into one document, a node's commit waited for another's, which waited for a third's, until
//! the 1 s cut (echoes 0.6–1.1 s late, most cross-node updates stored twice). Only the
//! acknowledgement waits now, so no node's commit waits for another's. The price: for a moment,
//! the log may hold a row whose dependency is still on its way to another node's commit, so a
//! compaction folds only up to such a row (`plait_storage`'s `compact`) and a node that reads it
//! from SQL reads again a little later (`cluster::catch_up`).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// How long another node's update may stay unconfirmed before this node stores it itself.
/// The other node commits within its flush interval (100 ms by default) and its notification
/// follows at once; a dead node's never comes. An acknowledgement that depends on a dead
/// node's update is late by at most this.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(1);

/// Orders foreign updates against the acknowledgements that may depend on them. The document
/// task numbers them, so the numbers keep growing while no `Unconfirmed` exists.
pub type ForeignId = u64;

/// One update another node relayed live, applied here.
struct Foreign {
    id: ForeignId,
    /// The update as the other node sent it: its stored row has exactly these bytes.
    sent: Bytes,
    /// What this node integrated of it, which this node's clients may depend on: what this node
    /// stores if the other node's row does not come. `None` once handed to the writer here.
    applied: Option<Bytes>,
    received: Instant,
}

/// An acknowledgement (`T`) whose drain is stored, waiting for the foreign updates applied
/// before the drain.
struct Held<T> {
    /// The id of the last foreign update applied before the drain.
    after: ForeignId,
    ack: T,
}

/// See the module documentation. `T` is what acknowledges a stored drain.
pub struct Unconfirmed<T> {
    foreign: VecDeque<Foreign>,
    held: VecDeque<Held<T>>,
}

impl<T> Default for Unconfirmed<T> {
    fn default() -> Self {
        Unconfirmed {
            foreign: VecDeque::new(),
            held: VecDeque::new(),
        }
    }
}

impl<T> Unconfirmed<T> {
    /// Another node's live update `sent` was applied here, `applied` being what it changed; `id`
    /// is higher than any before it.
    pub fn applied_live(&mut self, id: ForeignId, sent: Bytes, applied: Bytes, now: Instant) {
        self.foreign.push_back(Foreign {
            id,
            sent,
            applied: Some(applied),
            received: now,
        });
    }

    /// What a drain handed to the writer now must wait for before its acknowledgement: the last
    /// foreign update applied before it, if any is not known stored. `None`: nothing.
    pub fn mark(&self) -> Option<ForeignId> {
        self.foreign.back().map(|f| f.id)
    }

    /// A drain marked `after` (see [`Unconfirmed::mark`]) was committed: `Some(ack)` to send
    /// now, or `None` if it was held until what it may depend on is stored too.
    pub fn committed(&mut self, after: Option<ForeignId>, ack: T) -> Option<T> {
        // An older acknowledgement still held goes first: its drain may be what this one's
        // depends on, and its client sees its edits saved in order.
        let waits = !self.held.is_empty() || after.is_some_and(|after| after >= self.oldest());
        if !waits {
            return Some(ack);
        }
        self.held.push_back(Held {
            after: after.unwrap_or(0),
            ack,
        });
        None
    }

    /// A row another node committed arrived: the foreign update it is, if any, is stored.
    /// Returns the acknowledgements that no longer wait, in order.
    pub fn stored(&mut self, row: &[u8]) -> Vec<T> {
        if let Some(at) = self.foreign.iter().position(|f| f.sent[..] == *row) {
            if let Some(confirmed) = self.foreign.remove(at) {
                metrics::histogram!(crate::metrics::NODE_UNCONFIRMED_SECONDS)
                    .record(confirmed.received.elapsed().as_secs_f64());
            }
        }
        self.release()
    }

    /// This node's own row of foreign update `id` (see [`Unconfirmed::expire`]) was committed.
    pub fn stored_here(&mut self, id: ForeignId) -> Vec<T> {
        self.foreign.retain(|f| f.id != id);
        self.release()
    }

    /// When the oldest foreign update not handed to the writer yet is due to be stored here.
    pub fn due(&self) -> Option<Instant> {
        self.foreign
            .iter()
            .find(|f| f.applied.is_some())
            .map(|f| f.received + CONFIRM_WAIT)
    }

    /// The foreign updates waited for long enough (all of them with `all`: shutting down), to
    /// hand to the writer now; each stays unconfirmed until [`Unconfirmed::stored_here`] or
    /// [`Unconfirmed::stored`] says its row is committed.
    pub fn expire(&mut self, now: Instant, all: bool) -> Vec<(ForeignId, Bytes)> {
        let mut own = Vec::new();
        for foreign in &mut self.foreign {
            if !all && foreign.received + CONFIRM_WAIT > now {
                break;
            }
            if let Some(applied) = foreign.applied.take() {
                own.push((foreign.id, applied));
            }
        }
        own
    }

    /// Whether nothing waits: no foreign update unconfirmed, no acknowledgement held.
    pub fn is_empty(&self) -> bool {
        self.foreign.is_empty() && self.held.is_empty()
    }

    /// The id of the oldest foreign update not known stored (`MAX`: none).
    fn oldest(&self) -> ForeignId {
        self.foreign.front().map_or(ForeignId::MAX, |f| f.id)
    }

    /// Takes the held acknowledgements whose foreign updates are all stored.
    fn release(&mut self) -> Vec<T> {
        let oldest = self.oldest();
        let mut released = Vec::new();
        while self.held.front().is_some_and(|held| held.after < oldest) {
            if let Some(held) = self.held.pop_front() {
                released.push(held.ack);
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
    fn without_foreign_updates_a_drain_is_acknowledged_at_its_commit() {
        let mut waiting = Unconfirmed::default();
        assert_eq!(waiting.mark(), None);
        assert_eq!(waiting.committed(None, "d1"), Some("d1"));
        assert!(waiting.is_empty());
        assert_eq!(waiting.due(), None);
    }

    #[test]
    fn an_acknowledgement_waits_for_the_row_of_a_foreign_update_applied_before_its_drain() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(1, bytes("a1"), bytes("a1"), now);
        let d1 = waiting.mark();
        let d2 = waiting.mark();
        assert!(d1.is_some(), "a1 is not known stored");
        assert_eq!(waiting.committed(d1, "d1"), None, "held behind a1");
        assert_eq!(
            waiting.committed(d2, "d2"),
            None,
            "behind d1, which it may depend on"
        );
        assert_eq!(waiting.stored(b"other row"), Vec::<&str>::new());
        assert_eq!(waiting.stored(b"a1"), vec!["d1", "d2"]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_foreign_row_that_arrives_before_the_commit_holds_nothing() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(2, bytes("a1"), bytes("a1"), now);
        let d1 = waiting.mark();
        assert!(waiting.stored(b"a1").is_empty());
        assert_eq!(waiting.committed(d1, "d1"), Some("d1"));
        assert!(waiting.is_empty());
    }

    #[test]
    fn an_acknowledgement_does_not_wait_for_foreign_updates_applied_after_its_drain() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(3, bytes("a1"), bytes("a1"), now);
        let d1 = waiting.mark();
        waiting.applied_live(4, bytes("a2"), bytes("a2"), now);
        let d2 = waiting.mark();
        assert_eq!(waiting.committed(d1, "d1"), None);
        assert_eq!(waiting.committed(d2, "d2"), None);
        // a1's row: d1 may go, d2 still waits for a2.
        assert_eq!(waiting.stored(b"a1"), vec!["d1"]);
        assert_eq!(waiting.stored(b"a2"), vec!["d2"]);
    }

    #[test]
    fn a_foreign_update_whose_row_never_comes_is_stored_by_this_node() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(5, bytes("a1 as sent"), bytes("a1 as applied"), now);
        let d1 = waiting.mark();
        assert_eq!(waiting.committed(d1, "d1"), None);
        assert_eq!(waiting.due(), Some(now + CONFIRM_WAIT));
        assert!(
            waiting.expire(now + CONFIRM_WAIT / 2, false).is_empty(),
            "not due yet"
        );
        let own = waiting.expire(now + CONFIRM_WAIT, false);
        let [(id, applied)] = own.as_slice() else {
            panic!("one update to store: {own:?}");
        };
        assert_eq!(
            applied,
            &bytes("a1 as applied"),
            "what this node holds of it"
        );
        assert_eq!(waiting.due(), None, "handed to the writer: not due again");
        assert!(
            waiting.expire(now + CONFIRM_WAIT * 2, false).is_empty(),
            "handed once"
        );
        assert_eq!(waiting.stored_here(*id), vec!["d1"], "once it is committed");
        assert!(waiting.is_empty());
    }

    #[test]
    fn the_other_nodes_row_may_still_come_after_this_node_stored_it() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::default();
        waiting.applied_live(6, bytes("a1"), bytes("a1"), now);
        let d1 = waiting.mark();
        assert_eq!(waiting.committed(d1, "d1"), None);
        let own = waiting.expire(now + CONFIRM_WAIT, false);
        assert_eq!(own.len(), 1);
        assert_eq!(waiting.stored(b"a1"), vec!["d1"]);
        assert!(waiting.stored_here(own[0].0).is_empty());
        assert!(waiting.is_empty());
    }

    #[test]
    fn at_shutdown_every_foreign_update_goes_to_the_writer() {
        let now = Instant::now();
        let mut waiting = Unconfirmed::<&str>::default();
        waiting.applied_live(7, bytes("a1"), bytes("a1"), now);
        waiting.applied_live(8, bytes("a2"), bytes("a2"), now + CONFIRM_WAIT);
        let own = waiting.expire(now, true);
        let applied: Vec<&Bytes> = own.iter().map(|(_, applied)| applied).collect();
        assert_eq!(applied, vec![&bytes("a1"), &bytes("a2")]);
    }
}
