//! What `adamant bench` measures: each scenario builds its arrays, an optimizer and the state it
//! keeps (the bench owns the state and lends it to the optimizer's batch step, as a framework
//! would), and can run one step and one roofline pass.

use adamant::{Buffer, DType, Grad, Layout, Optimizer, Param, RowSparseRef, StateMut, TensorMut, TensorRef};
use anyhow::Result;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::op_by_op::OpByOp;
use super::roofline::{self, Span};
use super::row_gather;

/// How a scenario updates its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// The fused step on dense tensors of one dtype.
    Dense { dtype: DType, multi_precision: bool },
    /// The lazy row-sparse step on one float32 table.
    Lazy { rows: usize, row_len: usize, ids: Ids },
    /// The standard row-sparse step on one float32 table.
    Standard { rows: usize, row_len: usize },
    /// The scalar reference step (one thread) on dense float32.
    Reference,
    /// An unfused, one-pass-per-operation Adam on dense float32.
    OpByOp,
}

/// Which rows a row-sparse step lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ids {
    /// The same rows every step (uniform over the table, a quarter of them repeats): they stay
    /// in the cache between steps, as an embedding's hot rows do.
    Same,
    /// Fresh ids every step, drawn from a Zipf distribution over the table (exponent
    /// [`ZIPF_EXPONENT`], ranks scattered over the rows), as a recommendation model's batches
    /// draw them: a few rows recur, most are cold.
    Zipf,
}

/// The exponent of the Zipf distribution of fresh ids.
pub const ZIPF_EXPONENT: f64 = 1.05;

/// Sets of fresh ids drawn before timing (drawing is not the step's work); steps go round them.
const ZIPF_SETS: usize = 64;

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
    /// The registry name of the optimizer.
    pub optimizer: &'static str,
    /// Its configuration, besides what the kind sets.
    pub config: Value,
}

impl Scenario {
    /// For many tensors: the same elements as one tensor, timed in the same pairs so that their
    /// ratio holds while the machine's bandwidth drifts.
    pub fn twin(&self) -> Option<Scenario> {
        if self.clip().is_some() {
            // Clipping is timed against the same step without it, paired.
            let mut config = self.config.clone();
            config.as_object_mut()?.remove(CLIP);
            return Some(Scenario { name: format!("{} unclipped", self.name), config, ..self.clone() });
        }
        if self.aged() {
            // Subnormal moments are timed against normal ones, paired.
            let mut config = self.config.clone();
            config[STATE] = json!("normal");
            return Some(Scenario {
                name: format!("{} with normal moments", self.name),
                config,
                ..self.clone()
            });
        }
        (self.tensors > 1 && matches!(self.kind, Kind::Dense { .. })).then(|| Scenario {
            name: format!("{} as one tensor", self.name),
            tensors: 1,
            per_tensor: self.tensors * self.per_tensor,
            ..self.clone()
        })
    }

    /// The rule the optimizer follows (`mxnet` unless the configuration says otherwise).
    pub fn rule(&self) -> &str {
        self.config["rule"].as_str().unwrap_or("mxnet")
    }
}

/// The bench's own key in a scenario's configuration: clip by the global norm at each step.
const CLIP: &str = "clip_global_norm";

/// The bench's own key for the moments a step starts from, with zero gradients (padding rows,
/// dead units): `aged-mean` (the mean subnormal), `aged-moments` (both), `normal`.
const STATE: &str = "state";

/// Rows listed by each sparse gradient (with repeats).
pub const LISTED_ROWS: usize = 4096;

const M: usize = 1 << 20;

