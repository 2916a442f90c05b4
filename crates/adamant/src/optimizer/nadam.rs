//! Nadam (Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop), as MXNet's
//! `Nadam` computes it in NDArray operations, with MXNet 2.0's formula (the default) or 1.x's
//! (`formula = "1.x"`). This is MXNet's Nadam, with its momentum schedule, not PyTorch's
//! `torch.optim.NAdam`. For parameter index `i` at its `t`-th update, every operation rounded
//! to the weight's dtype and every number `S(x)` as MXNet reads it:
//!
//! ```text
//! mu_t  = beta1 * (1 - 0.5 * 0.96^(t * schedule_decay))          (float64)
//! mu_t1 = beta1 * (1 - 0.5 * 0.96^((t + 1) * schedule_decay))
//! m_schedule = m_schedule * mu_t;   m_schedule_next = m_schedule * mu_t1
//! 2.0:  g = clip(grad * S(rescale_grad)) + w * S(wd * wd_mult(i))
//! 1.x:  g = clip(grad * S(rescale_grad) + w * S(wd * wd_mult(i)))
//! m = m * S(beta1) + g * S(1 - beta1)
//! 2.0:  v = v * S(beta2) + (g * g) * S(1 - beta2)
//! 1.x:  v = v * S(beta2) + (g * S(1 - beta2)) * g
//! g' = g / S(1 - m_schedule);  m' = m / S(1 - m_schedule_next);  v' = v / S(1 - beta2^t)
//! 2.0:  w = w - ((m' * S(mu_t1) + g' * S(1 - mu_t)) / (sqrt(v') + S(epsilon))) * S(lr * lr_mult(i))
//! 1.x:  w = w - ((g' * S(1 - mu_t) + m' * S(mu_t1)) * S(lr * lr_mult(i))) / (sqrt(v') + S(epsilon))
//! ```
//!
//! `m_schedule` (starting at 1) is one number for the whole optimizer, multiplied at every
//! parameter's update in batch order, as MXNet's is at every `update` call: it is saved with
//! the optimizer's state ([`Optimizer::scalars`](crate::Optimizer::scalars)).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kernel::element::DType;
use crate::kernel::formula::{clip, Factory, Formula};
use crate::kernel::{Loop, Real};
use crate::optimizer::algorithm::{Algorithm, Counted};
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::dispatch::{self, Options};
use crate::optimizer::fields::{self, Field, Fields};
use crate::optimizer::kernel_values::{self, Read};
use crate::optimizer::ndarray_rules::{self as nd, scalar};
use crate::optimizer::options::{HalfMath, MxnetVersion};
use crate::optimizer::state::{Layout, StateMut};
use crate::param::Param;

/// The name of Nadam's scalar state.
const M_SCHEDULE: &str = "m_schedule";

/// Nadam's configuration. `Default` gives MXNet's defaults (`beta1` 0.9, `beta2` 0.999,
/// `epsilon` 1e-8, `schedule_decay` 0.004; learning rate 0.001).
///
/// ```
/// let mut nadam = adamant::create("nadam", &serde_json::json!({"learning_rate": 0.002}))?;
/// assert_eq!(nadam.scalars(), [("m_schedule", 1.0)]);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NadamConfig {
    /// The hyper-parameters every optimizer has.
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f64,
    /// Added to `sqrt(v')`; > 0 as the kernel reads it.
    pub epsilon: f64,
    /// How fast the momentum schedule warms up (finite).
    pub schedule_decay: f64,
    /// Which MXNet version's formula.
    pub formula: MxnetVersion,
    /// With row-sparse gradients: update only the listed rows.
    pub lazy_update: bool,
    /// Whether [`Optimizer::update`](crate::Optimizer::update) runs the fused loop (true) or the scalar reference.
    pub use_fused_step: bool,
}

impl Default for NadamConfig {
    fn default() -> Self {
        NadamConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            schedule_decay: 0.004,
            formula: MxnetVersion::V2,
            lazy_update: false,
            use_fused_step: true,
        }
    }
}

