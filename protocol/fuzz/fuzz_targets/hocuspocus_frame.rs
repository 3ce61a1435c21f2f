//! Fuzz target: `hocuspocus::decode` (the `@hocuspocus/provider` framing), and the handler behind
//! it, on one document with two connections.
//!
//! Input: steps `[ctl][len u16 LE][frame]` as in `handle_message` (`plait_fuzz::split_steps`);
//! each frame is one Hocuspocus frame. Its document messages go through `session::handle`, and
//! a Close detaches the connection (its presence is removed, a fresh session takes its place),
//! with every check of `plait_fuzz::conversation::Conversation::step`. Besides:
//! - decoding never panics, and gives `Pong` for the lone byte 10 only;
//! - every decoded addressed frame re-encodes to itself: a document message as
//!   `hocuspocus::wrap(address, message.encode_v1())`, a token, a stateless message and a close
//!   as the provider writes them (the server's own `stateless` and `close` for those two); a
//!   document message is a sync, awareness or awareness query message only;
//! - `Frame::document_of(address)` is the address up to its first session separator;
//! - every frame the handler produced for peers, wrapped with the address, decodes to exactly
//!   the one message it held: the provider reads one message per frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plait_fuzz::conversation::Conversation;
use plait_fuzz::{hocuspocus_frame, split_steps, Step, HOCUSPOCUS_ADDRESS};
use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::hocuspocus::{self, decode, kind, Body, Frame, SESSION_SEPARATOR};
use yrs::encoding::write::Write;
use yrs::sync::Message;
use yrs::updates::encoder::Encode;

/// How a provider would write `body` for `address`.
fn encode(address: &str, body: &Body) -> Vec<u8> {
    match body {
        Body::Doc(message) => {
            assert!(
                matches!(
                    message,
                    Message::Sync(_) | Message::Awareness(_) | Message::AwarenessQuery
                ),
                "a document body holds {message:?}"
            );
            hocuspocus::wrap(address, &message.encode_v1())
        }
        Body::Token { token, version } => {
            // Auth, sub-type Token (0), the token, and a 4.x provider's version.
            let mut auth = vec![0];
            auth.write_string(token);
            if let Some(version) = version {
                auth.write_string(version);
            }
            hocuspocus_frame(address, kind::AUTH, &auth)
        }
        Body::Stateless(payload) => hocuspocus::stateless(address, payload),
        Body::Close => hocuspocus::close(address, ""),
    }
}

fn check_addressed(address: &str, body: &Body, limits: &Limits) {
    let document = Frame::document_of(address);
    match address.split_once(SESSION_SEPARATOR) {
        Some((name, _)) => assert_eq!(document, name, "document of {address:?}"),
        None => assert_eq!(document, address, "document of {address:?}"),
    }
    assert!(address.starts_with(document));
    let bytes = encode(address, body);
    match decode(&bytes, limits) {
        Ok(Frame::Addressed {
            address: again,
            body: body_again,
        }) => {
            assert_eq!(again, address, "address round trip");
            assert_eq!(&body_again, body, "body round trip");
        }
        other => panic!("{body:?} for {address:?} re-encoded as {bytes:?} decodes to {other:?}"),
    }
}

/// A peer frame (one y-websocket message) sent to `address` is that one message.
fn check_sent(address: &str, frame: &[u8], limits: &Limits) {
    let wrapped = hocuspocus::wrap(address, frame);
    let messages =
        decode_frame(frame, limits).unwrap_or_else(|e| panic!("peer frame does not decode: {e}"));
    match decode(&wrapped, limits) {
        Ok(Frame::Addressed {
            address: again,
            body: Body::Doc(message),
        }) => {
            assert_eq!(again, address, "address of a peer frame");
            assert_eq!(vec![message], messages, "a peer frame holds one message");
        }
        other => panic!("peer frame {frame:?} sent to {address:?} decodes to {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut conversation = Conversation::default();
    for step in split_steps(data) {
        let (address, message, detach) = match decode(step.frame, &limits) {
            Ok(Frame::Addressed { address, body }) => {
                check_addressed(address, &body, &limits);
                match body {
                    Body::Doc(message) => (Some(address), Some(message), false),
                    Body::Close => (Some(address), None, true),
                    Body::Token { .. } | Body::Stateless(_) => (Some(address), None, false),
                }
            }
            Ok(Frame::Pong) => {
                assert_eq!(step.frame, [kind::PONG], "Pong from {:?}", step.frame);
                (None, None, false)
            }
            Err(_) => (None, None, false),
        };
        let step = Step {
            close_after: step.close_after || detach,
            ..step
        };
        let address = address.unwrap_or(HOCUSPOCUS_ADDRESS);
        for frame in conversation.step(&step, message) {
            check_sent(address, &frame, &limits);
        }
    }
});
