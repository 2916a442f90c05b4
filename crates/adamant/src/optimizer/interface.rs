//! The trait every optimizer implements.

use std::fmt;

use crate::error::Result;
use crate::kernel::element::DType;
use crate::lr_scheduler::LrScheduler;
use crate::optimizer::base::OptimizerBase;
use crate::optimizer::config::Multipliers;
use crate::optimizer::state::{Layout, StateMut};
use crate::param::Param;

/// One parameter's step as a caller that counts for itself gives it to
/// [`Optimizer::update_counted`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamStep {
    /// The update count of this step: 1 at the parameter's first update.
    pub t: u64,
    /// The learning rate of this parameter (its group's, or with `lr_mult` applied).
    pub lr: f64,
    /// The weight decay of this parameter (with `wd_mult` applied).
    pub wd: f64,
}

/// An optimizer: turns gradients into weight updates, with the per-parameter state kept
/// outside it (in an [`Updater`](crate::Updater), or in a framework's tensors).
///
/// The trait is small on purpose: what a parameter's state looks like, and the batch step. The
/// shared machinery (learning rate, scheduler, multipliers, counters) is [`OptimizerBase`],
/// reached through [`Optimizer::base`]. Most users hold an [`Updater`](crate::Updater), which
/// owns the states and calls this trait.
///
/// ```
/// use adamant::{DataMut, Optimizer, Param, StateMut};
/// let mut adam = adamant::create("adam", &serde_json::json!({"learning_rate": 0.1}))?;
/// assert_eq!(adam.layout(adamant::DType::F32).names().collect::<Vec<_>>(), ["mean", "var"]);
/// let (mut w, g) = ([1.0f32, -1.0], [0.5f32, -0.5]);
/// let (mut mean, mut var) = ([0.0f32; 2], [0.0f32; 2]);
/// let mut states = [StateMut::new([DataMut::F32(&mut mean), DataMut::F32(&mut var)])?];
/// adam.update(&mut [Param::dense(0, &[2], &mut w, &g)], &mut states)?;
/// assert!(w[0] < 1.0 && w[1] > -1.0);
/// # Ok::<(), adamant::Error>(())
/// ```
pub trait Optimizer: Send + Sync + fmt::Debug {
    /// The registry name (`adam`).
    fn name(&self) -> &'static str;

    /// The configuration in the registry's form: `create(self.name(), &self.config_json())`
    /// builds an optimizer configured the same way.
    fn config_json(&self) -> serde_json::Value;

    /// The shared machinery: rate, scheduler, multipliers, counters.
    fn base(&self) -> &OptimizerBase;

    /// Mutable access to the shared machinery.
    fn base_mut(&mut self) -> &mut OptimizerBase;

    /// The state arrays kept for a weight of `dtype`: their names, dtype, and whether a
    /// float32 master copy is among them.
    fn layout(&self, dtype: DType) -> Layout;

