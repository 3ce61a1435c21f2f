//! The Hocuspocus protocol's framing (`@hocuspocus/provider` 3.x and 4.x), both ways.
//!
//! Hocuspocus multiplexes documents on one WebSocket: every frame names its document first.
//!
//! ```text
//! varString address, varUint type, payload
//!   address: the document name, or `name + "\0" + sessionId` (4.x `sessionAwareness`);
//!            a reply goes to the exact address received.
//!   0 Sync, 4 SyncReply   a y-protocols sync message (sub-type, varlen payload)
//!   1 Awareness           varlen awareness update
//!   2 Auth                0 Token + varString token [+ varString provider version (4.x)]
//!                         (server: 0 alone asks for a fresh token; 1 PermissionDenied +
//!                         varString reason; 2 Authenticated + varString scope)
//!   3 QueryAwareness
//!   5 Stateless           varString payload
//!   7 Close               (server: + varString reason)
//!   8 SyncStatus          varInt 1 applied | 0 refused (server only)
//! and, without an address, a lone byte: 9 Ping (server) / 10 Pong (provider 4.x)
//! ```
//!
//! Why here, beside the y-websocket framing: the sync and awareness payloads are exactly
//! y-websocket's messages after the address, so they are decoded by the same strict reader
//! ([`crate::frame`]) and handed to the same documents; only the envelope differs.

use yrs::encoding::write::Write;
use yrs::sync::Message;

use crate::error::ProtocolError;
use crate::frame::reader::Reader;
use crate::frame::{decode_message, decode_sync, Limits};

/// Message types (the second field of every addressed frame).
pub mod kind {
    pub const SYNC: u64 = 0;
    pub const AWARENESS: u64 = 1;
    pub const AUTH: u64 = 2;
    pub const QUERY_AWARENESS: u64 = 3;
    pub const SYNC_REPLY: u64 = 4;
    pub const STATELESS: u64 = 5;
    pub const BROADCAST_STATELESS: u64 = 6;
    pub const CLOSE: u64 = 7;
    pub const SYNC_STATUS: u64 = 8;
    pub const PING: u8 = 9;
    pub const PONG: u8 = 10;
}

/// Sub-types of an Auth message.
mod auth {
    pub const TOKEN: u64 = 0;
    pub const PERMISSION_DENIED: u64 = 1;
    pub const AUTHENTICATED: u64 = 2;
}

/// The separator between a document name and a provider's session id in an address.
pub const SESSION_SEPARATOR: char = '\0';

/// One frame from a provider.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// The answer to a [`PING`]: the connection is alive.
    Pong,
    /// A message for the document named in `address`.
    Addressed {
        /// As received: replies carry it back unchanged.
        address: &'a str,
        body: Body,
    },
}

/// What an addressed frame says.
#[derive(Debug, PartialEq)]
pub enum Body {
    /// A y-protocols message for the document (sync, awareness, awareness query).
    Doc(Message),
    /// The provider's token for this address; `version` is sent by 4.x providers, which
    /// understand [`PING`].
    Token {
        token: String,
        version: Option<String>,
    },
    /// A stateless message for the server.
    Stateless(String),
    /// The provider detached from this document.
    Close,
}

impl Frame<'_> {
    /// The document name of an address (before the session id, if any).
    pub fn document_of(address: &str) -> &str {
        address
            .split_once(SESSION_SEPARATOR)
            .map_or(address, |(name, _)| name)
    }
}

fn invalid(why: impl Into<String>) -> ProtocolError {
    ProtocolError::InvalidHocuspocus(why.into())
}

fn read_string<'a>(r: &mut Reader<'a>, what: &str) -> Result<&'a str, ProtocolError> {
    let bytes = r.read_len_prefixed()?;
    std::str::from_utf8(bytes).map_err(|e| invalid(format!("{what} is not UTF-8: {e}")))
}

fn ensure_consumed(r: &Reader<'_>, what: &str) -> Result<(), ProtocolError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "{} unexpected bytes after the {what} message",
            r.remaining()
        )))
    }
}

