//! When a document is due to be rendered for the projection table: [`SETTLE`] after its last
//! change, at least every [`MAX_LAG`] while changes keep coming (see [`crate::projection`]).
//! Pure time arithmetic; the task acts on it (`projection`).

use std::time::Duration;

use tokio::time::Instant;

use crate::projection::{MAX_LAG, SETTLE};

/// How long a settled document whose own updates are still being committed waits to look again.
const COMMIT_WAIT: Duration = Duration::from_millis(100);

/// The changes not rendered yet: since when, and the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unprojected {
    since: Instant,
    last: Instant,
}

impl Unprojected {
    /// `current` after a change at `now`.
    pub fn changed(current: Option<Unprojected>, now: Instant) -> Unprojected {
        Unprojected {
            since: current.map_or(now, |u| u.since),
            last: now,
        }
    }

    /// When the rendering is due.
    pub fn due(self) -> Instant {
        (self.last + SETTLE).min(self.since + MAX_LAG)
    }

    /// Whether to render at `now`, given whether this node's own updates still wait for their
    /// commit; `Err` holds the state to wait with (a settled document waits for its commits,
    /// up to [`MAX_LAG`]).
    pub fn render_at(self, now: Instant, committing: bool) -> Result<(), Unprojected> {
        if self.due() > now {
            return Err(self);
        }
        if committing && now < self.since + MAX_LAG {
            return Err(Unprojected {
                since: self.since,
                last: now + COMMIT_WAIT - SETTLE,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_after_the_settle_or_the_max_lag_and_waits_for_commits() {
        let t0 = Instant::now();
        let u = Unprojected::changed(None, t0);
        assert_eq!(u.due(), t0 + SETTLE);
        assert!(u.render_at(t0, false).is_err());
        assert_eq!(u.render_at(t0 + SETTLE, false), Ok(()));
        // Continuous typing: each change pushes the settle, never past the max lag.
        let mut u = u;
        let mut now = t0;
        while now < t0 + MAX_LAG {
            now += Duration::from_millis(300);
            u = Unprojected::changed(Some(u), now);
        }
        assert_eq!(u.due(), t0 + MAX_LAG);
        // Settled but committing: look again shortly, unless the max lag has passed.
        let settled = Unprojected::changed(None, t0);
        let waiting = settled.render_at(t0 + SETTLE, true).expect_err("waits");
        assert_eq!(waiting.due(), t0 + SETTLE + COMMIT_WAIT);
        assert_eq!(settled.render_at(t0 + MAX_LAG, true), Ok(()));
    }
}
