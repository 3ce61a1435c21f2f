use proptest::prelude::*;
use yrs::encoding::write::Write;
use yrs::sync::{Message, SyncMessage};

use super::*;

fn limits() -> Limits {
    Limits::default()
}

/// A frame as `@hocuspocus/provider` writes it: address, type, then the body's bytes.
fn provider_frame(address: &str, kind: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_string(address);
    out.write_var(kind);
    out.extend_from_slice(body);
    out
}

#[test]
fn an_update_is_the_y_websocket_message_after_the_address() {
    // Sync, Update (2), varlen payload.
    let frame = provider_frame("team-a/notes", kind::SYNC, &[2, 3, 9, 8, 7]);
    let decoded = decode(&frame, &limits()).unwrap();
    assert_eq!(
        decoded,
        Frame::Addressed {
            address: "team-a/notes",
            body: Body::Doc(Message::Sync(SyncMessage::Update(vec![9, 8, 7]))),
        }
    );
}

#[test]
fn a_session_address_is_kept_whole_and_names_its_document() {
    let address = "notes\0k3j4";
    let frame = provider_frame(address, kind::QUERY_AWARENESS, &[]);
    let Frame::Addressed { address: got, body } = decode(&frame, &limits()).unwrap() else {
        panic!("addressed");
    };
    assert_eq!(got, address);
    assert_eq!(body, Body::Doc(Message::AwarenessQuery));
    assert_eq!(Frame::document_of(got), "notes");
    assert_eq!(Frame::document_of("plain"), "plain");
}

#[test]
fn the_token_comes_with_the_version_of_4x_providers_only() {
    let mut v4 = vec![0];
    v4.write_string("tok");
    v4.write_string("4.8.0");
    let frame = provider_frame("d", kind::AUTH, &v4);
    assert_eq!(
        decode(&frame, &limits()).unwrap(),
        Frame::Addressed {
            address: "d",
            body: Body::Token {
                token: "tok".into(),
                version: Some("4.8.0".into())
            }
        }
    );
    let mut v3 = vec![0];
    v3.write_string("");
    let frame = provider_frame("d", kind::AUTH, &v3);
    assert_eq!(
        decode(&frame, &limits()).unwrap(),
        Frame::Addressed {
            address: "d",
            body: Body::Token {
                token: String::new(),
                version: None
            }
        }
    );
}

#[test]
fn stateless_close_and_pong_decode() {
    let mut body = Vec::new();
    body.write_string("{\"hi\":1}");
    let frame = provider_frame("d", kind::STATELESS, &body);
    assert!(matches!(
        decode(&frame, &limits()).unwrap(),
        Frame::Addressed { body: Body::Stateless(p), .. } if p == "{\"hi\":1}"
    ));
    let frame = provider_frame("d", kind::CLOSE, &[]);
    assert!(matches!(
        decode(&frame, &limits()).unwrap(),
        Frame::Addressed {
            body: Body::Close,
            ..
        }
    ));
    assert_eq!(decode(&[kind::PONG], &limits()).unwrap(), Frame::Pong);
}

#[test]
fn what_a_client_must_not_send_is_refused_with_a_reason() {
    for (kind, body) in [
        (kind::BROADCAST_STATELESS, vec![0]),
        (kind::SYNC_STATUS, vec![1]),
        (kind::AUTH, vec![2, 0]),
        (42, vec![]),
    ] {
        let frame = provider_frame("d", kind, &body);
        let error = decode(&frame, &limits()).unwrap_err();
        assert!(
            matches!(error, ProtocolError::InvalidHocuspocus(_)),
            "{kind}: {error}"
        );
    }
    // Not UTF-8, cut short, trailing bytes, empty, too large.
    assert!(decode(&[2, 0xff, 0xfe, 0], &limits()).is_err());
    assert!(decode(&[5, b'a'], &limits()).is_err());
    let mut trailing = provider_frame("d", kind::SYNC, &[2, 1, 7]);
    trailing.push(0);
    assert!(decode(&trailing, &limits()).is_err());
    assert_eq!(decode(&[], &limits()), Err(ProtocolError::Empty));
    let small = Limits {
        max_message_size: 4,
    };
    assert!(matches!(
        decode(&[1, b'd', 3, 0, 0], &small),
        Err(ProtocolError::TooLarge { .. })
    ));
}

#[test]
fn server_messages_are_what_the_provider_reads() {
    // Byte for byte what @hocuspocus/server's OutgoingMessage writes.
    assert_eq!(sync_status("d", true), vec![1, b'd', 8, 1]);
    assert_eq!(sync_status("d", false), vec![1, b'd', 8, 0]);
    assert_eq!(
        authenticated("d", false),
        [&[1, b'd', 2, 2, 10][..], b"read-write"].concat()
    );
    assert_eq!(
        authenticated("d", true),
        [&[1, b'd', 2, 2, 8][..], b"readonly"].concat()
    );
    assert_eq!(
        permission_denied("d", "no"),
        vec![1, b'd', 2, 1, 2, b'n', b'o']
    );
    assert_eq!(token_request("d"), vec![1, b'd', 2, 0]);
    assert_eq!(stateless("d", "x"), vec![1, b'd', 5, 1, b'x']);
    assert_eq!(close("d", "bye"), vec![1, b'd', 7, 3, b'b', b'y', b'e']);
    assert_eq!(wrap("d", &[0, 2, 1, 7]), vec![1, b'd', 0, 2, 1, 7]);
    assert_eq!(PING, &[9]);
}

proptest! {
    /// Whatever a provider sends, decoding answers without panicking, and an update framed for
    /// any address decodes back to that address and update.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes, &limits());
    }

    #[test]
    fn an_addressed_update_round_trips(
        address in "[^\u{0}]{1,40}(\u{0}[a-z0-9]{1,12})?",
        update in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let frame = wrap(&address, &crate::frame::encode_update(&update));
        let decoded = decode(&frame, &limits()).unwrap();
        prop_assert_eq!(decoded, Frame::Addressed {
            address: &address,
            body: Body::Doc(Message::Sync(SyncMessage::Update(update))),
        });
    }
}
