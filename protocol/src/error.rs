//! Errors for client frames that cannot be accepted.

use crate::codes;

/// Every way a client frame can be rejected.
///
/// It exists so the server can close the connection with the right code
/// ([`ProtocolError::close_code`]) and log a message a human can act on, instead of a generic
/// "decode error" that hides whether the client, the network or the server is at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A zero-length frame.
    #[error("empty frame: a binary WebSocket message must carry at least one y-protocols message")]
    Empty,
    /// The frame is larger than [`crate::frame::Limits::max_message_size`].
    #[error("frame of {size} bytes exceeds the {limit}-byte message size limit")]
    TooLarge { size: usize, limit: usize },
    /// The frame ended inside a message (in a type tag, varint or length prefix).
    #[error("frame ends in the middle of a message (truncated)")]
    Truncated,
    /// A length prefix declares more bytes than the frame has left.
    #[error(
        "length prefix declares {declared} bytes but only {available} bytes remain in the frame"
    )]
    LengthOverflow { declared: u64, available: usize },
    /// The top-level message type is not 0 (sync), 1 (awareness), 2 (auth) or 3 (query-awareness).
    #[error(
        "unknown message type {0} (expected 0 sync, 1 awareness, 2 auth or 3 query-awareness)"
    )]
    UnknownType(u64),
    /// The sync sub-type is not 0 (step1), 1 (step2) or 2 (update).
    #[error("unknown sync message type {0} (expected 0 step1, 1 step2 or 2 update)")]
    UnknownSyncType(u64),
    /// A lib0 variable-length integer is longer than 10 bytes or does not fit in 64 bits.
    #[error("variable-length integer is longer than 10 bytes or overflows 64 bits")]
    InvalidVarint,
    /// A client id (in an awareness update or a state vector) is not below 2^53, the largest id
    /// a JavaScript peer can represent and the largest yrs accepts.
    #[error("client id {0} is not below 2^53")]
    InvalidClientId(u64),
    /// The awareness payload is malformed (entry count, UTF-8, JSON...).
    #[error("invalid awareness update: {0}")]
    InvalidAwareness(String),
    /// A v1 document update fails to decode or to apply.
    #[error("invalid document update: {0}")]
    InvalidUpdate(String),
    /// A sync step1 state vector is malformed.
    #[error("invalid state vector: {0}")]
    InvalidStateVector(String),
    /// Applying the update would grow the document past its size limit; it was not applied.
    #[error("update of {update} bytes would grow the document ({size} bytes) past its {limit}-byte limit")]
    DocumentTooLarge {
        update: usize,
        size: usize,
        limit: usize,
    },
    /// A Hocuspocus frame that does not follow its framing (address, type, payload): a
    /// non-UTF-8 address or string, a type a client never sends, bytes after the message.
    #[error("invalid Hocuspocus message: {0}")]
    InvalidHocuspocus(String),
    /// One connection tried to hold more awareness states than allowed.
    #[error("a connection may hold at most {limit} awareness states")]
    TooManyAwarenessStates { limit: usize },
}

impl ProtocolError {
    /// The WebSocket close code the server should send for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::TooLarge { .. } => codes::MESSAGE_TOO_LARGE,
            ProtocolError::DocumentTooLarge { .. } => codes::DOCUMENT_TOO_LARGE,
            ProtocolError::InvalidUpdate(_)
            | ProtocolError::InvalidAwareness(_)
            | ProtocolError::InvalidStateVector(_)
            | ProtocolError::InvalidClientId(_)
            | ProtocolError::TooManyAwarenessStates { .. } => codes::INVALID_PAYLOAD,
            ProtocolError::Empty
            | ProtocolError::Truncated
            | ProtocolError::LengthOverflow { .. }
            | ProtocolError::UnknownType(_)
            | ProtocolError::UnknownSyncType(_)
            | ProtocolError::InvalidHocuspocus(_)
            | ProtocolError::InvalidVarint => codes::PROTOCOL_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_the_contract() {
        assert_eq!(
            ProtocolError::TooLarge { size: 2, limit: 1 }.close_code(),
            codes::MESSAGE_TOO_LARGE
        );
        let too_big = ProtocolError::DocumentTooLarge {
            update: 1,
            size: 2,
            limit: 2,
        };
        assert_eq!(too_big.close_code(), codes::DOCUMENT_TOO_LARGE);
        // Size refusals are permanent: resending the same bytes cannot succeed.
        assert!(codes::is_permanent(too_big.close_code()));
        assert!(!codes::is_permanent(ProtocolError::Truncated.close_code()));
        for e in [
            ProtocolError::InvalidUpdate("x".into()),
            ProtocolError::InvalidAwareness("x".into()),
            ProtocolError::InvalidStateVector("x".into()),
            ProtocolError::InvalidClientId(1 << 53),
        ] {
            assert_eq!(e.close_code(), codes::INVALID_PAYLOAD, "{e}");
        }
        for e in [
            ProtocolError::Empty,
            ProtocolError::Truncated,
            ProtocolError::LengthOverflow {
                declared: 9,
                available: 1,
            },
            ProtocolError::UnknownType(7),
            ProtocolError::UnknownSyncType(5),
            ProtocolError::InvalidVarint,
        ] {
            assert_eq!(e.close_code(), codes::PROTOCOL_ERROR, "{e}");
        }
    }

    #[test]
    fn messages_name_the_numbers() {
        let e = ProtocolError::LengthOverflow {
            declared: 4_000_000,
            available: 12,
        };
        assert_eq!(
            e.to_string(),
            "length prefix declares 4000000 bytes but only 12 bytes remain in the frame"
        );
    }
}
