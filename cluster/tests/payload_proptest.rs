//! The notification payloads, as any program on the channel may write them: parsing never
//! panics, and every `stored` payload the trigger can write reads back as what it says.

use plait_cluster::event::BroadcastKind;
use plait_cluster::payload::{
    broadcast_payload, parse, revoked_payload, stored_payload, Payload, StoredDocs, OTHER_PROGRAM,
};
use plait_cluster::NodeKey;
use plait_protocol::name::DocName;
use proptest::prelude::*;

fn docs() -> impl Strategy<Value = StoredDocs> {
    prop_oneof![
        Just(StoredDocs::Every),
        proptest::collection::vec(1i64..i64::MAX, 1..200).prop_map(StoredDocs::Listed),
    ]
}

proptest! {
    #[test]
    fn stored_payloads_read_back(
        node in prop_oneof![Just(OTHER_PROGRAM.to_owned()), "[0-9a-f]{1,16}-[0-9a-f]{1,24}"],
        first in 0i64..i64::MAX / 2,
        span in 0i64..1_000_000,
        docs in docs(),
    ) {
        let last = first + span;
        let text = stored_payload(&node, first, last, &docs);
        let read = parse(&text, None);
        prop_assert_eq!(read, Some(Payload::Stored { node: &node, first, last, docs }));
    }

    /// What the `revocations` trigger writes reads back as the subject and time it names, for
    /// any subject (UTF-8, spaces included: it travels in base64).
    #[test]
    fn revoked_payloads_read_back(
        node in prop_oneof![Just(OTHER_PROGRAM.to_owned()), "[0-9a-f]{1,16}-[0-9a-f]{1,24}"],
        subject in "\\PC{1,200}",
        at_ms in 0i64..i64::MAX,
    ) {
        let text = revoked_payload(&node, &subject, at_ms);
        prop_assert_eq!(parse(&text, None), Some(Payload::Revoked { node: &node, subject, at_ms }));
    }

    #[test]
    fn revoked_like_text_parses_or_is_refused_without_panicking(
        words in proptest::collection::vec("[-A-Za-z0-9+/=]{0,30}", 0..5),
    ) {
        let text = format!("n revoked {}", words.join(" "));
        if let Some(Payload::Revoked { subject, .. }) = parse(&text, None) {
            prop_assert!(!subject.is_empty());
        }
    }

    /// A deletion (signed, like every broadcast) reads back as the document and position it
    /// names, for any document name; with another key it is refused.
    #[test]
    fn deleted_payloads_read_back_signed(
        doc in "[^\\p{C}\\p{Cf}]{1,60}",
        seq in 0i64..i64::MAX,
    ) {
        let Ok(doc) = DocName::parse(&doc) else { return Ok(()) };
        let key = NodeKey::derive(b"secret");
        let data = seq.to_be_bytes();
        let text = broadcast_payload("n-1", BroadcastKind::Deleted, &doc, &data, Some(&key))
            .expect("fits");
        prop_assert_eq!(
            parse(&text, Some(&key)),
            Some(Payload::Broadcast { node: "n-1", kind: BroadcastKind::Deleted, doc: doc.clone(), data: data.to_vec() })
        );
        let other = NodeKey::derive(b"other");
        prop_assert_eq!(parse(&text, Some(&other)), None);
    }

    #[test]
    fn deleted_like_text_parses_or_is_refused_without_panicking(
        words in proptest::collection::vec("[-A-Za-z0-9+/=]{0,30}", 0..5),
    ) {
        let _ = parse(&format!("n deleted {}", words.join(" ")), None);
    }

    #[test]
    fn any_text_parses_or_is_refused_without_panicking(text in "\\\\PC{0,300}") {
        let _ = parse(&text, None);
    }

    #[test]
    fn stored_like_text_parses_or_is_refused_without_panicking(
        words in proptest::collection::vec("[-*0-9]{0,22}", 0..12),
    ) {
        let text = format!("n stored {}", words.join(" "));
        if let Some(Payload::Stored { first, last, docs, .. }) = parse(&text, None) {
            prop_assert!(first <= last);
            if let StoredDocs::Listed(ids) = docs {
                prop_assert!(!ids.is_empty());
            }
        }
    }
}