impl Fields for NadamConfig {
    const OWNER: &'static str = "nadam";
    const FIELDS: &'static [Field<Self>] = &[
        Field::Number("beta1", |c| &mut c.beta1),
        Field::Number("beta2", |c| &mut c.beta2),
        Field::Number("epsilon", |c| &mut c.epsilon),
        Field::Number("schedule_decay", |c| &mut c.schedule_decay),
        Field::Choice(|c| &mut c.formula),
        Field::Flag("lazy_update", |c| &mut c.lazy_update),
        Field::Flag("use_fused_step", |c| &mut c.use_fused_step),
    ];
    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }
}

fields::registry_methods!(NadamConfig, "Nadam", |config| NadamRule { config, m_schedule: 1.0 });

/// The scalars of one Nadam step, each `S(x)` as a float64.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NadamScalars {
    lr: f64,
    wd: f64,
    rescale_grad: f64,
    beta1: f64,
    one_minus_beta1: f64,
    beta2: f64,
    one_minus_beta2: f64,
    one_minus_m_schedule: f64,
    one_minus_m_schedule_next: f64,
    one_minus_beta2_t: f64,
    one_minus_mu_t: f64,
    mu_t1: f64,
    epsilon: f64,
    clip: f64,
}

/// Nadam as the engine runs it: its configuration and the momentum schedule so far.
#[derive(Debug, Clone)]
pub(crate) struct NadamRule {
    config: NadamConfig,
    /// The optimizer's momentum schedule (1 before any update).
    m_schedule: f64,
}

impl Algorithm for NadamRule {
    const NAME: &'static str = "nadam";
    const DEFAULT_LEARNING_RATE: f64 = 0.001;
    type Step = NadamScalars;

    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.config.base
    }

    fn read(&self) -> Read {
        nd::READ
    }

    fn validate(&self, _base: &OptimizerConfig) -> Result<()> {
        let c = &self.config;
        nd::validate_betas(c.beta1, c.beta2)?;
        kernel_values::epsilon(nd::READ, "epsilon", c.epsilon)?;
        if !c.schedule_decay.is_finite() {
            return Err(Error::InvalidHyperParameter {
                name: "schedule_decay",
                value: format!("{:?}", c.schedule_decay),
                reason: "must be finite".into(),
            });
        }
        Ok(())
    }

    fn to_json(&self, base: &OptimizerConfig) -> Value {
        fields::to_json(&self.config, base)
    }

    fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout {
        nd::layout(dtype, base)
    }

    fn fused(&self) -> bool {
        self.config.use_fused_step
    }

    /// Every step advances the shared schedule, so no two steps share their scalars.
    fn cacheable(&self) -> bool {
        false
    }

    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<NadamScalars> {
        let t = c.t as f64;
        let config = &self.config;
        let decay = |t: f64| 1.0 - 0.5 * 0.96f64.powf(t * config.schedule_decay);
        let (mu_t, mu_t1) = (config.beta1 * decay(t), config.beta1 * decay(t + 1.0));
        let m_schedule = self.m_schedule * mu_t;
        let m_schedule_next = m_schedule * mu_t1;
        let step = |name, value: f64| nd::step_scalar(name, value, c, name, value);
        let scalars = NadamScalars {
            lr: nd::step_scalar("learning_rate", c.base_lr, c, "lr * lr_mult", c.lr)?,
            wd: nd::step_scalar("wd", base.wd, c, "wd * wd_mult", c.wd)?,
            rescale_grad: scalar(base.rescale_grad),
            beta1: scalar(config.beta1),
            one_minus_beta1: scalar(1.0 - config.beta1),
            beta2: scalar(config.beta2),
            one_minus_beta2: scalar(1.0 - config.beta2),
            one_minus_m_schedule: step("1 - m_schedule", 1.0 - m_schedule)?,
            one_minus_m_schedule_next: step("1 - m_schedule * mu_t1", 1.0 - m_schedule_next)?,
            one_minus_beta2_t: step("1 - beta2^t", 1.0 - config.beta2.powf(t))?,
            one_minus_mu_t: step("1 - mu_t", 1.0 - mu_t)?,
            mu_t1: step("mu_t1", mu_t1)?,
            epsilon: scalar(config.epsilon),
            clip: nd::clip_bound(base),
        };
        self.m_schedule = m_schedule;
        Ok(scalars)
    }

    fn apply(
        &self,
        s: &NadamScalars,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        base: &OptimizerConfig,
        l: Loop,
    ) {
        let o = Options { lazy: self.config.lazy_update, per_op: base.half_math == HalfMath::PerOp };
        match (self.config.formula, s.clip.is_finite()) {
            (MxnetVersion::V2, true) => dispatch::step(&Nadam::<false, true>(*s), param, state, o, l),
            (MxnetVersion::V2, false) => dispatch::step(&Nadam::<false, false>(*s), param, state, o, l),
            (MxnetVersion::V1, true) => dispatch::step(&Nadam::<true, true>(*s), param, state, o, l),
            (MxnetVersion::V1, false) => dispatch::step(&Nadam::<true, false>(*s), param, state, o, l),
        }
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![(M_SCHEDULE, self.m_schedule)]
    }

    fn restore_scalars(&mut self, scalars: &[(String, f64)]) -> std::result::Result<(), String> {
        for (name, value) in scalars {
            if name != M_SCHEDULE {
                return Err(format!("nadam keeps no scalar {name}"));
            }
            if !value.is_finite() {
                return Err(format!("m_schedule = {value}: must be finite"));
            }
            self.m_schedule = *value;
        }
        Ok(())
    }
}

