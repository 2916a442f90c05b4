//! What `adamant bench` measures: each scenario builds its arrays and an `Updater`, and can run
//! one step and one roofline pass.

use adamant::{Buffer, DType, Grad, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use anyhow::Result;
use rayon::prelude::*;
use serde_json::json;

use super::op_by_op::OpByOp;
use super::stream::{self, Layout};

/// How a scenario updates its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// The fused step on dense tensors of one dtype.
    Dense { dtype: DType, multi_precision: bool },
    /// The lazy row-sparse step on one float32 table.
    Lazy { rows: usize, row_len: usize },
    /// The standard row-sparse step on one float32 table.
    Standard { rows: usize, row_len: usize },
    /// The scalar reference step (one thread) on dense float32.
    Reference,
    /// An unfused, one-pass-per-operation Adam on dense float32.
    OpByOp,
}

/// One line of the benchmark.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// A short name, unique in the list.
    pub name: String,
    /// How it updates.
    pub kind: Kind,
    /// Number of tensors.
    pub tensors: usize,
    /// Elements per tensor (dense) or in the table (sparse).
    pub per_tensor: usize,
}

impl Scenario {
    /// For many tensors: the same elements as one tensor, timed in the same pairs so that their
    /// ratio holds while the machine's bandwidth drifts.
    pub fn twin(&self) -> Option<Scenario> {
        (self.tensors > 1 && matches!(self.kind, Kind::Dense { .. })).then(|| Scenario {
            name: format!("{} as one tensor", self.name),
            kind: self.kind,
            tensors: 1,
            per_tensor: self.tensors * self.per_tensor,
        })
    }
}

/// Rows listed by each sparse gradient (with repeats).
pub const LISTED_ROWS: usize = 4096;

const M: usize = 1 << 20;

/// The default scenarios, with every element count scaled by `size`.
pub fn all(size: f64) -> Vec<Scenario> {
    let n = |count: usize| ((count as f64 * size).round() as usize).max(1);
    let f32 = Kind::Dense { dtype: DType::F32, multi_precision: false };
    let dense = |name: &str, kind, tensors: usize, total: usize| Scenario {
        name: name.to_string(),
        kind,
        tensors,
        per_tensor: n(total) / tensors,
    };
    let sparse = |name: &str, kind| Scenario { name: name.to_string(), kind, tensors: 1, per_tensor: 0 };
    let table = |rows: usize| n(rows).max(LISTED_ROWS);
    vec![
        dense("dense-f32-64Mx1", f32, 1, 64 * M),
        dense("dense-f32-16Mx1", f32, 1, 16 * M),
        dense("dense-f32-16Mx256", f32, 256, 16 * M),
        dense("dense-f32-4096x4096", f32, 4096, 4096 * 4096),
        dense("dense-f32-10Mx1", f32, 1, 10_000_000),
        dense("dense-f32-100000x100", f32, 100_000, 10_000_000),
        dense("dense-f64-16Mx1", Kind::Dense { dtype: DType::F64, multi_precision: false }, 1, 16 * M),
        dense("dense-bf16-16Mx1", Kind::Dense { dtype: DType::BF16, multi_precision: false }, 1, 16 * M),
        dense("dense-bf16-mp-16Mx1", Kind::Dense { dtype: DType::BF16, multi_precision: true }, 1, 16 * M),
        dense("dense-f16-mp-16Mx1", Kind::Dense { dtype: DType::F16, multi_precision: true }, 1, 16 * M),
        sparse("lazy-f32-1Mx64", Kind::Lazy { rows: table(1_000_000), row_len: 64 }),
        sparse("lazy-f32-8Mx64", Kind::Lazy { rows: table(8_000_000), row_len: 64 }),
        sparse("standard-f32-1Mx64", Kind::Standard { rows: table(1_000_000), row_len: 64 }),
        dense("reference-f32-16Mx1", Kind::Reference, 1, 16 * M),
        dense("op-by-op-f32-16Mx1", Kind::OpByOp, 1, 16 * M),
    ]
}

impl Scenario {
    /// The dtype's name as reported.
    pub fn dtype(&self) -> String {
        match self.kind {
            Kind::Dense { dtype, multi_precision: true } => format!("{dtype}+f32 master"),
            Kind::Dense { dtype, .. } => dtype.to_string(),
            _ => "float32".to_string(),
        }
    }

