use super::*;
use crate::parts::Joiner;

fn name(s: &str) -> DocName {
    DocName::parse(s).expect("a valid name")
}

#[test]
fn stored_payloads_round_trip_and_refuse_what_the_trigger_never_writes() {
    let listed = StoredDocs::Listed(vec![3, 1, 99]);
    let text = stored_payload("node-1", 10, 12, &listed);
    assert_eq!(text, "node-1 stored 10 12 3 1 99");
    assert_eq!(
        parse(&text, None),
        Some(Payload::Stored {
            node: "node-1",
            first: 10,
            last: 12,
            docs: listed
        })
    );
    let every = stored_payload(OTHER_PROGRAM, 5, 5, &StoredDocs::Every);
    assert_eq!(every, "- stored 5 5 *");
    assert!(matches!(
        parse(&every, None),
        Some(Payload::Stored {
            node: "-",
            docs: StoredDocs::Every,
            ..
        })
    ));
    for bad in [
        "n stored 5 4 1",
        "n stored -1 4 1",
        "n stored 1 2",
        "n stored 1 2 * 3",
        "n stored 1 2 3 *",
        "n stored 1 2 * *",
        "n stored 1 x 3",
        "n stored 1 2 3x",
        "n stored",
    ] {
        assert_eq!(parse(bad, None), None, "{bad}");
    }
}

#[test]
fn broadcast_payloads_round_trip_and_large_updates_have_none() {
    let update = vec![0u8, 1, 2, 255, b' ', b':'];
    for kind in [
        BroadcastKind::Update,
        BroadcastKind::Presence,
        BroadcastKind::Stateless,
        BroadcastKind::Deleted,
    ] {
        let payload =
            broadcast_payload("node-1", kind, &name("notes/é 1"), &update, None).expect("fits");
        assert_eq!(
            parse(&payload, None),
            Some(Payload::Broadcast {
                node: "node-1",
                kind,
                doc: name("notes/é 1"),
                data: update.clone(),
            })
        );
        let fits =
            broadcast_payload("n", kind, &name("d"), &[7; 5000], None).expect("5000 bytes fit");
        assert!(fits.len() <= MAX_PAYLOAD, "{}", fits.len());
        assert_eq!(
            broadcast_payload("n", kind, &name("d"), &[7; 6000], None),
            None
        );
        // What `broadcast_capacity` promises fits, with a long node id and document name.
        let (node, doc) = ("n".repeat(40), name(&"d".repeat(255)));
        let most = vec![0xff; broadcast_capacity(doc.as_str().len())];
        let payload = broadcast_payload(&node, kind, &doc, &most, None).expect("fits");
        assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
        let signed = broadcast_payload(&node, kind, &doc, &most, Some(&NodeKey::derive(b"k")));
        assert!(signed.is_some_and(|p| p.len() <= MAX_PAYLOAD));
    }
}

#[test]
fn interest_payloads_round_trip_in_pieces() {
    let docs: Vec<DocName> = (0..2000).map(|i| name(&format!("doc {i}/é"))).collect();
    for open in [true, false] {
        let payloads = interest_payloads("node-1", open, &docs);
        assert!(payloads.len() > 1, "2000 names fit one payload?");
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let Some(Payload::Interest {
                node,
                open: o,
                docs,
            }) = parse(payload, None)
            else {
                panic!("not read back: {payload}");
            };
            assert_eq!((node, o), ("node-1", open));
            back.extend(docs);
        }
        assert_eq!(back, docs);
    }
    assert!(interest_payloads("node-1", true, &[]).is_empty());
}

#[test]
fn with_a_key_only_broadcasts_it_signed_are_read() {
    let key = NodeKey::derive(b"the deployment's auth secret, 32+");
    let other = NodeKey::derive(b"another deployment's secret, 32++");
    let update = b"\x01\x02 update".to_vec();
    let live = |doc: &str, update: &[u8], key: Option<&NodeKey>| {
        broadcast_payload("node-1", BroadcastKind::Update, &name(doc), update, key).expect("fits")
    };
    let signed = live("doc", &update, Some(&key));
    let expected = Payload::Broadcast {
        node: "node-1",
        kind: BroadcastKind::Update,
        doc: name("doc"),
        data: update.clone(),
    };
    assert_eq!(parse(&signed, Some(&key)), Some(expected));
    assert_eq!(
        parse(&signed, Some(&other)),
        None,
        "another key's MAC accepted"
    );
    let unsigned = live("doc", &update, None);
    assert_eq!(
        parse(&unsigned, Some(&key)),
        None,
        "an unsigned payload accepted"
    );
    // The MAC covers each part: moving it to another node, document or kind fails.
    let tag = signed.rsplit(' ').next().expect("a tag");
    let as_presence = broadcast_payload(
        "node-1",
        BroadcastKind::Presence,
        &name("doc"),
        &update,
        None,
    );
    for forged in [
        format!("node-2{}", &signed["node-1".len()..]),
        live("elsewhere", &update, None) + " " + tag,
        live("doc", b"other", None) + " " + tag,
        as_presence.expect("fits") + " " + tag,
    ] {
        assert_eq!(parse(&forged, Some(&key)), None, "{forged}");
    }
    // Without a key a signed payload is read too (a node without auth among signed ones).
    assert!(parse(&signed, None).is_some());
}