/// The default scenarios, with every element count scaled by `size`.
pub fn all(size: f64) -> Vec<Scenario> {
    let n = |count: usize| ((count as f64 * size).round() as usize).max(1);
    let f32 = Kind::Dense { dtype: DType::F32, multi_precision: false };
    let scenario = |name: &str, kind, tensors: usize, total: usize, optimizer, config| Scenario {
        name: name.to_string(),
        kind,
        tensors,
        per_tensor: n(total) / tensors,
        optimizer,
        config,
    };
    let adam = |name: &str, kind, tensors: usize, total: usize| {
        scenario(name, kind, tensors, total, "adam", json!({}))
    };
    let adam_clipped = |name: &str, kind, tensors: usize, total: usize| {
        scenario(name, kind, tensors, total, "adam", json!({CLIP: 1e-3}))
    };
    let sparse = |name: &str, kind| scenario(name, kind, 1, 1, "adam", json!({}));
    let table = |rows: usize| n(rows).max(LISTED_ROWS);
    let torch = json!({"rule": "torch", "wd": 0.01});
    vec![
        adam("dense-f32-64Mx1", f32, 1, 64 * M),
        adam("dense-f32-16Mx1", f32, 1, 16 * M),
        adam("dense-f32-16Mx256", f32, 256, 16 * M),
        scenario("dense-f32-16Mx256-adamw", f32, 256, 16 * M, "adamw", json!({"wd": 0.01})),
        scenario("dense-f32-16Mx256-adamax", f32, 256, 16 * M, "adamax", json!({"wd": 0.01})),
        scenario("dense-f32-16Mx256-nadam", f32, 256, 16 * M, "nadam", json!({"wd": 0.01})),
        scenario("dense-f32-16Mx256-lamb", f32, 256, 16 * M, "lamb", json!({"wd": 0.01})),
        // Updater::step's clipping: the global norm (one more read of the gradients), the factor
        // folded into rescale_grad.
        adam_clipped("dense-f32-16Mx256-clip-global-norm", f32, 256, 16 * M),
        scenario("dense-f32-16Mx256-adam-torch", f32, 256, 16 * M, "adam", torch.clone()),
        scenario("dense-f32-16Mx256-adamw-torch", f32, 256, 16 * M, "adamw", torch),
        scenario(
            "dense-f32-16Mx256-adam-torch-amsgrad",
            f32,
            256,
            16 * M,
            "adam",
            json!({"rule": "torch", "amsgrad": true}),
        ),
        adam("dense-f32-4096x4096", f32, 4096, 4096 * 4096),
        // Moments aged into float32's subnormal range by zero gradients.
        scenario("dense-f32-4Mx1-aged-mean", f32, 1, 4 * M, "adam", json!({STATE: "aged-mean"})),
        scenario("dense-f32-4Mx1-aged-moments", f32, 1, 4 * M, "adam", json!({STATE: "aged-moments"})),
        adam("dense-f32-10Mx1", f32, 1, 10_000_000),
        adam("dense-f32-100000x100", f32, 100_000, 10_000_000),
        adam("dense-f64-16Mx1", Kind::Dense { dtype: DType::F64, multi_precision: false }, 1, 16 * M),
        adam("dense-bf16-16Mx1", Kind::Dense { dtype: DType::BF16, multi_precision: false }, 1, 16 * M),
        adam("dense-bf16-mp-16Mx1", Kind::Dense { dtype: DType::BF16, multi_precision: true }, 1, 16 * M),
        adam("dense-f16-mp-16Mx1", Kind::Dense { dtype: DType::F16, multi_precision: true }, 1, 16 * M),
        sparse("lazy-f32-1Mx64", Kind::Lazy { rows: table(1_000_000), row_len: 64, ids: Ids::Zipf }),
        sparse("lazy-f32-8Mx64", Kind::Lazy { rows: table(8_000_000), row_len: 64, ids: Ids::Zipf }),
        sparse(
            "lazy-f32-1Mx64-same-rows",
            Kind::Lazy { rows: table(1_000_000), row_len: 64, ids: Ids::Same },
        ),
        sparse(
            "lazy-f32-8Mx64-same-rows",
            Kind::Lazy { rows: table(8_000_000), row_len: 64, ids: Ids::Same },
        ),
        sparse("standard-f32-1Mx64", Kind::Standard { rows: table(1_000_000), row_len: 64 }),
        adam("reference-f32-16Mx1", Kind::Reference, 1, 16 * M),
        adam("op-by-op-f32-16Mx1", Kind::OpByOp, 1, 16 * M),
    ]
}

