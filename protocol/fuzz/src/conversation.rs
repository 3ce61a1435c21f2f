//! The conversation the handler targets drive: one `DocState`, a writer and a read-only
//! `Session`, every message through `session::handle` exactly as the server does, and the
//! invariants checked after every step.
//!
//! It exists so `handle_message` (y-websocket frames) and `hocuspocus_frame` (the same messages
//! inside Hocuspocus' envelope) check one handler with one set of oracles instead of two copies.

use crate::{check_and_confirm, check_usable, confirm_state, Step};
use plait_protocol::frame::{decode_frame, encode_update, Limits};
use plait_protocol::session::{close, handle, DocState, Outgoing, Session};
use plait_protocol::update_check::DEFAULT_MAX_NESTING;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

/// One document and its two connections.
pub struct Conversation {
    limits: Limits,
    state: DocState,
    writer: Session,
    reader: Session,
}

impl Default for Conversation {
    fn default() -> Self {
        Conversation {
            limits: Limits::default(),
            state: DocState::new(Doc::with_client_id(1)),
            writer: Session::new(false),
            reader: Session::new(true),
        }
    }
}

impl Conversation {
    /// Hands `messages` (what the step's frame decoded to) to the step's session in order, then
    /// closes that session if the step says so, and checks:
    /// - nothing panicked (a yrs panic caught by the crate's guard still aborts here, because
    ///   libfuzzer-sys' panic hook aborts first: we want to see those too);
    /// - the document still encodes, and that state decodes and applies into a fresh Doc;
    /// - a read-only step changed neither the state vector nor the delete set, and was never
    ///   told to relay an update;
    /// - every frame the handler produced for peers decodes with our own `decode_frame`;
    /// - every update a writer sends is also checked with `update_check::check_update` against
    ///   the document: what it accepts yrs decodes without panic or stack overflow and nests
    ///   within the limit by an independent measurement ([`check_and_confirm`]), and the
    ///   handler never applies what it refuses;
    /// - the document's state nests within the limit ([`confirm_state`]).
    ///
    /// A handler error closes the session and replaces it with a fresh one, like the server, and
    /// the step's remaining messages are dropped with it.
    ///
    /// Returns the y-websocket frames produced for peers (replies, relayed updates, awareness
    /// and close announcements), for the caller's own checks of how they are sent.
    pub fn step(
        &mut self,
        step: &Step<'_>,
        messages: impl IntoIterator<Item = Message>,
    ) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        // What a read-only step must not change: the blocks (state vector) and the deletions.
        // Not the encoded bytes: yrs encodes a subdocument's options from a fresh `HashMap`, so
        // two encodings of one unchanged document can list those keys in different orders.
        let before = step
            .read_only
            .then(|| self.state.doc().transact().snapshot());
        let session = if step.read_only {
            &mut self.reader
        } else {
            &mut self.writer
        };
        let state = &mut self.state;
        let mut produced = |frame: Vec<u8>, what: &str| {
            if let Err(e) = decode_frame(&frame, &self.limits) {
                panic!("{what} frame {frame:?} does not decode with our own decoder: {e}");
            }
            frames.push(frame);
        };
        for msg in messages {
            let checked = match &msg {
                Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u))
                    if !step.read_only =>
                {
                    Some(check_and_confirm(u, DEFAULT_MAX_NESTING, state.doc()))
                }
                _ => None,
            };
            let handled = handle(state, session, msg);
            if let (Some(Err(refused)), Ok(_)) = (&checked, &handled) {
                panic!("the handler applied an update check_update refuses: {refused}");
            }
            // An error closes the connection in the server; model that.
            let Ok(out) = handled else {
                if let Some(frame) = close(state, session) {
                    produced(frame, "close");
                }
                *session = Session::new(step.read_only);
                break;
            };
            for o in out {
                match o {
                    Outgoing::Update(u) => {
                        assert!(!step.read_only, "read-only session relayed an update");
                        Update::decode_v1(&u)
                            .unwrap_or_else(|e| panic!("relayed update does not decode: {e}"));
                        produced(encode_update(&u), "relayed update");
                    }
                    Outgoing::Reply(f) => produced(f.to_vec(), "reply"),
                    Outgoing::Resync => {}
                    Outgoing::AwarenessChanged(ids) => {
                        if let Some(f) = state.awareness_frame(&ids) {
                            produced(f, "awareness");
                        }
                    }
                }
            }
        }
        if step.close_after {
            if let Some(frame) = close(state, session) {
                produced(frame, "close");
            }
            *session = Session::new(step.read_only);
        }
        if let Some(snapshot) = before {
            assert!(
                state.doc().transact().snapshot() == snapshot,
                "read-only session changed the document"
            );
        }
        // The document nests within the default limit, and its state decodes into a fresh one.
        confirm_state(&state.encode_state(), DEFAULT_MAX_NESTING);
        check_usable(state);
        frames
    }
}
