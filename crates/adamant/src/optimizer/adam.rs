//! Adam as MXNet computes it.
//!
//! Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), in the form of
//! Apache MXNet's `adam_update` operator. For parameter index `i` at its `t`-th update:
//!
//! ```text
//! lr_t = lr * lr_mult(i) * sqrt(1 - beta2^t) / (1 - beta1^t)      (float64, then float32)
//! g    = clip(grad * rescale_grad) + wd * wd_mult(i) * w           (1.x order: clip(... + wd*w))
//! m    = beta1 * m + (1 - beta1) * g
//! v    = beta2 * v + ((1 - beta2) * g) * g
//! w    = w - (lr_t * m) / (sqrt(v) + epsilon)
//! ```
//!
//! The bias correction is folded into the rate and `epsilon` is added outside the square
//! root unscaled, so this is **not** PyTorch's `torch.optim.Adam`: MXNet with `epsilon = e`
//! behaves like PyTorch with `eps = e / sqrt(1 - beta2^t)`. Weight decay is the coupled L2
//! term (not AdamW's decoupled decay).

use half::{bf16, f16};
use rayon::prelude::*;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::{
    parallel, rows, CoalescedRows, HalfMath, Loop, Mixed, PerOp, Plain, Scalars, StepScalars, Stored, Target,
};
use crate::optimizer::adam_config::AdamConfig;
use crate::optimizer::base::{Journal, OptimizerBase};
use crate::optimizer::interface::{Optimizer, State};
use crate::optimizer::kernel_values;
use crate::param::{Grad, Param};
use crate::tensor::{same_shape, shape_len, Buffer, DataMut, DataRef, Shape, TensorMut};

/// Adam's state for one parameter: the first and second moments, and for half-precision
/// weights with `multi_precision` a float32 master copy of the weight.
///
/// The moments are kept in the weight's dtype, or in float32 with a master copy. Built only by
/// [`Adam`] (so the arrays always match the shape); read with the accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    shape: Shape,
    dtype: DType,
    mean: Buffer,
    var: Buffer,
    master: Option<Vec<f32>>,
}

impl AdamState {
    /// A state from its arrays (a checkpoint's), checked against the shape and dtype of the
    /// weight it belongs to: moments in the weight's dtype, or float32 moments and a float32
    /// master copy for a half-precision weight.
    pub(crate) fn from_parts(
        shape: &[usize],
        dtype: DType,
        mean: Buffer,
        var: Buffer,
        master: Option<Vec<f32>>,
    ) -> std::result::Result<Self, String> {
        let len = shape_len(shape).ok_or_else(|| format!("shape {shape:?} is too large"))?;
        let moments = if master.is_some() { DType::F32 } else { dtype };
        if master.is_some() && !dtype.is_half() {
            return Err(format!("a master copy for a {dtype} weight"));
        }
        for (name, array) in [("mean", &mean), ("var", &var)] {
            if array.dtype() != moments || array.len() != len {
                return Err(format!(
                    "{name} is {} x {}, expected {moments} x {len}",
                    array.dtype(),
                    array.len()
                ));
            }
        }
        if master.as_ref().is_some_and(|m| m.len() != len) {
            return Err(format!("master has the wrong length, expected {len}"));
        }
        Ok(AdamState { shape: Shape::new(shape), dtype, mean, var, master })
    }

    /// The shape of the weight this state belongs to.
    pub fn shape(&self) -> &[usize] {
        self.shape.as_slice()
    }

    /// The first moment `m`.
    pub fn mean(&self) -> DataRef<'_> {
        self.mean.as_ref()
    }

    /// The second moment `v`.
    pub fn var(&self) -> DataRef<'_> {
        self.var.as_ref()
    }

    /// The float32 master copy of the weight (half-precision weights with `multi_precision`).
    pub fn master(&self) -> Option<&[f32]> {
        self.master.as_deref()
    }

    /// The first and second moments and the master copy, to change in place (their shapes
    /// and dtypes cannot change).
    pub fn arrays_mut(&mut self) -> (DataMut<'_>, DataMut<'_>, Option<&mut [f32]>) {
        (self.mean.as_mut(), self.var.as_mut(), self.master.as_deref_mut())
    }

    /// The dtype of the weight this state belongs to.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