impl Scenario {
    /// The weights' dtype.
    fn weight_dtype(&self) -> DType {
        match self.kind {
            Kind::Dense { dtype, .. } => dtype,
            _ => DType::F32,
        }
    }

    /// Whether the step starts from subnormal moments (and is timed against normal ones).
    pub fn aged(&self) -> bool {
        self.config.get(STATE).and_then(Value::as_str).is_some_and(|s| s.starts_with("aged"))
    }

    /// The most steps to time: a mean aged to 1e-38 stays subnormal for about 150 steps of zero
    /// gradients (then it is zero, and fast again).
    pub fn max_reps(&self) -> usize {
        if self.aged() {
            100
        } else {
            1_000_000
        }
    }

    /// The mean and variance every state element starts from, for scenarios that set them.
    fn initial_moments(&self) -> Option<(f32, f32)> {
        // 1e-38 is below float32's smallest normal (1.18e-38): at beta1 = 0.9 the mean stays
        // subnormal for about 150 steps, and the variance (beta2 = 0.999) for thousands.
        match self.config.get(STATE)?.as_str()? {
            "aged-mean" => Some((1e-38, 1e-6)),
            "aged-moments" => Some((1e-38, 1e-39)),
            _ => Some((1e-3, 1e-6)),
        }
    }

    /// The global norm the step clips to, if it does.
    pub fn clip(&self) -> Option<f64> {
        self.config.get(CLIP).and_then(Value::as_f64)
    }

    /// The optimizer's configuration: the scenario's, with what its kind sets.
    fn optimizer_config(&self) -> Value {
        let mut config = self.config.clone();
        if let Some(map) = config.as_object_mut() {
            map.remove(CLIP);
            map.remove(STATE);
        }
        match self.kind {
            Kind::Dense { multi_precision, .. } => config["multi_precision"] = json!(multi_precision),
            Kind::Lazy { .. } => config["lazy_update"] = json!(true),
            Kind::Reference => config["use_fused_step"] = json!(false),
            _ => {}
        }
        config
    }

    /// The optimizer of this scenario.
    fn optimizer(&self) -> Result<Box<dyn Optimizer>> {
        Ok(adamant::create(self.optimizer, &self.optimizer_config())?)
    }

    /// The state arrays the optimizer keeps per weight.
    fn layout(&self) -> Result<Layout> {
        Ok(self.optimizer()?.layout(self.weight_dtype()))
    }

    /// The dtype's name as reported.
    pub fn dtype(&self) -> String {
        match self.kind {
            Kind::Dense { dtype, multi_precision: true } => format!("{dtype}+f32 master"),
            _ => self.weight_dtype().to_string(),
        }
    }

    /// Total elements of the weights.
    #[deny(clippy::arithmetic_side_effects)]
    pub fn elements(&self) -> usize {
        match self.kind {
            Kind::Lazy { rows, row_len, .. } | Kind::Standard { rows, row_len } => {
                rows.saturating_mul(row_len)
            }
            _ => self.tensors.saturating_mul(self.per_tensor),
        }
    }

