//! A throw-away document to read or edit a stored state: [`scratch_doc`].

use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, OffsetKind, Options, Transact, Update};

/// Why a state could not be loaded into a scratch document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScratchError {
    #[error("the document's state does not decode: {0}")]
    Decode(String),
    #[error("the document's state does not apply: {0}")]
    Apply(String),
}

/// A fresh document holding `state_v1` (a Yjs v1 update, normally the live document's
/// `encode_state_as_update_v1`), ready for [`crate::replace_field`] and the render functions.
///
/// - Offsets count UTF-16 code units, as JavaScript does, so lengths and positions agree with
///   the browsers'.
/// - Its client id is random below 2^53 (Yjs' range): the update `replace_field` returns is
///   attributed to it, so it must not be a client already in the document; two scratch
///   documents over the same state must not share one either.
/// - Formatting cleanup is off: yrs would otherwise delete redundant formatting items while
///   loading (as Yjs does for remote changes), so the scratch copy would not be the state it was
///   given and renders could differ from what the live document holds.
///
/// `state_v1` must have passed the server's update checks (`plait_protocol::update_check`):
/// yrs can panic or overflow its stack on hostile bytes.
pub fn scratch_doc(state_v1: &[u8]) -> Result<Doc, ScratchError> {
    scratch_doc_with_client(state_v1, fastrand::u64(1..1 << 53))
}

/// [`scratch_doc`] with a chosen client id (below 2^53), for tests that want stable updates.
pub fn scratch_doc_with_client(state_v1: &[u8], client_id: u64) -> Result<Doc, ScratchError> {
    let update = Update::decode_v1(state_v1).map_err(|e| ScratchError::Decode(e.to_string()))?;
    let doc = Doc::with_options(Options {
        client_id: ClientID::new(client_id & ((1 << 53) - 1)),
        offset_kind: OffsetKind::Utf16,
        cleanup_formatting: false,
        ..Options::default()
    });
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| ScratchError::Apply(e.to_string()))?;
    Ok(doc)
}
