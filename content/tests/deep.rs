//! Rendering recurses once per nesting level. Plait stores documents nested up to
//! `plait_protocol`'s `MAX_NESTING_LIMIT` (1000) deep, and a server renders on a tokio worker's
//! 2 MiB stack: these documents must render there, in a debug build too.

use plait_content::{plain_text, render_all, render_field, Format};
use yrs::{
    Doc, Map, MapPrelim, Text, Transact, WriteTxn, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

const LEVELS: usize = 1000;

fn on_a_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_fragment_a_thousand_elements_deep_renders_on_a_2_mib_stack() {
    on_a_worker_stack(|| {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let fragment = txn.get_or_insert_xml_fragment("body");
            let mut element = fragment.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
            for _ in 1..LEVELS {
                element = element.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
            }
            let text = element.push_back(&mut txn, XmlTextPrelim::new(""));
            text.insert(&mut txn, 0, "deep");
        }
        let txn = doc.transact();
        let all = render_all(&txn);
        let mut node = &all["body"]["content"][0];
        for _ in 1..LEVELS {
            node = &node["content"][0];
        }
        assert_eq!(node["content"][0]["text"], "deep");
        assert_eq!(plain_text(&txn), "deep");
        assert_eq!(
            render_field(&txn, "body", Some(Format::Text)).unwrap(),
            "deep"
        );
    });
}

#[test]
fn maps_a_thousand_deep_render_on_a_2_mib_stack() {
    on_a_worker_stack(|| {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let mut map = txn.get_or_insert_map("meta");
            for _ in 0..LEVELS {
                map = map.insert(&mut txn, "k", MapPrelim::default());
            }
            map.insert(&mut txn, "leaf", 1);
        }
        let txn = doc.transact();
        let all = render_all(&txn);
        let mut value = &all["meta"];
        for _ in 0..LEVELS {
            value = &value["k"];
        }
        assert_eq!(value["leaf"], 1);
    });
}
