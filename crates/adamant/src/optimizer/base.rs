//! What every optimizer shares: the learning rate and its scheduler, the multipliers, and the
//! per-index update counters (MXNet's `Optimizer` base class).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index_map::IndexTable;
use crate::lr_scheduler::LrScheduler;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::kernel_values;

/// What counting one batch changed: enough to undo it (see [`OptimizerBase::begin_counting`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Journal {
    num_update: u64,
    scheduler: Option<(f64, u64, u64)>,
    /// Each counted index with the count it had before (`None`: not counted yet), in order.
    counts: Vec<(usize, Option<u64>)>,
}

/// The base optimizer's run-time state: configuration, counters and the live scheduler.
///
/// Counters follow MXNet: each parameter index has its own count, starting at
/// `begin_num_update`; `num_update` is the largest count so far, and it is what the scheduler
/// sees. Counts are `u64` and saturate; they are never narrowed.
///
/// ```
/// use adamant::{OptimizerBase, OptimizerConfig};
/// let config = OptimizerConfig { begin_num_update: 10, ..OptimizerConfig::default() };
/// let base = OptimizerBase::new(config, 0.001).unwrap();
/// assert_eq!(base.num_update(), 10);
/// assert_eq!(base.learning_rate(), 0.001);
/// ```
#[derive(Debug, Clone)]
pub struct OptimizerBase {
    /// Shared, so that a batch is checked against it on some threads while it is counted on
    /// another.
    config: Arc<OptimizerConfig>,
    /// The rate used when there is no scheduler.
    lr: f64,
    /// The live scheduler (its state advances with `num_update`).
    scheduler: Option<LrScheduler>,
    counts: IndexTable<u64>,
    num_update: u64,
}

