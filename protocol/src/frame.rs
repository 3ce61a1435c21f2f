//! Frame decoding (strict, bounded) and encoding helpers.
//!
//! One WebSocket binary message ("frame") carries one or more y-protocols messages back to back:
//!
//! ```text
//! sync:            0, sub-type (0 step1 | 1 step2 | 2 update), varlen payload
//! awareness:       1, varlen payload (count, then count × (client, clock, varlen json))
//! auth:            2, permission (0 denied + varlen reason | other: granted)
//! query-awareness: 3
//! ```
//!
//! All integers are lib0 varints. Decoding walks the bytes with a strict cursor first (every
//! length prefix checked against what is left, every count checked against the bytes that could
//! hold it) and only then hands the exact, bounded payloads to yrs' decoders.

pub(crate) mod reader;

use crate::error::ProtocolError;
use crate::guard::guard;
use reader::Reader;
use yrs::encoding::write::Write;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2,
    MSG_SYNC_UPDATE, PERMISSION_DENIED,
};
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Any, StateVector};

/// Client ids must be below 2^53: JS peers store them in a double and yrs' `ClientID` packs
/// them into 53 bits.
const CLIENT_ID_LIMIT: u64 = 1 << 53;
/// Room for the message tag, sub-type and payload length prefix in front of a payload.
const HEADER_CAPACITY: usize = 12;

/// Size limits applied to every client frame.
///
/// It exists so the limit is decided once (from configuration) and checked before any decoding
/// work, rather than trusting the WebSocket layer's own limit to match.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest frame accepted, in bytes. Default: 16 MiB.
    pub max_message_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 * 1024 * 1024,
        }
    }
}

/// Decodes every message in `frame`.
///
/// Unlike yrs' `MessageReader`, which stops silently when a message is cut short, this consumes
/// the frame exactly: a frame that ends inside a message is an error. Update payloads are not
/// decoded here (applying them decodes them once); state vectors and awareness payloads are,
/// because they are small and must be valid before anyone acts on them. Never panics.
pub fn decode_frame(frame: &[u8], limits: &Limits) -> Result<Vec<Message>, ProtocolError> {
    decode_frame_at_most(frame, limits, usize::MAX).map(|decoded| decoded.messages)
}

/// The first messages of a frame, and whether more follow.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub messages: Vec<Message>,
    /// The frame holds more than the messages decoded: they were not read.
    pub more: bool,
}

/// Decodes at most `max` messages of `frame`, as [`decode_frame`] does, and says whether more
/// follow. The rate limit counts messages, not frames: a frame of 40 000 tiny updates must not
/// be decoded whole (let alone applied) for a client that may send a thousand.
pub fn decode_frame_at_most(
    frame: &[u8],
    limits: &Limits,
    max: usize,
) -> Result<Decoded, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::Empty);
    }
    if frame.len() > limits.max_message_size {
        return Err(ProtocolError::TooLarge {
            size: frame.len(),
            limit: limits.max_message_size,
        });
    }
    let mut reader = Reader::new(frame);
    let mut messages = Vec::new();
    while !reader.is_empty() {
        if messages.len() >= max {
            return Ok(Decoded {
                messages,
                more: true,
            });
        }
        messages.push(decode_message(&mut reader)?);
    }
    Ok(Decoded {
        messages,
        more: false,
    })
}

pub(crate) fn decode_message(r: &mut Reader<'_>) -> Result<Message, ProtocolError> {
    let tag = r.read_varuint()?;
    match tag {
        t if t == u64::from(MSG_SYNC) => decode_sync(r).map(Message::Sync),
        t if t == u64::from(MSG_AWARENESS) => {
            let payload = r.read_len_prefixed()?;
            decode_awareness(payload).map(Message::Awareness)
        }
        t if t == u64::from(MSG_AUTH) => {
            let permission = r.read_varuint()?;
            if permission == u64::from(PERMISSION_DENIED) {
                // The server ignores client auth messages, so an invalid UTF-8 reason is not worth
                // rejecting the connection over; keep it readable instead.
                let reason = String::from_utf8_lossy(r.read_len_prefixed()?).into_owned();
                Ok(Message::Auth(Some(reason)))
            } else {
                Ok(Message::Auth(None))
            }
        }
        t if t == u64::from(MSG_QUERY_AWARENESS) => Ok(Message::AwarenessQuery),
        other => Err(ProtocolError::UnknownType(other)),
    }
}

