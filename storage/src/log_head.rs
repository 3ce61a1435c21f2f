//! The highest log position this process knows to be committed, for whoever waits for new
//! rows (the change feed's streams).
//!
//! Raised by this process's own commits (the writer), by the other nodes' and other programs'
//! commits as the bus hears them (PostgreSQL's trigger notifications, SQLite's `data_version`
//! watch). A waiter reads the log itself: the head only says when to look again.

use tokio::sync::watch;

use crate::store::Seq;

/// See the module documentation.
#[derive(Debug)]
pub struct LogHead {
    head: watch::Sender<Seq>,
}

impl Default for LogHead {
    fn default() -> Self {
        LogHead {
            head: watch::Sender::new(0),
        }
    }
}

impl LogHead {
    /// Rows up to `seq` committed (ignored if not higher than what is known).
    pub fn advanced(&self, seq: Option<Seq>) {
        let Some(seq) = seq else {
            return;
        };
        self.head.send_if_modified(|head| {
            let higher = seq > *head;
            if higher {
                *head = seq;
            }
            higher
        });
    }

    /// A receiver that wakes when the head moves.
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        self.head.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_only_moves_forward_and_wakes_only_when_it_does() {
        let head = LogHead::default();
        let mut seen = head.subscribe();
        head.advanced(Some(5));
        assert!(seen.has_changed().unwrap_or(false));
        assert_eq!(*seen.borrow_and_update(), 5);
        head.advanced(Some(3));
        head.advanced(None);
        assert!(!seen.has_changed().unwrap_or(true));
        assert_eq!(*seen.borrow(), 5);
    }
}
