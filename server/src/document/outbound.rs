//! What a document task queues for one connection's socket, and the queue itself.
//!
//! The queue is bounded twice: in entries (`--outbound-queue`) and in bytes
//! (`--outbound-queue-bytes`). Entries alone did not bound memory: one frame of 4 096 sync step 1
//! messages queued the whole document 4 096 times (a 256 KB document took the process from
//! 18 MB to over 1 GB, from a read-only token). A connection whose queue is full either way is
//! disconnected (4000) so that its client resyncs; nothing is ever skipped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

pub use plait_protocol::fan_out::{ConnId, Pick};

/// One drain's updates as frames, each with the connection it came from (None: HTTP post).
pub type DrainFrames = Arc<[(Option<ConnId>, Bytes)]>;

/// What the document task queues for a connection's socket.
///
/// It exists so that one drain costs one queue entry per recipient however many updates it
/// holds: the drain's frames are encoded once and shared, and each entry only says which of them
/// its connection gets.
#[derive(Debug, Clone)]
pub enum Outbound {
    Frame(Bytes),
    /// Some of one drain's update frames.
    Drain {
        frames: DrainFrames,
        pick: Pick,
    },
    /// `count` Hocuspocus `SyncStatus` acknowledgements (see `Acks::SyncStatus`): the
    /// connection frames them, since only it knows the address they go to.
    Status {
        applied: bool,
        count: u32,
    },
    /// A Hocuspocus stateless message, framed by the connection.
    Stateless(Arc<str>),
}

impl Outbound {
    /// The frames to write to the socket, in order.
    pub fn frames(&self) -> impl Iterator<Item = &Bytes> {
        let (single, list, pick) = match self {
            Outbound::Frame(frame) => (Some(frame), &[][..], Pick::All),
            Outbound::Drain { frames, pick } => (None, &frames[..], *pick),
            Outbound::Status { .. } | Outbound::Stateless(_) => (None, &[][..], Pick::All),
        };
        let picked = list
            .iter()
            .filter(move |(from, _)| pick.takes(*from))
            .map(|(_, frame)| frame);
        single.into_iter().chain(picked)
    }

    /// The bytes this entry puts on the socket (what the byte bound counts: a frame shared by
    /// many entries is counted in each, since each is written).
    pub fn size(&self) -> usize {
        match self {
            // An acknowledgement is the address and three bytes; the address is not known here.
            Outbound::Status { count, .. } => *count as usize * 16,
            Outbound::Stateless(payload) => payload.len() + 16,
            _ => self.frames().map(Bytes::len).sum(),
        }
    }
}

/// Makes a connection's outbound queue: at most `entries` entries, and no new entry once
/// `bytes` are queued.
pub fn outbound_queue(entries: usize, bytes: usize) -> (OutboundSender, OutboundReceiver) {
    let (tx, rx) = flume::bounded(entries);
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = OutboundSender {
        tx,
        queued: queued.clone(),
        max_bytes: bytes,
    };
    (sender, OutboundReceiver { rx, queued })
}

/// The document task's end of a connection's queue.
#[derive(Clone)]
pub struct OutboundSender {
    tx: flume::Sender<Outbound>,
    /// Bytes queued and not yet written, shared with the connection, which takes them off.
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl OutboundSender {
    /// Queues `entry` unless the queue is full in entries, or already holds `max_bytes` (then
    /// `Full`: the caller disconnects the connection). The entry that crosses the byte bound is
    /// taken, so a frame larger than the bound (a big document's sync) still goes out alone.
    pub fn try_send(&self, entry: Outbound) -> Result<(), flume::TrySendError<Outbound>> {
        if self.queued.load(Ordering::Acquire) >= self.max_bytes {
            return Err(flume::TrySendError::Full(entry));
        }
        let size = entry.size();
        // Counted before it is queued: the connection may write it and take it off at once.
        self.queued.fetch_add(size, Ordering::AcqRel);
        self.tx.try_send(entry).inspect_err(|_| {
            self.queued.fetch_sub(size, Ordering::AcqRel);
        })
    }
}

/// The connection's end of its queue.
pub struct OutboundReceiver {
    rx: flume::Receiver<Outbound>,
    queued: Arc<AtomicUsize>,
}

impl OutboundReceiver {
    /// The next entry, once one is queued; `Err` once the document task dropped the sender.
    pub async fn recv_async(&self) -> Result<Outbound, flume::RecvError> {
        self.rx.recv_async().await
    }

    /// The next entry if one is queued.
    pub fn try_recv(&self) -> Result<Outbound, flume::TryRecvError> {
        self.rx.try_recv()
    }

    /// Every entry queued now, for tests that look at a queue without a socket.
    #[cfg(test)]
    pub fn drain(&self) -> impl Iterator<Item = Outbound> + '_ {
        self.rx.try_iter()
    }

    /// `entry` was written: its bytes leave the queue's count.
    pub fn written(&self, entry: &Outbound) {
        self.queued.fetch_sub(entry.size(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_but_takes_one_large_frame() {
        let (tx, rx) = outbound_queue(100, 1000);
        let big = Outbound::Frame(Bytes::from(vec![0; 5000]));
        assert!(
            tx.try_send(big.clone()).is_ok(),
            "a frame larger than the bound goes alone"
        );
        assert!(matches!(
            tx.try_send(Outbound::Frame(Bytes::from_static(b"x"))),
            Err(flume::TrySendError::Full(_))
        ));
        let Ok(entry) = rx.try_recv() else {
            panic!("queued");
        };
        rx.written(&entry);
        for _ in 0..10 {
            assert!(tx
                .try_send(Outbound::Frame(Bytes::from(vec![0; 100])))
                .is_ok());
        }
        assert!(tx
            .try_send(Outbound::Frame(Bytes::from(vec![0; 1])))
            .is_err());
    }

    #[test]
    fn a_drain_entry_counts_only_the_frames_it_picks() {
        let frames: DrainFrames = Arc::from(vec![
            (Some(1), Bytes::from(vec![0; 10])),
            (Some(2), Bytes::from(vec![0; 20])),
            (None, Bytes::from(vec![0; 40])),
        ]);
        let entry = |pick| Outbound::Drain {
            frames: frames.clone(),
            pick,
        };
        assert_eq!(entry(Pick::All).size(), 70);
        assert_eq!(entry(Pick::AllBut(1)).size(), 60);
        assert_eq!(entry(Pick::Only(2)).size(), 20);
    }
}
