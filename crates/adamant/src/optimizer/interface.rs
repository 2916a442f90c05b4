//! The small trait every optimizer implements, and the state it keeps per parameter.

use std::fmt;

use crate::error::Result;
use crate::optimizer::adam::AdamState;
use crate::optimizer::base::OptimizerBase;
use crate::param::Param;
use crate::tensor::TensorMut;

/// The optimizer state of one parameter: plain data, one variant per optimizer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum State {
    /// Adam's moments.
    Adam(AdamState),
}

/// An optimizer: turns gradients into weight updates, keeping per-parameter state outside.
///
/// The trait is small on purpose: what a rule needs of its state and the step itself. The
/// shared machinery (learning rate, scheduler, multipliers, counters) is [`OptimizerBase`],
/// reached through [`Optimizer::base`]. Most users hold an [`Updater`](crate::Updater), which
/// owns the states and calls this trait.
///
/// ```
/// use adamant::{Optimizer, Param};
/// let mut adam = adamant::create("adam", &serde_json::json!({"learning_rate": 0.1})).unwrap();
/// let (mut w, g) = ([1.0f32, -1.0], [0.5f32, -0.5]);
/// let mut p = [Param::dense(0, &[2], &mut w, &g)];
/// let mut state = adam.create_state(&p[0].weight);
/// adam.update(&mut p, &mut [&mut state]).unwrap();
/// assert!(w[0] < 1.0 && w[1] > -1.0);
/// ```
pub trait Optimizer: Send + fmt::Debug {
    /// The registry name (`adam`).
    fn name(&self) -> &'static str;

    /// The configuration in the registry's form: `create(self.name(), &self.config_json())`
    /// builds an optimizer configured the same way.
    fn config_json(&self) -> serde_json::Value;

    /// The shared machinery: rate, scheduler, multipliers, counters.
    fn base(&self) -> &OptimizerBase;

    /// Mutable access to the shared machinery.
    fn base_mut(&mut self) -> &mut OptimizerBase;

    /// A fresh state for `weight` (zeros, in the shape and dtype the rule keeps).
    fn create_state(&self, weight: &TensorMut<'_>) -> State;

    /// Checks that `param` can be stepped with `state` (or with a fresh state when `None`),
    /// without changing anything.
    fn check(&self, param: &Param<'_>, state: Option<&State>) -> Result<()>;

    /// Steps every parameter with its state (`states[i]` belongs to `params[i]`); counters
    /// advance in batch order. Everything is checked first: on error nothing has changed.
    fn update(&mut self, params: &mut [Param<'_>], states: &mut [&mut State]) -> Result<()>;

    /// The base learning rate now (see [`OptimizerBase::learning_rate`]).
    fn learning_rate(&self) -> f64 {
        self.base().learning_rate()
    }

    /// Sets the fixed learning rate (refused under a scheduler).
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.base_mut().set_learning_rate(lr)
    }
}
