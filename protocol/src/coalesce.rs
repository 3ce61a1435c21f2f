//! Coalescing: many updates relayed as one frame per recipient.
//!
//! One WebSocket frame per update per recipient caps a one-core server near 200–250 k deliveries/s
//! whatever the CRDT costs. When the document task has applied several updates in one drain of its
//! queue, it relays them merged into one update per recipient instead.
//!
//! Two constraints shape this:
//! - y-websocket's client reads only the *first* message of a frame, so several sync messages
//!   cannot simply be concatenated: the updates are merged into one (`yrs::merge_updates_v1`).
//! - A sender must not receive its own update before it is durable (the durable echo is the
//!   client's "saved" signal), so a sender gets the merge of everyone else's updates only.

use crate::frame::encode_update;

/// Frames to send after a batch of applied updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coalesced {
    /// For every connection that sent nothing in this batch: all updates.
    pub everyone: Vec<u8>,
    /// For each sender in the batch: every update but its own (absent when there is none).
    pub senders: Vec<(u64, Vec<u8>)>,
}

/// Merges a batch of applied updates (sender id, v1 update; `None` for updates with no
/// connection, e.g. HTTP posts) into sync-update frames. Updates come from the document itself
/// (they were applied), so merging cannot fail in practice; if it does, `None` tells the caller
/// to relay them one by one.
pub fn coalesce(batch: &[(Option<u64>, &[u8])]) -> Option<Coalesced> {
    let everyone = merge(batch.iter().map(|(_, u)| *u))?;
    let mut senders: Vec<u64> = batch.iter().filter_map(|(s, _)| *s).collect();
    senders.sort_unstable();
    senders.dedup();
    let mut per_sender = Vec::with_capacity(senders.len());
    for sender in senders {
        let others: Vec<&[u8]> = batch
            .iter()
            .filter(|(s, _)| *s != Some(sender))
            .map(|(_, u)| *u)
            .collect();
        if others.is_empty() {
            continue;
        }
        per_sender.push((sender, merge(others)?));
    }
    Some(Coalesced {
        everyone,
        senders: per_sender,
    })
}

fn merge<'a>(updates: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let updates: Vec<&[u8]> = updates.into_iter().collect();
    let merged = match updates.as_slice() {
        [one] => one.to_vec(),
        many => crate::guard::guard(|| yrs::merge_updates_v1(many))
            .ok()?
            .ok()?,
    };
    Some(encode_update(&merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_frame, Limits};
    use yrs::sync::{Message, SyncMessage};
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, Text, Transact, Update};

    fn typed(client: u64, text: &str) -> Vec<u8> {
        let doc = Doc::with_client_id(client);
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.push(&mut txn, text);
        txn.encode_update_v1()
    }

    fn content_of(frame: &[u8]) -> String {
        let Ok(mut messages) = decode_frame(frame, &Limits::default()) else {
            panic!("frame does not decode");
        };
        assert_eq!(
            messages.len(),
            1,
            "one message per frame (y-websocket reads only the first)"
        );
        let Some(Message::Sync(SyncMessage::Update(update))) = messages.pop() else {
            panic!("not a sync update");
        };
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let update = Update::decode_v1(&update).unwrap_or_else(|e| panic!("{e}"));
        doc.transact_mut()
            .apply_update(update)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut chars: Vec<char> = t.get_string(&doc.transact()).chars().collect();
        chars.sort_unstable();
        chars.into_iter().collect()
    }

    #[test]
    fn senders_never_get_their_own_update_back() {
        let (a, b, c, d) = (typed(1, "a"), typed(2, "b"), typed(3, "c"), typed(4, "d"));
        let batch = [
            (Some(10), a.as_slice()),
            (Some(20), b.as_slice()),
            (None, c.as_slice()),
            (Some(10), d.as_slice()),
        ];
        let Some(out) = coalesce(&batch) else {
            panic!("valid updates merge");
        };
        assert_eq!(content_of(&out.everyone), "abcd");
        let for_sender = |id| {
            out.senders
                .iter()
                .find(|(s, _)| *s == id)
                .map(|(_, f)| content_of(f))
        };
        assert_eq!(for_sender(10).as_deref(), Some("bc"));
        assert_eq!(for_sender(20).as_deref(), Some("acd"));
        assert_eq!(out.senders.len(), 2);
    }

    #[test]
    fn a_lone_sender_gets_nothing() {
        let a = typed(1, "a");
        let Some(out) = coalesce(&[(Some(7), a.as_slice())]) else {
            panic!("valid update");
        };
        assert_eq!(
            out.everyone,
            encode_update(&a),
            "a single update is relayed as is"
        );
        assert!(out.senders.is_empty());
    }
}