pub(crate) fn decode_sync(r: &mut Reader<'_>) -> Result<SyncMessage, ProtocolError> {
    let sub = r.read_varuint()?;
    // Reject the sub-type before reading its payload: the length prefix of an unknown message
    // means nothing.
    if sub > u64::from(MSG_SYNC_UPDATE) {
        return Err(ProtocolError::UnknownSyncType(sub));
    }
    let payload = r.read_len_prefixed()?;
    Ok(match sub {
        s if s == u64::from(MSG_SYNC_STEP_1) => {
            SyncMessage::SyncStep1(decode_state_vector(payload)?)
        }
        s if s == u64::from(MSG_SYNC_STEP_2) => SyncMessage::SyncStep2(payload.to_vec()),
        _ => SyncMessage::Update(payload.to_vec()),
    })
}

/// Validates a v1 state vector (`count, count × (client, clock)`) and decodes it with yrs.
fn decode_state_vector(payload: &[u8]) -> Result<StateVector, ProtocolError> {
    let invalid = |why: String| ProtocolError::InvalidStateVector(why);
    let mut r = Reader::new(payload);
    let count = r
        .read_varuint()
        .map_err(|e| invalid(format!("entry count: {e}")))?;
    // Each entry is at least two one-byte varints.
    if count > (r.remaining() / 2) as u64 {
        return Err(invalid(format!(
            "state vector declares {count} entries but only {} bytes remain",
            r.remaining()
        )));
    }
    for i in 0..count {
        let client = r
            .read_varuint()
            .map_err(|e| invalid(format!("entry {i}: client id: {e}")))?;
        if client >= CLIENT_ID_LIMIT {
            return Err(ProtocolError::InvalidClientId(client));
        }
        let clock = r
            .read_varuint()
            .map_err(|e| invalid(format!("entry {i}: clock: {e}")))?;
        if clock > u64::from(u32::MAX) {
            return Err(invalid(format!(
                "client {client} has clock {clock}, above the 32-bit range yrs supports"
            )));
        }
    }
    if !r.is_empty() {
        return Err(invalid(format!(
            "{} unexpected bytes after the last entry",
            r.remaining()
        )));
    }
    guard(|| StateVector::decode_v1(payload))
        .map_err(invalid)?
        .map_err(|e| invalid(e.to_string()))
}

/// Validates an awareness payload (the message's body, without its type) and decodes it with
/// yrs. Also what reads the presence other nodes relay.
///
/// The state strings are checked to be JSON here because the server relays them to every other
/// browser, where y-protocols calls `JSON.parse` on them and would throw.
pub fn decode_awareness(payload: &[u8]) -> Result<AwarenessUpdate, ProtocolError> {
    let invalid = |why: String| ProtocolError::InvalidAwareness(why);
    let mut r = Reader::new(payload);
    let count = r
        .read_varuint()
        .map_err(|e| invalid(format!("client count: {e}")))?;
    // Each entry is at least a client id, a clock and a string length: three bytes.
    if count > (r.remaining() / 3) as u64 {
        return Err(invalid(format!(
            "awareness update declares {count} clients but only {} bytes remain",
            r.remaining()
        )));
    }
    for i in 0..count {
        let client = r
            .read_varuint()
            .map_err(|e| invalid(format!("entry {i}: client id: {e}")))?;
        if client >= CLIENT_ID_LIMIT {
            return Err(ProtocolError::InvalidClientId(client));
        }
        let clock = r
            .read_varuint()
            .map_err(|e| invalid(format!("client {client}: clock: {e}")))?;
        if clock > u64::from(u32::MAX) {
            return Err(invalid(format!(
                "client {client} has clock {clock}, above the 32-bit range yrs supports"
            )));
        }
        let state = r
            .read_len_prefixed()
            .map_err(|e| invalid(format!("client {client}: state: {e}")))?;
        let state = std::str::from_utf8(state)
            .map_err(|e| invalid(format!("client {client}: state is not UTF-8: {e}")))?;
        Any::from_json(state)
            .map_err(|e| invalid(format!("client {client}: state is not JSON: {e}")))?;
    }
    if !r.is_empty() {
        return Err(invalid(format!(
            "{} unexpected bytes after the last client",
            r.remaining()
        )));
    }
    guard(|| AwarenessUpdate::decode_v1(payload))
        .map_err(invalid)?
        .map_err(|e| invalid(e.to_string()))
}

