//! A joined document's side of a Hocuspocus socket: joining it, and its queue and close request
//! as one stream of events, so one socket can wait on all its documents at once.

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use plait_protocol::name::DocName;

use crate::connection::join;
use crate::document::{outbound_queue, Acks, CloseReason, ConnId, Outbound, OutboundReceiver};
use crate::error::LoadError;
use crate::registry::Attached;
use crate::state::AppState;

/// What a joined document says to the socket.
pub enum DocEvent {
    /// Frames (or acknowledgements, a stateless message) to write under its address.
    Out(Outbound),
    /// It stopped serving this socket, with its reason if it gave one. The stream ends.
    Closed(Option<CloseReason>),
}

/// A document joined for a socket: the handles the socket keeps.
pub struct JoinedParts {
    pub attached: Attached,
    pub conn_id: ConnId,
    pub outbound: OutboundReceiver,
    pub close: flume::Receiver<CloseReason>,
}

/// A join's slot and outcome.
pub type JoinResult = (u64, Result<JoinedParts, LoadError>);

/// Loads (if needed) and joins `name` as a Hocuspocus connection, for the socket's `slot`.
pub async fn join_doc(
    state: AppState,
    name: DocName,
    read_only: bool,
    author: std::sync::Arc<str>,
    slot: u64,
) -> JoinResult {
    let (outbound_tx, outbound) = outbound_queue(
        state.config.outbound_queue,
        state.config.outbound_queue_bytes,
    );
    let (close_tx, close) = flume::bounded::<CloseReason>(1);
    let joined = join(
        &state,
        &name,
        &outbound_tx,
        &close_tx,
        read_only,
        Acks::SyncStatus,
        author,
    )
    .await;
    // Only the document task keeps senders now, so both queues disconnect when it drops us.
    drop((outbound_tx, close_tx));
    let parts = joined.map(|(attached, conn_id)| JoinedParts {
        attached,
        conn_id,
        outbound,
        close,
    });
    (slot, parts)
}

/// The document's queue and close request as events tagged with `slot`; ends once it closed.
pub fn doc_events(
    slot: u64,
    outbound: OutboundReceiver,
    close: flume::Receiver<CloseReason>,
) -> BoxStream<'static, (u64, DocEvent)> {
    futures_util::stream::unfold(Some((outbound, close)), move |open| async move {
        let (outbound, close) = open?;
        tokio::select! {
            biased;
            reason = close.recv_async() => Some(((slot, DocEvent::Closed(reason.ok())), None)),
            entry = outbound.recv_async() => match entry {
                Ok(entry) => {
                    // Off the queue's byte count once the socket holds it.
                    outbound.written(&entry);
                    Some(((slot, DocEvent::Out(entry)), Some((outbound, close))))
                }
                Err(_) => {
                    let reason = close.try_recv().ok();
                    Some(((slot, DocEvent::Closed(reason)), None))
                }
            },
        }
    })
    .boxed()
}