    /// Bytes the scenario's arrays take (weights, gradients, optimizer state, and its twin's),
    /// or `None` when that does not fit in 64 bits: what `--size` must leave room for.
    #[deny(clippy::arithmetic_side_effects)]
    pub fn memory(&self) -> Option<u64> {
        let elements = match self.kind {
            Kind::Lazy { rows, row_len, .. } | Kind::Standard { rows, row_len } => {
                rows.checked_mul(row_len)?
            }
            _ => self.tensors.checked_mul(self.per_tensor)?,
        };
        let per_element = match self.kind {
            // Weight, gradient, mean and var, and two temporaries.
            Kind::OpByOp => 24,
            // The weight and its gradient (the listed rows' gradient is small), and the state.
            _ => {
                let layout = self.layout().ok()?;
                let weight = self.weight_dtype().size_bytes();
                let gradient =
                    if matches!(self.kind, Kind::Lazy { .. } | Kind::Standard { .. }) { 0 } else { weight };
                let state = layout.len().checked_mul(layout.dtype.size_bytes())?;
                weight.checked_add(gradient)?.checked_add(state)?
            }
        };
        let copies = if self.twin().is_some() { 2 } else { 1 };
        u64::try_from(elements).ok()?.checked_mul(u64::try_from(per_element).ok()?)?.checked_mul(copies)
    }

    /// `(table_rows, rows_touched)` of a sparse scenario (the mean over its sets of ids).
    pub fn sparse_rows(&self) -> Option<(usize, usize)> {
        let rows = match self.kind {
            Kind::Lazy { rows, .. } | Kind::Standard { rows, .. } => rows,
            _ => return None,
        };
        let sets = self.row_sets();
        let touched: usize = sets.iter().map(|set| distinct(set).len()).sum();
        Some((rows, touched / sets.len().max(1)))
    }

    /// The ids each step lists, in turn: one set, or [`ZIPF_SETS`] fresh ones.
    fn row_sets(&self) -> Vec<Vec<i64>> {
        match self.kind {
            Kind::Lazy { rows, ids: Ids::Zipf, .. } => zipf_sets(rows),
            Kind::Lazy { rows, .. } | Kind::Standard { rows, .. } => vec![listed_rows(rows)],
            _ => Vec::new(),
        }
    }

    /// Elements one step streams per tensor: the touched rows' for a lazy step.
    fn streamed_elements(&self) -> usize {
        match self.kind {
            Kind::Lazy { row_len, .. } => self.sparse_rows().map_or(0, |(_, touched)| touched) * row_len,
            Kind::Standard { .. } => self.elements(),
            _ => self.per_tensor,
        }
    }

    /// Bytes read and written by one step: the weight read and written (only written, with a
    /// master copy), the gradient read (none for a standard row-sparse step, whose gradient is
    /// small), every state array read and written.
    pub fn bytes(&self) -> f64 {
        let per_element = match (self.kind, self.layout()) {
            (Kind::OpByOp, _) | (_, Err(_)) => 28,
            (kind, Ok(layout)) => {
                let d = self.weight_dtype().size_bytes();
                let weight = if layout.master { d } else { 2 * d };
                let gradient = if matches!(kind, Kind::Standard { .. }) { 0 } else { d };
                // Clipping reads the gradients once more, for their norm.
                let gradient = if self.clip().is_some() { 2 * gradient } else { gradient };
                weight + gradient + 2 * layout.len() * layout.dtype.size_bytes()
            }
        };
        (per_element * self.streamed_elements() * self.tensors) as f64
    }

    /// The same step on arrays that together stay in the last-level cache (512Ki elements:
    /// 14 MiB for Adam in float32), for the compute ceiling: what the arithmetic allows on these
    /// threads when memory does not limit it. Up to 16 tensors (so that threads share them as
    /// in the full step, while each tensor's own per-step work stays small beside its elements).
    /// Dense scenarios only.
    pub fn cache_resident(&self) -> Option<Scenario> {
        let tensors = self.tensors.clamp(1, 16);
        matches!(self.kind, Kind::Dense { .. }).then(|| Scenario {
            name: format!("{}-cache-resident", self.name),
            tensors,
            per_tensor: 512 * 1024 / tensors,
            ..self.clone()
        })
    }

    /// Threads the step runs on.
    pub fn threads(&self, threads: usize) -> usize {
        if matches!(self.kind, Kind::Reference) {
            1
        } else {
            threads
        }
    }

