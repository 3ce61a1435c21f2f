//! Session behaviour: convergence, read-only, awareness lifecycle, bad input.

use plait_protocol::frame::{decode_frame, Limits};
use plait_protocol::session::{close, handle, DocLimits, DocState, Outgoing, Session};
use plait_protocol::ProtocolError;
use yrs::sync::{Awareness, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

fn edit(client: u64, s: &str) -> Vec<u8> {
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    text.push(&mut txn, s);
    txn.encode_update_v1()
}

fn text_of(doc: &Doc) -> String {
    let text = doc.get_or_insert_text("text");
    let txn = doc.transact();
    text.get_string(&txn)
}

fn single(frame: &[u8]) -> Message {
    let mut messages = decode_frame(frame, &Limits::default()).expect("server frames decode");
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

/// Applies a server awareness frame to a client-side Awareness.
fn apply_awareness_frame(awareness: &mut Awareness, frame: &[u8]) {
    let Message::Awareness(update) = single(frame) else {
        panic!("expected an awareness frame");
    };
    awareness
        .apply_update(update)
        .expect("server awareness applies");
}

fn present(awareness: &Awareness) -> Vec<ClientID> {
    let mut ids: Vec<_> = awareness
        .iter()
        .filter(|(_, s)| s.data.is_some())
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids
}

fn client_awareness(client: u64, state: &str) -> Awareness {
    let mut a = Awareness::new(Doc::with_client_id(client));
    a.set_local_state_raw(state);
    a
}

/// Client B syncs from the server via step1 and returns its doc.
fn sync_new_client(state: &mut DocState) -> Doc {
    let b = Doc::new();
    let mut session = Session::new(false);
    let step1 = Message::Sync(SyncMessage::SyncStep1(b.transact().state_vector()));
    let out = handle(state, &mut session, step1).expect("step1 handled");
    let [Outgoing::Reply(frame)] = out.as_slice() else {
        panic!("expected one reply, got {out:?}");
    };
    let Message::Sync(SyncMessage::SyncStep2(update)) = single(frame) else {
        panic!("expected step2");
    };
    b.transact_mut()
        .apply_update(Update::decode_v1(&update).expect("step2 decodes"))
        .expect("step2 applies");
    b
}

#[test]
fn two_sessions_converge() {
    let mut state = DocState::new(Doc::new());
    let mut a = Session::new(false);
    let update = edit(1, "hello from A");
    let out = handle(
        &mut state,
        &mut a,
        Message::Sync(SyncMessage::Update(update.clone())),
    )
    .expect("A's update applies");
    assert_eq!(out, vec![Outgoing::Update(update)]);

    let b = sync_new_client(&mut state);
    assert_eq!(text_of(&b), "hello from A");
}

#[test]
fn already_in_sync_step2_yields_nothing() {
    let mut state = DocState::new(Doc::new());
    let out = handle(
        &mut state,
        &mut Session::new(false),
        Message::Sync(SyncMessage::SyncStep2(vec![0, 0])),
    );
    assert_eq!(out, Ok(vec![]));
    assert!(state.is_empty());
}

#[test]
fn read_only_updates_are_dropped() {
    let mut state = DocState::new(Doc::new());
    let mut ro = Session::new(true);
    for msg in [
        Message::Sync(SyncMessage::Update(edit(1, "nope"))),
        Message::Sync(SyncMessage::SyncStep2(edit(2, "nope"))),
    ] {
        assert_eq!(handle(&mut state, &mut ro, msg), Ok(vec![]));
    }
    assert!(state.is_empty());
    assert_eq!(text_of(state.doc()), "");

    // A read-only session still gets the document.
    handle(
        &mut state,
        &mut Session::new(false),
        Message::Sync(SyncMessage::Update(edit(3, "shared"))),
    )
    .expect("writer applies");
    let out = handle(
        &mut state,
        &mut ro,
        Message::Sync(SyncMessage::SyncStep1(StateVector::default())),
    )
    .expect("step1 handled");
    assert!(matches!(out.as_slice(), [Outgoing::Reply(_)]));
}

#[test]
fn awareness_add_then_close_removes_it_elsewhere() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let client = client_awareness(42, r#"{"user":{"name":"ann"}}"#);

    let update = client.update().expect("local state exists");
    let out = handle(&mut state, &mut session, Message::Awareness(update)).expect("applies");
    let [Outgoing::AwarenessChanged(ids)] = out.as_slice() else {
        panic!("expected AwarenessChanged, got {out:?}");
    };
    let frame = &state.awareness_frame(ids).expect("ann is known");
    assert_eq!(
        session.awareness_clients().collect::<Vec<_>>(),
        vec![ClientID::new(42)]
    );

    // Another browser hears about ann...
    let mut observer = Awareness::new(Doc::with_client_id(7));
    apply_awareness_frame(&mut observer, frame);
    assert_eq!(present(&observer), vec![ClientID::new(42)]);

    // ...and about her leaving when her connection drops without a goodbye.
    let removal = close(&mut state, &mut session).expect("a removal frame");
    apply_awareness_frame(&mut observer, &removal);
    assert_eq!(present(&observer), vec![]);
    assert_eq!(state.presence().present().count(), 0);
    assert_eq!(session.awareness_clients().count(), 0);
    assert_eq!(close(&mut state, &mut session), None);
}

#[test]
fn awareness_removed_by_the_client_is_not_removed_again_on_close() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let mut client = client_awareness(42, r#"{"x":1}"#);
    let add = client.update().expect("state");
    handle(&mut state, &mut session, Message::Awareness(add)).expect("add");

    client.clean_local_state();
    let removal = client
        .update_with_clients([ClientID::new(42)])
        .expect("known id");
    let out = handle(&mut state, &mut session, Message::Awareness(removal)).expect("remove");
    assert!(matches!(out.as_slice(), [Outgoing::AwarenessChanged(_)]));
    assert_eq!(session.awareness_clients().count(), 0);
    assert_eq!(close(&mut state, &mut session), None);
}

#[test]
fn stale_awareness_is_not_rebroadcast() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let update = client_awareness(42, r#"{"x":1}"#).update().expect("state");
    let first = handle(&mut state, &mut session, Message::Awareness(update.clone()));
    assert_eq!(first.map(|o| o.len()), Ok(1));
    // The same clock again carries no news.
    assert_eq!(
        handle(&mut state, &mut session, Message::Awareness(update)),
        Ok(vec![])
    );
}

#[test]
fn query_awareness_replies_with_everyone() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let out = handle(&mut state, &mut session, Message::AwarenessQuery).expect("query");
    assert_eq!(
        out,
        vec![Outgoing::Reply(bytes::Bytes::from_static(&[1, 1, 0]))],
        "empty awareness"
    );

    for id in [5, 6] {
        let u = client_awareness(id, "{}").update().expect("state");
        handle(&mut state, &mut Session::new(false), Message::Awareness(u)).expect("add");
    }
    let out = handle(&mut state, &mut session, Message::AwarenessQuery).expect("query");
    let [Outgoing::Reply(frame)] = out.as_slice() else {
        panic!("expected a reply, got {out:?}");
    };
    let mut observer = Awareness::new(Doc::with_client_id(7));
    apply_awareness_frame(&mut observer, frame);
    assert_eq!(present(&observer), vec![ClientID::new(5), ClientID::new(6)]);
    // The greeting carries the same states.
    assert_eq!(state.greeting().len(), 2);
}

#[test]
fn garbage_update_is_rejected_and_doc_unchanged() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    handle(
        &mut state,
        &mut session,
        Message::Sync(SyncMessage::Update(edit(1, "keep"))),
    )
    .expect("valid update");
    let before = state.encode_state();

    for garbage in [vec![0xff; 16], vec![1, 1, 0xd2, 9, 0, 0x7f, 0x7f], vec![5]] {
        let result = handle(
            &mut state,
            &mut session,
            Message::Sync(SyncMessage::Update(garbage.clone())),
        );
        match result {
            Err(e @ ProtocolError::InvalidUpdate(_)) => {
                assert_eq!(e.close_code(), plait_protocol::codes::INVALID_PAYLOAD)
            }
            other => panic!("{garbage:?}: expected InvalidUpdate, got {other:?}"),
        }
    }
    assert_eq!(state.encode_state(), before);
    assert_eq!(text_of(state.doc()), "keep");
}

