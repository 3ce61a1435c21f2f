//! The shared, per-document half of the protocol state.

use super::integrity::{check_round_trip, clear_pending, has_pending_content, leaves_a_gap};
use super::presence::Presence;
use crate::error::ProtocolError;
use crate::frame::{encode_awareness, encode_step1, encode_step2};
use crate::guard::guard;
use crate::update_check::{check_update, DEFAULT_MAX_NESTING, MAX_NESTING_LIMIT};
use bytes::Bytes;
use yrs::block::ClientID;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

/// The empty v1 update (no blocks, empty delete set).
const EMPTY_UPDATE_V1: &[u8] = &[0, 0];
/// What applying one update did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Integrated {
    /// The change actually integrated, as a v1 update: what to store and relay. `None` if the
    /// update changed nothing (already known, or empty).
    pub delta: Option<Vec<u8>>,
    /// Part of the update depended on content the document does not have and was dropped; the
    /// sender should resync (reconnect) to deliver it with its dependencies.
    pub incomplete: bool,
}

/// Smallest full-state frame worth keeping for the next joiner. Below it encoding again costs
/// microseconds, while a copy kept in every idle document costs memory: with thousands of small
/// documents loaded, the copies were about 1 KB of each one's footprint.
pub const FULL_STEP2_CACHE_MIN: usize = 16 * 1024;

/// What a document refuses to take, decided once from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocLimits {
    /// Largest encoded size the document may grow to (`usize::MAX`: unlimited). A document
    /// already larger (loaded from storage) stays readable; only growth is refused.
    pub max_size: usize,
    /// How deeply JSON-like values and shared types may nest in what is added to it (see
    /// [`crate::update_check`]).
    pub max_nesting: usize,
}

impl Default for DocLimits {
    fn default() -> Self {
        DocLimits {
            max_size: usize::MAX,
            max_nesting: DEFAULT_MAX_NESTING,
        }
    }
}

/// Where an update comes from, which decides the limits it meets.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A client of this node (WebSocket or HTTP): every limit.
    Client,
    /// Storage or another node: already accepted once, so only what keeps this process safe.
    Stored,
}

/// One document's shared state: the yrs [`Doc`] plus its clients' [`Presence`].
///
/// It exists so every connection on a document goes through one value that the server can put
/// behind a single lock, and so that all client bytes reach yrs through methods that validate
/// them and never panic.
pub struct DocState {
    doc: Doc,
    presence: Presence,
    /// Largest encoded size the document may grow to (`usize::MAX`: unlimited).
    max_size: usize,
    /// An upper bound of the encoded size: the exact size when last measured plus every applied
    /// update's length since. Measuring exactly means encoding the whole document, so it is only
    /// done when this bound says the limit might be near.
    size_bound: usize,
    /// [`DocLimits::max_nesting`].
    max_nesting: usize,
    /// Counts the changes integrated: a connection that asks for the same state twice while it
    /// has not changed gets the whole answer only once (see [`crate::session::Session`]).
    version: u64,
    /// The step2 frame for an empty state vector, while the document has not changed since. Only
    /// kept for documents of at least [`FULL_STEP2_CACHE_MIN`] bytes; shared, not copied, by
    /// every joiner's queue.
    full_step2: Option<Bytes>,
}

impl DocState {
    /// Wraps a fresh document (or one built in this process), without limits on size.
    pub fn new(doc: Doc) -> Self {
        DocState::with_limits(doc, DocLimits::default())
    }

    /// Wraps a document with `limits`. With a size limit, encodes the document once to learn its
    /// size (measuring exactly later means encoding it again).
    pub fn with_limits(doc: Doc, limits: DocLimits) -> Self {
        let mut state = DocState {
            doc,
            presence: Presence::default(),
            max_size: limits.max_size,
            size_bound: 0,
            max_nesting: limits.max_nesting,
            version: 0,
            full_step2: None,
        };
        if limits.max_size != usize::MAX {
            state.size_bound = state.encode_state().len();
        }
        state
    }

