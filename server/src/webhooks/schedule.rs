//! When a failed event is tried again: exponential backoff with jitter, and when to give up.

use std::time::Duration;

/// The retry schedule of `--webhook-retry-first`, `--webhook-retry-max` and
/// `--webhook-retry-window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The nominal wait after the first failure; it doubles after each further one...
    pub first: Duration,
    /// ...up to this.
    pub max: Duration,
    /// Retried for this long from the first attempt, then kept as failed.
    pub window: Duration,
}

impl Default for RetrySchedule {
    /// 5 s, 10 s, 20 s ... 1 h, 1 h ... for 24 h: about 30 attempts.
    fn default() -> Self {
        RetrySchedule {
            first: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            window: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetrySchedule {
    /// The nominal wait after the `attempt`-th failed attempt (1-based): `first * 2^(attempt-1)`,
    /// at most `max`.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1);
        if doublings >= u32::BITS {
            return self.max;
        }
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The wait after the `attempt`-th failure with "equal jitter": half the nominal wait plus
    /// a random part of the other half (`unit` in `[0, 1)`, from the caller's random source).
    /// Why jitter: after a receiver's outage, the events it refused do not all come back in
    /// the same instant; why only half: a receiver still gets at least half the nominal rest.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// [`delay`](Self::delay) with a fresh random draw.
    pub fn delay_now(&self, attempt: u32) -> Duration {
        self.delay(attempt, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_first_up_to_max() {
        let s = RetrySchedule::default();
        let secs: Vec<u64> = (1..=12).map(|a| s.nominal(a).as_secs()).collect();
        assert_eq!(
            secs,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        // Attempt counts far past any real one neither overflow nor pass the cap.
        assert_eq!(s.nominal(u32::MAX), s.max);
        assert_eq!(s.nominal(0), s.first);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_nominal_wait() {
        let s = RetrySchedule::default();
        for attempt in 1..=40 {
            let nominal = s.nominal(attempt);
            assert_eq!(s.delay(attempt, 0.0), nominal / 2);
            assert!(s.delay(attempt, 0.999_999) <= nominal);
            let random = s.delay_now(attempt);
            assert!(random >= nominal / 2 && random <= nominal, "{random:?}");
        }
    }

    /// The default schedule keeps retrying for the whole 24 h window, and does so in a bounded,
    /// modest number of attempts (the worst case: every wait drawn at its longest).
    #[test]
    fn the_default_schedule_covers_the_window_in_about_thirty_attempts() {
        let s = RetrySchedule::default();
        let (mut longest, mut attempts) = (Duration::ZERO, 0);
        while longest < s.window {
            attempts += 1;
            longest += s.nominal(attempts);
        }
        assert!((28..=35).contains(&attempts), "{attempts} attempts");
        let (mut shortest, mut attempts) = (Duration::ZERO, 0);
        while shortest < s.window {
            attempts += 1;
            shortest += s.delay(attempts, 0.0);
        }
        assert!(attempts <= 60, "{attempts} attempts at the shortest waits");
    }
}
