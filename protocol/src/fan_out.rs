//! The fan-out plan: which frames of one drain each connection of a document gets.
//!
//! Decided here, as a pure function, and dispatched by the server's document task. The rules
//! (see [`crate::coalesce`] for why):
//! - a connection that sent none of the drain's updates gets ONE frame, the merge of them all,
//!   the same bytes for every such connection;
//! - a connection that sent some gets every *other* update as its own frame (merging once per
//!   sender would cost O(senders²)), at once;
//! - and its own updates only once they are committed (the durable echo, [`Pick::Only`]);
//! - if the updates could not be merged (cannot happen for updates the document applied, but
//!   nobody is left behind if it does), everyone gets each update's frame.

/// Identifies a connection within its document (as the server numbers them).
pub type ConnId = u64;

/// Which frames of a drain a connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// All of them (only when they could not be merged into one).
    All,
    /// Everyone else's: a sender must not get its own update before it is durable.
    AllBut(ConnId),
    /// Its own, once durable: the echo.
    Only(ConnId),
}

impl Pick {
    /// Whether a frame that came from `from` (`None`: not from a connection, e.g. an HTTP post)
    /// is picked.
    pub fn takes(self, from: Option<ConnId>) -> bool {
        match self {
            Pick::All => true,
            Pick::AllBut(id) => from != Some(id),
            Pick::Only(id) => from == Some(id),
        }
    }
}

/// What one connection gets of a drain, at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The merged frame.
    Merged,
    /// Some of the updates' own frames.
    Frames(Pick),
    /// Nothing now (a lone sender: its update comes back as the echo).
    Nothing,
}

/// The plan for one drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    /// The connections that sent an update in the drain, sorted, each once.
    senders: Vec<ConnId>,
    /// Whether the updates were merged into one.
    merged: bool,
    /// How many updates the drain holds.
    updates: usize,
    /// Whether some connection of the document sent none of the updates.
    quiet_recipient: bool,
}

impl FanOut {
    /// The plan for a drain of `updates` updates from `senders` (sorted, deduplicated), merged or
    /// not, to the document's connections `recipients` (a sender may have left meanwhile).
    pub fn new(
        senders: Vec<ConnId>,
        merged: bool,
        updates: usize,
        recipients: impl IntoIterator<Item = ConnId>,
    ) -> FanOut {
        let quiet_recipient = recipients
            .into_iter()
            .any(|conn| senders.binary_search(&conn).is_err());
        FanOut {
            senders,
            merged,
            updates,
            quiet_recipient,
        }
    }

    /// Whether someone gets the merged frame (a connection that sent nothing).
    pub fn needs_merged_frame(&self) -> bool {
        self.merged && self.quiet_recipient
    }

    /// Whether the updates need frames of their own: for the senders (the others' updates now,
    /// their own as the echo), or for everyone if they could not be merged.
    pub fn needs_own_frames(&self) -> bool {
        !self.senders.is_empty() || !self.merged
    }

    /// What connection `conn` gets now.
    pub fn delivery(&self, conn: ConnId) -> Delivery {
        let sender = self.senders.binary_search(&conn).is_ok();
        match (sender, self.merged) {
            (false, true) => Delivery::Merged,
            (false, false) => Delivery::Frames(Pick::All),
            (true, _) if self.updates > 1 => Delivery::Frames(Pick::AllBut(conn)),
            (true, _) => Delivery::Nothing,
        }
    }

    /// The connections whose updates come back to them once committed (the echo).
    pub fn into_senders(self) -> Vec<ConnId> {
        self.senders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_senders_get_the_merge_and_senders_the_others_updates() {
        let plan = FanOut::new(vec![1, 3], true, 3, [1, 2, 3, 4]);
        assert!(plan.needs_merged_frame() && plan.needs_own_frames());
        assert_eq!(plan.delivery(2), Delivery::Merged);
        assert_eq!(plan.delivery(1), Delivery::Frames(Pick::AllBut(1)));
        assert_eq!(plan.delivery(3), Delivery::Frames(Pick::AllBut(3)));
    }

    #[test]
    fn a_lone_update_goes_to_the_others_merged_and_back_to_its_sender_later() {
        let plan = FanOut::new(vec![5], true, 1, [5, 6]);
        assert_eq!(plan.delivery(5), Delivery::Nothing);
        assert_eq!(plan.delivery(6), Delivery::Merged);
        // When every connection sent something, nobody needs the merge.
        let all_sent = FanOut::new(vec![1, 2], true, 2, [1, 2]);
        assert!(!all_sent.needs_merged_frame());
        // A sender that left does not count as a recipient who sent something.
        let one_left = FanOut::new(vec![1, 3], true, 2, [1, 2]);
        assert!(one_left.needs_merged_frame());
        assert_eq!(one_left.delivery(2), Delivery::Merged);
        // An HTTP post (no sender) needs no frames of its own.
        let posted = FanOut::new(Vec::new(), true, 1, [1, 2, 3]);
        assert!(!posted.needs_own_frames());
    }

    #[test]
    fn updates_that_could_not_be_merged_go_to_everyone_one_by_one() {
        let plan = FanOut::new(vec![1], false, 2, [1, 2, 3]);
        assert!(!plan.needs_merged_frame() && plan.needs_own_frames());
        assert_eq!(plan.delivery(2), Delivery::Frames(Pick::All));
        assert_eq!(plan.delivery(1), Delivery::Frames(Pick::AllBut(1)));
    }

    #[test]
    fn picks_select_by_origin() {
        assert!(Pick::All.takes(None) && Pick::All.takes(Some(1)));
        assert!(Pick::AllBut(1).takes(Some(2)) && !Pick::AllBut(1).takes(Some(1)));
        assert!(Pick::AllBut(1).takes(None));
        assert!(Pick::Only(1).takes(Some(1)) && !Pick::Only(1).takes(None));
    }
}
