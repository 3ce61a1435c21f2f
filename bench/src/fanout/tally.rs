//! One fanout client's tallies: what it sent, what reached it from the others, its own updates
//! coming back (the echo), and the latency histograms of each, merged after the trial.

use crate::stats::{new_hist, record, Errors};
use crate::walk::{for_each_stamp, for_each_string, validate};
use hdrhistogram::Histogram;
use tokio::time::Instant;

/// The trial's clock and checks, the same for every client.
pub(super) struct Timing {
    /// Stamps count microseconds from here.
    pub epoch: Instant,
    /// Updates scheduled before this many microseconds are counted but not timed.
    pub warmup_us: u64,
    /// Also run yrs' full decode on every received update.
    pub validate: bool,
}

/// One client's tallies, merged after the trial.
pub(super) struct Tally {
    pub(super) sent: u64,
    pub(super) delivered: u64,
    pub(super) echoes: u64,
    /// Bytes of the Yjs updates this client sent (the edit bytes, without framing).
    pub(super) sent_update_bytes: u64,
    pub(super) from_send: Histogram<u64>,
    pub(super) from_schedule: Histogram<u64>,
    pub(super) send_lag: Histogram<u64>,
    /// Own update back: from the actual send, and from the schedule.
    pub(super) echo: Histogram<u64>,
    pub(super) echo_from_schedule: Histogram<u64>,
    pub(super) frames: u64,
    pub(super) bytes: u64,
    pub(super) last_delivery: Option<Instant>,
    pub(super) errors: Errors,
}

impl Tally {
    pub(super) fn new() -> Self {
        Tally {
            sent: 0,
            delivered: 0,
            echoes: 0,
            sent_update_bytes: 0,
            from_send: new_hist(),
            from_schedule: new_hist(),
            send_lag: new_hist(),
            echo: new_hist(),
            echo_from_schedule: new_hist(),
            frames: 0,
            bytes: 0,
            last_delivery: None,
            errors: Errors::default(),
        }
    }

    /// Stamps from other clients are deliveries, our own are self-echoes
    /// (Plait sends them back as a durable acknowledgement, others echo too).
    pub(super) fn on_update(
        &mut self,
        u: &[u8],
        me: yrs::block::ClientID,
        now: Instant,
        plan: &Timing,
    ) {
        if plan.validate {
            if let Err(e) = validate(u) {
                self.errors.push(e);
            }
        }
        let now_us = now.duration_since(plan.epoch).as_micros() as u64;
        let before = self.delivered;
        let res = for_each_string(u, |client, s| {
            for_each_stamp(s, |sched, lag| {
                if client == me {
                    self.echoes += 1;
                    if sched >= plan.warmup_us {
                        record(&mut self.echo_from_schedule, now_us.saturating_sub(sched));
                        record(&mut self.echo, now_us.saturating_sub(sched + lag));
                    }
                    return;
                }
                self.delivered += 1;
                if sched >= plan.warmup_us {
                    record(&mut self.from_schedule, now_us.saturating_sub(sched));
                    record(&mut self.from_send, now_us.saturating_sub(sched + lag));
                }
            })
        });
        if let Err(e) = res {
            self.errors.push(e);
        }
        if self.delivered > before {
            self.last_delivery = Some(now);
        }
    }

    /// Adds one client's tallies to the trial's (the latest delivery is the later of both).
    pub(super) fn absorb(&mut self, t: &Tally) {
        self.sent += t.sent;
        self.delivered += t.delivered;
        self.echoes += t.echoes;
        self.sent_update_bytes += t.sent_update_bytes;
        self.frames += t.frames;
        self.bytes += t.bytes;
        let _ = self.from_send.add(&t.from_send);
        let _ = self.from_schedule.add(&t.from_schedule);
        let _ = self.send_lag.add(&t.send_lag);
        let _ = self.echo.add(&t.echo);
        let _ = self.echo_from_schedule.add(&t.echo_from_schedule);
        self.last_delivery = self.last_delivery.max(t.last_delivery);
    }
}
