//! `Writer` behaviour against `MemoryStore` / `FaultyStore`, with tokio's paused clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use plait_storage::{
    DocStats, DocStore, FaultyStore, MemoryStore, NewUpdate, Seq, StorageError, StoredDoc, Writer,
    WriterConfig,
};
use yrs::Doc;

use common::{edit, rebuilt, text_of};

/// Counts calls and records batch sizes, so tests can see how the writer batched.
#[derive(Default)]
struct CountingStore {
    inner: FaultyStore<MemoryStore>,
    /// While true, appends wait (after being counted), as a query does on a database that stopped
    /// answering, a cut network, instead of refusing.
    hanging: tokio::sync::watch::Sender<bool>,
    append_calls: AtomicUsize,
    compact_calls: AtomicUsize,
    checkpoint_calls: AtomicUsize,
    /// Appends of more rows than this fail, as on a disk with a little space left.
    room: Mutex<Option<usize>>,
    batch_sizes: Mutex<Vec<usize>>,
    /// The documents `forget` was called for, in order.
    forgotten: Mutex<Vec<String>>,
    /// How long each compaction takes.
    compact_time: Mutex<Duration>,
}

impl CountingStore {
    fn appends(&self) -> usize {
        self.append_calls.load(Ordering::SeqCst)
    }
    fn compactions(&self) -> usize {
        self.compact_calls.load(Ordering::SeqCst)
    }
    fn forgotten(&self) -> Vec<String> {
        self.forgotten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Sizes of the batches appended since the last call.
    fn take_batch_sizes(&self) -> Vec<usize> {
        std::mem::take(&mut *self.batch_sizes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait::async_trait]
impl DocStore for CountingStore {
    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>, StorageError> {
        self.inner.load(doc).await
    }
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<Seq>, StorageError> {
        self.append_calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.hanging.subscribe().wait_for(|hanging| !*hanging).await;
        let room = *self.room.lock().unwrap_or_else(|p| p.into_inner());
        if room.is_some_and(|room| batch.len() > room) {
            let full = sea_orm::DbErr::Custom("database or disk is full".into());
            return Err(StorageError::from(full));
        }
        self.batch_sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(batch.len());
        self.inner.append(batch).await
    }
    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        self.compact_calls.fetch_add(1, Ordering::SeqCst);
        let took = *self.compact_time.lock().unwrap_or_else(|p| p.into_inner());
        tokio::time::sleep(took).await;
        self.inner.compact(doc).await
    }
    async fn stats(&self, doc: &str) -> Result<Option<DocStats>, StorageError> {
        self.inner.stats(doc).await
    }
    async fn updates_after(
        &self,
        doc: &str,
        after: Seq,
        limit: u64,
    ) -> Result<Vec<(Seq, Vec<u8>)>, StorageError> {
        self.inner.updates_after(doc, after, limit).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
    async fn quarantine(
        &self,
        doc: &str,
        refused: &[plait_protocol::session::Refused],
    ) -> Result<(), StorageError> {
        self.inner.quarantine(doc, refused).await
    }
    async fn checkpoint(&self) -> Result<(), StorageError> {
        self.checkpoint_calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn forget(&self, doc: &str) {
        self.forgotten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(doc.to_owned());
    }
}

fn config(interval_ms: u64, threshold: u64, max_backoff_ms: u64) -> WriterConfig {
    WriterConfig {
        flush_interval: Duration::from_millis(interval_ms),
        snapshot_threshold: threshold,
        max_backoff: Duration::from_millis(max_backoff_ms),
        ..WriterConfig::default()
    }
}

fn setup(cfg: WriterConfig) -> (Arc<CountingStore>, Writer) {
    let store = Arc::new(CountingStore::default());
    let writer = Writer::spawn(store.clone(), cfg);
    (store, writer)
}

/// Polls `check` every 10 ms (virtual time when paused) for at most 10 s.
async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

async fn text_in(store: &CountingStore, name: &str) -> String {
    let stored = store
        .inner
        .inner()
        .load(name)
        .await
        .expect("memory store never fails")
        .expect("document written");
    text_of(rebuilt(stored).doc())
}

#[tokio::test(start_paused = true)]
async fn submits_within_an_interval_share_one_append() {
    let (store, writer) = setup(config(100, 1_000, 1_000));
    let doc = Doc::new();
    for i in 0..50 {
        writer.submit("d", Bytes::from(edit(&doc, &format!("{i},"))), None);
    }
    assert_eq!(writer.pending(), 50);
    eventually("first batch", || writer.pending() == 0).await;
    assert_eq!(store.appends(), 1);

    // Ten more, spread over 50 ms: still within one interval after the first flush.
    for _ in 0..10 {
        writer.submit("d", Bytes::from(edit(&doc, ".")), None);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("second batch", || writer.pending() == 0).await;
    assert_eq!(store.appends(), 2);
    assert_eq!(store.take_batch_sizes(), vec![50, 10]);
    let expected: String = (0..50).map(|i| format!("{i},")).collect::<String>() + "..........";
    assert_eq!(text_in(&store, "d").await, expected);
}

#[tokio::test(start_paused = true)]
async fn on_durable_runs_only_after_commit() {
    let (store, writer) = setup(config(100, 1_000, 1_000));
    store.inner.set_failing(true);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let data = edit(&Doc::new(), "x");
    writer.submit(
        "d",
        Bytes::from(data),
        Some(Box::new(move |seq| {
            let _ = tx.send(seq);
        })),
    );
    let err = writer.flush().await.expect_err("store is failing");
    assert!(matches!(err, StorageError::Injected), "{err:?}");
    assert!(rx.try_recv().is_err(), "callback ran before any commit");
    assert_eq!(writer.pending(), 1);

    store.inner.set_failing(false);
    writer.flush().await.expect("store recovered");
    let seq = rx.try_recv().expect("callback ran after the commit");
    let stored = store.inner.inner().load("d").await.ok().flatten();
    let logged: Vec<Seq> = stored
        .expect("written")
        .updates
        .iter()
        .map(|u| u.0)
        .collect();
    assert_eq!(logged, vec![seq]);
}

#[tokio::test(start_paused = true)]
async fn outage_keeps_everything_in_order_and_backs_off() {
    let (store, writer) = setup(config(100, 1_000, 400));
    let (a, b) = (Doc::new(), Doc::new());
    writer.submit("a", Bytes::from(edit(&a, "before ")), None);
    writer.flush().await.expect("healthy");
    assert!(writer.is_healthy());

    store.inner.set_failing(true);
    for i in 0..20 {
        writer.submit("a", Bytes::from(edit(&a, &format!("a{i} "))), None);
        writer.submit("b", Bytes::from(edit(&b, &format!("b{i} "))), None);
    }
    eventually("writer notices the outage", || !writer.is_healthy()).await;
    let calls_before = store.appends();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let retries = store.appends() - calls_before;
    // Fixed 100 ms retries would make ~20 calls; backoff capped at 400 ms makes about 5-7.
    assert!((3..=8).contains(&retries), "retries in 2 s: {retries}");
    assert!(!writer.is_healthy());
    assert_eq!(writer.pending(), 40);

    store.inner.set_failing(false);
    eventually("queue drains after recovery", || writer.pending() == 0).await;
    assert!(writer.is_healthy());
    let expected_a: String =
        "before ".to_owned() + &(0..20).map(|i| format!("a{i} ")).collect::<String>();
    let expected_b: String = (0..20).map(|i| format!("b{i} ")).collect();
    assert_eq!(text_in(&store, "a").await, expected_a);
    assert_eq!(text_in(&store, "b").await, expected_b);
    // Order is preserved in the log, not just in the merged text.
    let seqs: Vec<Seq> = store
        .inner
        .inner()
        .load("a")
        .await
        .ok()
        .flatten()
        .expect("a")
        .updates
        .iter()
        .map(|u| u.0)
        .collect();
    assert_eq!(seqs.len(), 21);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test(start_paused = true)]
async fn is_full_only_while_the_backlog_is_at_max_pending() {
    let (store, writer) = setup(WriterConfig {
        max_pending: 3,
        ..config(100, 1_000, 100)
    });
    let doc = Doc::new();
    store.inner.set_failing(true);
    for i in 0..2 {
        writer.submit("d", Bytes::from(edit(&doc, &format!("{i},"))), None);
    }
    assert!(!writer.is_full(), "full below the bound");
    writer.submit("d", Bytes::from(edit(&doc, "2,")), None);
    assert!(writer.is_full());
    // Still taken: the bound is for the server to act on, the writer drops nothing.
    writer.submit("d", Bytes::from(edit(&doc, "3,")), None);
    assert_eq!(writer.pending(), 4);
    store.inner.set_failing(false);
    writer.flush().await.expect("store recovered");
    assert!(!writer.is_full());
    assert_eq!(text_in(&store, "d").await, "0,1,2,3,");

    let (store, unbounded) = setup(WriterConfig {
        max_pending: 0,
        ..config(100, 1_000, 100)
    });
    store.inner.set_failing(true);
    for i in 0..50 {
        unbounded.submit("d", Bytes::from(edit(&doc, &format!("{i},"))), None);
    }
    assert!(!unbounded.is_full(), "0 means no bound");
}

#[tokio::test(start_paused = true)]
async fn the_byte_bound_also_makes_the_writer_full() {
    let (store, writer) = setup(WriterConfig {
        max_pending_bytes: 1000,
        ..config(100, 1_000, 100)
    });
    store.inner.set_failing(true);
    writer.submit("d", Bytes::from(vec![0; 600]), None);
    assert!(!writer.is_full());
    writer.submit("d", Bytes::from(vec![0; 600]), None);
    assert!(writer.is_full(), "1 200 bytes waiting, the bound is 1 000");
    store.inner.set_failing(false);
    eventually("the backlog is written", || writer.pending() == 0).await;
    assert!(!writer.is_full());
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_keeps_failing_is_retried_in_halves_and_the_log_checkpointed() {
    let (store, writer) = setup(config(100, 1_000, 400));
    let doc = Doc::new();
    // 64 updates wait while the store is down...
    store.inner.set_failing(true);
    for i in 0..64 {
        writer.submit("d", Bytes::from(edit(&doc, &format!("{i},"))), None);
    }
    eventually("a failed attempt", || store.appends() > 0).await;
    store.take_batch_sizes();
    let calls_before = store.appends();
    // ...then it is back with room for 5 rows per transaction only (a disk nearly full).
    *store.room.lock().unwrap_or_else(|p| p.into_inner()) = Some(5);
    store.inner.set_failing(false);
    eventually("the backlog is written", || writer.pending() == 0).await;
    // 64 refused, then 32, 16 and 8; 4 fits, and the rest of the backlog goes 4 at a time.
    assert_eq!(
        store.take_batch_sizes(),
        vec![4; 16],
        "the batches committed"
    );
    assert_eq!(
        store.appends() - calls_before,
        4 + 16,
        "four refusals first"
    );
    let expected: String = (0..64).map(|i| format!("{i},")).collect();
    assert_eq!(
        text_in(&store, "d").await,
        expected,
        "nothing lost or reordered"
    );
    assert_eq!(
        store.checkpoint_calls.load(Ordering::SeqCst),
        1,
        "the log is checkpointed once the writer recovered"
    );
}

#[tokio::test(start_paused = true)]
async fn a_backlog_goes_out_in_bounded_transactions_back_to_back() {
    let (store, writer) = setup(WriterConfig {
        max_batch_updates: 8,
        ..config(1_000, 1_000, 100)
    });
    let doc = Doc::new();
    store.inner.set_failing(true);
    for i in 0..50 {
        writer.submit("d", Bytes::from(edit(&doc, &format!("{i},"))), None);
    }
    writer.flush().await.expect_err("store is failing");
    store.inner.set_failing(false);
    store.take_batch_sizes();

    // The interval is 1 s: only a backlog written back to back finishes in less.
    tokio::time::timeout(Duration::from_millis(900), writer.flush())
        .await
        .expect("the backlog did not wait an interval between its transactions")
        .expect("store recovered");
    assert_eq!(store.take_batch_sizes(), vec![8, 8, 8, 8, 8, 8, 2]);
    let expected: String = (0..50).map(|i| format!("{i},")).collect();
    assert_eq!(text_in(&store, "d").await, expected);
}

#[tokio::test(start_paused = true)]
async fn an_update_larger_than_the_byte_limit_still_goes_alone() {
    let (store, writer) = setup(WriterConfig {
        max_batch_bytes: 1,
        ..config(100, 1_000, 100)
    });
    let doc = Doc::new();
    for text in ["a", "bb", "ccc"] {
        writer.submit("d", Bytes::from(edit(&doc, text)), None);
    }
    writer.flush().await.expect("healthy");
    assert_eq!(store.take_batch_sizes(), vec![1, 1, 1]);
    assert_eq!(text_in(&store, "d").await, "abbccc");
}

#[tokio::test(start_paused = true)]
async fn snapshot_threshold_triggers_compaction() {
    let (store, writer) = setup(config(100, 5, 1_000));
    let doc = Doc::new();
    for i in 0..4 {
        writer.submit("t", Bytes::from(edit(&doc, &i.to_string())), None);
    }
    writer.flush().await.expect("healthy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.compactions(), 0, "below the threshold");

    for i in 4..12 {
        writer.submit("t", Bytes::from(edit(&doc, &i.to_string())), None);
    }
    writer.flush().await.expect("healthy");
    eventually("compaction after threshold", || store.compactions() == 1).await;
    let stats = store.stats("t").await.ok().flatten().expect("written");
    assert_eq!(stats.log_updates, 0);
    assert!(stats.snapshot_bytes > 0);
    assert_eq!(stats.snapshot_seq, stats.last_seq);
    assert_eq!(text_in(&store, "t").await, "01234567891011");
}

#[tokio::test(start_paused = true)]
async fn requested_compaction_runs_after_flush() {
    let (store, writer) = setup(config(100, 1_000, 1_000));
    writer.submit("r", Bytes::from(edit(&Doc::new(), "hi")), None);
    writer.request_compaction("r");
    writer.flush().await.expect("healthy");
    eventually("requested compaction", || store.compactions() == 1).await;
    let stored = store
        .inner
        .inner()
        .load("r")
        .await
        .ok()
        .flatten()
        .expect("r");
    assert!(stored.snapshot.is_some());
    assert!(stored.updates.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_released_document_is_compacted_then_forgotten_once_compacted() {
    let (store, writer) = setup(config(100, 1_000, 100));
    writer.submit("gone", Bytes::from(edit(&Doc::new(), "bye")), None);
    writer.flush().await.expect("healthy");

    // The database fails: the compaction cannot run, so nothing is forgotten yet.
    store.inner.set_failing(true);
    writer.release("gone");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.compactions() >= 1, "the compaction was tried");
    assert!(store.forgotten().is_empty(), "forgotten before compacted");

    store.inner.set_failing(false);
    writer.submit("other", Bytes::from(edit(&Doc::new(), "hi")), None);
    writer.flush().await.expect("healthy again");
    eventually("forgotten after the compaction", || {
        !store.forgotten().is_empty()
    })
    .await;
    assert_eq!(store.forgotten(), ["gone"]);
    let stats = store.stats("gone").await.ok().flatten().expect("written");
    assert_eq!(stats.log_updates, 0, "compacted");
    assert!(stats.snapshot_bytes > 0);
    assert_eq!(text_in(&store, "gone").await, "bye");
}

#[tokio::test(start_paused = true)]
async fn flush_with_nothing_pending_is_immediate() {
    let (store, writer) = setup(config(100, 1_000, 1_000));
    writer.flush().await.expect("nothing to write");
    assert_eq!(store.appends(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_and_compacts() {
    // A long interval: shutdown must not wait for it.
    let (store, writer) = setup(config(60_000, 1_000, 1_000));
    let doc = Doc::new();
    writer.submit("s", Bytes::from(edit(&doc, "one ")), None);
    writer.flush().await.expect("healthy");
    writer.submit("s", Bytes::from(edit(&doc, "two")), None);
    writer.request_compaction("s");
    let started = tokio::time::Instant::now();
    writer
        .shutdown(Duration::from_secs(5))
        .await
        .expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "waited for the interval"
    );
    assert_eq!(store.appends(), 2);
    assert_eq!(store.compactions(), 1);
    assert_eq!(text_in(&store, "s").await, "one two");
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_outage_reports_unwritten() {
    let (store, writer) = setup(config(100, 1_000, 400));
    store.inner.set_failing(true);
    writer.submit("o", Bytes::from(edit(&Doc::new(), "lost?")), None);
    writer.submit("o", Bytes::from(edit(&Doc::new(), "lost?")), None);
    let handle = writer.clone();
    let err = writer
        .shutdown(Duration::from_secs(2))
        .await
        .expect_err("the store never recovered");
    match err {
        StorageError::Unwritten {
            pending,
            last_error,
        } => {
            assert_eq!(pending, 2);
            assert!(
                matches!(*last_error, StorageError::Injected),
                "{last_error:?}"
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(store.appends() >= 2, "retried until the deadline");
    assert_eq!(handle.pending(), 2, "unwritten updates are still counted");
}

#[tokio::test(start_paused = true)]
async fn take_unwritten_hands_over_what_shutdown_could_not_store() {
    let (store, writer) = setup(config(100, 1_000, 400));
    store.inner.set_failing(true);
    let first = Bytes::from(edit(&Doc::new(), "one"));
    let second = Bytes::from(edit(&Doc::new(), "two"));
    writer.submit(
        "a",
        first.clone(),
        Some(Box::new(|_| panic!("never durable"))),
    );
    writer.submit("b", second.clone(), None);
    let handle = writer.clone();
    writer
        .shutdown(Duration::from_secs(1))
        .await
        .expect_err("the store never recovered");
    let taken = handle.take_unwritten();
    let taken: Vec<(&str, &Bytes)> = taken.iter().map(|u| (u.doc.as_str(), &u.data)).collect();
    assert_eq!(
        taken,
        vec![("a", &first), ("b", &second)],
        "all, oldest first"
    );
    assert_eq!(handle.pending(), 0);
    assert!(handle.take_unwritten().is_empty(), "taken once");
}

#[tokio::test(start_paused = true)]
async fn an_append_that_hangs_marks_the_writer_unhealthy_and_is_awaited_not_retried() {
    let (store, writer) = setup(WriterConfig {
        stall_after: Duration::from_secs(5),
        ..config(100, 1_000, 400)
    });
    store.hanging.send_replace(true);
    let doc = Doc::new();
    writer.submit("d", Bytes::from(edit(&doc, "x")), None);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(store.appends(), 1);
    assert!(writer.is_healthy(), "unhealthy before stall_after");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !writer.is_healthy(),
        "still healthy with an append hanging for 6 s"
    );

    store.hanging.send_replace(false);
    eventually("the hanging append completes", || writer.pending() == 0).await;
    assert!(writer.is_healthy());
    assert_eq!(store.appends(), 1, "retried, not awaited");
    let stored = store.inner.inner().load("d").await.ok().flatten();
    assert_eq!(stored.expect("stored").updates.len(), 1);
}

/// A commit's callbacks run in slices, and what became ready meanwhile runs between them: a
/// large commit's wake-ups must not queue in front of every live update as one burst.
#[tokio::test(start_paused = true)]
async fn other_tasks_run_between_a_large_commits_callbacks() {
    let (_store, writer) = setup(config(100, 1_000, 1_000));
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<()>();
    let probe = tokio::spawn({
        let order = order.clone();
        async move {
            if woken.recv().await.is_some() {
                order
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push("probe".into());
            }
        }
    });
    let doc = Doc::new();
    let callbacks = 40;
    for i in 0..callbacks {
        let order = order.clone();
        let wake = wake.clone();
        writer.submit(
            &format!("d{i}"),
            Bytes::from(edit(&doc, "x")),
            Some(Box::new(move |_seq| {
                // The first callback makes the probe ready, as a commit wakes a document task.
                if i == 0 {
                    let _ = wake.send(());
                }
                order
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(i.to_string());
            })),
        );
    }
    writer.flush().await.expect("memory store never fails");
    probe.await.expect("probe task");
    let order = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let callbacks_only: Vec<String> = order.iter().filter(|o| *o != "probe").cloned().collect();
    let expected: Vec<String> = (0..callbacks).map(|i| i.to_string()).collect();
    assert_eq!(callbacks_only, expected, "callbacks run in commit order");
    let probe_at = order.iter().position(|o| o == "probe").expect("probe ran");
    assert!(
        probe_at < callbacks / 2,
        "the probe ran only after {probe_at} of {callbacks} callbacks: {order:?}"
    );
}

/// Stores one row in each of `crowd` documents (`d0`, `d1`...), then releases them all at once,
/// as when many unload together; each compaction takes `compact_time`.
async fn release_a_crowd(
    store: &CountingStore,
    writer: &Writer,
    crowd: usize,
    compact_time: Duration,
) {
    *store.compact_time.lock().unwrap_or_else(|p| p.into_inner()) = compact_time;
    for i in 0..crowd {
        let update = edit(&Doc::new(), "x");
        writer.submit(&format!("d{i}"), Bytes::from(update), None);
    }
    writer.flush().await.expect("memory store never fails");
    for i in 0..crowd {
        writer.release(&format!("d{i}"));
    }
}

/// A crowd of documents released at once (as when many unload together) is compacted over
/// several turns, and an append submitted meanwhile commits after one turn's share of them, not
/// after all of them.
#[tokio::test(start_paused = true)]
async fn a_crowd_of_compactions_does_not_hold_the_next_commit() {
    let (store, writer) = setup(config(100, 1_000, 1_000));
    let crowd = 10;
    release_a_crowd(&store, &writer, crowd, Duration::from_millis(30)).await;
    // The compactions start at the next turn, 100 ms after the flush; submit 10 ms into them.
    tokio::time::sleep(Duration::from_millis(110)).await;
    let submitted = tokio::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    writer.submit(
        "other",
        Bytes::from(edit(&Doc::new(), "y")),
        Some(Box::new(move |_seq| {
            let _ = tx.send(tokio::time::Instant::now());
        })),
    );
    let committed = rx.recv().await.expect("the update was committed");
    let waited = committed - submitted;
    // All ten one after the other would take 300 ms; half an interval of them, then the append.
    assert!(
        waited <= Duration::from_millis(100),
        "the append waited {waited:?} behind the compactions"
    );
    eventually("every released document compacted and forgotten", || {
        store.forgotten().len() == crowd
    })
    .await;
    assert_eq!(store.compactions(), crowd);
}

/// With a zero flush interval (a valid setting) every turn still compacts at least one document:
/// the turn's budget, half an interval, must not leave the crowd waiting for ever. Real time on
/// two workers: a writer that spun without compacting would starve a single-threaded test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_flush_interval_still_compacts_a_crowd() {
    let (store, writer) = setup(config(0, 1_000, 1_000));
    let crowd = 5;
    release_a_crowd(&store, &writer, crowd, Duration::from_millis(5)).await;
    eventually("every released document compacted and forgotten", || {
        store.forgotten().len() == crowd
    })
    .await;
    assert_eq!(store.compactions(), crowd);
}
