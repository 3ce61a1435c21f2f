//! Coalescing: the updates applied in one drain of a document's queue leave as ONE frame, shared
//! by every recipient that sent none of them.
//!
//! One WebSocket frame per update per recipient caps a one-core server near 200–250 k deliveries/s
//! whatever the CRDT costs. Merging a batch once and sending the same bytes to everyone makes the
//! cost per batch O(recipients) frames instead of O(updates × recipients).
//!
//! Two constraints shape this:
//! - y-websocket's client reads only the *first* message of a frame, so several sync messages
//!   cannot simply be concatenated: the updates are merged into one (`yrs::merge_updates_v1`).
//! - A sender must not receive its own update before it is durable (the durable echo is the
//!   client's "saved" signal), yet must get the others' updates at once. Merging once per sender
//!   would cost O(senders²) per drain, so a drain's senders instead get the others' updates as
//!   separate frames (encoded once, shared by all of them, written in one flush), and only the
//!   connections that sent nothing get the merged [`Batch::frame`].

use crate::frame::encode_update;

/// One drain's applied updates, each with the connection it came from (`None` for updates with
/// no connection, e.g. HTTP posts).
#[derive(Debug, Clone, Default)]
pub struct Batch<B> {
    updates: Vec<(Option<u64>, B)>,
}

impl<B: AsRef<[u8]>> Batch<B> {
    pub fn new() -> Self {
        Batch {
            updates: Vec::new(),
        }
    }

    pub fn push(&mut self, from: Option<u64>, update: B) {
        self.updates.push((from, update));
    }

    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.updates.len()
    }

    /// The connections that sent an update in this batch, each once.
    pub fn senders(&self) -> Vec<u64> {
        let mut senders: Vec<u64> = self.updates.iter().filter_map(|(s, _)| *s).collect();
        senders.sort_unstable();
        senders.dedup();
        senders
    }

    /// The whole batch as one v1 update (a lone update as it is, shared rather than copied).
    /// Updates come from the document itself (they were applied), so merging cannot fail in
    /// practice; `None` if it does.
    pub fn merged(&self) -> Option<B>
    where
        B: Clone + From<Vec<u8>>,
    {
        match self.updates.as_slice() {
            [] => None,
            [(_, one)] => Some(one.clone()),
            many => {
                let updates: Vec<&[u8]> = many.iter().map(|(_, u)| u.as_ref()).collect();
                crate::guard::guard(|| merge_tree(&updates))
                    .ok()?
                    .map(B::from)
            }
        }
    }

    /// The whole batch as one sync-update frame.
    pub fn frame(&self) -> Option<Vec<u8>>
    where
        B: Clone + From<Vec<u8>>,
    {
        self.merged().map(|update| encode_update(update.as_ref()))
    }

    /// Each update with the connection it came from, in the order they were applied.
    pub fn iter(&self) -> impl Iterator<Item = (Option<u64>, &B)> {
        self.updates.iter().map(|(from, u)| (*from, u))
    }
}

/// Updates merged per `merge_updates_v1` call. yrs' merge costs about the square of the number
/// of updates it is given: one drain of 50 000 one-character updates (one frame of a hostile
/// client, or a long backlog) took 17 s in one call, and 46 ms merged 16 at a time, level by
/// level, into the same result.
const MERGE_FAN_IN: usize = 16;

/// Merges `updates` in a tree of calls of at most [`MERGE_FAN_IN`] updates each.
fn merge_tree(updates: &[&[u8]]) -> Option<Vec<u8>> {
    let mut level: Vec<Vec<u8>> = updates
        .chunks(MERGE_FAN_IN)
        .map(|chunk| yrs::merge_updates_v1(chunk).ok())
        .collect::<Option<_>>()?;
    while level.len() > 1 {
        level = level
            .chunks(MERGE_FAN_IN)
            .map(|chunk| {
                let chunk: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                yrs::merge_updates_v1(&chunk).ok()
            })
            .collect::<Option<_>>()?;
    }
    level.pop()
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
    fn a_batch_is_one_frame_and_remembers_who_sent_what() {
        let (a, b, c, d) = (typed(1, "a"), typed(2, "b"), typed(3, "c"), typed(4, "d"));
        let mut batch = Batch::new();
        batch.push(Some(10), a.clone());
        batch.push(Some(20), b.clone());
        batch.push(None, c.clone());
        batch.push(Some(10), d.clone());
        assert_eq!(batch.senders(), vec![10, 20]);
        let Some(frame) = batch.frame() else {
            panic!("valid updates merge");
        };
        assert_eq!(content_of(&frame), "abcd");
        let from: Vec<Option<u64>> = batch.iter().map(|(from, _)| from).collect();
        assert_eq!(from, vec![Some(10), Some(20), None, Some(10)]);
    }

    #[test]
    fn a_lone_update_is_relayed_as_is() {
        let a = typed(1, "a");
        let mut batch = Batch::new();
        batch.push(Some(7), a.clone());
        assert_eq!(batch.frame(), Some(encode_update(&a)));
        assert_eq!(Batch::<Vec<u8>>::new().frame(), None);
    }

    #[test]
    fn a_lone_update_is_shared_not_copied() {
        let a = bytes::Bytes::from(typed(1, "a"));
        let mut batch = Batch::new();
        batch.push(Some(7), a.clone());
        let merged = batch.merged().unwrap_or_default();
        assert_eq!(merged.as_ptr(), a.as_ptr(), "same buffer");
    }

    #[test]
    fn a_large_batch_merges_level_by_level_into_the_same_document() {
        // One client typing 1 000 characters one update at a time: more than two levels.
        let doc = Doc::with_client_id(9);
        let t = doc.get_or_insert_text("t");
        let mut batch = Batch::new();
        for i in 0..1000 {
            let mut txn = doc.transact_mut();
            t.push(&mut txn, if i % 2 == 0 { "a" } else { "b" });
            batch.push(Some(1), txn.encode_update_v1());
        }
        let updates: Vec<&[u8]> = batch.iter().map(|(_, u)| u.as_slice()).collect();
        let Some(flat) = yrs::merge_updates_v1(&updates).ok() else {
            panic!("valid updates merge");
        };
        let Some(frame) = batch.frame() else {
            panic!("valid updates merge");
        };
        assert_eq!(
            frame,
            encode_update(&flat),
            "the same bytes as one flat merge"
        );
        assert_eq!(content_of(&frame).len(), 1000);
    }
}
