//! The batch machinery every optimizer shares: check the whole batch, count the updates in batch
//! order (with the scheduler), compute each step's scalars once per distinct rate, decay and
//! count, and run every tensor through its rule, one parallel pass over the batch.

use std::collections::HashMap;

use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::index_map::IndexTable;
use crate::kernel::element::DType;
use crate::kernel::Loop;
use crate::lr_scheduler::LrScheduler;
use crate::optimizer::algorithm::{Algorithm, Counted};
use crate::optimizer::base::{Journal, OptimizerBase};
use crate::optimizer::config::{Multipliers, OptimizerConfig};
use crate::optimizer::interface::{Optimizer, ParamStep};
use crate::optimizer::state::{Layout, StateMut};
use crate::param::{Grad, Param};

/// An optimizer: its algorithm, the shared run-time state (counters, scheduler), and what a
/// batch in progress needs (kept to reuse their allocations).
#[derive(Debug, Clone)]
pub(crate) struct Engine<A: Algorithm> {
    base: OptimizerBase,
    algo: A,
    /// The distinct steps of the batch in progress.
    steps: Vec<A::Step>,
    /// For each parameter of the batch, its step's position in `steps`.
    plan: Vec<usize>,
    journal: Journal,
    /// The position in `steps` of each step already computed, by `(lr, wd, t)`.
    computed: HashMap<StepKey, usize>,
    /// The key of the batch's latest step, and its position.
    last_step: Option<(StepKey, usize)>,
    /// The number of the batch each index was last counted in (to refuse an index twice in one
    /// batch without a set per batch).
    counted_in: IndexTable<u64>,
    /// The number of the batch in progress.
    batch: u64,
    /// Rows listed by each row-sparse gradient of the batch in progress.
    listed: Vec<usize>,
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
            steps: Vec::new(),
            plan: Vec::new(),
            journal: Journal::default(),
            computed: HashMap::new(),
            last_step: None,
            counted_in: IndexTable::default(),
            batch: 0,
            listed: Vec::new(),
        })
    }

    /// Checks the batch and plans its steps (counting them, or with the caller's `given`
    /// counts); on error nothing has changed.
    fn checked(
        &mut self,
        params: &[Param<'_>],
        states: &[StateMut<'_>],
        given: Option<&[ParamStep]>,
    ) -> Result<()> {
        if params.len() != states.len() {
            return Err(Error::StateCount { params: params.len(), states: states.len() });
        }
        if let Some(given) = given.filter(|g| g.len() != params.len()) {
            return Err(Error::StateCount { params: params.len(), states: given.len() });
        }
        match given {
            Some(given) => {
                check_all(&self.algo, self.base.config(), params, states)?;
                self.plan_given(params, given)
            }
            None => self.counted_while_checked(params, states),
        }
    }

    /// Counts the batch on one thread while the others check it: counting follows batch order,
    /// one parameter after the other, while the checks share out, and a batch of many small
    /// tensors spends about as long on each. A batch that either refuses is counted back (and
    /// the rule's scalars, Nadam's schedule, put back), and a refusal by the checks is the one
    /// reported, as when they ran first.
    fn counted_while_checked(&mut self, params: &[Param<'_>], states: &[StateMut<'_>]) -> Result<()> {
        // The rule as it was: the checks read it while planning changes the original.
        let (rule, config) = (self.algo.clone(), self.base.shared_config());
        let (planned, checked) =
            rayon::join(|| self.plan(params), || check_all(&rule, &config, params, states));
        let outcome = checked.and(planned);
        if outcome.is_err() {
            self.base.undo(&self.journal);
            self.algo = rule;
        }
        outcome
    }

    /// Checks the batch, plans its steps, and runs every parameter through its rule in one pass.
    fn run(
        &mut self,
        params: &mut [Param<'_>],
        states: &mut [StateMut<'_>],
        given: Option<&[ParamStep]>,
        l: Loop,
    ) -> Result<()> {
        self.checked(params, states, given)?;
        reserve_row_lists(params, &mut self.listed);
        self.algo.reserve_scratch(params);
        let (algo, base, steps) = (&self.algo, self.base.config(), &self.steps);
        let each = |((param, state), &step): ((&mut Param<'_>, &mut StateMut<'_>), &usize)| {
            algo.apply(&steps[step], param, state, base, l)
        };
        match l {
            Loop::Reference => params.iter_mut().zip(states.iter_mut()).zip(&self.plan).for_each(each),
            Loop::Fused => {
                // Runs of tensors, each run in order on one thread, so that a tensor's memory is
                // asked for while the small one before it is updated: a small tensor is over
                // before the hardware would have predicted where the next one lies. (A larger
                // one would push what was asked for out of the cache before its use.)
                let run = params.len().div_ceil(rayon::current_num_threads() * 8).max(1);
                let runs =
                    params.par_chunks_mut(run).zip(states.par_chunks_mut(run)).zip(self.plan.par_chunks(run));
                runs.for_each(|((params, states), plan)| {
                    for i in 0..params.len() {
                        let small = params[i].weight.data.len() <= SMALL_TENSOR;
                        if let (true, Some(next), Some(state)) = (small, params.get(i + 1), states.get(i + 1))
                        {
                            ask_for(next, state);
                        }
                        each(((&mut params[i], &mut states[i]), &plan[i]));
                    }
                });
            }
        }
        Ok(())
    }

    /// Applies `change` to the base configuration if the result is one the optimizer accepts.
    fn reconfigure(&mut self, change: impl FnOnce(&mut OptimizerConfig)) -> Result<()> {
        let mut config = self.base.config().clone();
        change(&mut config);
        config.validate_as(self.algo.read())?;
        self.algo.validate(&config)?;
        self.base.set_config(config);
        Ok(())
    }

    /// Counts every parameter's update and computes the scalars of its step, in batch order
    /// (counting and the scheduler follow it), noting in the journal what it changed. A scalar
    /// that is degenerate as the kernel reads it refuses the batch; the caller undoes the
    /// counting ([`Engine::counted_while_checked`]).
    fn plan(&mut self, params: &[Param<'_>]) -> Result<()> {
        self.reset_plan();
        let mut journal = std::mem::take(&mut self.journal);
        self.base.begin_counting(&mut journal);
        let mut planned = Ok(());
        self.batch = self.batch.wrapping_add(1);
        for param in params {
            let batch = self.counted_in.get_or_insert_with(param.index, || 0);
            if std::mem::replace(batch, self.batch) == self.batch {
                planned = Err(Error::DuplicateIndex { index: param.index });
                break;
            }
            match self.step(param, &mut journal) {
                Ok(step) => self.plan.push(step),
                Err(e) => {
                    planned = Err(e);
                    break;
                }
            }
        }
        self.journal = journal;
        planned
    }

    /// The steps of a batch whose counts, rates and decays the caller gives; nothing is counted.
    /// On error the rule's scalars (Nadam's schedule) are as they were.
    fn plan_given(&mut self, params: &[Param<'_>], given: &[ParamStep]) -> Result<()> {
        let rule = self.algo.clone();
        let planned = self.given_steps(params, given);
        if planned.is_err() {
            self.algo = rule;
        }
        planned
    }

    fn given_steps(&mut self, params: &[Param<'_>], given: &[ParamStep]) -> Result<()> {
        self.reset_plan();
        for (param, g) in params.iter().zip(given) {
            if g.t == 0 {
                return Err(Error::InvalidHyperParameter {
                    name: "step",
                    value: "0".into(),
                    reason: format!("parameter {}: a step's update count starts at 1", param.index),
                });
            }
            let counted = Counted { index: param.index, t: g.t, base_lr: g.lr, lr: g.lr, wd: g.wd };
            self.algo.check_counted(param, &counted)?;
            let position = self.computed_step(&counted)?;
            self.plan.push(position);
        }
        Ok(())
    }

    /// Counts the update of `index` and reads the scheduler (MXNet's Python `update` does both
    /// before anything else), then the step's scalars.
    fn step(&mut self, param: &Param<'_>, journal: &mut Journal) -> Result<usize> {
        let index = param.index;
        let t = self.base.count_update(index, journal);
        let base_lr = self.base.base_lr();
        let (lr, wd) = (self.base.lr_for(index, base_lr), self.base.wd_for(index));
        let counted = Counted { index, t, base_lr, lr, wd };
        self.algo.check_counted(param, &counted)?;
        self.computed_step(&counted)
    }

    fn reset_plan(&mut self) {
        self.steps.clear();
        self.plan.clear();
        self.computed.clear();
        self.last_step = None;
    }

    /// The position in `steps` of the step counted as `c`, computed once per distinct
    /// `(lr, wd, t)` in a batch.
    fn computed_step(&mut self, c: &Counted) -> Result<usize> {
        if !self.algo.cacheable() {
            self.steps.push(self.algo.step(c, self.base.config())?);
            return Ok(self.steps.len() - 1);
        }
        let key = (c.lr.to_bits(), c.wd.to_bits(), c.t);
        // Most batches have one key (every tensor at the same count, rate and decay): the last
        // key answers them without hashing.
        if let Some((last, position)) = self.last_step {
            if last == key {
                return Ok(position);
            }
        }
        let position = match self.computed.get(&key) {
            Some(&position) => position,
            None => {
                self.steps.push(self.algo.step(c, self.base.config())?);
                self.computed.insert(key, self.steps.len() - 1);
                self.steps.len() - 1
            }
        };
        self.last_step = Some((key, position));
        Ok(position)
    }
}

/// Checks every parameter of a batch with its state, for the rule `algo` under `config`.
fn check_all<A: Algorithm>(
    algo: &A,
    config: &OptimizerConfig,
    params: &[Param<'_>],
    states: &[StateMut<'_>],
) -> Result<()> {
    let checks = params.par_iter().zip(states.par_iter());
    checks.try_for_each(|(param, state)| check_with_state(algo, config, param, state))
}

/// Checks `param` itself and what the rule `algo` refuses of it.
fn check_param<A: Algorithm>(algo: &A, config: &OptimizerConfig, param: &Param<'_>) -> Result<()> {
    param.check()?;
    algo.check(param, config)
}

/// Checks `param` with its `state`: the parameter itself, what the rule refuses of it, and the
/// state's arrays against the rule's layout.
fn check_with_state<A: Algorithm>(
    algo: &A,
    config: &OptimizerConfig,
    param: &Param<'_>,
    state: &StateMut<'_>,
) -> Result<()> {
    let layout = algo.layout(param.weight.data.dtype(), config);
    // A batch of many small tensors spends as long checking them as updating them: the common
    // case is decided without building errors, the rest says what is wrong.
    if param.is_plain_dense() && state.is_made_for(param) && layout.fits(param.weight.data.len(), state) {
        return algo.check(param, config);
    }
    check_param(algo, config, param)?;
    state.check_made_for(param)?;
    layout.check(param.index, param.weight.data.len(), state)
}

/// Elements up to which a tensor's update is short enough to ask for the next tensor's memory
/// while it runs (4 KiB per float32 array: the arrays of both fit in the L1 cache).
const SMALL_TENSOR: usize = 1024;

/// Asks for the first bytes of a dense parameter's arrays ahead of its update.
fn ask_for(param: &Param<'_>, state: &StateMut<'_>) {
    if let Grad::Dense(g) = &param.grad {
        param.weight.data.as_ref().prefetch();
        g.data.prefetch();
        state.arrays().for_each(|a| a.as_ref().prefetch());
    }
}

/// Room for the row lists of the batch's row-sparse gradients, all of which may be coalesced at
/// once (a thread waiting inside one tensor's update takes up another's).
fn reserve_row_lists(params: &[Param<'_>], listed: &mut Vec<usize>) {
    listed.clear();
    listed.extend(params.iter().filter_map(|p| match &p.grad {
        Grad::RowSparse(g) => Some(g.row_indices.len()),
        Grad::Dense(_) => None,
    }));
    if !listed.is_empty() {
        crate::kernel::rows::reserve(listed);
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
        check_param(&self.algo, self.base.config(), param)
    }

    fn update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        let l = if self.algo.fused() { Loop::Fused } else { Loop::Reference };
        self.run(params, states, None, l)
    }

    fn update_counted(
        &mut self,
        params: &mut [Param<'_>],
        states: &mut [StateMut<'_>],
        steps: &[ParamStep],
    ) -> Result<()> {
        let l = if self.algo.fused() { Loop::Fused } else { Loop::Reference };
        self.run(params, states, Some(steps), l)
    }

    fn check_counted(
        &mut self,
        params: &[Param<'_>],
        states: &[StateMut<'_>],
        steps: &[ParamStep],
    ) -> Result<()> {
        // Planning computes the steps' scalars, which a rule may keep (Nadam's schedule): the
        // rule is put back as it was.
        let rule = self.algo.clone();
        let checked = self.checked(params, states, Some(steps));
        self.algo = rule;
        checked
    }

    fn reference_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        self.run(params, states, None, Loop::Reference)
    }

    fn fused_update(&mut self, params: &mut [Param<'_>], states: &mut [StateMut<'_>]) -> Result<()> {
        self.run(params, states, None, Loop::Fused)
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        self.algo.scalars()
    }

    fn restore_scalars(&mut self, scalars: &[(String, f64)]) -> Result<()> {
        self.algo.restore_scalars(scalars).map_err(|reason| Error::StateFile { reason })
    }

    fn set_wd(&mut self, wd: f64) -> Result<()> {
        self.reconfigure(|c| c.wd = wd)
    }

    fn set_lr_mult(&mut self, lr_mult: Multipliers) -> Result<()> {
        self.reconfigure(|c| c.lr_mult = lr_mult)
    }

    fn set_wd_mult(&mut self, wd_mult: Multipliers) -> Result<()> {
        self.reconfigure(|c| c.wd_mult = wd_mult)
    }

    fn set_lr_scheduler(&mut self, scheduler: Option<LrScheduler>) -> Result<()> {
        self.base.set_lr_scheduler(scheduler);
        Ok(())
    }

    fn set_rescale_grad(&mut self, rescale_grad: f64) -> Result<()> {
        self.algo.check_rescale_grad(rescale_grad)?;
        self.base.set_rescale_grad(rescale_grad);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::optimizer::mxnet_float::PARSES;
    use crate::{Buffer, Param, StateMut};

    /// The hyper-parameter texts parsed by one update of `tensors` one-element float32 tensors,
    /// every third with `lr_mult` 0.5.
    fn parses_for(tensors: usize) -> u64 {
        let by_index: serde_json::Map<_, _> =
            (0..tensors).step_by(3).map(|i| (i.to_string(), json!(0.5))).collect();
        let config = json!({"learning_rate": 3e-5, "wd": 1e-4, "lr_mult": {"by_index": by_index}});
        let mut adam = crate::create("adam", &config).unwrap();
        let (mut weights, grad) = (vec![vec![0.5f32]; tensors], [0.1f32]);
        let mut states: Vec<[Buffer; 2]> =
            (0..tensors).map(|_| [Buffer::F32(vec![0.0]), Buffer::F32(vec![0.0])]).collect();
        let mut params: Vec<Param<'_>> =
            weights.iter_mut().enumerate().map(|(i, w)| Param::dense(i, &[1], w, &grad)).collect();
        let mut states: Vec<StateMut<'_>> =
            states.iter_mut().map(|s| StateMut::new(s.iter_mut().map(Buffer::as_mut)).unwrap()).collect();
        // The count is per thread, and a batch is planned on a thread of the pool: a pool of one
        // plans it on the thread that reads the count.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        pool.install(|| {
            PARSES.with(|p| p.set(0));
            adam.update(&mut params, &mut states).unwrap();
            PARSES.with(|p| p.get())
        })
    }

    #[test]
    fn a_batch_parses_each_distinct_step_once_not_once_per_tensor() {
        // Two distinct rates (lr_mult 0.5 and 1) at the same count: two steps' worth of parses
        // (rate, decay, betas, epsilon, rescale_grad), however many tensors.
        let two = parses_for(2);
        assert!(two > 0, "MXNet's rule parses its scalars");
        assert_eq!(parses_for(100_000), two);
    }
}
