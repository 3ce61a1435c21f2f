//! The presence tick: the awareness changes of a moment announced together, to this node's
//! connections and to the other nodes that have the document open.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use plait_protocol::session;
use tokio::time::Instant;
use tracing::debug;
use yrs::block::ClientID;

use super::task::DocTask;
use crate::cluster::broadcaster::Broadcaster;

/// How often, while other nodes' clients are present, the document looks for those that were
/// not renewed in time (see [`plait_protocol::session::presence::REMOTE_TIMEOUT`]).
pub(super) const NODE_PRESENCE_SWEEP: Duration = Duration::from_secs(5);

/// Presence (cursors, names) is batched per tick: in a busy room every client renews its state
/// about once a second, and one frame per change per recipient would cost O(clients²) sends per
/// second. Per tick it is one frame per recipient, so the tick grows with the room to keep a
/// document's presence near 10 000 frames/s at most: 30 ms up to 300 connections, 50 ms at 500,
/// 100 ms from 1000 on. A cursor that much late is still invisible.
pub(super) fn awareness_tick(connections: usize) -> Duration {
    const MIN: Duration = Duration::from_millis(30);
    const MAX: Duration = Duration::from_millis(100);
    const PER_CONNECTION: Duration = Duration::from_micros(100);
    let connections = u32::try_from(connections).unwrap_or(u32::MAX);
    PER_CONNECTION.saturating_mul(connections).clamp(MIN, MAX)
}

impl DocTask {
    /// Schedules the announcement of this drain's awareness changes, at most one tick away.
    pub(super) fn schedule_awareness(&mut self) {
        if !self.awareness_changed.is_empty() {
            // Sooner than a pending sweep for other nodes' silent clients.
            let tick = Instant::now() + awareness_tick(self.conns.len());
            self.awareness_due = Some(self.awareness_due.map_or(tick, |due| due.min(tick)));
        }
    }

    /// Announces every awareness change since the last tick to every connection, in one frame,
    /// and those of this node's own clients to the other nodes that have the document open.
    /// Other nodes' clients that were not renewed in time leave here.
    pub(super) fn flush_awareness(&mut self) {
        let now = Instant::now();
        let swept = session::expire_node_presence(&mut self.state, now.into_std());
        self.awareness_changed.extend(swept.expired);
        if swept.others_present {
            self.awareness_due = Some(now + NODE_PRESENCE_SWEEP);
        }
        if self.awareness_changed.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut self.awareness_changed);
        if let Some(frame) = self.state.awareness_frame(&changed) {
            self.broadcast(Bytes::from(frame));
        }
        self.tell_nodes_presence(Some(&changed));
    }

    /// Tells the other nodes that have the document open of this node's own clients among
    /// `changed` (all present ones with `None`).
    pub(super) fn tell_nodes_presence(&self, changed: Option<&HashSet<ClientID>>) {
        let name = &self.ctx.name;
        let Some(broadcaster) = self.ctx.broadcaster.as_ref().filter(|b| b.wanted(name)) else {
            return;
        };
        let capacity = Broadcaster::presence_capacity(name);
        let (pieces, left_out) = session::presence_for_nodes(&self.state, changed, capacity);
        if left_out > 0 {
            debug!(
                doc = %name,
                left_out,
                "presence states too large to tell the other nodes of"
            );
        }
        broadcaster.presence(name, pieces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presence_tick_grows_with_the_room_within_bounds() {
        assert_eq!(awareness_tick(2), Duration::from_millis(30));
        assert_eq!(awareness_tick(300), Duration::from_millis(30));
        assert_eq!(awareness_tick(500), Duration::from_millis(50));
        assert_eq!(awareness_tick(1000), Duration::from_millis(100));
        assert_eq!(awareness_tick(usize::MAX), Duration::from_millis(100));
    }
}
