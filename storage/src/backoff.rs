//! The wait between retries of something that keeps failing: doubling, up to a bound.

use std::time::Duration;

/// Waits `first`, then twice as long after each further failure, at most `max`; back to `first`
/// after a success. Why doubling: a database that is down for a while should not be asked a
/// hundred times a second, and one that comes back should be noticed within `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// The last wait handed out; `None` while nothing is failing.
    current: Option<Duration>,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            current: None,
        }
    }

    /// Something failed (again): how long to wait before the next try.
    pub fn failed(&mut self) -> Duration {
        let next = match self.current {
            None => self.first,
            Some(current) => current.saturating_mul(2).min(self.max),
        };
        self.current = Some(next);
        next
    }

    /// It worked: the next failure waits `first` again. Returns whether it had been failing.
    pub fn succeeded(&mut self) -> bool {
        self.current.take().is_some()
    }

    /// Whether the last try failed; and then, the wait it was given.
    pub fn failing(&self) -> Option<Duration> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_bound_and_starts_over_after_a_success() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(500));
        assert_eq!(backoff.failing(), None);
        let waits: Vec<Duration> = (0..5).map(|_| backoff.failed()).collect();
        assert_eq!(waits, vec![ms(100), ms(200), ms(400), ms(500), ms(500)]);
        assert_eq!(backoff.failing(), Some(ms(500)));
        assert!(backoff.succeeded());
        assert!(!backoff.succeeded());
        assert_eq!(backoff.failed(), ms(100));
    }
}
