//! The writer and the store keep nothing per document once it has left memory. A node that
//! opens a million documents over its life (one per page of a wiki, say) must not keep a few
//! hundred bytes for each of them after they unloaded, as it did before `Writer::release`: the
//! store's name -> id cache and the writer's snapshot sizes grew with every document ever written.
//!
//! Measured with an allocator that counts every live byte of the process. This file holds one
//! test, so nothing else runs beside it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use plait_storage::{DocStore, SeaStore, Writer, WriterConfig};
use yrs::Doc;

use common::{edit, SqliteFile};

/// Counts the bytes allocated and not yet freed, over all threads.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Documents written per round, each released right after: as many as the server unloads at once
/// after a busy minute.
const PER_ROUND: usize = 50;
/// Rounds before the measurement, so that SQLite's page caches (64 KiB per connection) and
/// statement caches are full and the writer's maps have reached their working size.
const WARM_UP_ROUNDS: usize = 20;
const MEASURED_ROUNDS: usize = 40;
/// Allowed growth per measured document. Without the release each kept ~100 bytes here (two map
/// entries and two copies of its name; ~180 in a server's RSS, as malloc rounds them up), with it
/// ~10 (SQLite's caches still filling).
const SLACK_PER_DOC: isize = 40;

/// One round: `PER_ROUND` new documents written in one batch, then released, as the server does
/// when they unload; returns once every release has been compacted.
async fn round(writer: &Writer, store: &SeaStore, first: usize) {
    let names: Vec<String> = (first..first + PER_ROUND)
        .map(|i| format!("wiki/page-{i:07}"))
        .collect();
    for name in &names {
        writer.submit(name, Bytes::from(edit(&Doc::new(), "some text")), None);
    }
    writer.flush().await.expect("SQLite file answers");
    for name in &names {
        writer.release(name);
    }
    // A release runs after the next flush: wait until the last document's log is folded.
    let last = names.last().expect("PER_ROUND > 0");
    for _ in 0..1000 {
        writer.flush().await.expect("SQLite file answers");
        let stats = store.stats(last).await.expect("stats").expect("written");
        if stats.log_updates == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("released documents were not compacted within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_documents_leave_nothing_behind_in_the_writer_and_the_store() {
    let file = SqliteFile::new().expect("a temporary directory");
    let store = Arc::new(SeaStore::connect(&file.url()).await.expect("SQLite file"));
    let writer = Writer::spawn(store.clone(), WriterConfig::default());

    let mut next = 0;
    for _ in 0..WARM_UP_ROUNDS {
        round(&writer, &store, next).await;
        next += PER_ROUND;
    }
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 0..MEASURED_ROUNDS {
        round(&writer, &store, next).await;
        next += PER_ROUND;
    }
    let grown = LIVE.load(Ordering::SeqCst) - before;
    let docs = (MEASURED_ROUNDS * PER_ROUND) as isize;
    assert!(
        grown <= SLACK_PER_DOC * docs,
        "{grown} bytes still held after {docs} documents were written and released \
         ({} per document)",
        grown / docs
    );
    writer
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("clean shutdown");
}
