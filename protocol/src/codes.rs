//! WebSocket close codes Plait uses.
//!
//! Two families:
//! - **Transient** (1xxx and 4000–4099): reconnecting may succeed. Stock y-websocket providers
//!   reconnect with backoff on these.
//! - **Permanent** (4400–4499, mirroring HTTP 4xx): reconnecting with the same client state or
//!   token cannot succeed. y-websocket 3.1+ stops reconnecting on this range and emits `closed`;
//!   the application should tell the user (and, for 4401, fetch a new token and call
//!   `provider.connect()`). The server also refuses an immediate retry of a connection that was
//!   closed for size with HTTP 429, so older clients that reconnect at once cannot turn a refused
//!   update into a reconnect-and-resend loop.
//!
//! Each constant says what a client should do when it sees it.

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
/// Unexpected server failure. Reconnect with backoff.
pub const INTERNAL_ERROR: u16 = 1011;
/// The document could not be loaded (database unavailable). Reconnect with backoff.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The client read too slowly and its outbound queue overflowed. Reconnect and resync via step1;
/// no update was lost on the server side.
pub const SLOW_CONSUMER: u16 = 4000;
/// No pong or message arrived within the keepalive window. Reconnect.
pub const IDLE_TIMEOUT: u16 = 4001;
/// The client's update depended on content the server does not have; the part that could be
/// applied was stored. Reconnect: the sync handshake delivers the rest with its dependencies.
pub const RESYNC: u16 = 4003;
/// No message arrived within the handshake timeout after the upgrade. Reconnect.
pub const HANDSHAKE_TIMEOUT: u16 = 4002;
/// Permanent: the access token expired while connected (or is no longer valid). Fetch a new
/// token, set it in the provider's `params`, and call `provider.connect()`.
pub const UNAUTHORIZED: u16 = 4401;
/// Permanent: the token does not grant what the connection tried to do.
pub const FORBIDDEN: u16 = 4403;
/// Permanent: the document was deleted (`DELETE /api/docs/{doc}`). Do not reconnect; it can be
/// restored with `POST /api/docs/{doc}/undelete` until the trash is emptied
/// (`--trash-retention`), after which `provider.connect()` opens it again.
pub const DELETED: u16 = 4410;
/// Permanent: a message exceeded the server's message size limit (`--max-message-size`). The
/// client's pending update will be refused again; split large edits or ask the operator to raise
/// the limit.
pub const MESSAGE_TOO_LARGE: u16 = 4413;
/// Permanent: applying the client's update would grow the document past `--max-doc-size`. The
/// document was left as it was; the client's local edit cannot be stored.
pub const DOCUMENT_TOO_LARGE: u16 = 4422;
/// Permanent: the connection exceeded its message rate (`--message-rate`, `--message-burst`).
/// A well-behaved editor never gets here; reconnecting immediately would be refused.
pub const RATE_LIMITED: u16 = 4429;

/// True for the 4400–4499 range: the server decided that reconnecting cannot help.
pub const fn is_permanent(code: u16) -> bool {
    code >= 4400 && code < 4500
}