    /// Checks that `param` can be stepped (shapes, dtypes, row indices, and what this optimizer
    /// refuses), without changing anything.
    ///
    /// # Errors
    /// The first fault found, naming the parameter index.
    fn check(&self, param: &Param<'_>) -> Result<()>;

    /// The batch step: every parameter with its state (`states[i]` belongs to `params[i]` and
    /// has [`Optimizer::layout`] of its weight), in one parallel pass over the batch on the
    /// current rayon pool (or the scalar reference, if configured so). Counters advance in
    /// batch order.
    ///
    /// # Errors
    /// Everything is checked first (each parameter, each state's arrays, each step's scalars as
    /// the kernel reads them); on error nothing has changed.
    fn update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()>;

    /// The batch step with the counting done by the caller, as PyTorch's optimizers keep a step
    /// count per parameter and a rate and decay per group: `steps[i]` gives parameter `i`'s
    /// update count `t` (1 at its first update), its rate and its decay (multipliers applied).
    /// The optimizer's own counters, scheduler, multipliers and rate are neither read nor
    /// changed. Otherwise as [`Optimizer::update`]: the same checks, one parallel pass, and the
    /// same bits as `update` for the same `t`, rate and decay.
    ///
    /// ```
    /// use adamant::{DataMut, Param, ParamStep, StateMut};
    /// let mut adam = adamant::create("adam", &serde_json::json!({"rule": "torch"}))?;
    /// let (mut w, g) = ([1.0f32, -1.0], [0.5f32, -0.5]);
    /// let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    /// let mut states = [StateMut::named([("exp_avg", DataMut::F32(&mut m)), ("exp_avg_sq", DataMut::F32(&mut v))])?];
    /// let steps = [ParamStep { t: 1, lr: 0.1, wd: 0.0 }];
    /// adam.update_counted(&mut [Param::dense(0, &[2], &mut w, &g)], &mut states, &steps)?;
    /// assert!((w[0] - 0.9).abs() < 1e-6); // PyTorch's first step moves by lr
    /// assert_eq!(adam.num_update(), 0); // nothing counted here
    /// # Ok::<(), adamant::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Optimizer::update`], and a step count of 0 or a `steps` of another length.
    fn update_counted(
        &mut self,
        params: &mut [Param<'_>],
        states: &mut [StateMut<'_>],
        steps: &[ParamStep],
    ) -> Result<()>;

    /// Every check [`Optimizer::update_counted`] makes, with nothing changed: a caller that
    /// steps several batches (on several optimizers) checks them all before it steps any.
    ///
    /// ```
    /// use adamant::{DataMut, Param, ParamStep, StateMut};
    /// let mut adam = adamant::create("adam", &serde_json::json!({"rule": "torch"}))?;
    /// let (mut w, g) = ([1.0f32, -1.0], [0.5f32, -0.5]);
    /// let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
    /// let mut states = [StateMut::named([("exp_avg", DataMut::F32(&mut m)), ("exp_avg_sq", DataMut::F32(&mut v))])?];
    /// let params = [Param::dense(0, &[2], &mut w, &g)];
    /// assert!(adam.check_counted(&params, &states, &[ParamStep { t: 0, lr: 0.1, wd: 0.0 }]).is_err());
    /// adam.check_counted(&params, &states, &[ParamStep { t: 1, lr: 0.1, wd: 0.0 }])?;
    /// # Ok::<(), adamant::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Optimizer::update_counted`].
    fn check_counted(
        &mut self,
        params: &[Param<'_>],
        states: &[StateMut<'_>],
        steps: &[ParamStep],
    ) -> Result<()>;

    /// [`Optimizer::update`] by the scalar reference loop: one element at a time on the calling
    /// thread. It is the definition of the result; the fused loop gives the same bits.
    ///
    /// # Errors
    /// As [`Optimizer::update`].
    fn reference_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()>;

    /// [`Optimizer::update`] by the fused loop (SIMD for the CPU's instruction set, threads over
    /// the whole batch), whatever the configuration says.
    ///
    /// # Errors
    /// As [`Optimizer::update`].
    fn fused_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()>;

    /// Scalars the optimizer keeps across steps besides the base's (Nadam's `m_schedule`), by
    /// name; checkpoints save them.
    fn scalars(&self) -> Vec<(&'static str, f64)>;

    /// Puts back scalars taken by [`Optimizer::scalars`].
    ///
    /// # Errors
    /// A name this optimizer does not keep.
    fn restore_scalars(&mut self, scalars: &[(String, f64)]) -> Result<()>;

    /// Sets `rescale_grad` for the steps to come (Gluon's Trainer sets it to `1 / batch_size`
    /// every step; a loss scaler folds `1 / scale` into it).
    ///
    /// # Errors
    /// A value this optimizer refuses (negative, or infinite as the kernel reads it, for most).
    fn set_rescale_grad(&mut self, rescale_grad: f64) -> Result<()>;

    /// Sets the weight decay `wd` for the steps to come (before `wd_mult`); state and counters
    /// stay.
    ///
    /// # Errors
    /// A value the optimizer refuses at construction (negative, or not finite as the kernel
    /// reads it); nothing changes.
    fn set_wd(&mut self, wd: f64) -> Result<()>;

    /// Replaces the per-parameter learning-rate multipliers.
    ///
    /// # Errors
    /// A multiplier that is negative or not finite; nothing changes.
    fn set_lr_mult(&mut self, lr_mult: Multipliers) -> Result<()>;

    /// Replaces the per-parameter weight-decay multipliers.
    ///
    /// # Errors
    /// As [`Optimizer::set_lr_mult`].
    fn set_wd_mult(&mut self, wd_mult: Multipliers) -> Result<()>;

    /// Replaces the learning-rate scheduler, keeping every counter and all state: from the next
    /// step the new schedule is read at the current `num_update`, as if it had been in force
    /// from the start (a Factor scheduler applies the decays it passed over), from its own
    /// `base_lr`. `None` removes the scheduler and fixes the rate at its current value. This is
    /// how a resumed run extends a cosine's `max_update`.
    ///
    /// ```
    /// use adamant::{CosineScheduler, Param, Updater};
    /// let cosine = CosineScheduler { base_lr: 0.1, final_lr: 0.0, ..CosineScheduler::new(10) };
    /// let adam = adamant::create("adam", &serde_json::json!({"lr_scheduler": cosine.build()?.to_json()}))?;
    /// let mut updater = Updater::new(adam);
    /// let (mut w, g) = ([1.0f32; 2], [0.5f32; 2]);
    /// for _ in 0..10 {
    ///     updater.update(&mut [Param::dense(0, &[2], &mut w, &g)])?;
    /// }
    /// assert_eq!(updater.optimizer().learning_rate(), 0.0); // the schedule has ended
    /// let longer = CosineScheduler { max_update: 20, ..cosine }.build()?;
    /// updater.optimizer_mut().set_lr_scheduler(Some(longer))?;
    /// assert!((updater.optimizer().learning_rate() - 0.05).abs() < 1e-12); // halfway through 20
    /// # Ok::<(), adamant::Error>(())
    /// ```
    ///
    /// # Errors
    /// None today (a built scheduler is valid); kept for schedules an optimizer may refuse.
    fn set_lr_scheduler(&mut self, scheduler: Option<LrScheduler>) -> Result<()>;

    /// The base learning rate now (see [`OptimizerBase::learning_rate`]).
    fn learning_rate(&self) -> f64 {
        self.base().learning_rate()
    }

    /// The largest update count of any parameter (MXNet's `num_update`).
    fn num_update(&self) -> u64 {
        self.base().num_update()
    }

    /// Sets the fixed learning rate (refused under a scheduler).
    ///
    /// # Errors
    /// Under a scheduler, or for a rate that is negative or not finite.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.base_mut().set_learning_rate(lr)
    }
}
