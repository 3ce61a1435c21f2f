//! The end of a drain: the updates applied during it go out to the document's connections (the
//! plan is `plait_protocol::fan_out`'s, dispatched here), to the other nodes, and to the writer.

use std::sync::Arc;

use bytes::Bytes;
use plait_protocol::fan_out::{Delivery, FanOut};
use plait_protocol::frame::encode_update;
use plait_storage::store::Seq;
use tokio::sync::oneshot;
use tracing::warn;

use super::durable::Durable;
use super::outbound::{ConnId, DrainFrames, Outbound};
use super::task::DocTask;

impl DocTask {
    /// Queues an applied update for the fan-out and storage at the end of this drain.
    pub(super) fn publish_update(
        &mut self,
        from: Option<ConnId>,
        update: Bytes,
        author: Option<Arc<str>>,
        notify: Option<oneshot::Sender<Seq>>,
    ) {
        self.drain.push(from, update);
        if let Some(author) = author {
            if !self.drain_authors.contains(&author) {
                self.drain_authors.push(author);
            }
        }
        self.drain_notify.extend(notify);
        self.changed(tokio::time::Instant::now());
    }

    /// Sends and stores the updates applied during this drain: connections that sent none of them
    /// get one merged frame, each sender every other update as its own frame at once and its own
    /// back once the log row holding the drain is committed (the durable acknowledgement).
    pub(super) fn fan_out(&mut self) {
        if self.drain.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.drain);
        let notify = std::mem::take(&mut self.drain_notify);
        let merged = batch.merged();
        if merged.is_none() {
            // Cannot happen for updates the document applied; never leave anyone behind.
            warn!(
                doc = %self.ctx.name,
                "could not merge a batch of applied updates; relaying and storing one by one"
            );
        }
        let recipients: Vec<ConnId> = self.conns.keys().copied().collect();
        let plan = FanOut::new(batch.senders(), merged.is_some(), batch.len(), recipients);
        let frames: Option<DrainFrames> = plan.needs_own_frames().then(|| {
            batch
                .iter()
                .map(|(from, update)| (from, Bytes::from(encode_update(update))))
                .collect()
        });
        let merged_frame = match &merged {
            Some(update) if plan.needs_merged_frame() => Some(Bytes::from(encode_update(update))),
            _ => None,
        };
        let relayed = std::cell::Cell::new(0u64);
        self.send_each(|id| {
            let entry = match plan.delivery(id) {
                Delivery::Merged => merged_frame.clone().map(Outbound::Frame),
                Delivery::Frames(pick) => frames
                    .clone()
                    .map(|frames| Outbound::Drain { frames, pick }),
                Delivery::Nothing => None,
            };
            relayed.set(relayed.get() + u64::from(entry.is_some()));
            entry
        });
        metrics::counter!(crate::metrics::FRAMES_RELAYED).increment(relayed.get());
        metrics::counter!(crate::metrics::UPDATES_APPLIED).increment(batch.len() as u64);
        let bytes: usize = batch.iter().map(|(_, update)| update.len()).sum();
        metrics::counter!(crate::metrics::UPDATE_BYTES_APPLIED).increment(bytes as u64);
        self.pending_durable += batch.len();
        let durable = Durable {
            seq: 0,
            updates: batch.len(),
            authors: authors_json(std::mem::take(&mut self.drain_authors)),
            frames,
            senders: plan
                .into_senders()
                .into_iter()
                .map(|sender| {
                    let sent = batch
                        .iter()
                        .filter(|(from, _)| *from == Some(sender))
                        .count();
                    (sender, u32::try_from(sent).unwrap_or(u32::MAX))
                })
                .collect(),
            notify,
            after: self.unconfirmed.as_ref().and_then(|u| u.mark()),
            stores_foreign: None,
        };
        let rows: Vec<Bytes> = match merged {
            Some(update) => vec![update],
            None => batch.iter().map(|(_, update)| update.clone()).collect(),
        };
        if let Some(broadcaster) = &self.ctx.broadcaster {
            for row in &rows {
                broadcaster.update(&self.ctx.name, row.clone());
            }
        }
        // Stored at once; acknowledged only once the other nodes' updates it may depend on are
        // stored too (see `unconfirmed`).
        self.store(rows, durable);
    }
}

/// The authors of one drain's row, as `document_updates.authors` stores them (a JSON array of
/// the objects [`super::author`] makes); `None` when nobody is known.
fn authors_json(authors: Vec<Arc<str>>) -> Option<Arc<str>> {
    if authors.is_empty() {
        return None;
    }
    Some(format!("[{}]", authors.join(",")).into())
}