#[test]
fn wide_client_ids_round_trip_through_updates() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let ids = [u64::from(u32::MAX), (1u64 << 53) - 1];
    for (i, id) in ids.into_iter().enumerate() {
        let update = edit(id, if i == 0 { "32" } else { "53" });
        let out = handle(
            &mut state,
            &mut session,
            Message::Sync(SyncMessage::Update(update.clone())),
        )
        .expect("update applies");
        assert_eq!(out, vec![Outgoing::Update(update)]);
    }
    let sv = state.doc().transact().state_vector();
    for id in ids {
        assert_eq!(sv.get(&ClientID::new(id)), 2, "client {id}");
    }
    let b = sync_new_client(&mut state);
    let text = text_of(&b);
    assert!(text == "3253" || text == "5332", "{text}");
    assert_eq!(text, text_of(state.doc()));
}

#[test]
fn auth_is_ignored_and_custom_is_unknown() {
    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    assert_eq!(
        handle(&mut state, &mut session, Message::Auth(Some("x".into()))),
        Ok(vec![])
    );
    assert_eq!(
        handle(&mut state, &mut session, Message::Custom(9, vec![])),
        Err(ProtocolError::UnknownType(9))
    );
}

#[test]
fn one_connection_cannot_flood_awareness_with_fake_users() {
    use plait_protocol::session::MAX_AWARENESS_STATES_PER_CONNECTION;
    use std::collections::HashMap;
    use yrs::sync::awareness::AwarenessUpdateEntry;
    use yrs::sync::AwarenessUpdate;

    let mut state = DocState::new(Doc::new());
    let mut session = Session::new(false);
    let clients: HashMap<_, _> = (1..=(MAX_AWARENESS_STATES_PER_CONNECTION as u64 + 1))
        .map(|id| {
            let entry = AwarenessUpdateEntry {
                clock: 1,
                json: r#"{"user":{"name":"x"}}"#.into(),
            };
            (ClientID::new(id), entry)
        })
        .collect();
    let result = handle(
        &mut state,
        &mut session,
        Message::Awareness(AwarenessUpdate { clients }),
    );
    assert_eq!(
        result,
        Err(ProtocolError::TooManyAwarenessStates {
            limit: MAX_AWARENESS_STATES_PER_CONNECTION
        })
    );
    assert_eq!(state.presence().known(), 0, "nothing was applied");
}

