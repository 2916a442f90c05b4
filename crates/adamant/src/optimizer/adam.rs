//! Adam, as MXNet computes it (`rule = "mxnet"`, the default) or as PyTorch does
//! (`rule = "torch"`).
//!
//! Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), in the form of Apache
//! MXNet's `adam_update` operator. For parameter index `i` at its `t`-th update:
//!
//! ```text
//! lr_t = lr * lr_mult(i) * sqrt(1 - beta2^t) / (1 - beta1^t)      (float64, then as MXNet reads it)
//! g    = clip(grad * rescale_grad) + wd * wd_mult(i) * w           (1.x order: clip(... + wd*w))
//! m    = beta1 * m + (1 - beta1) * g
//! v    = beta2 * v + ((1 - beta2) * g) * g
//! w    = w - (lr_t * m) / (sqrt(v) + epsilon)
//! ```
//!
//! The bias correction is folded into the rate and `epsilon` is added outside the square root
//! unscaled, so MXNet's Adam is **not** PyTorch's `torch.optim.Adam`: MXNet with `epsilon = e`
//! behaves like PyTorch with `eps = e / sqrt(1 - beta2^t)`. Weight decay is the coupled L2 term
//! (not AdamW's decoupled decay). Under `rule = "torch"` the update is PyTorch's instead (see
//! `torch_adam.rs`), with its `amsgrad` and `maximize` options.

use serde_json::Value;

use crate::error::Result;
use crate::kernel::element::DType;
use crate::kernel::formula::{clip, Factory, Formula};
use crate::kernel::{Loop, Real};
use crate::optimizer::algorithm::{Algorithm, Counted};
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::dispatch::{self, Options};
use crate::optimizer::engine::Engine;
use crate::optimizer::fields::{self, Field, Fields};
use crate::optimizer::interface::Optimizer;
use crate::optimizer::kernel_values::{self, Read};
use crate::optimizer::moments::Moments;
use crate::optimizer::options::{Choice, HalfMath, Rule, WdOrder};
use crate::optimizer::state::{Layout, StateMut};
use crate::optimizer::torch_adam::{self, Decay};
use crate::param::Param;

/// Adam's configuration: the base hyper-parameters plus Adam's own.
///
/// `Default` gives MXNet 2.0's defaults (`beta1` 0.9, `beta2` 0.999, `epsilon` 1e-8,
/// `lazy_update` false, `use_fused_step` true, `wd_order` after_clip, `rule` mxnet; learning
/// rate 0.001 when neither a rate nor a scheduler is given).
///
/// ```
/// use adamant::{AdamConfig, OptimizerConfig};
/// let config = AdamConfig {
///     beta2: 0.99,
///     base: OptimizerConfig { learning_rate: Some(0.01), wd: 1e-4, ..Default::default() },
///     ..AdamConfig::default()
/// };
/// let adam = config.build()?;
/// assert_eq!(adam.learning_rate(), 0.01);
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamConfig {
    /// The hyper-parameters every optimizer has.
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1) (and below 1 as the kernel reads it).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1) (and below 1 as the kernel reads it).
    pub beta2: f64,
    /// Added to `sqrt(v)` (MXNet: not bias-corrected); > 0, also as the kernel reads it.
    pub epsilon: f64,
    /// With row-sparse gradients: update only the listed rows.
    pub lazy_update: bool,
    /// Whether [`Optimizer::update`] runs the fused loop (true) or the scalar reference. Both
    /// give the same bits.
    pub use_fused_step: bool,
    /// Where weight decay joins the gradient (MXNet's rule).
    pub wd_order: WdOrder,
    /// Whose arithmetic: MXNet's (the default) or PyTorch's.
    pub rule: Rule,
    /// PyTorch's AMSGrad (rule torch only): divide by the running maximum of `v`.
    pub amsgrad: bool,
    /// PyTorch's `maximize` (rule torch only): ascend the gradient.
    pub maximize: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            lazy_update: false,
            use_fused_step: true,
            wd_order: WdOrder::AfterClip,
            rule: Rule::Mxnet,
            amsgrad: false,
            maximize: false,
        }
    }
}

