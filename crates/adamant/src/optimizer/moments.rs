//! What Adam and AdamW share: two moments with their betas and epsilon, and the choice between
//! MXNet's rule and PyTorch's (with PyTorch's `amsgrad` and `maximize`). Each optimizer lends
//! its fields here; the checks and the state layout that follow from them are written once.

use crate::error::{Error, Result};
use crate::kernel::element::DType;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::kernel_values::{self, nearest, Read};
use crate::optimizer::mxnet_float::float_field;
use crate::optimizer::options::{Choice, HalfMath, Rule};
use crate::optimizer::state::Layout;
use crate::optimizer::torch_adam::{self, Decay};

/// MXNet's names of the two moments.
const MXNET_ARRAYS: &[&str] = &["mean", "var"];

/// The hyper-parameters of two moments under a rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub rule: Rule,
    pub amsgrad: bool,
    pub maximize: bool,
}

/// An option of MXNet's rule set away from its default: `(name, value)`. PyTorch's rule refuses
/// it with `why`.
pub(crate) type MxnetOnly = (&'static str, Option<String>, &'static str);

impl Moments {
    /// How the rule reads a hyper-parameter: MXNet's parser, or the nearest float32.
    pub fn read(&self) -> Read {
        match self.rule {
            Rule::Mxnet => float_field,
            Rule::Torch => nearest,
        }
    }

    /// Checks the betas and epsilon as the rule's kernel reads them, and that each option
    /// belongs to the rule: PyTorch's `amsgrad` and `maximize` are refused under MXNet's rule;
    /// clipping, MXNet's float16 arithmetic and `mxnet_only` (options set away from their
    /// default) under PyTorch's.
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`] naming the first option at fault.
    pub fn validate(&self, base: &OptimizerConfig, decay: Decay, mxnet_only: &[MxnetOnly]) -> Result<()> {
        match self.rule {
            Rule::Mxnet => {
                let read = self.read();
                kernel_values::beta(read, "beta1", self.beta1)?;
                kernel_values::beta(read, "beta2", self.beta2)?;
                kernel_values::epsilon(read, "epsilon", self.epsilon)?;
                let instead = "set rule to torch";
                if self.amsgrad {
                    return Err(not_under("amsgrad", "true".into(), self.rule, instead));
                }
                if self.maximize {
                    return Err(not_under("maximize", "true".into(), self.rule, instead));
                }
            }
            Rule::Torch => {
                self.torch(decay).validate()?;
                let clip = (
                    "clip_gradient",
                    base.clip().map(|c| c.to_string()),
                    "clip the gradients before the step",
                );
                let half_math =
                    (base.half_math != HalfMath::default()).then(|| base.half_math.name().to_string());
                let half = ("half_math", half_math, "it is MXNet's float16 arithmetic");
                for (name, value, why) in [clip, half].iter().chain(mxnet_only) {
                    if let Some(value) = value {
                        return Err(not_under(name, value.clone(), self.rule, why));
                    }
                }
            }
        }
        Ok(())
    }

    /// The state arrays for a weight of `dtype`: MXNet's `mean` and `var`, or PyTorch's
    /// `exp_avg` and `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad); the float32 master copy
    /// with `multi_precision`.
    pub fn layout(&self, dtype: DType, base: &OptimizerConfig) -> Layout {
        let arrays = match (self.rule, self.amsgrad) {
            (Rule::Mxnet, _) => MXNET_ARRAYS,
            (Rule::Torch, false) => torch_adam::ARRAYS,
            (Rule::Torch, true) => torch_adam::AMSGRAD_ARRAYS,
        };
        Layout::new(arrays, dtype, base.multi_precision)
    }

    /// PyTorch's rule with these moments and weight `decay`.
    pub fn torch(&self, decay: Decay) -> torch_adam::Config {
        let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon);
        torch_adam::Config { beta1, beta2, epsilon, amsgrad: self.amsgrad, maximize: self.maximize, decay }
    }
}

/// `name` = `value` is refused under `rule`; `instead` says what to do.
fn not_under(name: &'static str, value: String, rule: Rule, instead: &str) -> Error {
    Error::InvalidHyperParameter {
        name,
        value,
        reason: format!("is not an option of rule {}; {instead}", rule.name()),
    }
}
