//! The batch machinery every optimizer shares: check the whole batch, count the updates in batch
//! order (with the scheduler), compute each step's scalars once per distinct rate, decay and
//! count, and run every tensor through its rule, one parallel pass over the batch.

use std::collections::HashMap;

use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::kernel::element::DType;
use crate::kernel::Loop;
use crate::optimizer::algorithm::{Algorithm, Counted};
use crate::optimizer::base::{Journal, OptimizerBase};
use crate::optimizer::interface::Optimizer;
use crate::optimizer::state::{Layout, StateMut};
use crate::param::Param;

/// An optimizer: its algorithm, the shared run-time state (counters, scheduler), and what a
/// batch in progress needs (kept to reuse their allocations).
#[derive(Debug, Clone)]
pub(crate) struct Engine<A: Algorithm> {
    base: OptimizerBase,
    algo: A,
    /// The step of each parameter of the batch in progress.
    plan: Vec<A::Step>,
    journal: Journal,
    /// Steps already computed in this batch, by `(lr, wd, t)`.
    steps: HashMap<StepKey, A::Step>,
    /// The step of the batch's latest parameter, and its key.
    last_step: Option<(StepKey, A::Step)>,
}

/// What decides a step's scalars besides the configuration: the bits of the learning rate and
/// of the decay, and the update count.
type StepKey = (u64, u64, u64);

impl<A: Algorithm> Engine<A> {
    /// Validates `config` and builds the optimizer.
    pub fn new(mut algo: A) -> Result<Self> {
        let base_config = std::mem::take(algo.base_mut());
        base_config.validate_as(algo.read())?;
        algo.check_rescale_grad(base_config.rescale_grad)?;
        algo.validate(&base_config)?;
        let base = OptimizerBase::new(base_config, A::DEFAULT_LEARNING_RATE)?;
        Ok(Engine {
            base,
            algo,
            plan: Vec::new(),
            journal: Journal::default(),
            steps: HashMap::new(),
            last_step: None,
        })
    }

    fn run(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>], l: Loop) -> Result<()> {
        if params.len() != states.len() {
            return Err(Error::StateCount { params: params.len(), states: states.len() });
        }
        let this = &*self;
        let checks = params.par_iter().zip(states.par_iter());
        checks.try_for_each(|(param, state)| this.check_with_state(param, state))?;
        let mut plan = std::mem::take(&mut self.plan);
        if let Err(e) = self.plan(params, &mut plan) {
            self.plan = plan;
            return Err(e);
        }
        let (algo, base) = (&self.algo, self.base.config());
        let each = |((param, state), step): ((&mut Param<'_>, &mut StateMut<'_>), &A::Step)| {
            algo.apply(step, param, state, base, l)
        };
        match l {
            Loop::Reference => params.iter_mut().zip(states.iter_mut()).zip(&plan).for_each(each),
            Loop::Fused => params.par_iter_mut().zip(states.par_iter_mut()).zip(&plan).for_each(each),
        }
        self.plan = plan;
        Ok(())
    }

    fn check_with_state(&self, param: &Param<'_>, state: &StateMut<'_>) -> Result<()> {
        self.check(param)?;
        state.check_made_for(param)?;
        let layout = self.layout(param.weight.data.dtype());
        layout.check(param.index, param.weight.data.len(), state)
    }

    /// Counts every parameter's update and computes the scalars of its step, in batch order
    /// (counting and the scheduler follow it). A scalar that is degenerate as the kernel reads
    /// it refuses the batch: the counting is undone and nothing has changed.
    fn plan(&mut self, params: &[Param<'_>], plan: &mut Vec<A::Step>) -> Result<()> {
        plan.clear();
        self.steps.clear();
        self.last_step = None;
        let mut journal = std::mem::take(&mut self.journal);
        self.base.begin_counting(&mut journal);
        let scalars = self.algo.scalars();
        let mut planned = Ok(());
        for param in params {
            match self.step(param.index, &mut journal) {
                Ok(step) => plan.push(step),
                Err(e) => {
                    planned = Err(e);
                    break;
                }
            }
        }
        if planned.is_err() {
            self.base.undo(&journal);
            let restored = self
                .algo
                .restore_scalars(&scalars.iter().map(|&(n, v)| (n.to_string(), v)).collect::<Vec<_>>());
            debug_assert!(restored.is_ok(), "{restored:?}");
        }
        self.journal = journal;
        planned
    }

    /// Counts the update of `index` and reads the scheduler (MXNet's Python `update` does both
    /// before anything else), then the step's scalars.
    fn step(&mut self, index: usize, journal: &mut Journal) -> Result<A::Step> {
        let t = self.base.count_update(index, journal);
        let base_lr = self.base.base_lr();
        let (lr, wd) = (self.base.lr_for(index, base_lr), self.base.wd_for(index));
        let counted = Counted { index, t, base_lr, lr, wd };
        if !self.algo.cacheable() {
            return self.algo.step(&counted, self.base.config());
        }
        let key = (lr.to_bits(), wd.to_bits(), t);
        // Most batches have one key (every tensor at the same count, rate and decay): the last
        // key answers them without hashing.
        if let Some((last, step)) = self.last_step {
            if last == key {
                return Ok(step);
            }
        }
        let step = match self.steps.get(&key) {
            Some(step) => *step,
            None => {
                let step = self.algo.step(&counted, self.base.config())?;
                self.steps.insert(key, step);
                step
            }
        };
        self.last_step = Some((key, step));
        Ok(step)
    }
}

impl<A: Algorithm> Optimizer for Engine<A> {
    fn name(&self) -> &'static str {
        A::NAME
    }

    fn config_json(&self) -> Value {
        self.algo.to_json(self.base.config())
    }

    fn base(&self) -> &OptimizerBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut OptimizerBase {
        &mut self.base
    }

    fn layout(&self, dtype: DType) -> Layout {
        self.algo.layout(dtype, self.base.config())
    }

    fn check(&self, param: &Param<'_>) -> Result<()> {
        param.check()?;
        self.algo.check(param, self.base.config())
    }

    fn update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        let l = if self.algo.fused() { Loop::Fused } else { Loop::Reference };
        self.run(params, states, l)
    }

    fn reference_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        self.run(params, states, Loop::Reference)
    }

    fn fused_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        self.run(params, states, Loop::Fused)
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        self.algo.scalars()
    }

    fn restore_scalars(&mut self, scalars: &[(String, f64)]) -> Result<()> {
        self.algo.restore_scalars(scalars).map_err(|reason| Error::StateFile { reason })
    }

    fn set_rescale_grad(&mut self, rescale_grad: f64) -> Result<()> {
        self.algo.check_rescale_grad(rescale_grad)?;
        self.base.set_rescale_grad(rescale_grad);
        Ok(())
    }
}