/// A sync frame `[0, sub, varlen payload]`, allocated once at its final size.
fn encode_sync(sub: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_CAPACITY + payload.len());
    out.write_var(MSG_SYNC);
    out.write_var(sub);
    out.write_buf(payload);
    out
}

/// Frames a raw v1 update as a sync Update message: `[0, 2, varlen, bytes]`.
///
/// Byte-for-byte what `Message::Sync(SyncMessage::Update(u)).encode_v1()` produces, without
/// first copying the update into a `Message`.
pub fn encode_update(update: &[u8]) -> Vec<u8> {
    encode_sync(MSG_SYNC_UPDATE, update)
}

/// Frames our state vector as a sync step1 message (asks the peer for what we lack).
pub fn encode_step1(sv: &StateVector) -> Vec<u8> {
    encode_sync(MSG_SYNC_STEP_1, &sv.encode_v1())
}

/// Frames a v1 update as a sync step2 message (the answer to a peer's step1).
pub fn encode_step2(update: &[u8]) -> Vec<u8> {
    encode_sync(MSG_SYNC_STEP_2, update)
}

/// Frames an awareness update: `[1, varlen payload]`.
pub fn encode_awareness(update: &AwarenessUpdate) -> Vec<u8> {
    let payload = update.encode_v1();
    let mut out = Vec::with_capacity(HEADER_CAPACITY + payload.len());
    out.write_var(MSG_AWARENESS);
    out.write_buf(&payload);
    out
}

