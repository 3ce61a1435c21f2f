//! One drain of a document's queue: apply each client's update, then merge them into the one
//! frame every recipient shares (`coalesce::Batch::frame`). 20 small updates from 10 senders, as
//! in a busy room.

mod fixtures;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use plait_protocol::coalesce::Batch;
use plait_protocol::session::DocState;
use std::hint::black_box;
use std::time::Duration;
use yrs::Doc;

fn apply_and_coalesce(c: &mut Criterion) {
    let batch = fixtures::batch(10, 2);
    let mut relay = Batch::new();
    for (sender, update) in &batch {
        relay.push(Some(*sender), update.clone());
    }
    let mut g = c.benchmark_group("drain of 20 updates from 10 senders");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("DocState::apply_update x20", |b| {
        b.iter_batched(
            || DocState::new(Doc::new()),
            |mut state| {
                for (_, update) in &batch {
                    let _ = black_box(state.apply_update(update));
                }
                state
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("Batch::frame", |b| b.iter(|| black_box(&relay).frame()));
    g.finish();
}

criterion_group!(benches, apply_and_coalesce);
criterion_main!(benches);
