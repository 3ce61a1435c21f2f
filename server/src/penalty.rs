//! Refuses quick reconnects after a permanent refusal.
//!
//! A client whose update is over a size limit is closed with a 44xx code. y-websocket 3.1+ stops
//! reconnecting on that range, but older providers reconnect at once and resend the same update
//! in their sync step 2: without this box, one oversized edit becomes a reconnect-and-resend loop
//! in which the server accepts a connection, greets it and reads megabytes several times a
//! second. Refusing the upgrade itself (HTTP 429) makes the provider's own exponential backoff
//! apply (a refused upgrade never counts as a successful connection), so the loop costs at most a
//! request every couple of seconds.
//!
//! Keyed by (peer address, document): it never affects other documents, and an honest colleague
//! behind the same address is only delayed by seconds. Behind a reverse proxy every peer shares
//! the proxy's address; see SECURITY.md.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// The first refusal lasts this long; each further strike doubles it, up to [`MAX_PENALTY`].
const FIRST_PENALTY: Duration = Duration::from_secs(1);
const MAX_PENALTY: Duration = Duration::from_secs(60);
/// A key with no strike for this long starts again from [`FIRST_PENALTY`].
const FORGET_AFTER: Duration = Duration::from_secs(300);
/// Bounds the map: beyond this many keys, expired entries are swept before inserting.
const SWEEP_ABOVE: usize = 10_000;

/// Who is in the box and until when.
#[derive(Default)]
pub struct PenaltyBox {
    entries: DashMap<(IpAddr, String), Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    strikes: u32,
    until: Instant,
    last_strike: Instant,
}

impl PenaltyBox {
    /// Records a permanent refusal of `peer` on `doc`.
    pub fn strike(&self, peer: IpAddr, doc: &str) {
        let now = Instant::now();
        if self.entries.len() > SWEEP_ABOVE {
            self.entries
                .retain(|_, e| now.duration_since(e.last_strike) < FORGET_AFTER);
        }
        let mut entry = self.entries.entry((peer, doc.to_owned())).or_insert(Entry {
            strikes: 0,
            until: now,
            last_strike: now,
        });
        if now.duration_since(entry.last_strike) >= FORGET_AFTER {
            entry.strikes = 0;
        }
        let penalty = FIRST_PENALTY
            .saturating_mul(2u32.saturating_pow(entry.strikes))
            .min(MAX_PENALTY);
        entry.strikes = entry.strikes.saturating_add(1);
        entry.until = now + penalty;
        entry.last_strike = now;
    }

    /// How long `peer` must still wait before connecting to `doc` again, if at all.
    pub fn remaining(&self, peer: IpAddr, doc: &str) -> Option<Duration> {
        let entry = *self.entries.get(&(peer, doc.to_owned()))?;
        entry.until.checked_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn strikes_escalate_and_stay_per_document() {
        let penalties = PenaltyBox::default();
        assert_eq!(penalties.remaining(PEER, "a"), None);
        penalties.strike(PEER, "a");
        let first = penalties.remaining(PEER, "a").unwrap_or_default();
        assert!(
            first > Duration::ZERO && first <= FIRST_PENALTY,
            "{first:?}"
        );
        penalties.strike(PEER, "a");
        let second = penalties.remaining(PEER, "a").unwrap_or_default();
        assert!(second > FIRST_PENALTY, "doubles: {second:?}");
        assert_eq!(
            penalties.remaining(PEER, "b"),
            None,
            "other documents are not affected"
        );
        for _ in 0..20 {
            penalties.strike(PEER, "a");
        }
        assert!(penalties.remaining(PEER, "a").unwrap_or_default() <= MAX_PENALTY);
    }
}
