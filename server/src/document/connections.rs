//! The document task's connection table: queuing frames to each connection, and closing those
//! that cannot keep up.

use std::collections::HashSet;

use bytes::Bytes;
use plait_protocol::codes;
use plait_protocol::session;
use tracing::{debug, warn};
use yrs::block::ClientID;

use super::handle::CloseReason;
use super::outbound::{ConnId, Outbound};
use super::task::DocTask;

impl DocTask {
    /// Sends a frame to every connection.
    pub(super) fn broadcast(&mut self, frame: Bytes) {
        self.send_each(|_| Some(Outbound::Frame(frame.clone())));
    }

    /// Queues `frame_for(id)` to each connection it returns a frame for, then disconnects those
    /// whose queue was full.
    pub(super) fn send_each(&mut self, frame_for: impl Fn(ConnId) -> Option<Outbound>) {
        let mut failed = Vec::new();
        for (&id, conn) in &self.conns {
            let Some(frame) = frame_for(id) else {
                continue;
            };
            if let Err(error) = conn.link.outbound.try_send(frame) {
                failed.push((id, error));
            }
        }
        for (id, error) in failed {
            self.send_failed(id, error);
        }
    }

    /// Sends a frame to one connection; returns false if it had to be dropped.
    pub(super) fn send_to(&mut self, conn_id: ConnId, frame: Outbound) -> bool {
        let Some(conn) = self.conns.get(&conn_id) else {
            return false;
        };
        if let Err(error) = conn.link.outbound.try_send(frame) {
            self.send_failed(conn_id, error);
            return false;
        }
        true
    }

    /// A connection whose queue is full is closed rather than skipped: skipping would leave its
    /// client silently out of sync. One whose socket is already gone (its `Leave` is still on the
    /// way) is only removed: its client left, it did not fall behind.
    fn send_failed(&mut self, conn_id: ConnId, error: flume::TrySendError<Outbound>) {
        match error {
            flume::TrySendError::Full(_) => self.drop_slow(conn_id),
            flume::TrySendError::Disconnected(_) => {
                debug!(conn_id, "connection closed before its leave arrived");
                self.remove_conn(conn_id);
            }
        }
    }

    fn drop_slow(&mut self, conn_id: ConnId) {
        warn!(
            doc = %self.ctx.name,
            conn_id,
            "connection cannot keep up; disconnecting so it resyncs"
        );
        self.kill(
            conn_id,
            CloseReason::new(
                codes::SLOW_CONSUMER,
                "too slow to keep up; reconnect to resync",
            ),
        );
    }

    pub(super) fn kill(&mut self, conn_id: ConnId, reason: CloseReason) {
        if let Some(conn) = self.conns.get(&conn_id) {
            let _ = conn.link.close.try_send(reason);
        }
        self.remove_conn(conn_id);
    }

    pub(super) fn remove_conn(&mut self, conn_id: ConnId) {
        let Some(mut conn) = self.conns.remove(&conn_id) else {
            return;
        };
        debug!(conn_id, connections = self.conns.len(), "left");
        // Its clients, for the other nodes' removal; collected only if one has the document open.
        let shared = self
            .ctx
            .broadcaster
            .as_ref()
            .is_some_and(|b| b.wanted(&self.ctx.name));
        let clients: Option<HashSet<ClientID>> =
            shared.then(|| conn.session.awareness_clients().collect());
        if let Some(frame) = session::close(&mut self.state, &mut conn.session) {
            self.broadcast(Bytes::from(frame));
            if let Some(clients) = &clients {
                self.tell_nodes_presence(Some(clients));
            }
        }
    }

    /// Closes every connection (the server is stopping). Their presence is not announced as
    /// removed to the other nodes: the clients reconnect, through the load balancer, to another
    /// node and re-send their state with the clock it already has there, which a removal would
    /// have turned into a tombstone, hiding them until their next renewal (up to 15 s). Those that
    /// do not come back leave the other nodes' lists within [`REMOTE_TIMEOUT`] and a sweep.
    ///
    /// [`REMOTE_TIMEOUT`]: plait_protocol::session::presence::REMOTE_TIMEOUT
    pub(super) fn close_all(&mut self, reason: CloseReason) {
        for conn in self.conns.values() {
            let _ = conn.link.close.try_send(reason.clone());
        }
        self.conns.clear();
    }
}
