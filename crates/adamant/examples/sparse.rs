//! An embedding table updated lazily from row-sparse gradients:
//! `cargo run --release --example sparse -p adamant` (a debug build's step time means little).
//!
//! Each step touches a few rows of a 1,000,000 x 32 table (unsorted, with repeats, as a batch
//! of token ids gives them); the lazy update changes only those rows, so a step costs what the
//! rows cost, not what the table costs.

use std::time::Instant;

use adamant::{Param, Updater};
use serde_json::json;

fn main() -> Result<(), adamant::Error> {
    let (rows, width) = (1_000_000, 32);
    let mut table = vec![0.0f32; rows * width];
    let mut updater =
        Updater::new(adamant::create("adam", &json!({"lazy_update": true, "learning_rate": 0.01}))?);
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize
    };
    let start = Instant::now();
    for _ in 0..100 {
        // 512 token ids, Zipf-like: small ids are frequent, so repeats are common.
        let ids: Vec<i64> = (0..512).map(|_| (next() % 1000 * (next() % 1000) % rows) as i64).collect();
        let grads: Vec<f32> = ids
            .iter()
            .flat_map(|&id| (0..width).map(move |j| ((id as usize + j) % 7) as f32 - 3.0))
            .collect();
        updater.update(&mut [Param::row_sparse(0, &[rows, width], &mut table, &ids, &grads)])?;
    }
    let per_step = start.elapsed().as_secs_f64() * 1e3 / 100.0;
    let touched = table.chunks(width).filter(|row| row.iter().any(|&x| x != 0.0)).count();
    let build = if cfg!(debug_assertions) { " (a debug build: add --release for real timings)" } else { "" };
    println!(
        "100 lazy steps on a {rows} x {width} table: {per_step:.3} ms per step{build}; {touched} rows ever changed"
    );
    Ok(())
}
