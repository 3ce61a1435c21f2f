//! Sans-IO implementation of the y-websocket wire protocol (y-protocols `sync` + `awareness`).
//!
//! This crate knows nothing about sockets, tasks or databases: it turns the bytes of one
//! WebSocket binary message into typed [`yrs::sync::Message`]s, applies them to a document, and
//! says which frames go to whom. The server owns all IO; this crate owns framing, validation and
//! limits, so a hostile client can only ever produce a typed [`error::ProtocolError`].
//!
//! # Layout
//!
//! - [`coalesce`]: one drain's applied updates as one [`coalesce::Batch`]: the merged update (one
//!   frame shared by every recipient that sent none of them, and one log row) and who sent what.
//! - [`codes`]: the WebSocket close codes Plait sends, and what a client should do on each.
//! - [`error`]: [`error::ProtocolError`], every way a client frame can be rejected, with the
//!   close code it maps to.
//! - [`fan_out`]: [`fan_out::FanOut`], which frames of one drain each connection gets (the
//!   plan the server's document task dispatches).
//! - [`frame`]: [`frame::Limits`], [`frame::decode_frame`] (strict, never panics, never trusts a
//!   length prefix) and the `encode_*` helpers that build outgoing frames.
//! - [`name`]: [`name::DocName`], a validated document name.
//! - [`session`]: [`session::DocState`] (one document plus its awareness), [`session::Session`]
//!   (per-connection state), and the pure [`session::handle`] / [`session::close`] functions.
//! - [`text`]: [`text::prefix`], a string cut to a length in bytes on a character boundary.
//! - [`update_check`]: [`update_check::check_update`], the bounded, non-recursive check every
//!   update passes before yrs decodes it (nesting depth, clock layout, declared counts, no
//!   subdocuments).
//!
//! Private helpers: `frame::reader` (the lib0 varint cursor used for validation) and `guard`
//! (the last-resort `catch_unwind` around yrs calls that read client bytes).

pub mod coalesce;
pub mod codes;
pub mod error;
pub mod fan_out;
pub mod frame;
mod guard;
pub mod hocuspocus;
pub mod name;
pub mod session;
pub mod text;
pub mod update_check;

pub use error::ProtocolError;
