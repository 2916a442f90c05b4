//! The fused, multi-threaded step gives the same bits for every thread count as the
//! single-threaded reference (docs/semantics.md, decision 12), on tensors large enough to be split between
//! threads: dense, lazy and standard row-sparse, every dtype, master weights on and off, every
//! optimizer and rule.

mod common;

use adamant::{Buffer, DType, Grad, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use common::{all_bits, first_difference, to_buffer, updater};
use serde_json::{json, Value};

/// A deterministic pseudo-random sequence in [-2, 2).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
        })
        .collect()
}

/// One scenario: a batch of tensors, some dense and some row-sparse, stepped three times.
struct Batch {
    dtype: DType,
    dense: Vec<usize>,
    /// (rows, row_len, listed row indices) of each row-sparse tensor.
    sparse: Vec<(usize, usize, Vec<i64>)>,
}

impl Batch {
    /// The weight and state bits of every tensor after three steps.
    fn run(&self, (name, config): &(&str, Value), threads: Option<usize>) -> Vec<Vec<u64>> {
        let mut updater = updater(name, &common::fitted(config, [self.dtype]), threads.is_some());
        updater.set_threads(threads.unwrap_or(1)).unwrap();
        let shapes: Vec<Vec<usize>> = self
            .dense
            .iter()
            .map(|&n| vec![n])
            .chain(self.sparse.iter().map(|(r, c, _)| vec![*r, *c]))
            .collect();
        let mut weights: Vec<Buffer> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| to_buffer(&values(s.iter().product(), i as u64), self.dtype))
            .collect();
        for step in 0..3u64 {
            let grads: Vec<Buffer> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = match self.sparse.get(i.wrapping_sub(self.dense.len())) {
                        Some((_, c, listed)) => listed.len() * c,
                        None => s.iter().product(),
                    };
                    to_buffer(&values(n, 1000 + 10 * i as u64 + step), self.dtype)
                })
                .collect();
            let mut batch: Vec<Param<'_>> = weights
                .iter_mut()
                .zip(&grads)
                .zip(&shapes)
                .enumerate()
                .map(|(i, ((w, g), shape))| {
                    let grad = match self.sparse.get(i.wrapping_sub(self.dense.len())) {
                        Some((_, _, listed)) => {
                            Grad::RowSparse(RowSparseRef { shape, row_indices: listed, values: g.as_ref() })
                        }
                        None => Grad::Dense(TensorRef { shape, data: g.as_ref() }),
                    };
                    Param::new(i, TensorMut { shape, data: w.as_mut() }, grad)
                })
                .collect();
            updater.update(&mut batch).unwrap();
        }
        all_bits(&updater, &weights)
    }
}

fn listed_rows(rows: usize, count: usize, seed: u64) -> Vec<i64> {
    values(count, seed).iter().map(|v| ((v + 2.0) / 4.0 * rows as f64) as i64 % rows as i64).collect()
}

#[test]
fn every_thread_count_gives_the_reference_bits() {
    let optimizers = [
        ("adam", json!({"wd": 0.01, "clip_gradient": 1.5})),
        ("adam", json!({"rule": "torch", "wd": 0.01, "amsgrad": true})),
        ("adamw", json!({"wd": 0.01, "clip_gradient": 1.5})),
        ("adamw", json!({"rule": "torch", "wd": 0.01})),
        ("adamax", json!({"wd": 0.01, "clip_gradient": 1.5})),
        ("nadam", json!({"wd": 0.01, "formula": "1.x"})),
    ];
    for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        for ((name, config), (lazy, multi_precision)) in optimizers
            .iter()
            .flat_map(|o| [(true, false), (false, true), (false, false)].map(|options| (o, options)))
        {
            let mut config = config.clone();
            (config["lazy_update"], config["multi_precision"]) = (json!(lazy), json!(multi_precision));
            if lazy && config["rule"] == "torch" {
                // SparseAdam has neither (and refuses them).
                (config["wd"], config["amsgrad"]) = (json!(0.0), json!(false));
            }
            let config = (*name, config);
            let batch = Batch {
                dtype,
                // Larger than the split grain, odd lengths, and many small ones.
                dense: [100_003, 40_000, 17, 1, 0].into_iter().chain((0..40).map(|i| 50 + i)).collect(),
                sparse: vec![
                    (5_000, 37, listed_rows(5_000, 3_000, 7)),
                    (20_011, 3, listed_rows(20_011, 9_000, 8)),
                ],
            };
            let reference = batch.run(&config, None);
            for threads in 1..=4 {
                let fused = batch.run(&config, Some(threads));
                for (k, (want, got)) in reference.iter().zip(&fused).enumerate() {
                    if let Some(diff) = first_difference(&format!("array {k}"), want, got) {
                        panic!(
                            "{config:?} {dtype} lazy={lazy} mp={multi_precision} threads={threads}: {diff}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn thread_count_is_settable_and_reported() {
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    updater.set_threads(3).unwrap();
    assert_eq!(updater.threads(), 3);
    for absurd in [Updater::MAX_THREADS + 1, usize::MAX] {
        let err = updater.set_threads(absurd).unwrap_err();
        assert!(matches!(&err, adamant::Error::InvalidHyperParameter { name: "threads", .. }), "{err}");
        assert_eq!(updater.threads(), 3, "the pool stays");
    }
}

#[test]
fn lambs_norms_give_the_reference_bits_for_every_thread_count() {
    for dtype in [DType::F32, DType::F64, DType::BF16] {
        for kernel in ["multi", "phase"] {
            if kernel == "phase" && dtype == DType::BF16 {
                continue; // refused: the phase kernel has no master copy
            }
            let config = ("lamb", json!({"wd": 0.01, "lamb_kernel": kernel, "lower_bound": 0.01}));
            let batch = Batch {
                dtype,
                dense: [100_003, 40_000, 17, 1, 0].into_iter().chain((0..40).map(|i| 50 + i)).collect(),
                sparse: Vec::new(),
            };
            let reference = batch.run(&config, None);
            for threads in 1..=4 {
                let fused = batch.run(&config, Some(threads));
                for (k, (want, got)) in reference.iter().zip(&fused).enumerate() {
                    if let Some(diff) = first_difference(&format!("array {k}"), want, got) {
                        panic!("lamb {kernel} {dtype} threads={threads}: {diff}");
                    }
                }
            }
        }
    }
}