/// Nadam with MXNet 1.x's formula (`V1`) or 2.0's, clipping on or off (`CLIP`).
#[derive(Debug, Clone, Copy)]
struct Nadam<const V1: bool, const CLIP: bool>(NadamScalars);

/// [`Nadam`]'s scalars in the compute type.
#[derive(Debug, Clone, Copy)]
struct NadamIn<C, const V1: bool, const CLIP: bool> {
    lr: C,
    wd: C,
    rescale_grad: C,
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    one_minus_beta2: C,
    one_minus_m_schedule: C,
    one_minus_m_schedule_next: C,
    one_minus_beta2_t: C,
    one_minus_mu_t: C,
    mu_t1: C,
    epsilon: C,
    clip: C,
}

impl<C: Real, const V1: bool, const CLIP: bool> Formula<C, 2> for NadamIn<C, V1, CLIP> {
    #[inline(always)]
    fn update(&self, w: C, grad: C, s: &mut [C; 2]) -> C {
        let clipped = |g: C| if CLIP { clip(g, self.clip) } else { g };
        let g = if V1 {
            clipped(grad * self.rescale_grad + w * self.wd)
        } else {
            clipped(grad * self.rescale_grad) + w * self.wd
        };
        let m = s[0] * self.beta1 + g * self.one_minus_beta1;
        let v = if V1 {
            s[1] * self.beta2 + (g * self.one_minus_beta2) * g
        } else {
            s[1] * self.beta2 + (g * g) * self.one_minus_beta2
        };
        (s[0], s[1]) = (m, v);
        let g_prime = g / self.one_minus_m_schedule;
        let m_prime = m / self.one_minus_m_schedule_next;
        let v_prime = v / self.one_minus_beta2_t;
        if V1 {
            let m_bar = g_prime * self.one_minus_mu_t + m_prime * self.mu_t1;
            w - (m_bar * self.lr) / (v_prime.sqrt() + self.epsilon)
        } else {
            let m_bar = m_prime * self.mu_t1 + g_prime * self.one_minus_mu_t;
            w - (m_bar / (v_prime.sqrt() + self.epsilon)) * self.lr
        }
    }
}

impl<const V1: bool, const CLIP: bool> Factory<2> for Nadam<V1, CLIP> {
    type For<C: Real> = NadamIn<C, V1, CLIP>;
    fn rule<C: Real>(&self) -> NadamIn<C, V1, CLIP> {
        let s = &self.0;
        NadamIn {
            lr: C::from_f64(s.lr),
            wd: C::from_f64(s.wd),
            rescale_grad: C::from_f64(s.rescale_grad),
            beta1: C::from_f64(s.beta1),
            one_minus_beta1: C::from_f64(s.one_minus_beta1),
            beta2: C::from_f64(s.beta2),
            one_minus_beta2: C::from_f64(s.one_minus_beta2),
            one_minus_m_schedule: C::from_f64(s.one_minus_m_schedule),
            one_minus_m_schedule_next: C::from_f64(s.one_minus_m_schedule_next),
            one_minus_beta2_t: C::from_f64(s.one_minus_beta2_t),
            one_minus_mu_t: C::from_f64(s.one_minus_mu_t),
            mu_t1: C::from_f64(s.mu_t1),
            epsilon: C::from_f64(s.epsilon),
            clip: C::from_f64(s.clip),
        }
    }
}