impl Fields for AdamConfig {
    const OWNER: &'static str = "adam";
    const FIELDS: &'static [Field<Self>] = &[
        Field::Number("beta1", |c| &mut c.beta1),
        Field::Number("beta2", |c| &mut c.beta2),
        Field::Number("epsilon", |c| &mut c.epsilon),
        Field::Flag("lazy_update", |c| &mut c.lazy_update),
        Field::Flag("use_fused_step", |c| &mut c.use_fused_step),
        Field::Choice(|c| &mut c.wd_order),
        Field::Choice(|c| &mut c.rule),
        Field::Flag("amsgrad", |c| &mut c.amsgrad),
        Field::Flag("maximize", |c| &mut c.maximize),
    ];
    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }
}

impl AdamConfig {
    /// Every hyper-parameter name the registry accepts for Adam.
    pub fn keys() -> Vec<&'static str> {
        fields::keys::<Self>()
    }

    /// Checks every value as given and as the kernel reads it, and that each option belongs
    /// to the rule.
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) for the first value
    /// at fault.
    pub fn validate(&self) -> Result<()> {
        let read = self.read();
        self.base.validate_as(read)?;
        self.check_rescale_grad(self.base.rescale_grad)?;
        Algorithm::validate(self, &self.base)
    }

    /// Validates the configuration and builds the optimizer.
    ///
    /// # Errors
    /// As [`AdamConfig::validate`].
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(Engine::new(self.clone())?))
    }

    /// The configuration as a JSON object of MXNet's argument names, which
    /// [`AdamConfig::from_json`] reads back to an equal configuration.
    ///
    /// ```
    /// let c = adamant::AdamConfig { beta1: 0.8, ..Default::default() };
    /// assert_eq!(adamant::AdamConfig::from_json(&c.to_json()).unwrap(), c);
    /// ```
    pub fn to_json(&self) -> Value {
        Algorithm::to_json(self, &self.base)
    }

    /// Reads a configuration from a JSON object of MXNet's argument names; absent keys and
    /// `null` keep the defaults. The values are not validated here ([`AdamConfig::build`] does).
    ///
    /// # Errors
    /// An unknown key, or a value of the wrong type, naming the key.
    ///
    /// ```
    /// let c = adamant::AdamConfig::from_json(&serde_json::json!(
    ///     {"learning_rate": 0.01, "beta1": 0.8, "clip_gradient": null})).unwrap();
    /// assert_eq!((c.beta1, c.base.learning_rate), (0.8, Some(0.01)));
    /// ```
    pub fn from_json(value: &Value) -> Result<Self> {
        fields::from_json(value)
    }

    fn moments(&self) -> Moments {
        let (beta1, beta2, epsilon, rule) = (self.beta1, self.beta2, self.epsilon, self.rule);
        Moments { beta1, beta2, epsilon, rule, amsgrad: self.amsgrad, maximize: self.maximize }
    }

    fn torch(&self) -> torch_adam::Config {
        self.moments().torch(Decay::Coupled)
    }
}

/// The scalars of one step of MXNet's Adam, as its kernel reads them (`clip` infinite when
/// clipping is off, which leaves every gradient as it is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MxnetScalars {
    lr: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    wd: f32,
    rescale_grad: f32,
    clip: f32,
}

/// One step's scalars under either rule.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AdamStep {
    Mxnet(MxnetScalars),
    Torch(torch_adam::Scalars),
}

