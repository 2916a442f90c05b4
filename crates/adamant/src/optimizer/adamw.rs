//! AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), as MXNet
//! 2.0's `AdamW` computes it on its contrib kernels (`rule = "mxnet"`, the default), or as
//! PyTorch's `torch.optim.AdamW` does (`rule = "torch"`).
//!
//! MXNet passes the (bias-corrected) rate as the kernel's `eta` and 1 as its `lr`, so the
//! decoupled decay is scaled by the bias-corrected rate:
//!
//! ```text
//! eta = (lr * lr_mult(i) * sqrt(1 - beta2^t)) / (1 - beta1^t)     (correct_bias; else lr * lr_mult)
//! g   = clip(grad * rescale_grad)
//! single kernel:  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * (g * g)
//! multi kernel:   m = beta1 * (m - g) + g;          v = beta2 * (v - g * g) + g * g
//! w   = w - eta * ((1 * m) / (sqrt(v) + epsilon) + wd * wd_mult(i) * w)
//! ```
//!
//! A `rescale_grad` of 0, NaN or ±infinity (as a float32) skips the whole update, weights and
//! state unchanged, while the update counter still advances: MXNet's support for dynamic loss
//! scaling. The two kernels (`adamw_kernel`: `multi`, MXNet 2.0's default, or `single`, with
//! `aggregate_num` 1) associate differently and read their scalars by different parsers, so
//! their bits differ.

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
use crate::optimizer::kernel_values::{self, nearest, Read};
use crate::optimizer::moments::Moments;
use crate::optimizer::mxnet_float::{double_field, float_field, tuple_field};
use crate::optimizer::options::{Choice, HalfMath, Rule};
use crate::optimizer::state::{Layout, StateMut};
use crate::optimizer::torch_adam::{self, Decay};
use crate::param::Param;

/// Which of MXNet's AdamW kernels runs.
///
/// ```
/// assert_eq!(adamant::optimizer::adamw::AdamWKernel::default(),
///            adamant::optimizer::adamw::AdamWKernel::Multi);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AdamWKernel {
    /// `_multi_adamw_update`, what MXNet 2.0's AdamW runs by default (`aggregate_num` 4).
    #[default]
    Multi,
    /// `_adamw_update`, one tensor at a time (`aggregate_num` 1; MXNet's only kernel that runs
    /// float64 weights).
    Single,
}

impl Choice for AdamWKernel {
    const KEY: &'static str = "adamw_kernel";
    const NAMES: &'static [(&'static str, Self)] =
        &[("multi", AdamWKernel::Multi), ("single", AdamWKernel::Single)];
}

/// AdamW's configuration: the base hyper-parameters plus AdamW's own. `Default` gives MXNet
/// 2.0's `AdamW` defaults (`epsilon` 1e-6, `correct_bias` true, the multi-tensor kernel).
///
/// ```
/// let adamw = adamant::create("adamw", &serde_json::json!({"learning_rate": 0.01, "wd": 0.01}))?;
/// assert_eq!(adamw.name(), "adamw");
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWConfig {
    /// The hyper-parameters every optimizer has (`wd` is the decoupled decay).
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f64,
    /// Added to `sqrt(v)`; > 0 as the kernel reads it.
    pub epsilon: f64,
    /// Fold the bias correction into the rate (MXNet's `correct_bias`).
    pub correct_bias: bool,
    /// Which of MXNet's kernels runs.
    pub adamw_kernel: AdamWKernel,
    /// With row-sparse gradients: update only the listed rows.
    pub lazy_update: bool,
    /// Whether [`Optimizer::update`] runs the fused loop (true) or the scalar reference.
    pub use_fused_step: bool,
    /// Whose arithmetic: MXNet's (the default) or PyTorch's.
    pub rule: Rule,
    /// PyTorch's AMSGrad (rule torch only).
    pub amsgrad: bool,
    /// PyTorch's `maximize` (rule torch only).
    pub maximize: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            correct_bias: true,
            adamw_kernel: AdamWKernel::Multi,
            lazy_update: false,
            use_fused_step: true,
            rule: Rule::Mxnet,
            amsgrad: false,
            maximize: false,
        }
    }
}

/// `torch.optim.AdamW`'s default `eps`.
const TORCH_EPSILON: f64 = 1e-8;

