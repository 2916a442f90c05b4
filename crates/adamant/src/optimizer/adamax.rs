//! Adamax (Kingma & Ba, "Adam", ICLR 2015, section 7.1: Adam with the infinity norm), as
//! MXNet's `Adamax` computes it in NDArray operations, with MXNet 2.0's formula (the default)
//! or 1.x's (`formula = "1.x"`). For parameter index `i` at its `t`-th update, every operation
//! rounded to the weight's dtype and every number `S(x)` as MXNet reads it:
//!
//! ```text
//! lr_t = lr * lr_mult(i) / (1 - beta1^t)                       (float64)
//! 2.0:  g = clip(grad * S(rescale_grad)) + w * S(wd * wd_mult(i))
//! 1.x:  g = clip(grad * S(rescale_grad) + w * S(wd * wd_mult(i)))
//! m = m * S(beta1) + g * S(1 - beta1)
//! u = maximum(u * S(beta2), |g|)
//! 2.0:  w = w - (m / (u + S(epsilon))) * S(lr_t)
//! 1.x:  w = w - (m * S(lr_t)) / u                              (no epsilon: 0 / 0 where u is 0)
//! ```
//!
//! The states are MXNet's `mean` (`m`) and `var` (`u`, the running maximum).

use serde_json::Value;

use crate::error::Result;
use crate::kernel::element::DType;
use crate::kernel::formula::{clip, maximum, Factory, Formula};
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

/// Adamax's configuration. `Default` gives MXNet 2.0's defaults (`beta1` 0.9, `beta2` 0.999,
/// `epsilon` 1e-8; learning rate 0.002 when neither a rate nor a scheduler is given).
///
/// ```
/// let adamax = adamant::create("adamax", &serde_json::json!({"learning_rate": 0.002}))?;
/// assert_eq!(adamax.layout(adamant::DType::F32).names().collect::<Vec<_>>(), ["mean", "var"]);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamaxConfig {
    /// The hyper-parameters every optimizer has.
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the running maximum, in [0, 1).
    pub beta2: f64,
    /// Added to `u` (MXNet 2.0's formula; 1.x has none); > 0 as the kernel reads it.
    pub epsilon: f64,
    /// Which MXNet version's formula.
    pub formula: MxnetVersion,
    /// With row-sparse gradients: update only the listed rows.
    pub lazy_update: bool,
    /// Whether [`Optimizer::update`](crate::Optimizer::update) runs the fused loop (true) or the scalar reference.
    pub use_fused_step: bool,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            formula: MxnetVersion::V2,
            lazy_update: false,
            use_fused_step: true,
        }
    }
}

impl Fields for AdamaxConfig {
    const OWNER: &'static str = "adamax";
    const FIELDS: &'static [Field<Self>] = &[
        Field::Number("beta1", |c| &mut c.beta1),
        Field::Number("beta2", |c| &mut c.beta2),
        Field::Number("epsilon", |c| &mut c.epsilon),
        Field::Choice(|c| &mut c.formula),
        Field::Flag("lazy_update", |c| &mut c.lazy_update),
        Field::Flag("use_fused_step", |c| &mut c.use_fused_step),
    ];
    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }
}

fields::registry_methods!(AdamaxConfig, "Adamax", |config| config);

/// The scalars of one Adamax step, each `S(x)` as a float64.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamaxScalars {
    lr_t: f64,
    wd: f64,
    rescale_grad: f64,
    beta1: f64,
    one_minus_beta1: f64,
    beta2: f64,
    epsilon: f64,
    clip: f64,
}

