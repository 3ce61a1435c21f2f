//! WebSocket close codes Plait uses.
//!
//! Clients (y-websocket) reconnect on any close, so the code mostly matters for operators and for
//! clients that want to tell "retry" from "your data is broken". Each constant says what a client
//! should do when it sees it.

/// Orderly close (for example the client asked to leave). Nothing to do.
pub const NORMAL: u16 = 1000;
/// The server is shutting down. Reconnect later (ideally to another node).
pub const GOING_AWAY: u16 = 1001;
/// The frame was malformed or carried an unknown message type. Reconnecting with the same client
/// code will fail the same way: this is a client bug.
pub const PROTOCOL_ERROR: u16 = 1002;
/// The client sent a text frame; y-websocket speaks binary only.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// An update or awareness payload was well framed but could not be decoded or applied. The
/// client's local document is probably corrupt; reconnecting resends the same bytes.
pub const INVALID_PAYLOAD: u16 = 1007;
/// The frame exceeded the server's message size limit. Split large edits or raise the limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Unexpected server failure. Reconnect with backoff.
pub const INTERNAL_ERROR: u16 = 1011;
/// The document could not be loaded (database unavailable). Reconnect with backoff.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The client read too slowly and its outbound queue overflowed. Reconnect and resync via step1;
/// no update was lost on the server side.
pub const SLOW_CONSUMER: u16 = 4000;
/// No pong or message arrived within the keepalive window. Reconnect.
pub const IDLE_TIMEOUT: u16 = 4001;