#[test]
fn hello_payloads_round_trip() {
    for asks in [true, false] {
        assert_eq!(
            parse(&hello_payload("node-1", asks), None),
            Some(Payload::Hello {
                node: "node-1",
                asks
            })
        );
    }
}

#[test]
fn foreign_payloads_are_not_misread() {
    for payload in [
        "",
        " 1:2",
        "node 1:x",
        "node 12",
        "node 1:2:3",
        "node live",
        "node live !!! AAAA",
        "node live ZG9j AAAA dGFn extra",
        "node hello there",
        "node open !!!",
    ] {
        assert_eq!(parse(payload, None), None, "{payload:?}");
    }
}

fn update_item(doc: &str, data: Vec<u8>) -> Broadcast {
    Broadcast {
        doc: name(doc),
        kind: BroadcastKind::Update,
        data: bytes::Bytes::from(data),
    }
}

/// Reads `payloads` as a feed would and joins the parts; the updates that came out whole.
fn receive(payloads: &[String], key: Option<&NodeKey>) -> Vec<(String, Vec<u8>)> {
    let mut joiner = Joiner::default();
    let mut whole = Vec::new();
    for payload in payloads {
        assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
        match parse(payload, key) {
            Some(Payload::Part { node, part }) => whole.extend(
                joiner
                    .add(node, part)
                    .map(|(doc, data)| (doc.to_string(), data)),
            ),
            Some(Payload::Broadcast { doc, data, .. }) => whole.push((doc.to_string(), data)),
            other => panic!("not a broadcast: {other:?}"),
        }
    }
    whole
}

#[test]
fn large_updates_go_in_parts_that_join_again() {
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let other: Vec<u8> = (0..12_000u32).map(|i| (i % 13) as u8).collect();
    let parts = broadcast_payloads("node-1", &update_item("notes/é", big.clone()), None, 0);
    assert!(parts.len() >= 4, "{} parts for 20 KB", parts.len());
    // Another node numbers its own: the same id, told apart by the node.
    let others = broadcast_payloads("node-2", &update_item("b", other.clone()), None, 0);
    // Two nodes' parts interleaved, and a small update between them.
    let mut mixed: Vec<String> = (0..parts.len().max(others.len()))
        .flat_map(|i| [parts.get(i), others.get(i)])
        .flatten()
        .cloned()
        .collect();
    mixed.insert(
        3,
        broadcast_payload("node-3", BroadcastKind::Update, &name("c"), b"x", None).expect("fits"),
    );
    let mut whole = receive(&mixed, None);
    whole.sort();
    let mut expected = vec![
        ("notes/é".to_owned(), big),
        ("b".to_owned(), other),
        ("c".to_owned(), b"x".to_vec()),
    ];
    expected.sort();
    assert_eq!(whole, expected);

    // The longest name, at the largest size, stays within the parts a feed accepts.
    let longest = "n".repeat(255);
    let most = update_item(&longest, vec![1; MAX_BROADCAST_UPDATE]);
    let parts = broadcast_payloads(&"i".repeat(NODE_ID_MAX), &most, None, 1);
    assert!(
        !parts.is_empty() && parts.len() <= MAX_PARTS,
        "{}",
        parts.len()
    );
    assert_eq!(
        receive(&parts, None),
        vec![(longest, vec![1; MAX_BROADCAST_UPDATE])]
    );
    // Past it, and for presence too large for one payload, nothing is broadcast.
    let over = update_item("d", vec![1; MAX_BROADCAST_UPDATE + 1]);
    assert!(broadcast_payloads("n", &over, None, 2).is_empty());
    let presence = Broadcast {
        kind: BroadcastKind::Presence,
        ..update_item("d", vec![1; 6000])
    };
    assert!(broadcast_payloads("n", &presence, None, 3).is_empty());
}

#[test]
fn with_a_key_parts_are_signed_and_cannot_be_moved() {
    let key = NodeKey::derive(b"the deployment's auth secret, 32+");
    let big = vec![9u8; 12_000];
    let signed = broadcast_payloads("node-1", &update_item("doc", big.clone()), Some(&key), 7);
    assert_eq!(receive(&signed, Some(&key)), vec![("doc".to_owned(), big)]);
    let unsigned = broadcast_payloads("node-1", &update_item("doc", vec![9; 12_000]), None, 8);
    assert!(
        parse(&unsigned[0], Some(&key)).is_none(),
        "an unsigned part read"
    );
    // Another index, id or count under the same MAC is refused.
    let fields: Vec<&str> = signed[0].split(' ').collect();
    for (at, value) in [(3, "8"), (4, "1"), (5, "9")] {
        let mut forged = fields.clone();
        forged[at] = value;
        assert!(
            parse(&forged.join(" "), Some(&key)).is_none(),
            "{at} -> {value}"
        );
    }
    // Numbers a feed would not accept.
    for numbers in ["1 3 3", "1 0 65", "x 0 1"] {
        let forged = format!("n part ZG9j {numbers} AAAA");
        assert!(parse(&forged, None).is_none(), "{numbers}");
    }
}
