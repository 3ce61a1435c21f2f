//! `SeaStore::sqlite_nice`: SQLite's connection threads run at a lower CPU priority than the
//! runtime's, the ones open when it is called and the ones the pool opens later (BENCHMARKS.md,
//! issue 27, row 1: a commit's burst no longer holds a keystroke's relay on a shared core).
//!
//! Read from `/proc`, so Linux only. This file holds one test, so that no other store's threads
//! run in the process beside it.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;

use plait_storage::SeaStore;
use sea_orm::TransactionTrait;

use common::SqliteFile;

/// The nice value in a thread's `stat` file: field 19 (the fields after the command's closing
/// parenthesis start at field 3).
fn nice_in(stat: impl AsRef<std::path::Path>) -> i32 {
    let text = std::fs::read_to_string(stat).expect("a stat file");
    let fields = text.rsplit_once(')').expect("stat's command").1;
    let nice = fields.split_whitespace().nth(16).expect("field 19");
    nice.parse().expect("a nice value")
}

/// Thread id -> nice value of this process's threads whose name starts with `prefix`.
fn threads_named(prefix: &str) -> BTreeMap<u32, i32> {
    let mut found = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let tid = task
            .file_name()
            .to_string_lossy()
            .parse()
            .expect("a thread id");
        found.insert(tid, nice_in(task.path().join("stat")));
    }
    found
}

fn own_nice() -> i32 {
    nice_in("/proc/thread-self/stat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn sqlite_threads_run_nicer_including_those_opened_later() {
    let file = SqliteFile::new().expect("temp dir");
    let store = SeaStore::connect(&file.url()).await.expect("connect");
    let before = threads_named("plait-sqlite-");
    assert!(!before.is_empty(), "the pool's threads carry Plait's name");
    let base = own_nice();
    assert!(
        before.values().all(|&nice| nice == base),
        "nothing is lowered before it is asked: {before:?} (own {base})"
    );

    store.sqlite_nice(7);
    let lowered = threads_named("plait-sqlite-");
    let target = (base + 7).min(19);
    assert!(
        lowered.values().all(|&nice| nice == target),
        "every open thread is lowered to {target}: {lowered:?}"
    );

    // Four transactions at once hold four connections: the pool opens the ones it lacks, and
    // its after-connect hook lowers their threads too.
    let db = store.connection();
    let held = tokio::try_join!(db.begin(), db.begin(), db.begin(), db.begin())
        .expect("four transactions");
    let after = threads_named("plait-sqlite-");
    drop(held);
    assert!(
        after.len() >= 4,
        "four connections, four threads: {after:?}"
    );
    assert!(
        after.keys().any(|tid| !before.contains_key(tid)),
        "the pool opened a connection after the call: {before:?} -> {after:?}"
    );
    assert!(
        after.values().all(|&nice| nice == target),
        "the threads opened later are lowered too: {after:?}"
    );
}