    /// Total elements of the weights.
    #[deny(clippy::arithmetic_side_effects)]
    pub fn elements(&self) -> usize {
        match self.kind {
            Kind::Lazy { rows, row_len } | Kind::Standard { rows, row_len } => rows.saturating_mul(row_len),
            _ => self.tensors.saturating_mul(self.per_tensor),
        }
    }

    /// Bytes the scenario's arrays take (weights, gradients, optimizer state, and its twin's),
    /// or `None` when that does not fit in 64 bits: what `--size` must leave room for.
    #[deny(clippy::arithmetic_side_effects)]
    pub fn memory(&self) -> Option<u64> {
        let elements = match self.kind {
            Kind::Lazy { rows, row_len } | Kind::Standard { rows, row_len } => rows.checked_mul(row_len)?,
            _ => self.tensors.checked_mul(self.per_tensor)?,
        };
        let per_element: u64 = match self.kind {
            // Half weight and gradient; float32 master, mean and var.
            Kind::Dense { dtype: DType::F16 | DType::BF16, multi_precision: true } => 16,
            // Weight, gradient, mean and var in the dtype.
            Kind::Dense { dtype: DType::F16 | DType::BF16, .. } => 8,
            Kind::Dense { dtype: DType::F64, .. } => 32,
            Kind::Dense { .. } => 16,
            // Weight, mean and var; the listed rows' gradient is small.
            Kind::Lazy { .. } | Kind::Standard { .. } => 12,
            Kind::Reference => 16,
            // Two temporaries besides weight, gradient, mean and var.
            Kind::OpByOp => 24,
        };
        let copies = if self.twin().is_some() { 2 } else { 1 };
        u64::try_from(elements).ok()?.checked_mul(per_element)?.checked_mul(copies)
    }

    /// `(table_rows, rows_touched)` of a sparse scenario.
    pub fn sparse_rows(&self) -> Option<(usize, usize)> {
        match self.kind {
            Kind::Lazy { rows, .. } | Kind::Standard { rows, .. } => {
                let mut listed = listed_rows(rows);
                listed.sort_unstable();
                listed.dedup();
                Some((rows, listed.len()))
            }
            _ => None,
        }
    }

    /// The memory layout of a step, and how many elements it streams.
    pub fn traffic(&self) -> (Layout, usize) {
        match self.kind {
            Kind::Dense { dtype: DType::F64, .. } => (Layout::F64, self.elements()),
            Kind::Dense { multi_precision: true, .. } => (Layout::Mixed, self.elements()),
            Kind::Dense { dtype: DType::F16 | DType::BF16, .. } => (Layout::Half, self.elements()),
            Kind::Lazy { row_len, .. } => {
                (Layout::F32, self.sparse_rows().map_or(0, |(_, touched)| touched) * row_len)
            }
            Kind::Standard { .. } => (Layout::NoGrad, self.elements()),
            _ => (Layout::F32, self.elements()),
        }
    }

    /// Bytes read and written by one step.
    pub fn bytes(&self) -> f64 {
        let (layout, n) = self.traffic();
        (layout.bytes_per_element() * n) as f64
    }

    /// Threads the step runs on.
    pub fn threads(&self, threads: usize) -> usize {
        if matches!(self.kind, Kind::Reference) {
            1
        } else {
            threads
        }
    }

