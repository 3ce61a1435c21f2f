//! A token bucket: the per-connection message rate limit.

use tokio::time::Instant;

/// Allows `burst` messages at once and `rate` per second sustained. Why a bucket rather than a
/// fixed window: an editor's traffic is bursty (a paste, a reconnect's catch-up) and must pass,
/// while a client that floods for longer than the burst is cut off.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: None,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.take_up_to(now, 1) == 1
    }

    /// Takes up to `n` tokens, as many as there are; returns how many it took.
    pub fn take_up_to(&mut self, now: Instant, n: usize) -> usize {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(now);
        // Whole tokens only; the burst (a u32) bounds the count.
        let taken = (self.tokens.floor() as usize).min(n);
        self.tokens -= taken as f64;
        taken
    }

    /// Gives back `n` tokens taken but not used (never past the burst).
    pub fn give_back(&mut self, n: usize) {
        self.tokens = (self.tokens + n as f64).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5);
        assert!((0..5).all(|_| bucket.take(start)), "the burst passes");
        assert!(!bucket.take(start), "the sixth at once does not");
        // 10 per second: one more token every 100 ms.
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
        // Refill never exceeds the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..5).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }

    #[test]
    fn a_frame_of_many_messages_takes_what_there_is() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5);
        assert_eq!(bucket.take_up_to(start, 3), 3);
        assert_eq!(bucket.take_up_to(start, 40_000), 2, "only what is left");
        assert_eq!(bucket.take_up_to(start, 1), 0);
        bucket.give_back(1);
        assert!(bucket.take(start));
    }
}