/// A y-websocket client sends back every presence change it applies, so in a room of more than
/// the per-connection limit each of its messages carries everyone's states. Those echoes are
/// not states it introduces: the connection stays, and nothing changes.
#[test]
fn echoes_of_everyone_elses_presence_do_not_count_against_the_limit() {
    use plait_protocol::session::MAX_AWARENESS_STATES_PER_CONNECTION;
    use std::collections::HashMap;
    use yrs::sync::awareness::AwarenessUpdateEntry;
    use yrs::sync::AwarenessUpdate;

    let entry = |clock: u32, name: &str| AwarenessUpdateEntry {
        clock,
        json: format!(r#"{{"user":{{"name":"{name}"}}}}"#).into(),
    };
    let mut state = DocState::new(Doc::new());
    let others = MAX_AWARENESS_STATES_PER_CONNECTION as u64 + 8;
    let mut sessions: Vec<Session> = Vec::new();
    for id in 1..=others {
        let mut session = Session::new(false);
        let own = HashMap::from([(ClientID::new(id), entry(1, "other"))]);
        let out = handle(
            &mut state,
            &mut session,
            Message::Awareness(AwarenessUpdate { clients: own }),
        );
        assert!(out.is_ok(), "client {id}: {out:?}");
        sessions.push(session);
    }
    // A newcomer: its own state, plus the echo of everyone it was told about.
    let mut newcomer = Session::new(false);
    let mut echo: HashMap<_, _> = (1..=others)
        .map(|id| (ClientID::new(id), entry(1, "other")))
        .collect();
    echo.insert(ClientID::new(1000), entry(1, "newcomer"));
    let out = handle(
        &mut state,
        &mut newcomer,
        Message::Awareness(AwarenessUpdate { clients: echo }),
    );
    let Ok(out) = out else {
        panic!("an echo closed the connection: {out:?}");
    };
    assert_eq!(
        out,
        vec![Outgoing::AwarenessChanged(vec![ClientID::new(1000)])],
        "only the newcomer's own state is new"
    );
    // Its close removes its own state only.
    assert!(close(&mut state, &mut newcomer).is_some());
    assert_eq!(state.presence().present().count(), others as usize);
    // New states it does not own still count: the limit holds.
    let fakes: HashMap<_, _> = (2000..2000 + MAX_AWARENESS_STATES_PER_CONNECTION as u64 + 1)
        .map(|id| (ClientID::new(id), entry(1, "fake")))
        .collect();
    let mut flooder = Session::new(false);
    assert_eq!(
        handle(
            &mut state,
            &mut flooder,
            Message::Awareness(AwarenessUpdate { clients: fakes }),
        ),
        Err(ProtocolError::TooManyAwarenessStates {
            limit: MAX_AWARENESS_STATES_PER_CONNECTION
        })
    );
}

#[test]
fn update_past_the_document_size_limit_is_refused_and_changes_nothing() {
    let mut state = DocState::with_limits(
        Doc::new(),
        DocLimits {
            max_size: 200,
            ..DocLimits::default()
        },
    );
    let writer = Doc::with_client_id(42);
    let text = writer.get_or_insert_text("text");
    let small = {
        let mut txn = writer.transact_mut();
        text.push(&mut txn, "hello");
        txn.encode_update_v1()
    };
    assert_eq!(state.apply_update(&small), Ok(true));
    let big = {
        let mut txn = writer.transact_mut();
        text.push(&mut txn, &"x".repeat(500));
        txn.encode_update_v1()
    };
    let before = state.encode_state();
    assert!(matches!(
        state.apply_update(&big),
        Err(ProtocolError::DocumentTooLarge { limit: 200, .. })
    ));
    assert_eq!(state.encode_state(), before, "the document stays as it was");
    let read = state.doc().get_or_insert_text("text");
    assert_eq!(read.get_string(&state.doc().transact()), "hello");
}

/// What another server already stored is applied whatever the size limit: here the whole
/// document again (a catch-up), which the limit's estimate would count twice, and growth that
/// this server would have refused from a client.
#[test]
fn stored_updates_from_other_servers_are_not_size_limited() {
    let writer = Doc::with_client_id(42);
    let text = writer.get_or_insert_text("text");
    let first = {
        let mut txn = writer.transact_mut();
        text.push(&mut txn, &"a".repeat(150));
        txn.encode_update_v1()
    };
    let mut state = DocState::with_limits(
        Doc::new(),
        DocLimits {
            max_size: 200,
            ..DocLimits::default()
        },
    );
    assert_eq!(state.apply_update(&first), Ok(true));
    let whole = state.encode_state();
    assert!(
        matches!(
            state.integrate(&whole),
            Err(ProtocolError::DocumentTooLarge { .. })
        ),
        "the client path counts the whole document on top of itself"
    );
    let again = state.integrate_stored(&whole).map(|i| i.delta);
    assert_eq!(again, Ok(None), "nothing new, and no error");
    let more = {
        let mut txn = writer.transact_mut();
        text.push(&mut txn, &"b".repeat(100));
        txn.encode_update_v1()
    };
    let grown = state.integrate_stored(&more).map(|i| i.delta.is_some());
    assert_eq!(grown, Ok(true));
    let read = state.doc().get_or_insert_text("text");
    assert_eq!(read.get_string(&state.doc().transact()).len(), 250);
}

/// A JSON object in a map is a hash map inside yrs, so re-encoding it may order its keys
/// differently: an honest update must not be mistaken for one yrs cannot read back (found by the
/// JavaScript interoperability tests after a too-strict validation).
#[test]
fn map_values_with_many_keys_are_accepted() {
    use yrs::{Any, Map};
    let writer = Doc::with_client_id(5);
    let map = writer.get_or_insert_map("map");
    let mut state = DocState::new(Doc::new());
    for i in 0..20 {
        let update = {
            let mut txn = writer.transact_mut();
            let value: Any = Any::from_json(&format!(
                r#"{{"i":{i},"by":"a","x":[1,2,3],"nested":{{"p":1,"q":2,"r":3}}}}"#
            ))
            .expect("valid json");
            map.insert(&mut txn, format!("key{}", i % 3), value);
            txn.encode_update_v1()
        };
        assert_eq!(state.apply_update(&update), Ok(true), "update {i}");
    }
}

/// Two nodes serving one document: what one tells the other of its clients' presence lands there
/// as the other node's, is never told back (no echo between nodes), and a removal crosses too.
#[test]
fn presence_crosses_nodes_without_echo() {
    use plait_protocol::session::{apply_node_presence, presence_for_nodes};
    use std::collections::HashSet;
    use std::time::Instant;

    let mut node_a = DocState::new(Doc::new());
    let mut node_b = DocState::new(Doc::new());
    let mut ann = Session::new(false);
    let update = client_awareness(42, r#"{"user":{"name":"ann"}}"#)
        .update()
        .expect("local state exists");
    let out = handle(&mut node_a, &mut ann, Message::Awareness(update)).expect("applies");
    let [Outgoing::AwarenessChanged(ids)] = out.as_slice() else {
        panic!("expected AwarenessChanged, got {out:?}");
    };
    let changed: HashSet<ClientID> = ids.iter().copied().collect();

    let (pieces, left_out) = presence_for_nodes(&node_a, Some(&changed), 5000);
    assert_eq!((pieces.len(), left_out), (1, 0));
    let now = Instant::now();
    let arrived = apply_node_presence(&mut node_b, &pieces[0], now).expect("a valid piece");
    assert_eq!(arrived, vec![ClientID::new(42)]);
    // b's clients get ann in their greeting and in b's next tick...
    let mut observer = Awareness::new(Doc::with_client_id(7));
    apply_awareness_frame(
        &mut observer,
        &node_b.awareness_frame(&arrived).expect("known"),
    );
    assert_eq!(present(&observer), vec![ClientID::new(42)]);
    // ...but b tells nobody else of her: she is a's.
    let arrived: HashSet<ClientID> = arrived.into_iter().collect();
    assert_eq!(presence_for_nodes(&node_b, Some(&arrived), 5000).0.len(), 0);
    assert_eq!(presence_for_nodes(&node_b, None, 5000).0.len(), 0);
    assert_eq!(presence_for_nodes(&node_a, None, 5000).0.len(), 1);

    // Her connection to a closes: a tells b, and b's clients see her leave.
    close(&mut node_a, &mut ann).expect("a removal frame");
    let (pieces, _) = presence_for_nodes(&node_a, Some(&changed), 5000);
    let left = apply_node_presence(&mut node_b, &pieces[0], now).expect("a valid piece");
    apply_awareness_frame(
        &mut observer,
        &node_b.awareness_frame(&left).expect("known"),
    );
    assert_eq!(present(&observer), vec![]);

    // A piece that is not an awareness update is refused and changes nothing.
    assert!(apply_node_presence(&mut node_b, b"\x05garbage", now).is_err());
    assert_eq!(node_b.presence().present().count(), 0);
}
