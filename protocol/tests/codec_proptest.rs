//! Property tests: `decode_frame` never panics, and every valid message round-trips.

use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::session::{handle, DocState, Session};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, StateVector};

const CLIENT_IDS: std::ops::Range<u64> = 0..(1u64 << 53);

fn client_id() -> impl Strategy<Value = u64> {
    // Mix small ids, 32-bit ids and the full 53-bit range so every varint length shows up.
    prop_oneof![0u64..200, 0u64..(1 << 32), CLIENT_IDS]
}

fn json_state() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("{}".to_owned()),
        "[a-zA-Z0-9 ]{0,20}".prop_map(|name| format!(r#"{{"user":{{"name":"{name}"}}}}"#)),
        any::<i32>().prop_map(|n| n.to_string()),
        "[^\"\\\\\\p{Cc}]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        prop::collection::vec((client_id(), any::<u32>()), 0..8).prop_map(|entries| {
            let sv: StateVector = entries
                .into_iter()
                .map(|(c, clock)| (ClientID::new(c), clock))
                .collect();
            Message::Sync(SyncMessage::SyncStep1(sv))
        }),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|u| Message::Sync(SyncMessage::SyncStep2(u))),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|u| Message::Sync(SyncMessage::Update(u))),
        prop::collection::vec((client_id(), any::<u32>(), json_state()), 0..6).prop_map(
            |entries| {
                let clients: HashMap<_, _> = entries
                    .into_iter()
                    .map(|(c, clock, json)| {
                        let json: Arc<str> = json.into();
                        (ClientID::new(c), AwarenessUpdateEntry { clock, json })
                    })
                    .collect();
                Message::Awareness(AwarenessUpdate { clients })
            }
        ),
        Just(Message::AwarenessQuery),
        Just(Message::Auth(None)),
        "[a-z ]{0,30}".prop_map(|reason| Message::Auth(Some(reason))),
    ]
}

fn encode_all(messages: &[Message]) -> (Vec<u8>, Vec<usize>) {
    let mut frame = Vec::new();
    let mut boundaries = Vec::new();
    for m in messages {
        frame.extend(m.encode_v1());
        boundaries.push(frame.len());
    }
    (frame, boundaries)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let result = decode_frame(&bytes, &Limits::default());
        // Whatever decodes must also be safe to hand to the session logic.
        if let Ok(messages) = result {
            let mut state = DocState::new(Doc::new());
            let mut session = Session::new(false);
            for m in messages {
                let _ = handle(&mut state, &mut session, m);
            }
        }
    }

    #[test]
    fn one_message_round_trips(msg in message()) {
        let frame = msg.encode_v1();
        prop_assert_eq!(decode_frame(&frame, &Limits::default()), Ok(vec![msg]));
    }

    #[test]
    fn concatenated_messages_round_trip(messages in prop::collection::vec(message(), 1..6)) {
        let (frame, _) = encode_all(&messages);
        prop_assert_eq!(decode_frame(&frame, &Limits::default()), Ok(messages));
    }

    /// A prefix decodes only if it ends on a message boundary, and then to exactly the messages
    /// before the cut; otherwise it is a typed error (never a silent partial result).
    #[test]
    fn truncations_are_typed_errors(
        messages in prop::collection::vec(message(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let (frame, boundaries) = encode_all(&messages);
        let cut = 1 + cut.index(frame.len());
        let prefix = &frame[..cut];
        match decode_frame(prefix, &Limits::default()) {
            Ok(decoded) => {
                prop_assert!(boundaries.contains(&cut), "decoded a frame cut mid-message at {}", cut);
                prop_assert_eq!(&decoded[..], &messages[..decoded.len()]);
                prop_assert_eq!(boundaries[decoded.len() - 1], cut);
            }
            Err(_) => prop_assert!(!boundaries.contains(&cut)),
        }
    }

    #[test]
    fn corrupted_valid_frames_never_panic(
        messages in prop::collection::vec(message(), 1..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (mut frame, _) = encode_all(&messages);
        for (at, xor) in flips {
            let i = at.index(frame.len());
            frame[i] ^= xor;
        }
        let _ = decode_frame(&frame, &Limits::default());
    }
}