impl OptimizerBase {
    /// Validates `config` and starts counting. `default_lr` is the rate when neither a rate
    /// nor a scheduler is given (0.001 for Adam).
    pub fn new(config: OptimizerConfig, default_lr: f64) -> Result<Self> {
        config.validate()?;
        let scheduler = match (&config.lr_scheduler, config.learning_rate) {
            (Some(s), Some(lr)) => Some(s.clone().with_base_lr(lr)?),
            (Some(s), None) => Some(s.clone()),
            (None, _) => None,
        };
        Ok(OptimizerBase {
            lr: config.learning_rate.unwrap_or(default_lr),
            scheduler,
            counts: IndexTable::default(),
            num_update: config.begin_num_update,
            config: Arc::new(config),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The configuration, shared: it stays as it is while this base counts a batch.
    pub(crate) fn shared_config(&self) -> Arc<OptimizerConfig> {
        Arc::clone(&self.config)
    }

    /// The largest update count of any index.
    pub fn num_update(&self) -> u64 {
        self.num_update
    }

    /// The update count of parameter `index`, once it has been updated.
    pub fn update_count(&self, index: usize) -> Option<u64> {
        self.counts.get(index).copied()
    }

    /// The update count of every index seen so far, in index order.
    pub fn update_counts(&self) -> BTreeMap<usize, u64> {
        self.counts.iter().map(|(i, &c)| (i, c)).collect()
    }

    /// The live scheduler, if any.
    pub fn scheduler(&self) -> Option<&LrScheduler> {
        self.scheduler.as_ref()
    }

    /// The base learning rate now (before per-index multipliers): the scheduler's value at
    /// `num_update`, or the fixed rate. Reading it changes nothing.
    pub fn learning_rate(&self) -> f64 {
        match &self.scheduler {
            Some(s) => s.clone().lr(self.num_update),
            None => self.lr,
        }
    }

    /// Sets the fixed learning rate. Fails when a scheduler owns the rate, as in MXNet (replace
    /// the schedule with [`Optimizer::set_lr_scheduler`](crate::Optimizer::set_lr_scheduler)).
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        if self.scheduler.is_some() {
            return Err(Error::LearningRateOwnedByScheduler);
        }
        kernel_values::non_negative(kernel_values::nearest, "learning_rate", lr)?;
        self.lr = lr;
        Ok(())
    }

    /// Sets `rescale_grad` (the optimizer has checked it).
    pub(crate) fn set_rescale_grad(&mut self, rescale_grad: f64) {
        Arc::make_mut(&mut self.config).rescale_grad = rescale_grad;
    }

    /// Replaces the configuration's decay and multipliers (the optimizer has checked `config`,
    /// which differs from the current one in nothing else).
    pub(crate) fn set_config(&mut self, config: OptimizerConfig) {
        self.config = Arc::new(config);
    }

    /// Replaces the scheduler, or with `None` fixes the rate at the current one; counters stay.
    /// The configuration follows, so that a saved state builds the same optimizer: the new
    /// scheduler's own `base_lr` rules.
    pub(crate) fn set_lr_scheduler(&mut self, scheduler: Option<LrScheduler>) {
        match scheduler {
            Some(s) => {
                let config = Arc::make_mut(&mut self.config);
                config.learning_rate = None;
                config.lr_scheduler = Some(s.clone());
                self.scheduler = Some(s);
            }
            None => {
                self.lr = self.learning_rate();
                let config = Arc::make_mut(&mut self.config);
                config.learning_rate = Some(self.lr);
                (config.lr_scheduler, self.scheduler) = (None, None);
            }
        }
    }

    /// Puts back the run-time state of a checkpoint: the fixed rate, the counters and the
    /// scheduler's state. Fails, changing nothing, on values that cannot be.
    pub(crate) fn restore(
        &mut self,
        lr: f64,
        num_update: u64,
        counts: &[(usize, u64)],
        scheduler: Option<(f64, u64, u64)>,
    ) -> Result<()> {
        kernel_values::non_negative(kernel_values::nearest, "learning_rate", lr)?;
        // num_update is the largest count there has been, and a Factor scheduler's count is the
        // update at its last decay: neither can run ahead of it. Counting starts at
        // begin_num_update, so a parameter counted once has passed it.
        let damaged = |reason: String| Err(Error::StateFile { reason });
        let begin = self.config.begin_num_update;
        if num_update < begin {
            return damaged(format!("num_update {num_update} is below begin_num_update {begin}"));
        }
        let ahead =
            counts.iter().map(|&(index, count)| (format!("the update count of index {index}"), count));
        let scheduler_count = scheduler.map(|(_, count, _)| ("the scheduler's count".to_string(), count));
        if let Some((what, count)) = ahead.chain(scheduler_count).find(|&(_, count)| count > num_update) {
            return damaged(format!("{what} is {count}, past num_update {num_update}"));
        }
        if let Some(&(index, count)) = counts.iter().find(|&&(_, count)| count < begin.saturating_add(1)) {
            return damaged(format!(
                "index {index} has update count {count}, not past begin_num_update {begin}"
            ));
        }
        let mut seen = IndexTable::default();
        let twice =
            |&&(index, _): &&(usize, u64)| std::mem::replace(seen.get_or_insert_with(index, || false), true);
        if let Some(&(index, _)) = counts.iter().find(twice) {
            return damaged(format!("index {index} has two update counts"));
        }
        let mut restored = self.scheduler.clone();
        match (&mut restored, scheduler) {
            (Some(s), Some(state)) => s.restore_state(state)?,
            (None, None) => {}
            _ => {
                return Err(Error::InvalidHyperParameter {
                    name: "lr_scheduler",
                    value: "scheduler state".into(),
                    reason: "the state and the configuration disagree on having a scheduler".into(),
                })
            }
        }
        self.lr = lr;
        self.num_update = num_update;
        self.scheduler = restored;
        self.counts = IndexTable::default();
        for &(index, count) in counts {
            *self.counts.get_or_insert_with(index, || count) = count;
        }
        Ok(())
    }

    /// The fixed learning rate: the rate when there is no scheduler (a state file's
    /// `learning_rate`); under a scheduler, [`OptimizerBase::learning_rate`] is the rate in force.
    pub fn fixed_learning_rate(&self) -> f64 {
        self.lr
    }

    /// Starts counting a batch: `journal` records what counting will change, so that
    /// [`OptimizerBase::undo`] can put it back if the batch is refused.
    pub(crate) fn begin_counting(&self, journal: &mut Journal) {
        journal.num_update = self.num_update;
        journal.scheduler = self.scheduler.as_ref().map(LrScheduler::state);
        journal.counts.clear();
    }

    /// Counts one more update of `index` and returns its count `t` (MXNet's `_update_count`),
    /// noting the count it had in `journal`.
    pub(crate) fn count_update(&mut self, index: usize, journal: &mut Journal) -> u64 {
        let (begin, mut fresh) = (self.config.begin_num_update, false);
        let count = self.counts.get_or_insert_with(index, || {
            fresh = true;
            begin
        });
        journal.counts.push((index, (!fresh).then_some(*count)));
        *count = count.saturating_add(1);
        self.num_update = self.num_update.max(*count);
        *count
    }

    /// Puts back the counters, `num_update` and the scheduler as they were when `journal`
    /// began.
    pub(crate) fn undo(&mut self, journal: &Journal) {
        // In reverse, so that an index counted twice gets its first previous value.
        for &(index, count) in journal.counts.iter().rev() {
            self.counts.set(index, count);
        }
        self.num_update = journal.num_update;
        if let (Some(s), Some(state)) = (&mut self.scheduler, journal.scheduler) {
            // A state the scheduler had is one it accepts back.
            let restored = s.restore_state(state);
            debug_assert!(restored.is_ok(), "{restored:?}");
        }
    }

    /// The base learning rate at the current `num_update`, advancing the scheduler.
    pub(crate) fn base_lr(&mut self) -> f64 {
        match &mut self.scheduler {
            Some(s) => s.lr(self.num_update),
            None => self.lr,
        }
    }

    /// The learning rate of `index` given the base rate (MXNet's `_get_lr`).
    pub(crate) fn lr_for(&self, index: usize, base_lr: f64) -> f64 {
        self.config.lr_for(index, base_lr)
    }

    /// The weight decay of `index`.
    pub(crate) fn wd_for(&self, index: usize) -> f64 {
        self.config.wd_for(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lr_scheduler::{CosineScheduler, FactorScheduler, MultiFactorScheduler, PolyScheduler};
    use crate::optimizer::config::Multipliers;

    #[test]
    fn counters_start_at_begin_and_num_update_is_their_maximum() {
        let config = OptimizerConfig { begin_num_update: 10, ..OptimizerConfig::default() };
        let mut base = OptimizerBase::new(config, 0.001).unwrap();
        let mut journal = Journal::default();
        base.begin_counting(&mut journal);
        assert_eq!(base.count_update(3, &mut journal), 11);
        assert_eq!(base.count_update(3, &mut journal), 12);
        assert_eq!(base.count_update(0, &mut journal), 11);
        assert_eq!(base.num_update(), 12);
        assert_eq!(base.update_count(0), Some(11));
        base.undo(&journal);
        assert_eq!((base.num_update(), base.update_count(0), base.update_count(3)), (10, None, None));
    }

    #[test]
    fn multipliers_match_by_index_before_name() {
        let mut lr_mult = Multipliers::default();
        lr_mult.by_index.insert(1, 0.5);
        lr_mult.by_name.insert("b".into(), 2.0);
        lr_mult.by_name.insert("c".into(), 3.0);
        let config = OptimizerConfig {
            learning_rate: Some(1.0),
            wd: 0.1,
            param_idx2name: [(1, "b".to_string()), (2, "c".to_string())].into(),
            wd_mult: lr_mult.clone(),
            lr_mult,
            ..OptimizerConfig::default()
        };
        let base = OptimizerBase::new(config, 0.001).unwrap();
        assert_eq!([base.lr_for(0, 1.0), base.lr_for(1, 1.0), base.lr_for(2, 1.0)], [1.0, 0.5, 3.0]);
        assert_eq!(base.wd_for(2), 0.1 * 3.0);
    }

    #[test]
    fn the_default_rate_applies_only_without_rate_and_scheduler() {
        let base = OptimizerBase::new(OptimizerConfig::default(), 0.001).unwrap();
        assert_eq!(base.learning_rate(), 0.001);
        let sched =
            FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 0.2, ..FactorScheduler::new(1) }
                .build()
                .unwrap();
        let config = OptimizerConfig { lr_scheduler: Some(sched), ..OptimizerConfig::default() };
        let base = OptimizerBase::new(config, 0.001).unwrap();
        assert_eq!(base.learning_rate(), 0.2, "an unset rate means the scheduler's base rate");
    }

    #[test]
    fn an_explicit_rate_overrides_every_scheduler_type() {
        for sched in [
            FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 0.2, ..FactorScheduler::new(1) }
                .build()
                .unwrap(),
            MultiFactorScheduler { factor: 0.5, base_lr: 0.2, ..MultiFactorScheduler::new(vec![5]) }
                .build()
                .unwrap(),
            PolyScheduler { base_lr: 0.2, pwr: 2.0, final_lr: 0.0, ..PolyScheduler::new(10) }
                .build()
                .unwrap(),
            CosineScheduler { base_lr: 0.2, final_lr: 0.0, ..CosineScheduler::new(10) }.build().unwrap(),
        ] {
            let config = OptimizerConfig {
                learning_rate: Some(0.05),
                lr_scheduler: Some(sched),
                ..OptimizerConfig::default()
            };
            let mut base = OptimizerBase::new(config, 0.001).unwrap();
            assert_eq!(base.learning_rate(), 0.05);
            base.count_update(0, &mut Journal::default());
            assert!(base.base_lr() <= 0.05);
        }
    }

    #[test]
    fn set_learning_rate_is_refused_under_a_scheduler() {
        let sched =
            FactorScheduler { factor: 0.5, stop_factor_lr: 0.0, base_lr: 0.2, ..FactorScheduler::new(1) }
                .build()
                .unwrap();
        let config = OptimizerConfig { lr_scheduler: Some(sched), ..OptimizerConfig::default() };
        let mut base = OptimizerBase::new(config, 0.001).unwrap();
        assert_eq!(base.set_learning_rate(0.1), Err(Error::LearningRateOwnedByScheduler));
        assert_eq!(base.learning_rate(), 0.2);
    }
}