/// Decodes one frame from a provider: strict and bounded like [`crate::frame::decode_frame`],
/// never panics. One frame carries one message.
pub fn decode<'a>(frame: &'a [u8], limits: &Limits) -> Result<Frame<'a>, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::Empty);
    }
    if frame.len() > limits.max_message_size {
        return Err(ProtocolError::TooLarge {
            size: frame.len(),
            limit: limits.max_message_size,
        });
    }
    // A lone byte is a connection-level message: an address needs its length byte and a type.
    if frame == [kind::PONG] {
        return Ok(Frame::Pong);
    }
    let mut r = Reader::new(frame);
    let address = read_string(&mut r, "the address")?;
    let type_at = frame.len() - r.remaining();
    let kind = r.read_varuint()?;
    let body = match kind {
        kind::SYNC | kind::AWARENESS | kind::QUERY_AWARENESS => {
            // The type and what follows are a y-websocket message.
            let mut rest = Reader::new(&frame[type_at..]);
            let message = decode_message(&mut rest)?;
            ensure_consumed(&rest, "document")?;
            Body::Doc(message)
        }
        // Sync that asks for no step 1 back; the server answers every step 1 the same way.
        kind::SYNC_REPLY => {
            let message = Message::Sync(decode_sync(&mut r)?);
            ensure_consumed(&r, "sync")?;
            Body::Doc(message)
        }
        kind::AUTH => {
            let sub = r.read_varuint()?;
            if sub != auth::TOKEN {
                return Err(invalid(format!(
                    "a provider sends only Auth Token (0), not Auth {sub}"
                )));
            }
            let token = read_string(&mut r, "the token")?.to_owned();
            // Anything after the version is for later versions to define: not refused.
            let version = if r.is_empty() {
                None
            } else {
                Some(read_string(&mut r, "the provider version")?.to_owned())
            };
            Body::Token { token, version }
        }
        kind::STATELESS => {
            let payload = read_string(&mut r, "the stateless payload")?.to_owned();
            ensure_consumed(&r, "stateless")?;
            Body::Stateless(payload)
        }
        kind::CLOSE => Body::Close,
        kind::BROADCAST_STATELESS => {
            return Err(invalid(
                "BroadcastStateless (6) is between servers; a client sends Stateless (5)",
            ))
        }
        other => {
            return Err(invalid(format!(
                "unknown or server-only message type {other}"
            )))
        }
    };
    Ok(Frame::Addressed { address, body })
}

/// The connection-level ping a 4.x provider answers with [`kind::PONG`].
pub const PING: &[u8] = &[kind::PING];

fn addressed(address: &str, kind: u64, extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(address.len() + extra + 8);
    out.write_string(address);
    out.write_var(kind);
    out
}

/// `frame` (a y-websocket frame from the document: sync, awareness) for `address`.
pub fn wrap(address: &str, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(address.len() + 4 + frame.len());
    out.write_string(address);
    out.extend_from_slice(frame);
    out
}

/// Auth Authenticated, with the scope the provider exposes as `authorizedScope`.
pub fn authenticated(address: &str, read_only: bool) -> Vec<u8> {
    let scope = if read_only { "readonly" } else { "read-write" };
    let mut out = addressed(address, kind::AUTH, scope.len() + 2);
    out.write_var(auth::AUTHENTICATED);
    out.write_string(scope);
    out
}

/// Auth PermissionDenied with a reason (the provider's `onAuthenticationFailed`).
pub fn permission_denied(address: &str, reason: &str) -> Vec<u8> {
    let mut out = addressed(address, kind::AUTH, reason.len() + 2);
    out.write_var(auth::PERMISSION_DENIED);
    out.write_string(reason);
    out
}

/// Auth Token without a token: the provider answers with a fresh one (its `token` function).
pub fn token_request(address: &str) -> Vec<u8> {
    let mut out = addressed(address, kind::AUTH, 1);
    out.write_var(auth::TOKEN);
    out
}

/// SyncStatus: one of the provider's updates was applied (and, here, stored), or refused.
pub fn sync_status(address: &str, applied: bool) -> Vec<u8> {
    let mut out = addressed(address, kind::SYNC_STATUS, 1);
    // A lib0 signed varint: 0 and 1 are one byte each, the same as unsigned.
    out.write_var(u8::from(applied));
    out
}

/// A stateless message from the server.
pub fn stateless(address: &str, payload: &str) -> Vec<u8> {
    let mut out = addressed(address, kind::STATELESS, payload.len() + 4);
    out.write_string(payload);
    out
}

/// Close: the server stopped serving this document on the socket (the socket stays open).
pub fn close(address: &str, reason: &str) -> Vec<u8> {
    let mut out = addressed(address, kind::CLOSE, reason.len() + 2);
    out.write_string(reason);
    out
}

#[cfg(test)]
mod tests;