impl Fields for AdamWConfig {
    const OWNER: &'static str = "adamw";
    const FIELDS: &'static [Field<Self>] = &[
        Field::Number("beta1", |c| &mut c.beta1),
        Field::Number("beta2", |c| &mut c.beta2),
        Field::Number("epsilon", |c| &mut c.epsilon),
        Field::Flag("correct_bias", |c| &mut c.correct_bias),
        Field::Choice(|c| &mut c.adamw_kernel),
        Field::Flag("lazy_update", |c| &mut c.lazy_update),
        Field::Flag("use_fused_step", |c| &mut c.use_fused_step),
        Field::Choice(|c| &mut c.rule),
        Field::Flag("amsgrad", |c| &mut c.amsgrad),
        Field::Flag("maximize", |c| &mut c.maximize),
    ];
    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }
}

/// `rescale_grad` as MXNet's AdamW kernels read it: a float32 array made from the parsed double.
fn rescale_as_read(rescale_grad: f64) -> f32 {
    double_field(rescale_grad) as f32
}

impl AdamWConfig {
    /// Every hyper-parameter name the registry accepts for AdamW.
    pub fn keys() -> Vec<&'static str> {
        fields::keys::<Self>()
    }

    /// Validates the configuration and builds the optimizer.
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) for the first value
    /// at fault.
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(Engine::new(self.clone())?))
    }

    /// Reads a configuration from a JSON object of MXNet's argument names; absent keys and
    /// `null` keep the defaults, which are the rule's: `epsilon` is MXNet's 1e-6, or PyTorch's
    /// 1e-8 under `"rule": "torch"`.
    ///
    /// # Errors
    /// An unknown key, or a value of the wrong type, naming the key.
    ///
    /// ```
    /// let torch = adamant::AdamWConfig::from_json(&serde_json::json!({"rule": "torch"}))?;
    /// assert_eq!(torch.epsilon, 1e-8);
    /// # Ok::<(), adamant::Error>(())
    /// ```
    pub fn from_json(value: &Value) -> Result<Self> {
        let mut config: AdamWConfig = fields::from_json(value)?;
        if config.rule == Rule::Torch && value.get("epsilon").is_none_or(Value::is_null) {
            config.epsilon = TORCH_EPSILON;
        }
        Ok(config)
    }

    fn moments(&self) -> Moments {
        let (beta1, beta2, epsilon, rule) = (self.beta1, self.beta2, self.epsilon, self.rule);
        Moments { beta1, beta2, epsilon, rule, amsgrad: self.amsgrad, maximize: self.maximize }
    }

    fn torch(&self) -> torch_adam::Config {
        self.moments().torch(Decay::Decoupled)
    }
}

/// The scalars of one step of MXNet's AdamW, as its kernel reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MxnetScalars {
    eta: f32,
    /// The kernel's `lr`, which MXNet sets to 1.
    lr: f32,
    wd: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    rescale_grad: f32,
    clip: f32,
}

/// One step's scalars under either rule, or MXNet's skip.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AdamWStep {
    /// `rescale_grad` is 0, NaN or infinite: nothing changes but the counter.
    Skip,
    Mxnet(MxnetScalars),
    Torch(torch_adam::Scalars),
}

impl Algorithm for AdamWConfig {
    const NAME: &'static str = "adamw";
    const DEFAULT_LEARNING_RATE: f64 = 0.001;
    type Step = AdamWStep;

    fn base_mut(&mut self) -> &mut OptimizerConfig {
        &mut self.base
    }

    fn read(&self) -> Read {
        self.moments().read()
    }

    fn check_rescale_grad(&self, rescale_grad: f64) -> Result<()> {
        match self.rule {
            // Every value: 0, NaN and infinities skip the update (dynamic loss scaling), and a
            // negative one scales as MXNet's kernel scales.
            Rule::Mxnet => Ok(()),
            Rule::Torch => kernel_values::non_negative(nearest, "rescale_grad", rescale_grad).map(|_| ()),
        }
    }