/// The Adam optimizer: configuration plus counters and scheduler.
///
/// ```
/// use adamant::{Adam, AdamConfig, Optimizer, Param};
/// let mut adam = Adam::new(AdamConfig::default()).unwrap();
/// let (mut w, g) = (vec![0.5f64; 4], vec![0.1f64; 4]);
/// let mut params = [Param::dense(0, &[2, 2], &mut w, &g)];
/// let mut state = adam.create_state(&params[0].weight);
/// adam.step(&mut params, &mut [&mut state]).unwrap();
/// assert!(w.iter().all(|&x| x < 0.5));
/// ```
#[derive(Debug, Clone)]
pub struct Adam {
    base: OptimizerBase,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    lazy_update: bool,
    use_fused_step: bool,
    /// `(t, 1 - beta1^t, 1 - beta2^t)` of the last step: batches usually share `t`.
    bias_correction: (u64, f64, f64),
    /// The scalars of each step of the batch in progress, and what counting it changed (kept
    /// to reuse their allocations).
    plan: Vec<StepScalars>,
    journal: Journal,
}

/// What one tensor's step takes from the batch order: its count `t`, the scheduler's rate at
/// that point, and the bias-correction terms of `t`.
#[derive(Debug, Clone, Copy)]
struct Counted {
    t: u64,
    base_lr: f64,
    coef1: f64,
    coef2: f64,
}

impl Adam {
    /// The rate used when neither a rate nor a scheduler is configured.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;