impl Algorithm for AdamConfig {
    const NAME: &'static str = "adam";
    const DEFAULT_LEARNING_RATE: f64 = 0.001;
    type Step = AdamStep;

    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }

    fn read(&self) -> Read {
        self.moments().read()
    }

    fn validate(&self, base: &OptimizerConfig) -> Result<()> {
        let wd_order = (self.wd_order != WdOrder::default()).then(|| self.wd_order.name().to_string());
        let mxnet_only = [("wd_order", wd_order, "PyTorch adds wd * p to the gradient")];
        self.moments().validate(base, Decay::Coupled, &mxnet_only)
    }

    fn to_json(&self, base: &OptimizerConfig) -> Value {
        fields::to_json(self, base)
    }

    fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout {
        self.moments().layout(dtype, base)
    }

    fn fused(&self) -> bool {
        self.use_fused_step
    }

    fn check(&self, param: &Param<'_>, base: &OptimizerConfig) -> Result<()> {
        match self.rule {
            Rule::Mxnet => Ok(()),
            Rule::Torch => self.torch().check(param, self.lazy_update, base),
        }
    }

    fn check_counted(&self, param: &Param<'_>, c: &Counted) -> Result<()> {
        match self.rule {
            Rule::Mxnet => Ok(()),
            Rule::Torch => self.torch().check_counted(param, self.lazy_update, c.wd),
        }
    }

    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<AdamStep> {
        if self.rule == Rule::Torch {
            return Ok(AdamStep::Torch(self.torch().step(c, base)?));
        }
        // MXNet's Python computes the bias-corrected rate in float64 and passes its repr.
        let t = c.t as f64;
        let lr_t = c.lr * ((1.0 - self.beta2.powf(t)).sqrt() / (1.0 - self.beta1.powf(t)));
        let what = "the bias-corrected rate lr * lr_mult * sqrt(1 - beta2^t) / (1 - beta1^t)";
        let read = self.read();
        let lr = kernel_values::step_value(read, "learning_rate", c.base_lr, c.index, c.t, what, lr_t)?;
        let wd = kernel_values::step_value(read, "wd", base.wd, c.index, c.t, "wd * wd_mult", c.wd)?;
        Ok(AdamStep::Mxnet(MxnetScalars {
            lr,
            beta1: read(self.beta1),
            beta2: read(self.beta2),
            epsilon: read(self.epsilon),
            wd,
            rescale_grad: read(base.rescale_grad),
            clip: base.clip().map_or(f32::INFINITY, read),
        }))
    }

    fn apply(
        &self,
        step: &AdamStep,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        base: &OptimizerConfig,
        l: Loop,
    ) {
        let o = Options { lazy: self.lazy_update, per_op: base.half_math == HalfMath::PerOp };
        match step {
            AdamStep::Mxnet(s) => match (self.wd_order, s.clip.is_finite()) {
                (WdOrder::AfterClip, true) => dispatch::step(&Mxnet::<false, true>(*s), param, state, o, l),
                (WdOrder::BeforeClip, true) => dispatch::step(&Mxnet::<true, true>(*s), param, state, o, l),
                // Without clipping the order makes no difference.
                (_, false) => dispatch::step(&Mxnet::<false, false>(*s), param, state, o, l),
            },
            AdamStep::Torch(s) => self.torch().apply(s, param, state, o, l),
        }
    }
}

/// MXNet's Adam with weight decay added before (`WD_BEFORE_CLIP`, MXNet 1.x) or after clipping,
/// and with clipping on or off (`CLIP`: the four instructions of clipping are a fifth of a
/// half-precision chunk's arithmetic).
#[derive(Debug, Clone, Copy)]
struct Mxnet<const WD_BEFORE_CLIP: bool, const CLIP: bool>(MxnetScalars);

/// [`Mxnet`]'s scalars in the compute type; `1 - beta` computed in it from the read beta, as
/// MXNet's kernel does.
#[derive(Debug, Clone, Copy)]
struct MxnetIn<C, const WD_BEFORE_CLIP: bool, const CLIP: bool> {
    lr: C,
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    one_minus_beta2: C,
    epsilon: C,
    wd: C,
    rescale_grad: C,
    clip: C,
}

