//! Why an access token was refused.

use axum::http::StatusCode;

/// Why a request was refused (or a token could not be minted).
///
/// It exists so the upgrade handler, the HTTP API and the logs share one vocabulary: [`status`]
/// gives the HTTP status and [`reason`] a short text that is safe to send to the client. No variant
/// carries the token, so neither `Display` nor `Debug` can leak it into a log line.
///
/// [`status`]: AuthError::status
/// [`reason`]: AuthError::reason
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Authentication is on and the request carried no token.
    #[error("no access token in the request")]
    Missing,
    /// Not a JWT at all: wrong shape, bad base64, bad JSON, missing or mistyped claims, too long.
    #[error("the access token is malformed")]
    Malformed,
    /// Signed with `alg` other than HS256 (including `none`): refused before any signature check,
    /// the classic algorithm-confusion attack.
    #[error("the access token uses algorithm {alg:?}; only HS256 is accepted")]
    WrongAlgorithm {
        /// The `alg` the token's header named, cut to a few characters.
        alg: String,
    },
    /// Well-formed, but not signed with this server's secret (or altered since).
    #[error("the access token's signature does not match")]
    BadSignature,
    /// Its `exp` claim is in the past (beyond the small clock-skew allowance).
    #[error("the access token has expired")]
    Expired,
    /// Valid, but its `doc` scope does not cover the requested document.
    #[error("the access token does not grant access to document {doc:?}")]
    OutOfScope {
        /// The document that was asked for.
        doc: String,
    },
    /// A read-only token was used for something that changes the document.
    #[error("the access token for document {doc:?} is read-only")]
    ReadOnly {
        /// The document that was to be changed.
        doc: String,
    },
    /// Its subject was revoked after it was issued (`plait revoke`, `POST /api/revocations`, a
    /// row in `revocations`).
    #[error("the access token was revoked")]
    Revoked,
    /// `mint` was given an empty document scope.
    #[error("a token must name a document or a prefix (\"team-a/*\"), not an empty scope")]
    EmptyScope,
    /// The JWT library could not sign (not expected with an HMAC key; kept typed rather than a panic).
    #[error("could not sign the token: {0}")]
    Signing(String),
}

impl AuthError {
    /// The HTTP status for this refusal: 401 when the caller has not proven who they are,
    /// 403 when they have but the token does not allow this, 500 for a server-side minting failure.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing
            | AuthError::Malformed
            | AuthError::WrongAlgorithm { .. }
            | AuthError::BadSignature
            | AuthError::Expired
            | AuthError::Revoked => StatusCode::UNAUTHORIZED,
            AuthError::OutOfScope { .. } | AuthError::ReadOnly { .. } => StatusCode::FORBIDDEN,
            AuthError::EmptyScope | AuthError::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, fixed text for the response body or a WebSocket close reason (well under the
    /// 123-byte close-reason limit). It echoes nothing the client sent.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "access token required",
            AuthError::Malformed => "malformed access token",
            AuthError::WrongAlgorithm { .. } => "access token must be signed with HS256",
            AuthError::BadSignature => "invalid access token signature",
            AuthError::Expired => "access token expired",
            AuthError::Revoked => "access token revoked",
            AuthError::OutOfScope { .. } => "access token does not cover this document",
            AuthError::ReadOnly { .. } => "access token is read-only",
            AuthError::EmptyScope | AuthError::Signing(_) => "could not create access token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_unauthenticated_from_forbidden() {
        for e in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::WrongAlgorithm { alg: "none".into() },
            AuthError::BadSignature,
            AuthError::Expired,
        ] {
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{e}");
        }
        for e in [
            AuthError::OutOfScope { doc: "d".into() },
            AuthError::ReadOnly { doc: "d".into() },
        ] {
            assert_eq!(e.status(), StatusCode::FORBIDDEN, "{e}");
        }
    }

    #[test]
    fn reasons_fit_a_websocket_close_frame() {
        for e in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::WrongAlgorithm { alg: "x".into() },
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::OutOfScope {
                doc: "d".repeat(500),
            },
            AuthError::ReadOnly { doc: "d".into() },
            AuthError::EmptyScope,
            AuthError::Signing("x".into()),
        ] {
            assert!(e.reason().len() <= 123, "{}", e.reason());
        }
    }
}
