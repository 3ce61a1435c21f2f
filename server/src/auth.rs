//! Access tokens: who may read or write which documents.
//!
//! Authentication is optional (off for local use). When the operator configures a secret, every
//! WebSocket upgrade and `/api` request must carry an HS256 JWT minted with it, by `plait token` or
//! by the application's own backend. Its claims (see [`Claims`]) name a document or a prefix of
//! names, a mode (`read` or `write`) and an expiry.
//!
//! # Layout
//! - this file: [`Claims`], [`Mode`], [`Access`] and the [`Authenticator`] that mints and verifies;
//! - `error`: [`AuthError`], with the HTTP status and a client-safe reason for each refusal;
//! - `scope`: which names a `doc` claim covers (exact name, or `prefix*`);
//! - `request`: reading the token (`Authorization: Bearer` or `?token=`) and the `Origin` check.

mod error;
mod request;
pub mod revocations;
mod scope;

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use error::AuthError;
pub use request::{normalize_origin, origin_allowed, token_from_request};

/// Clock skew tolerated between the minting host and this server when checking `exp`.
pub const EXPIRY_LEEWAY: Duration = Duration::from_secs(5);

/// Longest token considered. Real tokens are a few hundred bytes; the cap keeps a hostile
/// multi-megabyte query string from being base64- and JSON-decoded.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a token allows on the documents it covers.
///
/// It exists because read-only viewers are a first-class use: they receive the document, live
/// updates and presence, but every update they send is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Receive the document and updates; share awareness; never change the document.
    Read,
    /// Everything `Read` allows, plus sending updates.
    Write,
}

impl Mode {
    /// Whether updates from this connection may be applied and stored.
    pub fn can_write(self) -> bool {
        self == Mode::Write
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Read => "read",
            Mode::Write => "write",
        })
    }
}

/// The JWT payload Plait signs and accepts. Application backends minting their own tokens must
/// produce exactly this shape (HS256, same secret), which is why it is public and documented.
///
/// ```json
/// { "sub": "alice", "doc": "team-a/*", "mode": "write", "exp": 1767225600, "iat": 1767222000 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token was issued to: logged, and what a revocation names (`plait revoke --sub`).
    /// Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The documents covered: an exact name (`notes`), or a prefix ending in `*` (`team-a/*`
    /// covers `team-a/x` but neither `team-a` nor `team-b/x`; `*` alone covers every document).
    pub doc: String,
    /// `read` or `write`.
    pub mode: Mode,
    /// Expiry, seconds since the Unix epoch. Required.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch; a fraction is kept (`plait token` writes
    /// milliseconds) so that a token minted just after a revocation of its subject is told from
    /// one minted just before. Absent means 0 (issued before any revocation).
    #[serde(default, serialize_with = "whole_if_possible")]
    pub iat: f64,
}

impl Claims {
    /// Whether this token's scope covers the document called `doc`.
    pub fn covers(&self, doc: &str) -> bool {
        scope::covers(&self.doc, doc)
    }
}

/// What a verified token grants for the one document it was checked against. The connection keeps
/// it to drop a read-only client's updates and to close the socket when the token expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// Read or write.
    pub mode: Mode,
    /// When the token stops being valid (its `exp`, without the skew allowance).
    pub expires_at: SystemTime,
    /// The token's `sub` claim, for logs and revocations.
    pub subject: Option<String>,
    /// The token's `iat`, seconds since the Unix epoch (0 if absent).
    pub issued_at: f64,
}

impl Access {
    /// `Ok` if this access may change `doc`; [`AuthError::ReadOnly`] (403) otherwise.
    pub fn require_write(&self, doc: &str) -> Result<(), AuthError> {
        if self.mode.can_write() {
            Ok(())
        } else {
            Err(AuthError::ReadOnly {
                doc: doc.to_owned(),
            })
        }
    }
}

