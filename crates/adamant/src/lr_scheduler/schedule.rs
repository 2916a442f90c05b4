//! The schedulers and their rules (MXNet's `python/mxnet/lr_scheduler.py`).

use super::decay::decay;
use crate::error::{Error, Result};

/// How the learning rate rises during warmup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WarmupMode {
    /// From `begin_lr` to the base rate in equal steps.
    #[default]
    Linear,
    /// `begin_lr` throughout the warmup.
    Constant,
}

/// What Poly and Cosine return for an update past `max_update`.
///
/// ```
/// use adamant::PastMaxUpdate;
/// // Asked first for update 1500, past max_update = 1000.
/// let cosine = adamant::CosineScheduler { base_lr: 0.1, final_lr: 0.001, ..adamant::CosineScheduler::new(1000) };
/// let mut s = cosine.build().unwrap();
/// assert_eq!(s.lr(1500), 0.001);
/// let mut mxnet = adamant::CosineScheduler { past_max_update: PastMaxUpdate::KeepLast, ..cosine }.build().unwrap();
/// assert_eq!(mxnet.lr(1500), 0.1); // MXNet: the last value it computed, here none yet
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PastMaxUpdate {
    /// The value at `max_update` (normally `final_lr`), whatever was asked before. The default.
    #[default]
    ValueAtMaxUpdate,
    /// MXNet's: the last value computed at or before `max_update`, which depends on which
    /// updates were asked for before (the starting rate, if none was). For parity only.
    KeepLast,
}

impl PastMaxUpdate {
    /// The update at which a Poly or Cosine rule is evaluated when asked for `num_update`,
    /// or `None` to keep the current value.
    fn evaluated_at(self, num_update: u64, max_update: u64) -> Option<u64> {
        match self {
            _ if num_update <= max_update => Some(num_update),
            PastMaxUpdate::ValueAtMaxUpdate => Some(max_update),
            PastMaxUpdate::KeepLast => None,
        }
    }
}

/// The warmup phase: for `num_update < steps` the scheduler returns the warmup rate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Warmup {
    /// Updates in the warmup phase (0: none).
    pub steps: u64,
    /// The rate at update 0.
    pub begin_lr: f64,
    /// How the rate rises.
    pub mode: WarmupMode,
}

/// The rule a scheduler follows after warmup, with the state MXNet keeps for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Multiply by `factor` every `step` updates, never going below `stop_factor_lr`.
    Factor {
        /// Updates between decays (>= 1).
        step: u64,
        /// The decay factor (<= 1).
        factor: f64,
        /// The floor.
        stop_factor_lr: f64,
        /// State: the update count at the last decay.
        count: u64,
    },
    /// Multiply by `factor` when `num_update` passes each of `steps`.
    MultiFactor {
        /// Strictly increasing update counts (each >= 1).
        steps: Vec<u64>,
        /// The decay factor (<= 1).
        factor: f64,
        /// State: how many of `steps` have been passed.
        cur_step_ind: usize,
    },
    /// `final + (base - final) * (1 - (n - warmup) / (max_update - warmup))^pwr`.
    Poly {
        /// The update at which `final_lr` is reached.
        max_update: u64,
        /// The power.
        pwr: f64,
        /// The rate from `max_update` on.
        final_lr: f64,
    },
    /// `final + (base - final) * (1 + cos(pi * (n - warmup) / (max_update - warmup))) / 2`.
    Cosine {
        /// The update at which `final_lr` is reached.
        max_update: u64,
        /// The rate from `max_update` on.
        final_lr: f64,
    },
}

/// A learning-rate scheduler: a function of the update count with MXNet's state and quirks.
///
/// Like MXNet's, it is **stateful**: Factor and MultiFactor decay `base_lr` in place as
/// `num_update` passes their steps (the comparison is strict: with `step = 10` the rate
/// changes at updates 11, 21, ...; a jump applies every decay passed over, at the cost of the
/// decays that change the rate). Poly and Cosine give their value at `max_update` past it
/// (MXNet keeps whatever it computed last: [`PastMaxUpdate`]). Call it with non-decreasing
/// update counts. Build one from its configuration ([`FactorScheduler`](crate::FactorScheduler),
/// [`MultiFactorScheduler`](crate::MultiFactorScheduler), [`PolyScheduler`](crate::PolyScheduler),
/// [`CosineScheduler`](crate::CosineScheduler)) or from JSON ([`LrScheduler::from_json`]).
///
/// ```
/// let mut s = adamant::FactorScheduler { factor: 0.5, base_lr: 0.1, ..adamant::FactorScheduler::new(10) }
///     .build()
///     .unwrap();
/// assert_eq!(s.lr(10), 0.1);
/// assert_eq!(s.lr(11), 0.05);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LrScheduler {
    /// The current base rate (Factor and MultiFactor decay it; Poly and Cosine overwrite it).
    base_lr: f64,
    /// The rate the schedule starts from after warmup, fixed at construction (MXNet's
    /// `warmup_final_lr`, and `base_lr_orig` for Poly and Cosine).
    initial_lr: f64,
    warmup: Warmup,
    rule: Rule,
    past_max_update: PastMaxUpdate,
}

