//! Golden bytes produced by the JavaScript reference implementation (yjs 13.6, y-protocols 1.0.6,
//! lib0), so a change in our framing that JS clients would not understand fails here.
//!
//! Generated with `node gen.mjs` after `npm i yjs@13.6 y-protocols@1.0.6 lib0`:
//!
//! ```js
//! import * as Y from 'yjs'
//! import * as syncProtocol from 'y-protocols/sync'
//! import * as awarenessProtocol from 'y-protocols/awareness'
//! import * as encoding from 'lib0/encoding'
//! const hex = (u8) => Buffer.from(u8).toString('hex')
//!
//! // 1. step1 of an empty doc, framed as y-websocket does: [messageSync=0] + writeSyncStep1
//! const empty = new Y.Doc()
//! let enc = encoding.createEncoder()
//! encoding.writeVarUint(enc, 0)
//! syncProtocol.writeSyncStep1(enc, empty)
//! console.log('step1_empty', hex(encoding.toUint8Array(enc)))
//!
//! // 2. update inserting "hello" into Y.Text 'text' by client 1234, framed as a sync Update
//! const doc = new Y.Doc()
//! doc.clientID = 1234
//! let update
//! doc.on('update', (u) => { update = u })
//! doc.getText('text').insert(0, 'hello')
//! enc = encoding.createEncoder()
//! encoding.writeVarUint(enc, 0)
//! syncProtocol.writeUpdate(enc, update)
//! console.log('update_hello', hex(encoding.toUint8Array(enc)))
//! console.log('update_hello_raw', hex(update))
//!
//! // 3. awareness update of client 1234, framed as [messageAwareness=1] + varUint8Array
//! const awareness = new awarenessProtocol.Awareness(doc)
//! awareness.setLocalState({ user: { name: 'alice', color: '#ff0000' } })
//! enc = encoding.createEncoder()
//! encoding.writeVarUint(enc, 1)
//! encoding.writeVarUint8Array(enc, awarenessProtocol.encodeAwarenessUpdate(awareness, [1234]))
//! console.log('awareness_alice', hex(encoding.toUint8Array(enc)))
//!
//! // 4. step1 of the doc holding "hello" (state vector {1234: 5})
//! enc = encoding.createEncoder()
//! encoding.writeVarUint(enc, 0)
//! syncProtocol.writeSyncStep1(enc, doc)
//! console.log('step1_hello', hex(encoding.toUint8Array(enc)))
//!
//! // 5. query-awareness
//! enc = encoding.createEncoder()
//! encoding.writeVarUint(enc, 3)
//! console.log('query_awareness', hex(encoding.toUint8Array(enc)))
//! awareness.destroy()
//! ```

use plait_protocol::frame::{decode_frame, encode_awareness, encode_step1, encode_update, Limits};
use plait_protocol::session::{handle, DocState, Outgoing, Session};
use yrs::sync::{Message, SyncMessage};
use yrs::{ClientID, Doc, GetString, StateVector, Text, Transact};

const STEP1_EMPTY: &str = "00000100";
const UPDATE_HELLO: &str = "0002130101d20900040104746578740568656c6c6f00";
const UPDATE_HELLO_RAW: &str = "0101d20900040104746578740568656c6c6f00";
const AWARENESS_ALICE: &str = "013001d209012b7b2275736572223a7b226e616d65223a22616c696365222c22636f6c6f72223a2223666630303030227d7d";
const STEP1_HELLO: &str = "00000401d20905";
const QUERY_AWARENESS: &str = "03";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test constant is hex"))
        .collect()
}

fn decode_one(hex: &str) -> Message {
    let mut messages = decode_frame(&unhex(hex), &Limits::default()).expect("golden frame decodes");
    assert_eq!(messages.len(), 1, "golden frame holds one message");
    messages.remove(0)
}

#[test]
fn step1_of_empty_doc() {
    assert_eq!(
        decode_one(STEP1_EMPTY),
        Message::Sync(SyncMessage::SyncStep1(StateVector::default()))
    );
    assert_eq!(encode_step1(&StateVector::default()), unhex(STEP1_EMPTY));
    // What a fresh server greets with is exactly what a fresh JS doc would send.
    assert_eq!(
        DocState::new(Doc::new()).greeting(),
        vec![unhex(STEP1_EMPTY)]
    );
}

#[test]
fn step1_of_doc_with_hello() {
    let sv: StateVector = [(ClientID::new(1234), 5)].into_iter().collect();
    assert_eq!(
        decode_one(STEP1_HELLO),
        Message::Sync(SyncMessage::SyncStep1(sv.clone()))
    );
    assert_eq!(encode_step1(&sv), unhex(STEP1_HELLO));
}

#[test]
fn update_inserting_hello() {
    let raw = unhex(UPDATE_HELLO_RAW);
    assert_eq!(
        decode_one(UPDATE_HELLO),
        Message::Sync(SyncMessage::Update(raw.clone()))
    );
    assert_eq!(encode_update(&raw), unhex(UPDATE_HELLO));

    // yrs produces the same bytes for the same edit.
    let doc = Doc::with_client_id(1234);
    let text = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    text.insert(&mut txn, 0, "hello");
    assert_eq!(txn.encode_update_v1(), raw);
    drop(txn);

    // And the server applies the JS bytes.
    let mut state = DocState::new(Doc::new());
    let out = handle(
        &mut state,
        &mut Session::new(false),
        decode_one(UPDATE_HELLO),
    )
    .expect("JS update applies");
    assert_eq!(out, vec![Outgoing::Update(raw)]);
    let text = state.doc().get_or_insert_text("text");
    assert_eq!(text.get_string(&state.doc().transact()), "hello");
}

#[test]
fn awareness_update_from_js() {
    let Message::Awareness(update) = decode_one(AWARENESS_ALICE) else {
        panic!("expected an awareness message");
    };
    let entry = &update.clients[&ClientID::new(1234)];
    assert_eq!(entry.clock, 1);
    assert_eq!(
        &*entry.json,
        r##"{"user":{"name":"alice","color":"#ff0000"}}"##
    );
    assert_eq!(encode_awareness(&update), unhex(AWARENESS_ALICE));

    // The server relays it in the same form JS produced.
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let out = handle(&mut state, &mut session, Message::Awareness(update)).expect("applies");
    let [Outgoing::AwarenessChanged(ids)] = out.as_slice() else {
        panic!("expected AwarenessChanged, got {out:?}");
    };
    assert_eq!(state.awareness_frame(ids), Some(unhex(AWARENESS_ALICE)));
}

#[test]
fn query_awareness() {
    assert_eq!(decode_one(QUERY_AWARENESS), Message::AwarenessQuery);
}