/// Mints and verifies access tokens with the server's shared secret.
///
/// Built once at start-up from the configured secret and shared (it is immutable). Only HS256 is
/// ever accepted: the algorithm is fixed here, never taken from the token, so `alg: none` and
/// RS/HS confusion tokens are refused before any signature check.
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for Authenticator {
    // The keys hold the secret; never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `secret`. Length policy (at least 32 bytes) is enforced where the
    /// secret is configured, see [`Config::auth_secret`](crate::config::Config::auth_secret).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked in `verify_at` against an injectable clock with our own small leeway;
        // the library's check would use the wall clock and a 60 s default leeway.
        validation.validate_exp = false;
        validation.required_spec_claims = HashSet::new();
        validation.validate_nbf = true;
        validation.leeway = EXPIRY_LEEWAY.as_secs();
        Authenticator {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks `token` for the document `doc`: shape, algorithm (HS256 only), signature, expiry
    /// (with [`EXPIRY_LEEWAY`]) and scope, in that order.
    pub fn verify(&self, token: &str, doc: &str) -> Result<Access, AuthError> {
        self.verify_at(token, doc, SystemTime::now())
    }

    /// [`verify`](Self::verify) as if the time were `now` (tests, and callers that re-check).
    pub fn verify_at(&self, token: &str, doc: &str, now: SystemTime) -> Result<Access, AuthError> {
        let (claims, expires_at) = self.unexpired(token, now)?;
        if !claims.covers(doc) {
            return Err(AuthError::OutOfScope {
                doc: doc.to_owned(),
            });
        }
        Ok(Access {
            mode: claims.mode,
            expires_at,
            subject: claims.sub,
            issued_at: claims.iat,
        })
    }

    /// Checks `token` for no document in particular (shape, algorithm, signature, expiry):
    /// its claims, whose scope the caller applies to what it lists (the change feed).
    pub fn verify_claims(&self, token: &str) -> Result<Claims, AuthError> {
        Ok(self.unexpired(token, SystemTime::now())?.0)
    }

    /// The token's claims and expiry, if it decodes and has not expired at `now` (with
    /// [`EXPIRY_LEEWAY`]).
    fn unexpired(&self, token: &str, now: SystemTime) -> Result<(Claims, SystemTime), AuthError> {
        let claims = self.decode(token)?;
        let expires_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(claims.exp))
            .ok_or(AuthError::Malformed)?;
        if expires_at + EXPIRY_LEEWAY < now {
            return Err(AuthError::Expired);
        }
        Ok((claims, expires_at))
    }

    /// Mints a token for `doc_scope` (an exact name or `prefix*`) valid for `ttl` from now.
    pub fn mint(&self, doc_scope: &str, mode: Mode, ttl: Duration) -> Result<String, AuthError> {
        self.mint_claims(None, doc_scope, mode, ttl)
    }

    /// [`mint`](Self::mint) with a `sub` claim naming whom the token is for (shown in logs).
    pub fn mint_for(
        &self,
        subject: &str,
        doc_scope: &str,
        mode: Mode,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.mint_claims(Some(subject.to_owned()), doc_scope, mode, ttl)
    }

    fn mint_claims(
        &self,
        sub: Option<String>,
        doc_scope: &str,
        mode: Mode,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let now = SystemTime::now();
        let iat = unix_seconds(now);
        // Round a sub-second remainder up so `--ttl 500ms` does not mint an already-expired token.
        let ttl_secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        self.sign(&Claims {
            sub,
            doc: doc_scope.to_owned(),
            mode,
            exp: iat.saturating_add(ttl_secs),
            iat: millis as f64 / 1000.0,
        })
    }

    /// Signs arbitrary claims with HS256: for tokens with a `sub`, or tests that need an
    /// already-expired token.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        if claims.doc.is_empty() {
            return Err(AuthError::EmptyScope);
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))
    }

    fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Err(AuthError::Malformed);
        }
        // Peek at the header ourselves first: the library cannot even parse `alg: none` (it is not
        // one of its algorithms), and the operator deserves "wrong algorithm", not "malformed".
        if let Some(alg) = header_alg(token) {
            if alg != "HS256" {
                return Err(AuthError::WrongAlgorithm {
                    alg: alg.chars().take(16).collect(),
                });
            }
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm {
                    alg: "?".to_owned(),
                },
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Malformed,
            })
    }
}

/// The `alg` named in a token's header, if the header is base64url JSON with a string `alg`.
fn header_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

/// `iat` as an integer when it is one (what every JWT library writes), else with its fraction.
fn whole_if_possible<S: serde::Serializer>(iat: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if iat.fract() == 0.0 && *iat >= 0.0 && *iat < u64::MAX as f64 {
        serializer.serialize_u64(*iat as u64)
    } else {
        serializer.serialize_f64(*iat)
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
