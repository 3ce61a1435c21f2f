//! One hand-made frame for every error `decode_frame` can return.

use plait_protocol::frame::{decode_frame, encode_update, Limits};
use plait_protocol::ProtocolError;
use yrs::encoding::write::Write;
use yrs::sync::{Message, MessageReader};
use yrs::updates::decoder::DecoderV1;

fn decode(frame: &[u8]) -> Result<Vec<Message>, ProtocolError> {
    decode_frame(frame, &Limits::default())
}

/// `[1, varlen payload]` with `payload` = one awareness entry.
fn awareness_frame(client: u64, clock: u64, json: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.write_var(1u64);
    payload.write_var(client);
    payload.write_var(clock);
    payload.write_buf(json);
    let mut frame = vec![1];
    frame.write_buf(&payload);
    frame
}

#[test]
fn empty_frame() {
    assert_eq!(decode(&[]), Err(ProtocolError::Empty));
}

#[test]
fn frame_over_the_size_limit() {
    let limits = Limits {
        max_message_size: 4,
    };
    assert_eq!(
        decode_frame(&[3, 3, 3, 3, 3], &limits),
        Err(ProtocolError::TooLarge { size: 5, limit: 4 })
    );
    assert_eq!(decode_frame(&[3, 3, 3, 3], &limits).map(|m| m.len()), Ok(4));
}

#[test]
fn truncated_message() {
    // Sync tag without a sub-type, sync update without a length, varint cut mid-way.
    for frame in [&[0][..], &[0, 2], &[0x80], &[2]] {
        assert_eq!(decode(frame), Err(ProtocolError::Truncated), "{frame:?}");
    }
}

#[test]
fn truncated_second_message_is_an_error_not_silently_dropped() {
    let mut frame = encode_update(&[0, 0]);
    frame.push(0); // a second sync message cut after its tag
    assert_eq!(decode(&frame), Err(ProtocolError::Truncated));

    // The behaviour we guard against: yrs' reader yields the first message and stops quietly.
    let mut decoder = DecoderV1::from(frame.as_slice());
    let yrs_messages: Vec<_> = MessageReader::new(&mut decoder).collect();
    assert_eq!(yrs_messages.len(), 1);
}

#[test]
fn huge_length_prefix_never_allocates() {
    // Update with a length prefix of 2^32 - 1 and then three bytes.
    assert_eq!(
        decode(&[0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]),
        Err(ProtocolError::LengthOverflow {
            declared: u32::MAX as u64,
            available: 3
        })
    );
    // Awareness payload declaring u64::MAX bytes.
    let mut frame = vec![1];
    frame.write_var(u64::MAX);
    assert_eq!(
        decode(&frame),
        Err(ProtocolError::LengthOverflow {
            declared: u64::MAX,
            available: 0
        })
    );
}

#[test]
fn unknown_message_type() {
    assert_eq!(decode(&[7]), Err(ProtocolError::UnknownType(7)));
    // A type that yrs would read as a custom message (tag + buffer) is still unknown to us.
    assert_eq!(decode(&[4, 0]), Err(ProtocolError::UnknownType(4)));
    assert_eq!(decode(&[0x80, 0x02]), Err(ProtocolError::UnknownType(256)));
}

#[test]
fn unknown_sync_sub_type() {
    assert_eq!(decode(&[0, 5, 0]), Err(ProtocolError::UnknownSyncType(5)));
}

#[test]
fn over_long_varint() {
    assert_eq!(decode(&[0xff; 11]), Err(ProtocolError::InvalidVarint));
    let mut frame = vec![0, 2];
    frame.extend([0x80; 10]);
    frame.push(0);
    assert_eq!(decode(&frame), Err(ProtocolError::InvalidVarint));
}

#[test]
fn awareness_client_id_of_2_pow_53() {
    assert_eq!(
        decode(&awareness_frame(1 << 53, 1, b"{}")),
        Err(ProtocolError::InvalidClientId(1 << 53))
    );
    let ok = decode(&awareness_frame((1 << 53) - 1, 1, b"{}")).expect("largest id is valid");
    assert_eq!(ok.len(), 1);
}

#[test]
fn awareness_count_larger_than_the_payload() {
    // count = 4_000_000 followed by 12 bytes.
    let mut payload = Vec::new();
    payload.write_var(4_000_000u64);
    payload.extend([0u8; 12]);
    let mut frame = vec![1];
    frame.write_buf(&payload);
    let err = decode(&frame).expect_err("count cannot fit");
    assert_eq!(
        err.to_string(),
        "invalid awareness update: awareness update declares 4000000 clients but only 12 bytes remain"
    );
    assert_eq!(err.close_code(), plait_protocol::codes::INVALID_PAYLOAD);
}

#[test]
fn awareness_state_must_be_utf8_json() {
    for bad in [&b"\xff\xfe"[..], b"{not json", b""] {
        match decode(&awareness_frame(5, 1, bad)) {
            Err(ProtocolError::InvalidAwareness(why)) => assert!(why.contains("client 5"), "{why}"),
            other => panic!("{bad:?}: expected InvalidAwareness, got {other:?}"),
        }
    }
    assert!(decode(&awareness_frame(5, 1, b"null")).is_ok());
}

#[test]
fn awareness_clock_and_trailing_bytes() {
    assert!(matches!(
        decode(&awareness_frame(5, 1 << 32, b"{}")),
        Err(ProtocolError::InvalidAwareness(_))
    ));
    // Payload with a byte after the last entry.
    let mut frame = awareness_frame(5, 1, b"{}");
    frame[1] += 1;
    frame.push(0);
    assert!(
        matches!(decode(&frame), Err(ProtocolError::InvalidAwareness(why)) if why.contains("unexpected"))
    );
}

#[test]
fn malformed_state_vectors() {
    // count 1 but no entry bytes.
    assert!(matches!(
        decode(&[0, 0, 1, 1]),
        Err(ProtocolError::InvalidStateVector(why)) if why.contains("declares 1 entries")
    ));
    // trailing byte after an empty state vector.
    assert!(matches!(
        decode(&[0, 0, 2, 0, 9]),
        Err(ProtocolError::InvalidStateVector(_))
    ));
    // client id 2^53 inside a state vector.
    let mut sv = vec![1];
    sv.write_var(1u64 << 53);
    sv.push(1);
    let mut frame = vec![0, 0];
    frame.write_buf(&sv);
    assert_eq!(decode(&frame), Err(ProtocolError::InvalidClientId(1 << 53)));
}

#[test]
fn several_messages_in_one_frame() {
    let mut frame = encode_update(&[0, 0]);
    frame.push(3);
    frame.extend([2, 1]);
    assert_eq!(
        decode(&frame),
        Ok(vec![
            Message::Sync(yrs::sync::SyncMessage::Update(vec![0, 0])),
            Message::AwarenessQuery,
            Message::Auth(None),
        ])
    );
}
