//! The three clocks of a connection (keepalive ping, silence timeout, token expiry) behind one
//! timer.
//!
//! Why one: each tokio `Sleep` is ~100 bytes inside every connection's task, and the silence
//! timeout used to be a fresh `timeout_at` per loop turn, registered with the timer wheel and
//! removed again for every frame. Here the connection keeps a single `Sleep`, armed for the
//! earliest deadline; a frame only moves a number forward. When the timer fires early (the client
//! spoke since it was armed) the connection just re-arms it.

use std::time::Duration;

use plait_protocol::codes;
use tokio::time::Instant;

/// What a connection must do when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The access token expired: close with 4401.
    Expired,
    /// The client said nothing for too long: close with this code (handshake or idle timeout).
    Silent(u16),
    /// Time for a keepalive ping.
    Ping,
    /// Nothing yet (the timer was armed for a deadline that has moved since).
    Nothing,
}

/// The connection's deadlines.
#[derive(Debug, Clone)]
pub struct Deadlines {
    ping_interval: Duration,
    idle_timeout: Duration,
    next_ping: Instant,
    /// Until the client has said something the shorter handshake timeout applies, so a client
    /// that upgrades and never speaks does not hold a connection for the whole idle timeout.
    silent_until: Instant,
    silence_code: u16,
    expires_at: Option<Instant>,
}

impl Deadlines {
    pub fn new(
        now: Instant,
        ping_interval: Duration,
        handshake_timeout: Duration,
        idle_timeout: Duration,
        expires_at: Option<Instant>,
    ) -> Self {
        Deadlines {
            ping_interval,
            idle_timeout,
            next_ping: now + ping_interval,
            silent_until: now + handshake_timeout,
            silence_code: codes::HANDSHAKE_TIMEOUT,
            expires_at,
        }
    }

    /// The client sent a frame (any frame, pongs included).
    pub fn heard(&mut self, now: Instant) {
        self.silent_until = now + self.idle_timeout;
        self.silence_code = codes::IDLE_TIMEOUT;
    }

    /// When the timer must fire next.
    pub fn next(&self) -> Instant {
        let earliest = self.next_ping.min(self.silent_until);
        self.expires_at.map_or(earliest, |at| earliest.min(at))
    }

    /// What is due at `now`, the most urgent first; a due ping is scheduled again.
    pub fn due(&mut self, now: Instant) -> Due {
        if self.expires_at.is_some_and(|at| at <= now) {
            Due::Expired
        } else if self.silent_until <= now {
            Due::Silent(self.silence_code)
        } else if self.next_ping <= now {
            self.next_ping = now + self.ping_interval;
            Due::Ping
        } else {
            Due::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn deadlines(now: Instant, expires_at: Option<Instant>) -> Deadlines {
        // ping every 30 s, handshake within 10 s, idle after 60 s
        Deadlines::new(now, 30 * S, 10 * S, 60 * S, expires_at)
    }

    #[test]
    fn a_silent_client_meets_the_handshake_timeout_first() {
        let t0 = Instant::now();
        let mut d = deadlines(t0, None);
        assert_eq!(d.next(), t0 + 10 * S);
        assert_eq!(d.due(t0 + 9 * S), Due::Nothing);
        assert_eq!(d.due(t0 + 10 * S), Due::Silent(codes::HANDSHAKE_TIMEOUT));
    }

    #[test]
    fn once_heard_the_idle_timeout_applies_and_pings_keep_their_rhythm() {
        let t0 = Instant::now();
        let mut d = deadlines(t0, None);
        d.heard(t0 + S);
        assert_eq!(
            d.next(),
            t0 + 30 * S,
            "the ping comes before the idle timeout"
        );
        assert_eq!(d.due(t0 + 30 * S), Due::Ping);
        assert_eq!(d.next(), t0 + 60 * S, "next ping at 60 s, idle at 61 s");
        assert_eq!(d.due(t0 + 60 * S), Due::Ping);
        assert_eq!(d.next(), t0 + 61 * S);
        assert_eq!(d.due(t0 + 61 * S), Due::Silent(codes::IDLE_TIMEOUT));
    }

    #[test]
    fn hearing_the_client_moves_the_idle_deadline_and_an_early_wake_is_nothing() {
        let t0 = Instant::now();
        let mut d = Deadlines::new(t0, 100 * S, 10 * S, 20 * S, None);
        d.heard(t0);
        let armed = d.next();
        assert_eq!(armed, t0 + 20 * S);
        d.heard(t0 + 15 * S);
        // The timer armed for 20 s fires; the client spoke at 15 s, so nothing is due until 35 s.
        assert_eq!(d.due(armed), Due::Nothing);
        assert_eq!(d.next(), t0 + 35 * S);
    }

    #[test]
    fn token_expiry_wins_over_everything_else() {
        let t0 = Instant::now();
        let mut d = deadlines(t0, Some(t0 + 5 * S));
        assert_eq!(d.next(), t0 + 5 * S);
        assert_eq!(d.due(t0 + 100 * S), Due::Expired);
    }
}