    fn validate(&self, base: &OptimizerConfig) -> Result<()> {
        let correct_bias = (!self.correct_bias).then(|| "false".to_string());
        let kernel =
            (self.adamw_kernel != AdamWKernel::default()).then(|| self.adamw_kernel.name().to_string());
        let mxnet_only = [
            ("correct_bias", correct_bias, "PyTorch always corrects the bias"),
            ("adamw_kernel", kernel, "it selects MXNet's kernels"),
        ];
        self.moments().validate(base, Decay::Decoupled, &mxnet_only)
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

    fn step(&mut self, c: &Counted, base: &OptimizerConfig) -> Result<AdamWStep> {
        if self.rule == Rule::Torch {
            return Ok(AdamWStep::Torch(self.torch().step(c, base)?));
        }
        let rescale_grad = rescale_as_read(base.rescale_grad);
        if rescale_grad == 0.0 || !rescale_grad.is_finite() {
            return Ok(AdamWStep::Skip);
        }
        let t = c.t as f64;
        // MXNet's AdamW multiplies before it divides (Adam divides the corrections first).
        let eta = if self.correct_bias {
            c.lr * (1.0 - self.beta2.powf(t)).sqrt() / (1.0 - self.beta1.powf(t))
        } else {
            c.lr
        };
        // The multi-tensor kernel reads the rates and decays as a Tuple<float> (the nearest
        // float to the text), the single one as float fields (MXNet's own parser).
        let per_tensor: Read = match self.adamw_kernel {
            AdamWKernel::Multi => tuple_field,
            AdamWKernel::Single => float_field,
        };
        let what = if self.correct_bias {
            "the bias-corrected rate (lr * lr_mult * sqrt(1 - beta2^t)) / (1 - beta1^t)"
        } else {
            "the rate lr * lr_mult"
        };
        let eta = kernel_values::step_value(per_tensor, "learning_rate", c.base_lr, c.index, c.t, what, eta)?;
        let wd = kernel_values::step_value(per_tensor, "wd", base.wd, c.index, c.t, "wd * wd_mult", c.wd)?;
        Ok(AdamWStep::Mxnet(MxnetScalars {
            eta,
            lr: 1.0,
            wd,
            beta1: float_field(self.beta1),
            beta2: float_field(self.beta2),
            epsilon: float_field(self.epsilon),
            rescale_grad,
            clip: base.clip().map_or(f32::INFINITY, float_field),
        }))
    }

    fn apply(
        &self,
        step: &AdamWStep,
        param: &mut Param<'_>,
        state: &mut StateMut<'_>,
        base: &OptimizerConfig,
        l: Loop,
    ) {
        let o = Options { lazy: self.lazy_update, per_op: base.half_math == HalfMath::PerOp };
        match step {
            AdamWStep::Skip => {}
            AdamWStep::Mxnet(s) => match self.adamw_kernel {
                AdamWKernel::Multi => dispatch::step(&Mxnet::<true>(*s), param, state, o, l),
                AdamWKernel::Single => dispatch::step(&Mxnet::<false>(*s), param, state, o, l),
            },
            AdamWStep::Torch(s) => self.torch().apply(s, param, state, o, l),
        }
    }
}

/// MXNet's AdamW kernels: the multi-tensor one (`MULTI`) or the single-tensor one.
#[derive(Debug, Clone, Copy)]
struct Mxnet<const MULTI: bool>(MxnetScalars);

/// [`Mxnet`]'s scalars in the compute type. The single kernel computes `1 - beta` in float32
/// and converts it; the multi kernel has no `1 - beta`.
#[derive(Debug, Clone, Copy)]
struct MxnetIn<C, const MULTI: bool> {
    eta: C,
    lr: C,
    wd: C,
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    one_minus_beta2: C,
    epsilon: C,
    rescale_grad: C,
    clip: C,
}

impl<C: Real, const MULTI: bool> Formula<C, 2> for MxnetIn<C, MULTI> {
    #[inline(always)]
    fn update(&self, w: C, grad: C, s: &mut [C; 2]) -> C {
        let g = clip(self.rescale_grad * grad, self.clip);
        let (m, v) = if MULTI {
            let g2 = g * g;
            (self.beta1 * (s[0] - g) + g, self.beta2 * (s[1] - g2) + g2)
        } else {
            (self.beta1 * s[0] + self.one_minus_beta1 * g, self.beta2 * s[1] + self.one_minus_beta2 * (g * g))
        };
        (s[0], s[1]) = (m, v);
        w - self.eta * ((self.lr * m) / (v.sqrt() + self.epsilon) + self.wd * w)
    }
}

impl<const MULTI: bool> Factory<2> for Mxnet<MULTI> {
    type For<C: Real> = MxnetIn<C, MULTI>;
    fn rule<C: Real>(&self) -> MxnetIn<C, MULTI> {
        let s = &self.0;
        MxnetIn {
            eta: C::from_f32(s.eta),
            lr: C::from_f32(s.lr),
            wd: C::from_f32(s.wd),
            beta1: C::from_f32(s.beta1),
            one_minus_beta1: C::from_f32(1.0 - s.beta1),
            beta2: C::from_f32(s.beta2),
            one_minus_beta2: C::from_f32(1.0 - s.beta2),
            epsilon: C::from_f32(s.epsilon),
            rescale_grad: C::from_f32(s.rescale_grad),
            clip: C::from_f32(s.clip),
        }
    }
}
