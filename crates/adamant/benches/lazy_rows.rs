//! The lazy row-sparse step against the table size: 4,096 listed rows (with repeats) of 64
//! float32 elements, on 1,000,000-row and 8,000,000-row tables. The time should not depend on
//! the table size. Run with `cargo bench -p adamant --bench lazy_rows`.

use adamant::{Param, Updater};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;

const ROW_LEN: usize = 64;
const LISTED: usize = 4096;

fn lazy_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("lazy_step_4096_rows");
    let indices: Vec<i64> = (0..LISTED as i64).map(|i| (i * 7_919 + (i % 16) * 13) % 1_000_000).collect();
    let values: Vec<f32> = (0..LISTED * ROW_LEN).map(|i| (i % 97) as f32 * 0.01 - 0.5).collect();
    for rows in [1_000_000usize, 8_000_000] {
        let mut updater = Updater::new(adamant::create("adam", &json!({"lazy_update": true})).unwrap());
        let mut table = vec![0.0f32; rows * ROW_LEN];
        let shape = [rows, ROW_LEN];
        group.bench_function(BenchmarkId::from_parameter(format!("{rows}x{ROW_LEN}")), |b| {
            b.iter(|| {
                updater.update(&mut [Param::row_sparse(0, &shape, &mut table, &indices, &values)]).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lazy_step);
criterion_main!(benches);