/// The awareness payloads (bodies, without the message type) carrying `update`'s entries, each at
/// most `max` bytes, for a channel that limits its messages (the relay between nodes). An entry
/// that does not fit even alone is left out; the second value counts them.
pub fn encode_awareness_pieces(update: AwarenessUpdate, max: usize) -> (Vec<Vec<u8>>, usize) {
    // An entry's worst case besides its state: client id, clock and length as varints.
    const ENTRY_OVERHEAD: usize = 8 + 5 + 5;
    // The piece's entry count.
    const PIECE_OVERHEAD: usize = 5;
    let mut pieces = Vec::new();
    let mut left_out = 0;
    let mut current = std::collections::HashMap::new();
    let mut size = PIECE_OVERHEAD;
    for (client, entry) in update.clients {
        let entry_size = ENTRY_OVERHEAD + entry.json.len();
        if PIECE_OVERHEAD + entry_size > max {
            left_out += 1;
            continue;
        }
        if size + entry_size > max {
            pieces.push(std::mem::take(&mut current));
            size = PIECE_OVERHEAD;
        }
        size += entry_size;
        current.insert(client, entry);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    let pieces = pieces
        .into_iter()
        .map(|clients| AwarenessUpdate { clients }.encode_v1())
        .collect();
    (pieces, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(msg: Message) -> Vec<u8> {
        msg.encode_v1()
    }

    #[test]
    fn encode_helpers_match_yrs_message_encoding() {
        for update in [vec![], vec![0, 0], vec![7; 300]] {
            assert_eq!(
                encode_update(&update),
                encode(Message::Sync(SyncMessage::Update(update.clone())))
            );
            assert_eq!(
                encode_step2(&update),
                encode(Message::Sync(SyncMessage::SyncStep2(update.clone())))
            );
        }
        let mut sv = StateVector::default();
        sv.set_max(yrs::ClientID::new(1234), 5);
        assert_eq!(
            encode_step1(&sv),
            encode(Message::Sync(SyncMessage::SyncStep1(sv.clone())))
        );
        let mut awareness = yrs::sync::Awareness::new(yrs::Doc::with_client_id(9));
        awareness.set_local_state_raw(r#"{"a":1}"#);
        let update = awareness.update().expect("local state exists");
        assert_eq!(
            encode_awareness(&update),
            encode(Message::Awareness(update.clone()))
        );
    }

    #[test]
    fn encode_update_allocates_once() {
        let update = vec![1u8; 1000];
        let frame = encode_update(&update);
        assert!(frame.capacity() <= HEADER_CAPACITY + update.len());
    }

    #[test]
    fn at_most_stops_after_the_allowed_messages() {
        let limits = Limits::default();
        let three = [3u8, 3, 3];
        let two = decode_frame_at_most(&three, &limits, 2);
        assert_eq!(
            two,
            Ok(Decoded {
                messages: vec![Message::AwarenessQuery, Message::AwarenessQuery],
                more: true
            })
        );
        let all = decode_frame_at_most(&three, &limits, 3).map(|d| (d.messages.len(), d.more));
        assert_eq!(all, Ok((3, false)));
        // What follows the allowed messages is not read: a bad tail is not reported.
        assert!(decode_frame_at_most(&[3, 99], &limits, 1).is_ok_and(|d| d.more));
    }

    #[test]
    fn auth_messages_decode() {
        let limits = Limits::default();
        assert_eq!(
            decode_frame(&[2, 1], &limits),
            Ok(vec![Message::Auth(None)])
        );
        assert_eq!(
            decode_frame(&[2, 0, 2, b'n', b'o'], &limits),
            Ok(vec![Message::Auth(Some("no".into()))])
        );
    }

    #[test]
    fn awareness_pieces_stay_below_the_limit_and_carry_every_entry_that_fits() {
        use yrs::block::ClientID;
        use yrs::sync::awareness::AwarenessUpdateEntry;
        let mut clients = std::collections::HashMap::new();
        for n in 0..200u64 {
            let json = format!(r##"{{"user":{{"name":"user {n}","color":"#30bced"}},"n":{n}}}"##);
            let entry = AwarenessUpdateEntry {
                clock: n as u32,
                json: json.into(),
            };
            clients.insert(ClientID::new(n + (1 << 40)), entry);
        }
        let huge = AwarenessUpdateEntry {
            clock: 1,
            json: format!(r#""{}""#, "x".repeat(2000)).into(),
        };
        clients.insert(ClientID::new(7), huge);
        let expected: Vec<u64> = clients
            .keys()
            .map(|c| c.get())
            .filter(|&c| c != 7)
            .collect();
        let (pieces, left_out) = encode_awareness_pieces(AwarenessUpdate { clients }, 1500);
        assert_eq!(left_out, 1, "the 2 KB state cannot fit");
        assert!(pieces.len() > 5, "{} pieces", pieces.len());
        let mut seen = Vec::new();
        for piece in &pieces {
            assert!(piece.len() <= 1500, "{} bytes", piece.len());
            let update = decode_awareness(piece).expect("a valid awareness payload");
            seen.extend(update.clients.keys().map(|c| c.get()));
        }
        seen.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(seen, expected);
        let empty = AwarenessUpdate {
            clients: Default::default(),
        };
        assert_eq!(encode_awareness_pieces(empty, 1500), (Vec::new(), 0));
    }
}