    /// Builds the arrays, the optimizer and its state, and runs one step. The step runs on the
    /// rayon pool it is called from (the bench's), like the roofline: a second pool would leave
    /// its idle threads spinning against the other's work.
    pub fn build(&self) -> Result<Workload> {
        let step = match self.kind {
            Kind::OpByOp => {
                let n = self.elements();
                Step::OpByOp(OpByOp::new(fill(n, 1), fill(n, 2)))
            }
            kind => {
                let optimizer = self.optimizer()?;
                let dtype = self.weight_dtype();
                let row_sets = self.row_sets();
                let (shape, grad_len) = match kind {
                    Kind::Lazy { rows, row_len, .. } | Kind::Standard { rows, row_len } => {
                        (vec![rows, row_len], LISTED_ROWS * row_len)
                    }
                    _ => (vec![self.per_tensor], self.per_tensor),
                };
                let weights: Vec<Buffer> = (0..self.tensors)
                    .map(|i| to_dtype(fill(shape.iter().product(), i as u64), dtype))
                    .collect();
                let moments = self.initial_moments();
                let grads = (0..self.tensors)
                    .map(|i| match moments {
                        Some(_) => Buffer::zeros(dtype, grad_len),
                        None => to_dtype(fill(grad_len, 1000 + i as u64), dtype),
                    })
                    .collect();
                let layout = optimizer.layout(dtype);
                let per_tensor = layout.len();
                let all = weights
                    .iter()
                    .flat_map(|w| {
                        layout.names().map(move |name| match (name, moments) {
                            ("weight32", _) => Buffer::F32(w.as_ref().to_f32()),
                            ("mean", Some((mean, _))) => to_dtype(vec![mean; w.len()], layout.dtype),
                            ("var", Some((_, var))) => to_dtype(vec![var; w.len()], layout.dtype),
                            _ => Buffer::zeros(layout.dtype, w.len()),
                        })
                    })
                    .collect();
                let states = StateArrays { all, per_tensor };
                let gather_rows = row_sets.iter().map(|set| distinct(set)).collect();
                Step::Optimizer {
                    optimizer,
                    shape,
                    weights,
                    grads,
                    states,
                    row_sets,
                    gather_rows,
                    turn: 0,
                    lists: Lists::default(),
                }
            }
        };
        let standard = matches!(self.kind, Kind::Standard { .. });
        let lazy = matches!(self.kind, Kind::Lazy { .. });
        let mut work =
            Workload { step, streamed: self.streamed_elements(), standard, lazy, clip: self.clip() };
        work.step()?;
        Ok(work)
    }
}

/// A scenario ready to run.
pub struct Workload {
    step: Step,
    /// Elements the roofline streams per tensor (the touched rows' worth for the lazy step).
    streamed: usize,
    /// A standard row-sparse step, whose gradient the roofline does not stream.
    standard: bool,
    /// A lazy row-sparse step, whose roofline gathers its rows.
    lazy: bool,
    /// Clip by the global norm, as `Updater::step` does.
    clip: Option<f64>,
}

enum Step {
    Optimizer {
        optimizer: Box<dyn Optimizer>,
        shape: Vec<usize>,
        weights: Vec<Buffer>,
        grads: Vec<Buffer>,
        states: StateArrays,
        /// The ids each row-sparse step lists, in turn (empty for dense steps).
        row_sets: Vec<Vec<i64>>,
        /// The distinct rows of each set, sorted, for the row-gather roofline.
        gather_rows: Vec<Vec<usize>>,
        /// Steps taken, which pick the set.
        turn: usize,
        lists: Lists,
    },
    OpByOp(OpByOp),
}

