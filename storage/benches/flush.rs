//! A storage flush: the write-behind writer's group commit, i.e. `SeaStore::append` of 100 small
//! updates in one transaction, on a SQLite file (WAL) as the server is deployed by default.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use plait_storage::{DocStore, NewUpdate, SeaStore};
use std::path::PathBuf;
use std::time::Duration;

/// A SQLite file under the temp dir, unique to this process, removed (with its WAL) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        TempDb(std::env::temp_dir().join(format!("plait-flush-bench-{}.db", std::process::id())))
    }
    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// 100 updates of ~40 bytes over 10 documents, the shape of one 100 ms flush in a busy server.
fn batch() -> Vec<NewUpdate> {
    (0..100u32)
        .map(|i| NewUpdate {
            doc: format!("bench-doc-{}", i % 10),
            data: Bytes::from(format!("update payload #{i:>6} of a small yjs edit").into_bytes()),
            authors: None,
        })
        .collect()
}

fn flush(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    };
    let db = TempDb::new();
    let store = match rt.block_on(SeaStore::connect(&db.url())) {
        Ok(s) => s,
        Err(e) => panic!("cannot open {}: {e}", db.url()),
    };
    let batch = batch();
    let mut g = c.benchmark_group("storage flush");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("SeaStore::append 100 updates (SQLite file)", |b| {
        b.iter(|| {
            if let Err(e) = rt.block_on(store.append(&batch)) {
                panic!("append failed: {e}");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, flush);
criterion_main!(benches);
