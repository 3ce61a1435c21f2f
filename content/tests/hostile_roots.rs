//! A root that two updates name as different kinds (an array or an XML fragment, and a text):
//! yrs 0.28 loops forever when it iterates a sequence holding characters that are not one unit
//! each in the document's offset kind. Rendering and plain text must return anyway (a hostile
//! client could otherwise hang the thread that renders its document for good).

use std::sync::mpsc;
use std::time::Duration;

use yrs::updates::decoder::Decode;
use yrs::{
    Array, Doc, OffsetKind, Options, ReadTxn, StateVector, Text, Transact, Update,
    XmlElementPrelim, XmlFragment,
};

fn state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// Root "r" as a list (an array value or an XML element) by one client, and as a text holding
/// `chars` by another.
fn mixed(xml: bool, chars: &str) -> Vec<Vec<u8>> {
    let list = Doc::with_client_id(1);
    if xml {
        let f = list.get_or_insert_xml_fragment("r");
        f.push_back(&mut list.transact_mut(), XmlElementPrelim::empty("p"));
    } else {
        let a = list.get_or_insert_array("r");
        a.push_back(&mut list.transact_mut(), 1);
    }
    let text = Doc::with_client_id(2);
    let t = text.get_or_insert_text("r");
    t.insert(&mut text.transact_mut(), 0, chars);
    vec![state(&list), state(&text)]
}

fn load(updates: &[Vec<u8>], offset_kind: OffsetKind) -> Doc {
    let doc = Doc::with_options(Options {
        offset_kind,
        ..Options::default()
    });
    let mut txn = doc.transact_mut();
    for update in updates {
        let update = Update::decode_v1(update).expect("decodes");
        txn.apply_update(update).expect("applies");
    }
    drop(txn);
    doc
}

/// Runs `work` on a thread and fails if it has not returned within 20 s.
fn returns(what: &str, work: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        work();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(20)).is_ok(),
        "{what} never returned"
    );
}

#[test]
fn mixed_roots_render_without_hanging() {
    for xml in [false, true] {
        for chars in ["é", "😀x", "日本"] {
            for offset_kind in [OffsetKind::Bytes, OffsetKind::Utf16] {
                let updates = mixed(xml, chars);
                let what = format!("xml={xml} chars={chars:?} {offset_kind:?}");
                let doc = load(&updates, offset_kind);
                returns(&format!("render_all {what}"), move || {
                    let txn = doc.transact();
                    let _ = plait_content::render_all(&txn);
                    let _ = plait_content::plain_text(&txn);
                    for format in [None, Some(plait_content::Format::Json)] {
                        let _ = plait_content::render_field(&txn, "r", format);
                    }
                });
            }
        }
    }
}

#[test]
fn restores_to_or_from_a_mixed_root_return() {
    for xml in [false, true] {
        for chars in ["é", "😀x", "日本"] {
            let updates = mixed(xml, chars);
            let doc = load(&updates, OffsetKind::Bytes);
            let hostile = state(&doc);
            let plain = Doc::with_client_id(3);
            plain
                .get_or_insert_text("r")
                .insert(&mut plain.transact_mut(), 0, "plain");
            let plain = state(&plain);
            let what = format!("xml={xml} chars={chars:?}");
            let (h, p) = (hostile.clone(), plain.clone());
            returns(&format!("restore to a mixed root {what}"), move || {
                let current = plait_content::scratch_doc(&p).expect("a document");
                // Refused (the version's root cannot be read whole) or done: never a hang.
                let _ = plait_content::restore(&current, &h);
            });
            returns(&format!("restore from a mixed root {what}"), move || {
                let current = plait_content::scratch_doc(&hostile).expect("a document");
                let _ = plait_content::restore(&current, &plain);
            });
        }
    }
}
