//! The shared, per-document half of the protocol state.

use crate::error::ProtocolError;
use crate::frame::{encode_awareness, encode_step1, encode_step2};
use crate::guard::guard;
use yrs::encoding::read::{Cursor, Read};
use yrs::sync::Awareness;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// The empty v1 update (no blocks, empty delete set).
const EMPTY_UPDATE_V1: &[u8] = &[0, 0];
/// The smallest encoding of one client's entry in a v1 update: block count, client id, clock.
const MIN_CLIENT_ENTRY_BYTES: usize = 3;

/// Rejects a v1 update whose leading client count cannot fit in its bytes.
///
/// yrs reserves a hash map for the declared count before reading a single client, and hashbrown
/// fills the control bytes of what it reserved: a 7-byte update declaring 2^28 clients made it
/// allocate ~10 GB and touch ~270 MB (found by the `handle_message` fuzz target). Each entry
/// takes at least [`MIN_CLIENT_ENTRY_BYTES`], so a real count is bounded by the update's length.
fn check_client_count(update: &[u8]) -> Result<(), ProtocolError> {
    let mut cursor = Cursor::new(update);
    let count: u32 = cursor
        .read_var()
        .map_err(|e| ProtocolError::InvalidUpdate(format!("client count: {e}")))?;
    let remaining = update.len().saturating_sub(cursor.next);
    if usize::try_from(count).map_or(true, |c| c > remaining / MIN_CLIENT_ENTRY_BYTES) {
        return Err(ProtocolError::InvalidUpdate(format!(
            "update declares {count} clients but only {remaining} bytes remain"
        )));
    }
    Ok(())
}

/// One document's shared state: the yrs [`Doc`] plus its [`Awareness`] (which owns the doc).
///
/// It exists so every connection on a document goes through one value that the server can put
/// behind a single lock, and so that all client bytes reach yrs through methods that validate
/// them and never panic.
pub struct DocState {
    awareness: Awareness,
    /// Largest encoded size the document may grow to (`usize::MAX`: unlimited).
    max_size: usize,
    /// An upper bound of the encoded size: the exact size when last measured plus every applied
    /// update's length since. Measuring exactly means encoding the whole document, so it is only
    /// done when this bound says the limit might be near.
    size_bound: usize,
}

impl DocState {
    /// Wraps a loaded (or fresh) document.
    pub fn new(doc: Doc) -> Self {
        DocState::with_max_size(doc, usize::MAX)
    }

    /// Wraps a document that may not grow past `max_size` bytes of encoded state. A document
    /// already larger (loaded from storage) stays readable; only growth is refused.
    pub fn with_max_size(doc: Doc, max_size: usize) -> Self {
        let mut state = DocState {
            awareness: Awareness::new(doc),
            max_size,
            size_bound: 0,
        };
        if max_size != usize::MAX {
            state.size_bound = state.encode_state().len();
        }
        state
    }

    /// The document, e.g. to register an update observer or read content.
    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// The presence states of every connected client.
    pub fn awareness(&self) -> &Awareness {
        &self.awareness
    }

    pub(crate) fn awareness_mut(&mut self) -> &mut Awareness {
        &mut self.awareness
    }

    /// Decodes and applies a v1 update. `Ok(false)` if the update changed nothing: it carries no
    /// blocks and an empty delete set (the `[0, 0]` a client sends when already in sync), or
    /// everything in it was already known (a reconnecting y-websocket client resends its whole
    /// delete set in every step2). An update whose dependencies are missing is kept by yrs as
    /// pending and counts as a change, so it is stored and relayed. Never panics.
    ///
    /// A decode failure leaves the document untouched. An apply failure is reported but yrs'
    /// apply is not transactional, so blocks integrated before the failure stay.
    pub fn apply_update(&mut self, update: &[u8]) -> Result<bool, ProtocolError> {
        let invalid = ProtocolError::InvalidUpdate;
        let len = update.len();
        check_client_count(update)?;
        let update = guard(|| Update::decode_v1(update))
            .map_err(invalid)?
            .map_err(|e| invalid(format!("does not decode as a v1 update: {e}")))?;
        if update.is_empty() {
            return Ok(false);
        }
        // yrs decodes some malformed updates into blocks it then re-encodes as bytes it cannot
        // read back. Parked as pending (missing parent), such an update made every later encode
        // of the document panic inside yrs (found by the `handle_message` fuzz target), so the
        // document could no longer be snapshotted or synced. Refuse what does not round-trip.
        guard(|| Update::decode_v1(&update.encode_v1()))
            .map_err(invalid)?
            .map_err(|e| invalid(format!("does not survive re-encoding: {e}")))?;
        self.check_growth(len)?;
        let doc = self.awareness.doc();
        let changed = guard(|| {
            let mut txn = doc
                .try_transact_mut()
                .map_err(|e| format!("document is busy: {e}"))?;
            txn.apply_update(update)
                .map_err(|e| format!("cannot be applied: {e}"))?;
            Ok::<bool, String>(
                !txn.insert_set().is_empty()
                    || !txn.delete_set().is_empty()
                    || txn.has_missing_updates(),
            )
        })
        .map_err(invalid)?
        .map_err(invalid)?;
        if changed {
            self.size_bound = self.size_bound.saturating_add(len);
        }
        Ok(changed)
    }

