//! The four schedulers as configurations with named fields and MXNet's defaults, so that no
//! argument can be swapped for another: `CosineScheduler { final_lr: 1e-4, base_lr: 0.01,
//! ..CosineScheduler::new(1000) }` says which rate is which.

use super::{LrScheduler, PastMaxUpdate, Rule, Warmup};
use crate::error::Result;

/// MXNet's `FactorScheduler`: the rate is multiplied by `factor` every `step` updates, never
/// going below `stop_factor_lr`.
///
/// ```
/// use adamant::FactorScheduler;
/// let mut s = FactorScheduler { factor: 0.5, base_lr: 0.1, ..FactorScheduler::new(10) }.build()?;
/// assert_eq!((s.lr(10), s.lr(11), s.lr(21)), (0.1, 0.05, 0.025));
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FactorScheduler {
    /// Updates between decays (>= 1).
    pub step: u64,
    /// The decay factor, in [0, 1] (MXNet's default 1: no decay).
    pub factor: f64,
    /// The floor (MXNet's default 1e-8).
    pub stop_factor_lr: f64,
    /// The starting rate (MXNet's default 0.01).
    pub base_lr: f64,
    /// A warmup phase in front (none by default).
    pub warmup: Warmup,
}

/// MXNet's `MultiFactorScheduler`: the rate is multiplied by `factor` after each listed update.
///
/// ```
/// use adamant::MultiFactorScheduler;
/// let mut s = MultiFactorScheduler { factor: 0.1, base_lr: 0.1, ..MultiFactorScheduler::new(vec![15, 25]) }
///     .build()?;
/// assert_eq!(s.lr(15), 0.1);
/// assert!((s.lr(16) - 0.01).abs() < 1e-15);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MultiFactorScheduler {
    /// The updates after which the rate decays: strictly increasing, each >= 1.
    pub step: Vec<u64>,
    /// The decay factor, in [0, 1] (MXNet's default 1).
    pub factor: f64,
    /// The starting rate (MXNet's default 0.01).
    pub base_lr: f64,
    /// A warmup phase in front (none by default).
    pub warmup: Warmup,
}

/// MXNet's `PolyScheduler`: from `base_lr` to `final_lr` along `(1 - t / max_update)^pwr`.
///
/// ```
/// use adamant::{PolyScheduler, Warmup};
/// let poly = PolyScheduler {
///     base_lr: 3.0,
///     warmup: Warmup { steps: 100, ..Warmup::default() },
///     ..PolyScheduler::new(1000)
/// };
/// assert_eq!(poly.build()?.lr(50), 1.5);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PolyScheduler {
    /// The update at which the rate reaches `final_lr` (beyond the warmup).
    pub max_update: u64,
    /// The starting rate (MXNet's default 0.01).
    pub base_lr: f64,
    /// The power, >= 0 (MXNet's default 2).
    pub pwr: f64,
    /// The rate at `max_update` (MXNet's default 0).
    pub final_lr: f64,
    /// A warmup phase in front (none by default).
    pub warmup: Warmup,
    /// What it gives past `max_update`.
    pub past_max_update: PastMaxUpdate,
}

/// MXNet's `CosineScheduler`: from `base_lr` to `final_lr` along half a cosine.
///
/// ```
/// use adamant::CosineScheduler;
/// let mut s = CosineScheduler { base_lr: 3.0, final_lr: 0.1, ..CosineScheduler::new(1000) }.build()?;
/// assert_eq!(s.lr(0), 3.0);
/// assert!((s.lr(1000) - 0.1).abs() < 1e-12);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CosineScheduler {
    /// The update at which the rate reaches `final_lr` (beyond the warmup).
    pub max_update: u64,
    /// The starting rate (MXNet's default 0.01).
    pub base_lr: f64,
    /// The rate at `max_update` (MXNet's default 0).
    pub final_lr: f64,
    /// A warmup phase in front (none by default).
    pub warmup: Warmup,
    /// What it gives past `max_update`.
    pub past_max_update: PastMaxUpdate,
}

/// MXNet's default starting rate of every scheduler.
const BASE_LR: f64 = 0.01;

impl FactorScheduler {
    /// A decay every `step` updates, with MXNet's defaults for the rest.
    pub fn new(step: u64) -> Self {
        FactorScheduler {
            step,
            factor: 1.0,
            stop_factor_lr: 1e-8,
            base_lr: BASE_LR,
            warmup: Warmup::default(),
        }
    }

    /// The scheduler.
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) naming the field
    /// at fault.
    pub fn build(&self) -> Result<LrScheduler> {
        let rule = Rule::Factor {
            step: self.step,
            factor: self.factor,
            stop_factor_lr: self.stop_factor_lr,
            count: 0,
        };
        LrScheduler::from_parts(self.base_lr, rule, self.warmup, PastMaxUpdate::default())
    }
}

impl MultiFactorScheduler {
    /// Decays after each of `step`, with MXNet's defaults for the rest.
    pub fn new(step: Vec<u64>) -> Self {
        MultiFactorScheduler { step, factor: 1.0, base_lr: BASE_LR, warmup: Warmup::default() }
    }

    /// The scheduler.
    ///
    /// # Errors
    /// As [`FactorScheduler::build`].
    pub fn build(&self) -> Result<LrScheduler> {
        let rule = Rule::MultiFactor { steps: self.step.clone(), factor: self.factor, cur_step_ind: 0 };
        LrScheduler::from_parts(self.base_lr, rule, self.warmup, PastMaxUpdate::default())
    }
}

impl PolyScheduler {
    /// A schedule ending at `max_update`, with MXNet's defaults for the rest.
    pub fn new(max_update: u64) -> Self {
        PolyScheduler {
            max_update,
            base_lr: BASE_LR,
            pwr: 2.0,
            final_lr: 0.0,
            warmup: Warmup::default(),
            past_max_update: PastMaxUpdate::default(),
        }
    }

    /// The scheduler.
    ///
    /// # Errors
    /// As [`FactorScheduler::build`].
    pub fn build(&self) -> Result<LrScheduler> {
        let rule = Rule::Poly { max_update: self.max_update, pwr: self.pwr, final_lr: self.final_lr };
        LrScheduler::from_parts(self.base_lr, rule, self.warmup, self.past_max_update)
    }
}

impl CosineScheduler {
    /// A schedule ending at `max_update`, with MXNet's defaults for the rest.
    pub fn new(max_update: u64) -> Self {
        CosineScheduler {
            max_update,
            base_lr: BASE_LR,
            final_lr: 0.0,
            warmup: Warmup::default(),
            past_max_update: PastMaxUpdate::default(),
        }
    }

    /// The scheduler.
    ///
    /// # Errors
    /// As [`FactorScheduler::build`].
    pub fn build(&self) -> Result<LrScheduler> {
        let rule = Rule::Cosine { max_update: self.max_update, final_lr: self.final_lr };
        LrScheduler::from_parts(self.base_lr, rule, self.warmup, self.past_max_update)
    }
}