/// `name` = `value` refused for `reason`; numbers shown as Rust's `Debug` writes them (`1e-50`,
/// not fifty zeros).
fn invalid(name: &'static str, value: impl std::fmt::Debug, reason: &'static str) -> Error {
    Error::InvalidHyperParameter { name, value: format!("{value:?}"), reason: reason.into() }
}

/// A rate must be finite and >= 0, also as the kernel reads it (rounded to float32, where
/// anything above 3.4e38 becomes infinity).
fn check_rate(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 && (value as f32).is_finite() {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and >= 0, and at most 3.4e38 (float32's largest; the kernel reads rates as float32)"))
    }
}

fn check_factor(factor: f64) -> Result<()> {
    if (0.0..=1.0).contains(&factor) {
        Ok(())
    } else {
        Err(invalid("factor", factor, "must be in [0, 1] so that the rate decreases"))
    }
}

impl LrScheduler {
    /// A scheduler of `rule` from `base_lr`, checked (the configurations' `build`).
    pub(crate) fn from_parts(
        base_lr: f64,
        rule: Rule,
        warmup: Warmup,
        past_max_update: PastMaxUpdate,
    ) -> Result<Self> {
        check_rate("base_lr", base_lr)?;
        let scheduler = LrScheduler { base_lr, initial_lr: base_lr, warmup, rule, past_max_update };
        scheduler.validate()?;
        Ok(scheduler)
    }

    /// The same schedule with a warmup phase in front (the tests' shortcut for a rebuild).
    #[cfg(test)]
    pub(crate) fn with_warmup(mut self, steps: u64, begin_lr: f64, mode: WarmupMode) -> Result<Self> {
        self.warmup = Warmup { steps, begin_lr, mode };
        self.validate()?;
        Ok(self)
    }

    /// What Poly and Cosine give past `max_update`.
    pub fn past_max_update(&self) -> PastMaxUpdate {
        self.past_max_update
    }

    /// The same schedule starting from `lr` instead of its own base rate.
    ///
    /// This is what an explicitly set `learning_rate` does to an optimizer's scheduler
    /// (for every type; MXNet ignores it for Poly and Cosine). Fails if `lr` is below the
    /// warmup's begin rate.
    pub fn with_base_lr(mut self, lr: f64) -> Result<Self> {
        check_rate("learning_rate", lr)?;
        self.base_lr = lr;
        self.initial_lr = lr;
        self.validate()?;
        Ok(self)
    }

    /// MXNet's construction-time checks, plus finiteness and (for Poly and Cosine) a
    /// `max_update` beyond the warmup, where MXNet would divide by zero later.
    fn validate(&self) -> Result<()> {
        let w = &self.warmup;
        check_rate("warmup_begin_lr", w.begin_lr)?;
        if w.begin_lr > self.initial_lr {
            return Err(invalid("warmup_begin_lr", w.begin_lr, "must not exceed the base rate"));
        }
        match &self.rule {
            Rule::Factor { step, factor, stop_factor_lr, .. } => {
                if *step < 1 {
                    return Err(invalid("step", step, "must be >= 1"));
                }
                check_factor(*factor)?;
                check_rate("stop_factor_lr", *stop_factor_lr)
            }
            Rule::MultiFactor { steps, factor, .. } => {
                if steps.is_empty() || steps[0] < 1 || steps.windows(2).any(|p| p[1] <= p[0]) {
                    return Err(invalid(
                        "step",
                        steps,
                        "must be a non-empty, strictly increasing list of integers >= 1",
                    ));
                }
                check_factor(*factor)
            }
            Rule::Poly { max_update, pwr, final_lr } => {
                if !(pwr.is_finite() && *pwr >= 0.0) {
                    return Err(invalid(
                        "pwr",
                        pwr,
                        "must be finite and >= 0 (a negative power grows without bound toward max_update)",
                    ));
                }
                check_rate("final_lr", *final_lr)?;
                self.check_max_update(*max_update)
            }
            Rule::Cosine { max_update, final_lr } => {
                check_rate("final_lr", *final_lr)?;
                self.check_max_update(*max_update)
            }
        }
    }

    fn check_max_update(&self, max_update: u64) -> Result<()> {
        if max_update <= self.warmup.steps {
            return Err(invalid("max_update", max_update, "must exceed warmup_steps (and be >= 1)"));
        }
        Ok(())
    }

    /// The current base rate (the value the last call settled on after warmup).
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// The rate the schedule started from (its base rate at construction).
    pub fn initial_lr(&self) -> f64 {
        self.initial_lr
    }

    /// The mutable state: `(base_lr, count, cur_step_ind)` (the last two 0 where the rule
    /// keeps no such count).
    pub fn state(&self) -> (f64, u64, u64) {
        match &self.rule {
            Rule::Factor { count, .. } => (self.base_lr, *count, 0),
            Rule::MultiFactor { cur_step_ind, .. } => (self.base_lr, 0, *cur_step_ind as u64),
            _ => (self.base_lr, 0, 0),
        }
    }

    /// Puts back a state taken by [`LrScheduler::state`]; fails, changing nothing, on values
    /// this schedule cannot have.
    pub fn restore_state(&mut self, (base_lr, count, cur_step_ind): (f64, u64, u64)) -> Result<()> {
        check_rate("base_lr", base_lr)?;
        match &mut self.rule {
            Rule::Factor { count: c, .. } => *c = count,
            Rule::MultiFactor { steps, cur_step_ind: c, .. } => {
                if cur_step_ind > steps.len() as u64 {
                    return Err(invalid("cur_step_ind", cur_step_ind, "must not exceed the number of steps"));
                }
                *c = cur_step_ind as usize;
            }
            _ => {}
        }
        self.base_lr = base_lr;
        Ok(())
    }

    /// The warmup phase.
    pub fn warmup(&self) -> Warmup {
        self.warmup
    }

    /// The rule and its state.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The learning rate at update `num_update`, advancing the scheduler's state.
    ///
    /// Each formula is MXNet's, evaluated in the same order, in float64.
    pub fn lr(&mut self, num_update: u64) -> f64 {
        let w = self.warmup;
        if num_update < w.steps {
            return match w.mode {
                WarmupMode::Linear => {
                    let increase = (self.initial_lr - w.begin_lr) * num_update as f64 / w.steps as f64;
                    w.begin_lr + increase
                }
                WarmupMode::Constant => w.begin_lr,
            };
        }
        match &mut self.rule {
            Rule::Factor { step, factor, stop_factor_lr, count } => {
                // MXNet's `while n > count + step: count += step; decay` runs
                // `(n - count - 1) / step` times: every decay a jump in `n` passed over.
                if num_update > count.saturating_add(*step) {
                    let decays = (num_update - *count - 1) / *step;
                    *count += decays * *step;
                    self.base_lr = decay(self.base_lr, *factor, *stop_factor_lr, decays);
                }
            }
            Rule::MultiFactor { steps, factor, cur_step_ind } => {
                // MXNet's `while n > steps[cur]: cur += 1; base_lr *= factor`.
                let passed = steps.partition_point(|&s| s < num_update).max(*cur_step_ind);
                let decays = (passed - *cur_step_ind) as u64;
                *cur_step_ind = passed;
                self.base_lr = decay(self.base_lr, *factor, 0.0, decays);
            }
            Rule::Poly { max_update, pwr, final_lr } => {
                if let Some(n) = self.past_max_update.evaluated_at(num_update, *max_update) {
                    let max_steps = (*max_update - w.steps) as f64;
                    let progress = (n - w.steps) as f64 / max_steps;
                    self.base_lr = *final_lr + (self.initial_lr - *final_lr) * (1.0 - progress).powf(*pwr);
                }
            }
            Rule::Cosine { max_update, final_lr } => {
                if let Some(n) = self.past_max_update.evaluated_at(num_update, *max_update) {
                    let max_steps = (*max_update - w.steps) as f64;
                    let angle = std::f64::consts::PI * (n - w.steps) as f64 / max_steps;
                    self.base_lr = *final_lr + (self.initial_lr - *final_lr) * (1.0 + angle.cos()) / 2.0;
                }
            }
        }
        self.base_lr
    }
}