impl Workload {
    /// One optimizer step over every tensor.
    pub fn step(&mut self) -> Result<()> {
        match &mut self.step {
            Step::Optimizer { optimizer, shape, weights, grads, states, row_sets, turn, lists, .. } => {
                let row_indices = (!row_sets.is_empty()).then(|| row_sets[*turn % row_sets.len()].as_slice());
                *turn += 1;
                let shape: &[usize] = shape;
                // The views go into the vectors of the last step, as a framework keeps its
                // parameter list: a 100,000-tensor list allocated and freed every step would
                // be timed as the step's (page faults, unmapping).
                let (mut batch, mut views): (Vec<Param<'_>>, Vec<StateMut<'_>>) = lists.take();
                batch.extend(weights.iter_mut().zip(grads.iter()).enumerate().map(|(i, (w, g))| {
                    let grad = match row_indices {
                        Some(rows) => {
                            Grad::RowSparse(RowSparseRef { shape, row_indices: rows, values: g.as_ref() })
                        }
                        None => Grad::Dense(TensorRef { shape, data: g.as_ref() }),
                    };
                    Param::new(i, TensorMut { shape, data: w.as_mut() }, grad)
                }));
                for arrays in states.tensors() {
                    views.push(StateMut::new(arrays.iter_mut().map(Buffer::as_mut))?);
                }
                let stepped = Self::update(optimizer, &mut batch, &mut views, self.clip);
                lists.keep(batch, views);
                stepped?;
            }
            Step::OpByOp(op) => op.step(),
        }
        Ok(())
    }

    /// One optimizer step over `batch`, clipped by the global norm if `clip` says so.
    fn update(
        optimizer: &mut Box<dyn Optimizer>,
        batch: &mut [Param<'_>],
        states: &mut [StateMut<'_>],
        clip: Option<f64>,
    ) -> Result<()> {
        match clip {
            Some(max) => {
                let norm = adamant::global_norm::global_norm(batch)?;
                optimizer.set_rescale_grad(adamant::global_norm::clip_factor(norm, max))?;
                let stepped = optimizer.update(batch, states);
                optimizer.set_rescale_grad(1.0)?;
                stepped?;
            }
            None => optimizer.update(batch, states)?,
        }
        Ok(())
    }

    /// One plain read of the gradients, on the same threads as the step: the unit of what
    /// clipping by the global norm costs.
    pub fn read_gradients(&mut self) {
        let zero = roofline::zero();
        if let Step::Optimizer { grads, .. } = &self.step {
            grads.par_iter().for_each(|g| {
                let read = roofline::bytes(g.as_ref());
                Span::new([], Some(read), g.len()).stream(zero);
            });
        }
    }

    /// One roofline pass over the arrays the step touches.
    pub fn stream(&mut self) {
        let zero = roofline::zero();
        let (len, standard) = (self.streamed, self.standard);
        match &mut self.step {
            Step::Optimizer { weights, grads, states, gather_rows, turn, shape, .. } if self.lazy => {
                // Rows of another set than the step's (which it has just touched, or is about to).
                let rows = &gather_rows[(*turn + gather_rows.len() / 2) % gather_rows.len()];
                let row_bytes = shape[1] * 4;
                let tables =
                    std::iter::once(weights[0].as_mut()).chain(states.all.iter_mut().map(Buffer::as_mut));
                let tables = tables.map(|t| roofline::bytes_mut(t).0);
                row_gather::gather(tables, row_bytes, rows, roofline::bytes(grads[0].as_ref()).0, zero);
            }
            Step::Optimizer { weights, grads, states, .. } => {
                let tensors = weights.par_iter_mut().zip(grads.par_iter()).zip(states.par_tensors());
                tensors.for_each(|((w, g), state)| {
                    let len = len.min(w.len());
                    let rewritten = std::iter::once(w.as_mut()).chain(state.iter_mut().map(Buffer::as_mut));
                    let read = (!standard).then(|| roofline::bytes(g.as_ref()));
                    Span::new(rewritten.map(roofline::bytes_mut), read, len).stream(zero);
                });
            }
            Step::OpByOp(op) => {
                let n = op.w.len();
                let rewritten =
                    [&mut op.w, &mut op.m, &mut op.v].map(|a| roofline::bytes_mut(adamant::DataMut::F32(a)));
                Span::new(rewritten, Some(roofline::bytes(adamant::DataRef::F32(&op.g))), n).stream(zero);
            }
        }
    }
}

/// Every tensor's state arrays in one list, `per_tensor` of them each, in the optimizer's layout:
/// kept together, as a framework keeps its optimizer state, so that making a step's views is not
/// a walk over 100,000 lists of their own (which cost a 100,000-tensor step 3 ms of its 16).
struct StateArrays {
    all: Vec<Buffer>,
    per_tensor: usize,
}

impl StateArrays {
    /// Each tensor's arrays, in turn.
    fn tensors(&mut self) -> std::slice::ChunksMut<'_, Buffer> {
        self.all.chunks_mut(self.per_tensor.max(1))
    }

    /// Each tensor's arrays, for a parallel pass.
    fn par_tensors(&mut self) -> rayon::slice::ChunksMut<'_, Buffer> {
        self.all.par_chunks_mut(self.per_tensor.max(1))
    }
}

