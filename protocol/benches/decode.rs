//! Message decode: the first thing done with every frame a client sends.

mod fixtures;

use criterion::{criterion_group, criterion_main, Criterion};
use plait_protocol::frame::{decode_frame, encode_awareness, encode_update, Limits};
use std::hint::black_box;
use std::time::Duration;

fn decode(c: &mut Criterion) {
    let limits = Limits::default();
    let update_frame = encode_update(&fixtures::small_update(7, 1));
    let awareness_frame = encode_awareness(&fixtures::awareness_update(7));
    let mut g = c.benchmark_group("decode_frame");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function(format!("update frame ({} B)", update_frame.len()), |b| {
        b.iter(|| decode_frame(black_box(&update_frame), &limits))
    });
    g.bench_function(
        format!("awareness frame ({} B)", awareness_frame.len()),
        |b| b.iter(|| decode_frame(black_box(&awareness_frame), &limits)),
    );
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