impl<C: Real, const WD_BEFORE_CLIP: bool, const CLIP: bool> Formula<C, 2>
    for MxnetIn<C, WD_BEFORE_CLIP, CLIP>
{
    /// One element, in the operations and association of MXNet's dense kernel:
    ///
    /// ```text
    /// g = grad * rescale                 (+ w * wd here when wd_before_clip)
    /// g = clip(g, clip)
    /// g = g + w * wd                     (when not wd_before_clip)
    /// m = beta1 * m + (1 - beta1) * g
    /// v = beta2 * v + ((1 - beta2) * g) * g
    /// w = w - (lr * m) / (sqrt(v) + eps)
    /// ```
    #[inline(always)]
    fn update(&self, w: C, grad: C, s: &mut [C; 2]) -> C {
        let mut g = grad * self.rescale_grad;
        if WD_BEFORE_CLIP {
            g = g + w * self.wd;
        }
        if CLIP {
            g = clip(g, self.clip);
        }
        if !WD_BEFORE_CLIP {
            g = g + w * self.wd;
        }
        let m = self.beta1 * s[0] + self.one_minus_beta1 * g;
        let v = self.beta2 * s[1] + (self.one_minus_beta2 * g) * g;
        (s[0], s[1]) = (m, v);
        w - (self.lr * m) / (v.sqrt() + self.epsilon)
    }
}

impl<const WD_BEFORE_CLIP: bool, const CLIP: bool> Factory<2> for Mxnet<WD_BEFORE_CLIP, CLIP> {
    type For<C: Real> = MxnetIn<C, WD_BEFORE_CLIP, CLIP>;
    fn rule<C: Real>(&self) -> MxnetIn<C, WD_BEFORE_CLIP, CLIP> {
        let s = &self.0;
        let (beta1, beta2) = (C::from_f32(s.beta1), C::from_f32(s.beta2));
        MxnetIn {
            lr: C::from_f32(s.lr),
            beta1,
            one_minus_beta1: C::ONE - beta1,
            beta2,
            one_minus_beta2: C::ONE - beta2,
            epsilon: C::from_f32(s.epsilon),
            wd: C::from_f32(s.wd),
            rescale_grad: C::from_f32(s.rescale_grad),
            clip: C::from_f32(s.clip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(clip: f32) -> MxnetScalars {
        MxnetScalars { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, wd: 0.5, rescale_grad: 1.0, clip }
    }

    #[test]
    fn wd_order_decides_whether_decay_is_clipped() {
        // g = 0.1, w = 2, wd = 0.5, clip = 0.3: before-clip gives clip(1.1) = 0.3,
        // after-clip gives 0.1 + 1.0 = 1.1.
        let (before, after) = (
            Mxnet::<true, true>(scalars(0.3)).rule::<f32>(),
            Mxnet::<false, true>(scalars(0.3)).rule::<f32>(),
        );
        let (mut s_before, mut s_after) = ([0.0f32; 2], [0.0f32; 2]);
        before.update(2.0, 0.1, &mut s_before);
        after.update(2.0, 0.1, &mut s_after);
        assert_eq!(s_before[0], before.one_minus_beta1 * 0.3);
        assert_eq!(s_after[0], after.one_minus_beta1 * (0.1 + 2.0 * 0.5));
    }

    #[test]
    fn an_infinite_bound_is_no_clipping() {
        let off = Mxnet::<false, true>(scalars(f32::INFINITY)).rule::<f64>();
        let mut s = [0.0f64; 2];
        off.update(1.0, 1e30, &mut s);
        assert_eq!(s[0], off.one_minus_beta1 * (1e30 + 0.5));
    }

    #[test]
    fn one_minus_beta_is_computed_in_the_compute_type() {
        let rule = Mxnet::<false, true>(scalars(f32::INFINITY)).rule::<f64>();
        assert_eq!(rule.one_minus_beta1, 1.0 - f64::from(0.9f32));
    }
}
