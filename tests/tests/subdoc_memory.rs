//! A document that holds a subdocument is freed when the server lets go of it. yrs 0.28 alone
//! never frees one (a reference cycle, see `plait_protocol::subdocs`), so without the release
//! every unload, snapshot and HTTP read of such a document would leak all of it, and one client
//! storing a `Y.Doc` in a map could grow the server's memory without bound.
//!
//! Measured with an allocator that counts the bytes each thread holds: the tests below do all
//! their yrs work on their own thread, so the count sees only them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use plait_protocol::session::DocState;
use plait_storage::StoredDoc;
use yrs::{Doc, Map, Text, Transact};

/// Counts, per thread, the bytes allocated and not yet freed.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: the allocator also runs while a thread's locals are being torn down.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

const ROUNDS: usize = 20;
const TEXT: usize = 10_000;
/// What may stay allocated after all the rounds (lazily initialised statics and the like).
/// Each leaked round would hold more than the text alone.
const SLACK: isize = 4 * 1024;

/// A client's document: `TEXT` characters, and a subdocument stored in a map, as
/// `ymap.set('page', new Y.Doc())` does in JavaScript.
fn document_with_a_subdocument() -> Vec<u8> {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("content");
    let pages = doc.get_or_insert_map("pages");
    {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, &"x".repeat(TEXT));
        pages.insert(&mut txn, "page", Doc::new());
    }
    plait_tests::ydoc::encode_state(&doc)
}

/// Bytes still held after `ROUNDS` runs of `round`, measured after one warm-up run.
fn held_after_rounds(round: impl Fn()) -> isize {
    round();
    let before = live();
    for _ in 0..ROUNDS {
        round();
    }
    live() - before
}

#[test]
fn a_live_document_with_a_subdocument_is_freed_when_unloaded() {
    let update = document_with_a_subdocument();
    let held = held_after_rounds(|| {
        let mut state = DocState::new(Doc::new());
        let changed = state.apply_update(&update);
        assert!(matches!(changed, Ok(true)), "{changed:?}");
        drop(state);
    });
    assert!(
        held < SLACK,
        "{held} bytes still held after {ROUNDS} documents were loaded and dropped"
    );
}

#[test]
fn the_state_rebuilt_from_storage_frees_its_subdocuments() {
    let update = document_with_a_subdocument();
    let held = held_after_rounds(|| {
        let stored = StoredDoc {
            snapshot: Some(update.clone()),
            snapshot_seq: 1,
            updates: Vec::new(),
            unreadable: Vec::new(),
        };
        let state = stored.rebuild().state;
        assert!(state.len() > TEXT, "the state holds the text");
    });
    assert!(
        held < SLACK,
        "{held} bytes still held after {ROUNDS} states were rebuilt from storage"
    );
}