    /// Refuses an update of `len` bytes that could grow the document past its limit, before
    /// anything is applied, so a refused update leaves the document exactly as it was.
    fn check_growth(&mut self, len: usize) -> Result<(), ProtocolError> {
        if self.max_size == usize::MAX || self.size_bound.saturating_add(len) <= self.max_size {
            return Ok(());
        }
        // The bound over-counts (duplicates, deletions): measure before refusing.
        let size = self.encode_state().len();
        self.size_bound = size;
        if size.saturating_add(len) > self.max_size {
            return Err(ProtocolError::DocumentTooLarge {
                update: len,
                size,
                limit: self.max_size,
            });
        }
        Ok(())
    }

    /// The whole document as one v1 update (for snapshots and new peers).
    pub fn encode_state(&self) -> Vec<u8> {
        self.doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// True if no content was ever integrated (empty state vector and delete set), so there is
    /// nothing worth persisting.
    pub fn is_empty(&self) -> bool {
        let txn = self.doc().transact();
        // Blocks show up in the state vector; the full encode (which also covers delete sets and
        // pending data) is only paid for documents that have no blocks at all.
        txn.state_vector().is_empty()
            && txn.encode_state_as_update_v1(&StateVector::default()) == EMPTY_UPDATE_V1
    }

    /// The frames sent to a new connection: step1 with our state vector (so the client sends what
    /// we lack), then the full awareness state if anyone is present.
    pub fn greeting(&self) -> Vec<Vec<u8>> {
        let mut frames = vec![encode_step1(&self.doc().transact().state_vector())];
        if let Some(frame) = self.full_awareness_frame() {
            frames.push(frame);
        }
        frames
    }

    /// Step2 answer to a peer's state vector: everything the peer lacks.
    pub(crate) fn step2_for(&self, sv: &StateVector) -> Result<Vec<u8>, ProtocolError> {
        let update = guard(|| self.doc().transact().encode_state_as_update_v1(sv))
            .map_err(ProtocolError::InvalidStateVector)?;
        Ok(encode_step2(&update))
    }

    /// The awareness frame listing every present client, or `None` if nobody is present.
    pub(crate) fn full_awareness_frame(&self) -> Option<Vec<u8>> {
        // `update()` only lists clients with a state and cannot fail for ids it found itself.
        let update = self.awareness.update().ok()?;
        (!update.clients.is_empty()).then(|| encode_awareness(&update))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Text};

    fn hello_update(client: u64) -> Vec<u8> {
        let doc = Doc::with_client_id(client);
        let text = doc.get_or_insert_text("text");
        let mut txn = doc.transact_mut();
        text.push(&mut txn, "hello");
        txn.encode_update_v1()
    }

    #[test]
    fn empty_update_is_not_applied() {
        let mut state = DocState::new(Doc::new());
        assert_eq!(state.apply_update(&[0, 0]), Ok(false));
        assert!(state.is_empty());
    }

    #[test]
    fn applied_update_changes_state_and_is_reported() {
        let mut state = DocState::new(Doc::new());
        assert_eq!(state.apply_update(&hello_update(7)), Ok(true));
        assert!(!state.is_empty());
        let text = state.doc().get_or_insert_text("text");
        assert_eq!(text.get_string(&state.doc().transact()), "hello");

        let copy = DocState::new(Doc::new());
        let mut copy = copy;
        assert_eq!(copy.apply_update(&state.encode_state()), Ok(true));
        let text = copy.doc().get_or_insert_text("text");
        assert_eq!(text.get_string(&copy.doc().transact()), "hello");
    }

    #[test]
    fn known_update_is_reported_unchanged() {
        let mut state = DocState::new(Doc::new());
        let update = hello_update(7);
        assert_eq!(state.apply_update(&update), Ok(true));
        assert_eq!(state.apply_update(&update), Ok(false), "same blocks again");

        // A delete set the document already applied (what a reconnecting client resends).
        let doc = Doc::with_client_id(8);
        let text = doc.get_or_insert_text("text");
        doc.transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
        let before = doc.transact().state_vector();
        text.remove_range(&mut doc.transact_mut(), 0, 2);
        let deletion = doc.transact().encode_state_as_update_v1(&before);
        assert_eq!(state.apply_update(&deletion), Ok(true));
        assert_eq!(
            state.apply_update(&deletion),
            Ok(false),
            "same deletion again"
        );
    }

    #[test]
    fn update_with_missing_dependencies_counts_as_change() {
        let doc = Doc::with_client_id(9);
        let text = doc.get_or_insert_text("text");
        text.push(&mut doc.transact_mut(), "a");
        let first = doc.transact().state_vector();
        text.push(&mut doc.transact_mut(), "b");
        let second = doc.transact().encode_state_as_update_v1(&first);
        let mut state = DocState::new(Doc::new());
        assert_eq!(state.apply_update(&second), Ok(true));
    }

    #[test]
    fn greeting_has_awareness_only_when_someone_is_present() {
        let mut state = DocState::new(Doc::new());
        let greeting = state.greeting();
        assert_eq!(greeting, vec![vec![0, 0, 1, 0]]);
        state.awareness_mut().set_local_state_raw(r#"{"u":1}"#);
        let greeting = state.greeting();
        assert_eq!(greeting.len(), 2);
        assert_eq!(greeting[1][0], 1, "second frame is an awareness message");
    }
}
