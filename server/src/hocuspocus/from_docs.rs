//! What a Hocuspocus socket's documents say to it: their frames under their address, their
//! acknowledgements and stateless messages framed here, their closes, and a finished join.

use axum::extract::ws::Message as WsMessage;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use plait_protocol::codes;
use plait_protocol::hocuspocus;
use tracing::{debug, info};

use super::docs::{Joined, Waiting};
use super::events::{doc_events, DocEvent, JoinResult};
use super::socket::{binary, document_closed, leave, refresh_at, HpSocket, Stop};
use crate::document::{CloseReason, Command, Outbound};
use crate::error::LoadError;

/// Queue entries written per flush at most, so a long queue still yields to the runtime.
const ENTRIES_PER_FLUSH: usize = 64;

impl HpSocket {
    /// What a document queued for this socket, and whatever else is ready, written at once.
    pub(super) async fn on_doc_event(&mut self, slot: u64, event: DocEvent) -> Result<(), Stop> {
        let mut out = Vec::new();
        let mut next = Some((slot, event));
        let mut taken = 0;
        while let Some((slot, event)) = next.take() {
            self.frames_for(slot, event, &mut out).await?;
            taken += 1;
            if taken < ENTRIES_PER_FLUSH {
                if let Some(Some(ready)) = self.events.next().now_or_never() {
                    next = Some(ready);
                }
            }
        }
        self.write(out).await
    }

    /// The frames of one document event, under the document's address.
    async fn frames_for(
        &mut self,
        slot: u64,
        event: DocEvent,
        out: &mut Vec<WsMessage>,
    ) -> Result<(), Stop> {
        match event {
            DocEvent::Out(entry) => {
                let Some(joined) = self.docs.joined.get(&slot) else {
                    return Ok(());
                };
                let address = joined.address.as_str();
                match &entry {
                    Outbound::Status { applied, count } => {
                        let frame = Bytes::from(hocuspocus::sync_status(address, *applied));
                        out.extend((0..*count).map(|_| WsMessage::Binary(frame.clone())));
                    }
                    Outbound::Stateless(payload) => {
                        out.push(binary(hocuspocus::stateless(address, payload)));
                    }
                    Outbound::Frame(_) | Outbound::Drain { .. } => {
                        out.extend(
                            entry
                                .frames()
                                .map(|frame| binary(hocuspocus::wrap(address, frame))),
                        );
                    }
                }
                Ok(())
            }
            DocEvent::Closed(reason) => {
                let Some(joined) = self.docs.remove_joined(slot) else {
                    return Ok(());
                };
                match reason {
                    // Only a new connection helps: the provider reconnects and resyncs everything.
                    None => Err(document_closed()),
                    Some(reason)
                        if matches!(
                            reason.code,
                            codes::SLOW_CONSUMER | codes::TRY_AGAIN_LATER | codes::GOING_AWAY
                        ) =>
                    {
                        Err(Some(reason))
                    }
                    // Refused for this document (an invalid update, the document's size): the
                    // provider is told, as Hocuspocus tells it, and the socket's others go on.
                    Some(reason) => {
                        info!(doc = %joined.name, code = reason.code, reason = %reason.reason, "closing a document on a Hocuspocus connection");
                        if reason.code == codes::DOCUMENT_TOO_LARGE {
                            self.state.penalties.strike(self.peer, joined.name.as_str());
                        }
                        crate::metrics::closed(Some(reason.code));
                        out.push(binary(hocuspocus::close(&joined.address, &reason.reason)));
                        leave(&joined).await;
                        Ok(())
                    }
                }
            }
        }
    }

    /// A document's join finished: serve it, and hand it what was held for it.
    pub(super) async fn on_joined(&mut self, (slot, result): JoinResult) -> Result<(), Stop> {
        let Some((address, waiting)) = self.docs.finish_joining(slot) else {
            // The provider closed the address meanwhile.
            if let Ok(joined) = result {
                let _ = joined
                    .attached
                    .handle
                    .send(Command::Leave {
                        conn_id: joined.conn_id,
                    })
                    .await;
            }
            return Ok(());
        };
        let Waiting::Joining {
            name,
            read_only,
            expires_at,
            watched,
            held,
            ..
        } = waiting
        else {
            return Ok(());
        };
        let parts = match result {
            Ok(parts) => parts,
            // A deleted document is refused on its own, as a refused token is: the socket's
            // other documents go on.
            Err(LoadError::Deleted) => {
                let reason = LoadError::Deleted.to_string();
                return self.deny(&address, &reason).await;
            }
            Err(error) => {
                let code = match error {
                    LoadError::ShuttingDown => codes::GOING_AWAY,
                    _ => codes::TRY_AGAIN_LATER,
                };
                return Err(Some(CloseReason::new(code, error.to_string())));
            }
        };
        debug!(doc = %name, conn_id = parts.conn_id, read_only, "Hocuspocus document joined");
        self.events
            .push(doc_events(slot, parts.outbound, parts.close));
        self.docs.insert_joined(
            slot,
            Joined {
                address,
                name,
                attached: parts.attached,
                conn_id: parts.conn_id,
                read_only,
                expires_at,
                refresh_at: expires_at.map(refresh_at),
                watched,
            },
        );
        for (body, _) in held {
            self.for_joined(slot, body).await?;
        }
        Ok(())
    }
}
