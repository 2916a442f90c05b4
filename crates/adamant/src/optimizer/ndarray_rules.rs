//! What the optimizers MXNet writes in NDArray operations (Adamax, Nadam) share: how a Python
//! number reaches the arithmetic, their two states, and their checks.
//!
//! Each operation of such an optimizer is one NDArray operation, rounded to the weight's dtype
//! `D`, and a Python number `x` enters as `S(x) = D(dmlc::stod(repr(x)))` (`_mul_scalar` and
//! the like take a double); a clipping bound enters as a float field (`dmlc::stof`). With
//! `multi_precision`, MXNet's wrapper runs the same operations on the float32 master copy.

use crate::error::Result;
use crate::kernel::element::DType;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::kernel_values::{self, Read};
use crate::optimizer::mxnet_float::{double_field, float_field, ndarray_scalar};
use crate::optimizer::state::Layout;

/// MXNet's names of the two states.
pub(crate) const ARRAYS: &[&str] = &["mean", "var"];

/// How these rules read a hyper-parameter, judged for float32 weights.
pub(crate) const READ: Read = ndarray_scalar;

/// `S(x)` as a float64, which each compute type rounds once (float32 weights: to float32, as
/// MXNet does; float64 weights: exact).
pub(crate) fn scalar(x: f64) -> f64 {
    double_field(x)
}

/// The clipping bound as MXNet's clip operator reads it, or infinity (no clipping).
pub(crate) fn clip_bound(base: &OptimizerConfig) -> f64 {
    base.clip().map_or(f64::INFINITY, |c| f64::from(float_field(c)))
}

/// The states for a weight of `dtype`: `mean` and `var` in its dtype, or float32 with a float32
/// master copy under `multi_precision`.
pub(crate) fn layout(dtype: DType, base: &OptimizerConfig) -> Layout {
    Layout::new(ARRAYS, dtype, base.multi_precision)
}

/// Checks the decay rates as these rules read them.
///
/// # Errors
/// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) naming the first.
pub(crate) fn validate_betas(beta1: f64, beta2: f64) -> Result<()> {
    kernel_values::beta(READ, "beta1", beta1)?;
    kernel_values::beta(READ, "beta2", beta2)?;
    Ok(())
}

/// A scalar of one parameter's step (`value`, computed from `name` = `given`): `S(value)`,
/// refused when it is not finite as the kernel reads it.
///
/// # Errors
/// [`Error::InvalidHyperParameter`](crate::Error::InvalidHyperParameter) naming `name`.
pub(crate) fn step_scalar(
    name: &'static str,
    given: f64,
    c: &crate::optimizer::algorithm::Counted,
    what: &str,
    value: f64,
) -> Result<f64> {
    kernel_values::step_value(READ, name, given, c.index, c.t, what, value)?;
    Ok(scalar(value))
}
