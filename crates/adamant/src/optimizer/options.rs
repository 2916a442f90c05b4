//! The named options of the optimizers: one name per option and per value, the same in the
//! registry, the state files, the command line and the golden files' `semantics` (the table is
//! in `docs/semantics.md`).

use serde_json::Value;

use crate::error::Result;
use crate::json_fields::JsonFields;

/// An option whose value is one of a few names.
pub(crate) trait Choice: Copy + PartialEq + Default + 'static {
    /// The option's name in a configuration.
    const KEY: &'static str;
    /// Each value with its name.
    const NAMES: &'static [(&'static str, Self)];

    /// The value's name.
    fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, v)| *v == self).map_or("", |(n, _)| n)
    }

    /// The value as JSON.
    fn to_json(self) -> Value {
        Value::from(self.name())
    }

    /// The value `f` gives the option, or the default when absent; another name is an error
    /// that lists the names.
    fn read(f: &JsonFields<'_>) -> Result<Self> {
        Ok(f.choice(Self::KEY, Self::NAMES)?.unwrap_or_default())
    }
}

/// Whose arithmetic a rule follows.
///
/// ```
/// let adam = adamant::create("adam", &serde_json::json!({"rule": "torch", "amsgrad": true})).unwrap();
/// assert_eq!(adam.layout(adamant::DType::F32).names().collect::<Vec<_>>(),
///            ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Rule {
    /// MXNet's kernels, bit for bit (hyper-parameters read as MXNet's parser reads them). The
    /// default of the Rust registry.
    #[default]
    Mxnet,
    /// PyTorch's `torch.optim` (`Adam`, `AdamW`, and `SparseAdam` for lazy rows).
    Torch,
}

impl Choice for Rule {
    const KEY: &'static str = "rule";
    const NAMES: &'static [(&'static str, Self)] = &[("mxnet", Rule::Mxnet), ("torch", Rule::Torch)];
}

/// Where Adam's weight-decay term joins the gradient, relative to clipping.
///
/// ```
/// assert_eq!(adamant::WdOrder::default(), adamant::WdOrder::AfterClip);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum WdOrder {
    /// `clip(grad * rescale) + wd * w`: MXNet 2.0, the default.
    #[default]
    AfterClip,
    /// `clip(grad * rescale + wd * w)`: MXNet 1.x (1.9.1 included).
    BeforeClip,
}

impl Choice for WdOrder {
    const KEY: &'static str = "wd_order";
    const NAMES: &'static [(&'static str, Self)] =
        &[("after_clip", WdOrder::AfterClip), ("before_clip", WdOrder::BeforeClip)];
}

/// How half-precision weights without master weights are computed (MXNet's rules).
///
/// ```
/// assert_eq!(adamant::HalfMath::default(), adamant::HalfMath::RoundOnce);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HalfMath {
    /// Each element is computed in float32 and rounded once when stored; hyper-parameters
    /// stay float32, so `epsilon = 1e-8` does not vanish. The default.
    #[default]
    RoundOnce,
    /// MXNet's float16 kernel: every hyper-parameter is rounded to half, and every operation
    /// rounds its result to half (so `epsilon = 1e-8` becomes 0 and a zero gradient on zero
    /// state gives NaN). For parity with MXNet only.
    PerOp,
}

impl Choice for HalfMath {
    const KEY: &'static str = "half_math";
    const NAMES: &'static [(&'static str, Self)] =
        &[("round_once", HalfMath::RoundOnce), ("per_op", HalfMath::PerOp)];
}

/// Which MXNet version's formula Adamax, Nadam and LAMB follow where MXNet 1.9.1 and 2.0 differ
/// (the order of weight decay and clipping, Adamax's `epsilon`, an association or two).
///
/// ```
/// let adamax = adamant::create("adamax", &serde_json::json!({"formula": "1.x"})).unwrap();
/// assert_eq!(adamax.config_json()["formula"], "1.x");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MxnetVersion {
    /// MXNet 2.0's `optimizer/*.py`, the default.
    #[default]
    V2,
    /// MXNet 1.x's (1.9.1 included).
    V1,
}

impl Choice for MxnetVersion {
    const KEY: &'static str = "formula";
    const NAMES: &'static [(&'static str, Self)] = &[("2.0", MxnetVersion::V2), ("1.x", MxnetVersion::V1)];
}