    /// Counts the document's changes (see [`DocState::version`]'s field).
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The document, e.g. to read content.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// The presence states of every connected client.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    pub(crate) fn presence_mut(&mut self) -> &mut Presence {
        &mut self.presence
    }

    /// Decodes and applies a v1 update; `Ok(true)` if it changed the document. See
    /// [`DocState::integrate`].
    pub fn apply_update(&mut self, update: &[u8]) -> Result<bool, ProtocolError> {
        Ok(self.integrate(update)?.delta.is_some())
    }

    /// Decodes and applies a v1 update and returns what it changed. Never panics.
    ///
    /// The result's `delta` is the integrated change, not the client's bytes: it omits what the
    /// document already had (a reconnecting y-websocket client resends its whole delete set in
    /// every step2) and anything that could not be integrated, so only content the document really
    /// holds is ever stored or relayed. A decode failure, or an update over the size limit, leaves
    /// the document untouched.
    pub fn integrate(&mut self, update: &[u8]) -> Result<Integrated, ProtocolError> {
        self.integrate_from(update, Source::Client, true)
    }

    /// [`DocState::integrate`] for an update another server already accepted and stored: the
    /// same decoding and checks except the size limit, and nesting up to
    /// [`MAX_NESTING_LIMIT`] rather than this node's `--max-nesting-depth` (another node may
    /// allow more). Refusing it would only leave this copy behind the database's, and a catch-up
    /// hands over the whole document, which the limit's estimate would count on top of the
    /// document itself.
    pub fn integrate_stored(&mut self, update: &[u8]) -> Result<Integrated, ProtocolError> {
        self.integrate_from(update, Source::Stored, true)
    }

    /// Applies a stored log row while the document is rebuilt (see [`crate::session::replay`]):
    /// as [`DocState::integrate_stored`], without encoding a delta nobody relays.
    pub(crate) fn integrate_row(&mut self, update: &[u8]) -> Result<Integrated, ProtocolError> {
        self.integrate_from(update, Source::Stored, false)
    }

    fn integrate_from(
        &mut self,
        update: &[u8],
        source: Source,
        want_delta: bool,
    ) -> Result<Integrated, ProtocolError> {
        let invalid = ProtocolError::InvalidUpdate;
        let raw = update;
        let len = update.len();
        let max_nesting = match source {
            Source::Client => self.max_nesting,
            Source::Stored => MAX_NESTING_LIMIT.max(self.max_nesting),
        };
        check_update(update, max_nesting, &self.doc)?;
        let update = guard(|| Update::decode_v1(update))
            .map_err(invalid)?
            .map_err(|e| invalid(format!("does not decode as a v1 update: {e}")))?;
        if update.is_empty() {
            return Ok(Integrated::default());
        }
        check_round_trip(&update)?;
        if let Source::Client = source {
            self.check_growth(len)?;
        }
        let doc = &self.doc;
        let integrated = guard(|| {
            let mut txn = doc
                .try_transact_mut()
                .map_err(|e| format!("document is busy: {e}"))?;
            if leaves_a_gap(&update, &txn.state_vector()) {
                return Ok(Integrated {
                    delta: None,
                    incomplete: true,
                });
            }
            let (inserts, deletes) = (update.insertions(true), update.delete_set().clone());
            txn.apply_update(update)
                .map_err(|e| format!("cannot be applied: {e}"))?;
            let incomplete = txn.has_missing_updates() && has_pending_content(&txn);
            if incomplete {
                clear_pending(&mut txn);
            }
            let changed = !txn.insert_set().is_empty() || !txn.delete_set().is_empty();
            // When everything in the update was new and integrated, the client's own bytes are
            // the delta: relaying them keeps what peers decode byte-identical to what the author
            // wrote (yrs re-encodes JSON objects in hash order) and skips an encode.
            let exact = !incomplete && *txn.insert_set() == inserts && *txn.delete_set() == deletes;
            Ok::<Integrated, String>(Integrated {
                delta: changed.then(|| match (want_delta, exact) {
                    (false, _) => Vec::new(),
                    (true, true) => raw.to_vec(),
                    (true, false) => txn.encode_update_v1(),
                }),
                incomplete,
            })
        })
        .map_err(invalid)?
        .map_err(invalid)?;
        if integrated.delta.is_some() || integrated.incomplete {
            self.full_step2 = None;
            self.version += 1;
        }
        if let Some(delta) = &integrated.delta {
            // Without a delta (a stored row), the row's length bounds what it added.
            let added = if want_delta { delta.len() } else { len };
            self.size_bound = self.size_bound.saturating_add(added);
        }
        Ok(integrated)
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

    /// Step2 answer to a peer's state vector: everything the peer lacks. A peer with an empty
    /// state vector (a fresh tab, or fifty of them opening a shared link at once) gets the full
    /// state, encoded once and reused until the document changes (if it is large enough for
    /// that to matter).
    pub(crate) fn step2_for(&mut self, sv: &StateVector) -> Result<Bytes, ProtocolError> {
        if sv.is_empty() {
            if let Some(frame) = &self.full_step2 {
                return Ok(frame.clone());
            }
        }
        let update = guard(|| self.doc().transact().encode_state_as_update_v1(sv))
            .map_err(ProtocolError::InvalidStateVector)?;
        let frame = Bytes::from(encode_step2(&update));
        if sv.is_empty() && frame.len() >= FULL_STEP2_CACHE_MIN {
            self.full_step2 = Some(frame.clone());
        }
        Ok(frame)
    }

    /// The awareness frame announcing the current state of `clients` (a removed client is sent
    /// as `null`, which is how peers learn it left). Re-encoded from our state rather than echoing
    /// a client's bytes, so stale entries mixed into an update are not relayed. `None` if none of
    /// them is known.
    pub fn awareness_frame<'a>(
        &self,
        clients: impl IntoIterator<Item = &'a ClientID>,
    ) -> Option<Vec<u8>> {
        let update = self.presence.update_for(clients.into_iter().copied())?;
        Some(encode_awareness(&update))
    }

    /// The awareness frame listing every present client, or `None` if nobody is present.
    pub(crate) fn full_awareness_frame(&self) -> Option<Vec<u8>> {
        let update = self.presence.everyone();
        (!update.clients.is_empty()).then(|| encode_awareness(&update))
    }
}

#[cfg(test)]
mod tests;
