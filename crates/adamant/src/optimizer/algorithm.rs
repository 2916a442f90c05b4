//! What makes one optimizer of the family: its hyper-parameters, the scalars of each step, and
//! its rule. Everything else is shared ([`Engine`](super::engine::Engine)): checking a batch,
//! counting updates, the scheduler and multipliers, the dtype dispatch and the loops.

use std::fmt;

use serde_json::Value;

use crate::error::Result;
use crate::kernel::element::DType;
use crate::kernel::Loop;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::kernel_values::{self, Read};
use crate::optimizer::state::{Layout, StateMut};
use crate::param::Param;

/// One parameter's place in a batch: its index, its update count `t` (the first update has
/// `t = begin_num_update + 1`), and its rate and weight decay with the scheduler and the
/// multipliers applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub index: usize,
    pub t: u64,
    /// The scheduler's (or the fixed) rate, before `lr_mult`.
    pub base_lr: f64,
    /// `base_lr * lr_mult(index)`.
    pub lr: f64,
    /// `wd * wd_mult(index)`.
    pub wd: f64,
}

/// An optimizer of the family, as the shared engine drives it. Its value is its configuration
/// (the public `...Config` type); its `base` part is handed to the engine when it is built.
pub(crate) trait Algorithm: Clone + fmt::Debug + Send + Sync + 'static {
    /// The registry's name (`adam`).
    const NAME: &'static str;
    /// The rate when neither a rate nor a scheduler is given.
    const DEFAULT_LEARNING_RATE: f64;
    /// The scalars of one parameter's step, as the kernel reads them.
    type Step: Copy + Send + Sync + fmt::Debug;

    /// The hyper-parameters every optimizer has.
    fn base_mut(&mut self) -> &mut OptimizerConfig;

    /// Checks the configuration as given and as the kernel reads it (`base` is the live base
    /// configuration).
    fn validate(&self, base: &OptimizerConfig) -> Result<()>;

    /// The configuration in the registry's form, MXNet's names.
    fn to_json(&self, base: &OptimizerConfig) -> Value;

    /// The arrays it keeps for a weight of `dtype`.
    fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout;

    /// Whether `update` runs the fused loop (MXNet's `use_fused_step`); both give the same bits.
    fn fused(&self) -> bool {
        true
    }

    /// Checks what this optimizer adds to the shared checks of a parameter (a gradient kind it
    /// refuses, say).
    fn check(&self, _param: &Param<'_>, _base: &OptimizerConfig) -> Result<()> {
        Ok(())
    }

    /// Checks what this optimizer refuses of a parameter's step once its rate and decay are
    /// known (PyTorch's SparseAdam has no weight decay, and a group may set one).
    fn check_counted(&self, _param: &Param<'_>, _c: &Counted) -> Result<()> {
        Ok(())
    }

    /// Whether a step's scalars depend only on `(lr, wd, t)`, so that one batch computes them
    /// once per distinct triple.
    fn cacheable(&self) -> bool {
        true
    }

    /// The scalars of one parameter's step, checked as the kernel reads them.
    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<Self::Step>;

    /// Runs one parameter's step with its state, which has [`Algorithm::layout`].
    fn apply(
        &self,
        step: &Self::Step,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        base: &OptimizerConfig,
        l: Loop,
    );

    /// Makes room, before a batch's parallel pass, for the buffers its steps take
    /// ([`crate::kernel::spare`]), so that a batch no larger than earlier ones allocates
    /// nothing.
    fn reserve_scratch(&self, _params: &[Param<'_>]) {}

    /// Scalars it keeps across steps (Nadam's `m_schedule`), by name, for checkpoints.
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Puts back scalars taken by [`Algorithm::scalars`].
    fn restore_scalars(&mut self, scalars: &[(String, f64)]) -> std::result::Result<(), String> {
        match scalars.first() {
            Some((name, _)) => Err(format!("{} keeps no scalar {name}", Self::NAME)),
            None => Ok(()),
        }
    }

    /// How its rule reads a hyper-parameter (MXNet's parser, or the nearest float32).
    fn read(&self) -> Read;

    /// Checks `rescale_grad`, at construction and when it is set between steps (Gluon's
    /// Trainer sets it every step).
    fn check_rescale_grad(&self, rescale_grad: f64) -> Result<()> {
        kernel_values::non_negative(self.read(), "rescale_grad", rescale_grad).map(|_| ())
    }
}