    /// Builds the arrays and the optimizer, and runs one step (which creates the optimizer's
    /// state). The step runs on the rayon pool it is called from (the bench's), like the
    /// roofline: a second pool would leave its idle threads spinning against the other's work.
    pub fn build(&self) -> Result<Workload> {
        let step = match self.kind {
            Kind::OpByOp => {
                let n = self.elements();
                Step::OpByOp(OpByOp::new(fill(n, 1), fill(n, 2)))
            }
            kind => {
                let (dtype, config) = match kind {
                    Kind::Dense { dtype, multi_precision } => {
                        (dtype, json!({"multi_precision": multi_precision}))
                    }
                    Kind::Lazy { .. } => (DType::F32, json!({"lazy_update": true})),
                    Kind::Reference => (DType::F32, json!({"use_fused_step": false})),
                    _ => (DType::F32, json!({})),
                };
                let updater = Updater::new(adamant::create("adam", &config)?);
                let (shape, grad_len, row_indices) = match kind {
                    Kind::Lazy { rows, row_len } | Kind::Standard { rows, row_len } => {
                        let listed = listed_rows(rows);
                        (vec![rows, row_len], listed.len() * row_len, Some(listed))
                    }
                    _ => (vec![self.per_tensor], self.per_tensor, None),
                };
                let weights = (0..self.tensors)
                    .map(|i| to_dtype(fill(shape.iter().product(), i as u64), dtype))
                    .collect();
                let grads =
                    (0..self.tensors).map(|i| to_dtype(fill(grad_len, 1000 + i as u64), dtype)).collect();
                Step::Updater { updater, shape, weights, grads, row_indices }
            }
        };
        let mut work = Workload { step, stream_len: self.traffic().1, kind: self.kind };
        work.step()?;
        Ok(work)
    }
}

/// A scenario ready to run.
pub struct Workload {
    step: Step,
    /// Elements the roofline streams per tensor (a prefix of the table for the lazy step).
    stream_len: usize,
    kind: Kind,
}

enum Step {
    Updater {
        updater: Updater,
        shape: Vec<usize>,
        weights: Vec<Buffer>,
        grads: Vec<Buffer>,
        row_indices: Option<Vec<i64>>,
    },
    OpByOp(OpByOp),
}

impl Workload {
    /// One optimizer step over every tensor.
    pub fn step(&mut self) -> Result<()> {
        match &mut self.step {
            Step::Updater { updater, shape, weights, grads, row_indices } => {
                let (shape, row_indices): (&[usize], Option<&[i64]>) = (shape, row_indices.as_deref());
                let mut batch: Vec<Param<'_>> = weights
                    .iter_mut()
                    .zip(grads.iter())
                    .enumerate()
                    .map(|(i, (w, g))| {
                        let grad = match row_indices {
                            Some(rows) => {
                                Grad::RowSparse(RowSparseRef { shape, row_indices: rows, values: g.as_ref() })
                            }
                            None => Grad::Dense(TensorRef { shape, data: g.as_ref() }),
                        };
                        Param::new(i, TensorMut { shape, data: w.as_mut() }, grad)
                    })
                    .collect();
                updater.update(&mut batch)?;
            }
            Step::OpByOp(op) => op.step(),
        }
        Ok(())
    }

    /// One roofline pass over the arrays the step touches (see `stream`).
    pub fn stream(&mut self) {
        match &mut self.step {
            Step::Updater { updater, weights, grads, .. } => {
                let states = updater.states_mut();
                let (len, standard) = (self.stream_len, matches!(self.kind, Kind::Standard { .. }));
                weights.par_iter_mut().zip(grads.par_iter()).zip(states).for_each(|((w, g), (_, state))| {
                    if standard {
                        stream::no_grad(w.as_mut(), state)
                    } else {
                        let len = len.min(w.len());
                        stream::dense(w.as_mut(), g.as_ref(), state, len)
                    }
                });
            }
            Step::OpByOp(op) => {
                let n = op.w.len();
                stream::four(&mut op.w, &op.g, &mut op.m, &mut op.v, n)
            }
        }
    }
}

/// A deterministic fill in [-1, 1).
fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn to_dtype(values: Vec<f32>, dtype: DType) -> Buffer {
    match dtype {
        DType::F64 => Buffer::F64(values.iter().map(|&x| f64::from(x)).collect()),
        DType::F16 => Buffer::F16(values.iter().map(|&x| half::f16::from_f32(x)).collect()),
        DType::BF16 => Buffer::BF16(values.iter().map(|&x| half::bf16::from_f32(x)).collect()),
        _ => Buffer::F32(values),
    }
}

/// `LISTED_ROWS` row indices below `rows`, unsorted, a quarter of them repeats of earlier ones.
pub fn listed_rows(rows: usize) -> Vec<i64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut listed: Vec<i64> = Vec::with_capacity(LISTED_ROWS);
    for i in 0..LISTED_ROWS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let row = if i % 4 == 3 { listed[(x % i as u64) as usize] } else { (x % rows as u64) as i64 };
        listed.push(row);
    }
    listed
}