impl Algorithm for AdamaxConfig {
    const NAME: &'static str = "adamax";
    const DEFAULT_LEARNING_RATE: f64 = 0.002;
    type Step = AdamaxScalars;

    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }

    fn read(&self) -> Read {
        nd::READ
    }

    fn validate(&self, _base: &OptimizerConfig) -> Result<()> {
        nd::validate_betas(self.beta1, self.beta2)?;
        if self.formula == MxnetVersion::V2 {
            kernel_values::epsilon(nd::READ, "epsilon", self.epsilon)?;
        }
        Ok(())
    }

    fn to_json(&self, base: &OptimizerConfig) -> Value {
        fields::to_json(self, base)
    }

    fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout {
        nd::layout(dtype, base)
    }

    fn fused(&self) -> bool {
        self.use_fused_step
    }

    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<AdamaxScalars> {
        // MXNet's Python: `lr /= (1. - self.beta1**t)`.
        let lr_t = c.lr / (1.0 - self.beta1.powf(c.t as f64));
        let what = "the bias-corrected rate lr * lr_mult / (1 - beta1^t)";
        Ok(AdamaxScalars {
            lr_t: nd::step_scalar("learning_rate", c.base_lr, c, what, lr_t)?,
            wd: nd::step_scalar("wd", base.wd, c, "wd * wd_mult", c.wd)?,
            rescale_grad: scalar(base.rescale_grad),
            beta1: scalar(self.beta1),
            one_minus_beta1: scalar(1.0 - self.beta1),
            beta2: scalar(self.beta2),
            epsilon: scalar(self.epsilon),
            clip: nd::clip_bound(base),
        })
    }

    fn apply(
        &self,
        s: &AdamaxScalars,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        base: &OptimizerConfig,
        l: Loop,
    ) {
        let o = Options { lazy: self.lazy_update, per_op: base.half_math == HalfMath::PerOp };
        match (self.formula, s.clip.is_finite()) {
            (MxnetVersion::V2, true) => dispatch::step(&Adamax::<false, true>(*s), param, state, o, l),
            (MxnetVersion::V2, false) => dispatch::step(&Adamax::<false, false>(*s), param, state, o, l),
            (MxnetVersion::V1, true) => dispatch::step(&Adamax::<true, true>(*s), param, state, o, l),
            (MxnetVersion::V1, false) => dispatch::step(&Adamax::<true, false>(*s), param, state, o, l),
        }
    }
}

/// Adamax with MXNet 1.x's formula (`V1`) or 2.0's, clipping on or off (`CLIP`).
#[derive(Debug, Clone, Copy)]
struct Adamax<const V1: bool, const CLIP: bool>(AdamaxScalars);

/// [`Adamax`]'s scalars in the compute type.
#[derive(Debug, Clone, Copy)]
struct AdamaxIn<C, const V1: bool, const CLIP: bool> {
    lr_t: C,
    wd: C,
    rescale_grad: C,
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    epsilon: C,
    clip: C,
}

impl<C: Real, const V1: bool, const CLIP: bool> Formula<C, 2> for AdamaxIn<C, V1, CLIP> {
    #[inline(always)]
    fn update(&self, w: C, grad: C, s: &mut [C; 2]) -> C {
        let clipped = |g: C| if CLIP { clip(g, self.clip) } else { g };
        let g = if V1 {
            clipped(grad * self.rescale_grad + w * self.wd)
        } else {
            clipped(grad * self.rescale_grad) + w * self.wd
        };
        let m = s[0] * self.beta1 + g * self.one_minus_beta1;
        let u = maximum(s[1] * self.beta2, g.abs());
        (s[0], s[1]) = (m, u);
        if V1 {
            w - (m * self.lr_t) / u
        } else {
            w - (m / (u + self.epsilon)) * self.lr_t
        }
    }
}

impl<const V1: bool, const CLIP: bool> Factory<2> for Adamax<V1, CLIP> {
    type For<C: Real> = AdamaxIn<C, V1, CLIP>;
    fn rule<C: Real>(&self) -> AdamaxIn<C, V1, CLIP> {
        let s = &self.0;
        AdamaxIn {
            lr_t: C::from_f64(s.lr_t),
            wd: C::from_f64(s.wd),
            rescale_grad: C::from_f64(s.rescale_grad),
            beta1: C::from_f64(s.beta1),
            one_minus_beta1: C::from_f64(s.one_minus_beta1),
            beta2: C::from_f64(s.beta2),
            epsilon: C::from_f64(s.epsilon),
            clip: C::from_f64(s.clip),
        }
    }
}