/// A step's parameter and state lists, kept empty between steps for their allocations.
#[derive(Default)]
struct Lists {
    params: Vec<Param<'static>>,
    states: Vec<StateMut<'static>>,
}

impl Lists {
    /// The kept lists, empty, for views of any lifetime.
    fn take<'a>(&mut self) -> (Vec<Param<'a>>, Vec<StateMut<'a>>) {
        (recycle(std::mem::take(&mut self.params)), recycle(std::mem::take(&mut self.states)))
    }

    /// Keeps the allocations of `params` and `states` (emptied) for the next step.
    fn keep(&mut self, params: Vec<Param<'_>>, states: Vec<StateMut<'_>>) {
        (self.params, self.states) = (recycle(params), recycle(states));
    }
}

/// An empty vector in the allocation of `v` (emptied), for the same elements with another
/// lifetime: collecting a vector's own iterator reuses its allocation when the layouts match.
fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

/// A deterministic fill in [-1, 1).
fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut values = vec![0.0; n];
    // As a framework may hold its weights (PyTorch with THP_MEM_ALLOC_ENABLE=1), and as
    // adamant holds optimizer state: on huge pages where the system grants them.
    adamant::advise_huge_pages(&mut values);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for v in &mut values {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *v = (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
    }
    values
}

fn to_dtype(values: Vec<f32>, dtype: DType) -> Buffer {
    match dtype {
        DType::F64 => Buffer::F64(values.iter().map(|&x| f64::from(x)).collect()),
        DType::F16 => Buffer::F16(values.iter().map(|&x| half::f16::from_f32(x)).collect()),
        DType::BF16 => Buffer::BF16(values.iter().map(|&x| half::bf16::from_f32(x)).collect()),
        _ => Buffer::F32(values),
    }
}

/// The distinct rows of `ids`, sorted.
fn distinct(ids: &[i64]) -> Vec<usize> {
    let mut rows: Vec<usize> = ids.iter().map(|&r| r as usize).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// [`ZIPF_SETS`] sets of [`LISTED_ROWS`] ids below `rows`, Zipf-distributed by rank, each rank
/// at a fixed row scattered over the table: rank `k` at `(k - 1) * 2654435761 mod rows` (a
/// prime, so a permutation of the rows of any table smaller than it).
fn zipf_sets(rows: usize) -> Vec<Vec<i64>> {
    use rand_core::SeedableRng as _;
    use rand_distr::Distribution as _;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0x5eed);
    let zipf = rand_distr::Zipf::new(rows as f64, ZIPF_EXPONENT).expect("rows >= 1 and a positive exponent");
    let spread = |rank: f64| ((rank as u64 - 1).wrapping_mul(0x9e37_79b1) % rows as u64) as i64;
    (0..ZIPF_SETS).map(|_| (0..LISTED_ROWS).map(|_| spread(zipf.sample(&mut rng))).collect()).collect()
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