    /// Validates `config` and builds the optimizer.
    pub fn new(config: AdamConfig) -> Result<Self> {
        config.validate()?;
        let AdamConfig { base, beta1, beta2, epsilon, lazy_update, use_fused_step } = config;
        Ok(Adam {
            base: OptimizerBase::new(base, Self::DEFAULT_LEARNING_RATE)?,
            beta1,
            beta2,
            epsilon,
            lazy_update,
            use_fused_step,
            bias_correction: (0, 0.0, 0.0),
            plan: Vec::new(),
            journal: Journal::default(),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> AdamConfig {
        AdamConfig {
            base: self.base.config().clone(),
            beta1: self.beta1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            lazy_update: self.lazy_update,
            use_fused_step: self.use_fused_step,
        }
    }

    /// The reference step: a plain loop over elements, one tensor after another, on the
    /// calling thread. It is the definition of the result.
    pub fn step(&mut self, params: &mut [Param<'_>], states: &mut [&mut State]) -> Result<()> {
        self.run(params, states, Loop::Reference)
    }

    /// The fast step: the same arithmetic as [`Adam::step`], bit for bit, with SIMD loops and
    /// the whole batch shared between the threads of the current rayon pool.
    pub fn fused_step(&mut self, params: &mut [Param<'_>], states: &mut [&mut State]) -> Result<()> {
        self.run(params, states, Loop::Fused)
    }

    fn run(&mut self, params: &mut [Param<'_>], states: &mut [&mut State], l: Loop) -> Result<()> {
        if params.len() != states.len() {
            return Err(Error::StateCount { params: params.len(), states: states.len() });
        }
        let checks = params.par_iter().zip(states.par_iter());
        checks.try_for_each(|(param, state)| self.check(param, Some(state)))?;
        let mut plan = std::mem::take(&mut self.plan);
        if let Err(e) = self.plan(params, &mut plan) {
            self.plan = plan;
            return Err(e);
        }
        let (lazy, half_math) = (self.lazy_update, self.base.config().half_math);
        let each = |((param, state), scalars): ((&mut Param<'_>, &mut &mut State), &StepScalars)| {
            let State::Adam(state) = &mut **state;
            apply(param, state, scalars, lazy, half_math, l)
        };
        match l {
            Loop::Reference => params.iter_mut().zip(states.iter_mut()).zip(&plan).for_each(each),
            Loop::Fused => params.par_iter_mut().zip(states.par_iter_mut()).zip(&plan).for_each(each),
        }
        self.plan = plan;
        Ok(())
    }

    /// Counts every parameter's update and computes the scalars of its step, in batch order
    /// (counting and the scheduler follow it). A scalar that is degenerate as the kernel reads
    /// it refuses the batch: the counting is undone and nothing has changed.
    fn plan(&mut self, params: &[Param<'_>], plan: &mut Vec<StepScalars>) -> Result<()> {
        plan.clear();
        let mut journal = std::mem::take(&mut self.journal);
        self.base.begin_counting(&mut journal);
        let mut planned = Ok(());
        for param in params {
            let counted = self.count(param.index, &mut journal);
            match self.scalars(param.index, &counted) {
                Ok(scalars) => plan.push(scalars),
                Err(e) => {
                    planned = Err(e);
                    break;
                }
            }
        }
        if planned.is_err() {
            self.base.undo(&journal);
        }
        self.journal = journal;
        planned
    }

    /// Counts the update of `index` and reads the scheduler (MXNet's Python `Adam.update`
    /// does both before anything else).
    fn count(&mut self, index: usize, journal: &mut Journal) -> Counted {
        let t = self.base.count_update(index, journal);
        let base_lr = self.base.base_lr();
        if self.bias_correction.0 != t {
            let tf = t as f64;
            self.bias_correction = (t, 1.0 - self.beta1.powf(tf), 1.0 - self.beta2.powf(tf));
        }
        let (_, coef1, coef2) = self.bias_correction;
        Counted { t, base_lr, coef1, coef2 }
    }

    /// The scalars of the step of `index` (MXNet's Python `Adam.update`, up to the operator
    /// call): multipliers, the bias-corrected rate, everything as the kernel reads it. The
    /// configuration was validated; the rate and decay of this step are checked here.
    fn scalars(&self, index: usize, c: &Counted) -> Result<StepScalars> {
        let config = self.base.config();
        debug_assert!(c.t >= 1);
        let lr_t = self.base.lr_for(index, c.base_lr) * (c.coef2.sqrt() / c.coef1);
        let what = "the bias-corrected rate lr * lr_mult * sqrt(1 - beta2^t) / (1 - beta1^t)";
        let lr = kernel_values::step_value("learning_rate", c.base_lr, index, c.t, what, lr_t)?;
        let wd =
            kernel_values::step_value("wd", config.wd, index, c.t, "wd * wd_mult", self.base.wd_for(index))?;
        Ok(StepScalars {
            lr,
            beta1: kernel_values::read(self.beta1),
            beta2: kernel_values::read(self.beta2),
            epsilon: kernel_values::read(self.epsilon),
            wd,
            rescale_grad: kernel_values::read(config.rescale_grad),
            clip_gradient: config.clip().map(kernel_values::read),
            wd_order: config.wd_order,
        })
    }
}

/// Runs one parameter's elements through the chosen loop, in the arithmetic its dtype and
/// options call for.
fn apply(
    param: &mut Param<'_>,
    state: &mut AdamState,
    s: &StepScalars,
    lazy: bool,
    half_math: HalfMath,
    l: Loop,
) {
    let row_len = param.row_len();
    let (grad, row_indices) = match param.grad {
        Grad::Dense(g) => (g.data, None),
        Grad::RowSparse(g) => (g.values, Some(g.row_indices)),
    };
    let sparse = row_indices.map(|rows| Sparse { rows, row_len, lazy });
    let per_op = half_math == HalfMath::PerOp;
    let AdamState { mean, var, master, .. } = state;
    match (&mut param.weight.data, grad, mean, var, master) {
        (DataMut::F32(w), DataRef::F32(g), Buffer::F32(m), Buffer::F32(v), None) => {
            run(Plain { w, m, v, s: Scalars::<f32>::new(s) }, g, sparse, l)
        }
        (DataMut::F64(w), DataRef::F64(g), Buffer::F64(m), Buffer::F64(v), None) => {
            run(Plain { w, m, v, s: Scalars::<f64>::new(s) }, g, sparse, l)
        }
        (DataMut::F16(w), DataRef::F16(g), Buffer::F32(m), Buffer::F32(v), Some(master)) => {
            run(Mixed { w, master, m, v, s: Scalars::new(s) }, g, sparse, l)
        }
        (DataMut::BF16(w), DataRef::BF16(g), Buffer::F32(m), Buffer::F32(v), Some(master)) => {
            run(Mixed { w, master, m, v, s: Scalars::new(s) }, g, sparse, l)
        }
        (DataMut::F16(w), DataRef::F16(g), Buffer::F16(m), Buffer::F16(v), None) if per_op => {
            run(Plain { w, m, v, s: Scalars::<PerOp<f16>>::new(s) }, g, sparse, l)
        }
        (DataMut::F16(w), DataRef::F16(g), Buffer::F16(m), Buffer::F16(v), None) => {
            run(Plain { w, m, v, s: Scalars::<f32>::new(s) }, g, sparse, l)
        }
        (DataMut::BF16(w), DataRef::BF16(g), Buffer::BF16(m), Buffer::BF16(v), None) if per_op => {
            run(Plain { w, m, v, s: Scalars::<PerOp<bf16>>::new(s) }, g, sparse, l)
        }
        (DataMut::BF16(w), DataRef::BF16(g), Buffer::BF16(m), Buffer::BF16(v), None) => {
            run(Plain { w, m, v, s: Scalars::<f32>::new(s) }, g, sparse, l)
        }
        _ => unreachable!("Adam::check accepted only states made for this weight"),
    }
}

/// How a row-sparse gradient is applied.
struct Sparse<'a> {
    rows: &'a [i64],
    row_len: usize,
    lazy: bool,
}

/// One tensor's update; `sparse` is `None` for a dense gradient. The reference runs on the
/// calling thread; the fused loop shares the tensor between threads.
fn run<G: Stored>(mut target: impl Target<G>, g: &[G], sparse: Option<Sparse<'_>>, l: Loop) {
    let rows = sparse.as_ref().map(|s| CoalescedRows::new(s.rows, g, s.row_len));
    let lazy = sparse.is_some_and(|s| s.lazy);
    match (l, rows) {
        (Loop::Reference, None) => {
            let len = target.len();
            target.update(0..len, g, l)
        }
        (Loop::Reference, Some(rows)) if lazy => rows::lazy(&mut target, &rows, l),
        (Loop::Reference, Some(rows)) => rows::standard(&mut target, &rows, l),
        (Loop::Fused, None) => parallel::dense(target, g, l),
        (Loop::Fused, Some(rows)) if lazy => parallel::lazy(target, &rows, l),
        (Loop::Fused, Some(rows)) => parallel::standard(target, &rows, l),
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn config_json(&self) -> serde_json::Value {
        self.config().to_json()
    }

    fn base(&self) -> &OptimizerBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }

    fn create_state(&self, weight: &TensorMut<'_>) -> State {
        let dtype = weight.data.dtype();
        // The weight holds as many elements as its shape (checked before a state is created).
        let len = weight.data.len();
        // As MXNet's create_state_multi_precision, and for bfloat16 too: a float32 master copy
        // and float32 moments. Other dtypes ignore multi_precision.
        let master =
            (self.base.config().multi_precision && dtype.is_half()).then(|| weight.data.as_ref().to_f32());
        let moments = if master.is_some() { DType::F32 } else { dtype };
        State::Adam(AdamState {
            shape: Shape::new(weight.shape),
            dtype,
            mean: Buffer::zeros(moments, len),
            var: Buffer::zeros(moments, len),
            master,
        })
    }

    fn check(&self, param: &Param<'_>, state: Option<&State>) -> Result<()> {
        param.check()?;
        if let Some(State::Adam(state)) = state {
            let weight = &param.weight;
            if !same_shape(state.shape(), weight.shape) || state.dtype() != weight.data.dtype() {
                return Err(Error::StateMismatch {
                    index: param.index,
                    weight: weight.shape.to_vec(),
                    weight_dtype: weight.data.dtype(),
                    state: state.shape().to_vec(),
                    state_dtype: state.dtype(),
                });
            }
        }
        Ok(())
    }

    fn update(&mut self, params: &mut [Param<'_>], states: &mut [&mut State]) -> Result<()> {
        if self.use_fused_step {
            self.fused_step(params, states)
        } else {
            self.step(params, states)
        }
    }
}
