//! Encoding the state for a joiner: the step2 answer to an empty state vector on a document the
//! size of the automerge-paper trace. This is what every fresh client costs unless the server
//! reuses one encoding for all of them.

mod fixtures;

use criterion::{criterion_group, criterion_main, Criterion};
use plait_protocol::frame::encode_step2;
use plait_protocol::session::DocState;
use std::hint::black_box;
use std::time::Duration;

fn joiner(c: &mut Criterion) {
    let state = DocState::new(fixtures::big_doc());
    let size = state.encode_state().len();
    let mut g = c.benchmark_group("joiner");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function(
        format!("step2 for an empty state vector ({} KB doc)", size / 1024),
        |b| b.iter(|| encode_step2(black_box(&state.encode_state()))),
    );
    g.finish();
}

criterion_group!(benches, joiner);
criterion_main!(benches);
