//! Hyper-parameters as the kernel reads them, and the rule that refuses degenerate ones.
//!
//! The kernel does not compute with the `f64` a user gives: it reads every hyper-parameter as a
//! float32 (MXNet's operators parse every parameter into a float, through its own parser;
//! PyTorch's kernels take a float32 tensor's scalars as float32), and the step's own scalars
//! too (the bias-corrected rate, `wd * wd_mult`). A value that is fine as a float64 can be
//! degenerate once read that way: `1e40` becomes infinity, a `beta` of `0.99999999` becomes
//! exactly 1, an `epsilon` of `1e-50` becomes 0. The rule, for every optimizer: a value is
//! checked **as its rule reads it** ([`Read`]), and the error names the value given and the
//! value it would become. MXNet's per-operation float16 arithmetic (`half_math = "per_op"`)
//! rounds the float32 values once more, to half, on purpose; that second rounding is MXNet's
//! and is not refused.

use crate::error::{Error, Result};

/// How a rule reads a hyper-parameter given as a float64: MXNet's parser, or rounding to the
/// nearest float32.
pub(crate) type Read = fn(f64) -> f32;

/// Rounding to the nearest float32 (PyTorch's kernels on float32 tensors).
pub(crate) fn nearest(given: f64) -> f32 {
    given as f32
}

/// `name` = `given` refused for `reason` (`given` as `Debug` writes it: `1e-50`, not fifty zeros).
fn refuse(name: &'static str, given: f64, reason: String) -> Error {
    Error::InvalidHyperParameter { name, value: format!("{given:?}"), reason }
}

/// A value that must be finite and non-negative, as given and as read.
pub(crate) fn non_negative(read: Read, name: &'static str, given: f64) -> Result<f32> {
    if !(given.is_finite() && given >= 0.0) {
        return Err(refuse(name, given, "must be finite and >= 0".into()));
    }
    finite_as_read(read, name, given)
}

/// Whether `x` is a finite float32 as read, and as the nearest float32 (MXNet's parser clips an
/// exponent beyond 38 to 38, turning `1e39` into `1e38` where the nearest float32 is infinite:
/// a value read that way is refused too, not silently changed tenfold).
fn finite(read: Read, x: f64) -> Option<f32> {
    let became = read(x);
    (became.is_finite() && nearest(x).is_finite()).then_some(became)
}

/// `given`, which must stay finite as read.
fn finite_as_read(read: Read, name: &'static str, given: f64) -> Result<f32> {
    if let Some(became) = finite(read, given) {
        return Ok(became);
    }
    let became = nearest(given);
    Err(refuse(
        name,
        given,
        format!("becomes {became} in float32, as the kernel reads it; the largest is {:e}", f32::MAX),
    ))
}

/// A moment decay: in `[0, 1)` as given, and below 1 as read (a beta that becomes 1 freezes
/// its moment: `1 - beta` is 0).
pub(crate) fn beta(read: Read, name: &'static str, given: f64) -> Result<f32> {
    if !(0.0..1.0).contains(&given) {
        return Err(refuse(name, given, "must be in [0, 1)".into()));
    }
    let became = read(given);
    if became < 1.0 {
        return Ok(became);
    }
    Err(refuse(
        name,
        given,
        format!("becomes {became} in float32, as the kernel reads it, so 1 - {name} is 0; the largest usable value is {}", f64::from(f32::from_bits(1f32.to_bits() - 1))),
    ))
}

/// The term added to `sqrt(v)`: positive as read. `0` is refused by the same rule as a
/// positive value that becomes 0: either way a zero gradient on a zero state divides 0 by 0.
pub(crate) fn epsilon(read: Read, name: &'static str, given: f64) -> Result<f32> {
    let became = non_negative(read, name, given)?;
    // As for infinities, a value MXNet's parser clips up (an exponent below -38) is refused.
    if became > 0.0 && nearest(given) > 0.0 {
        return Ok(became);
    }
    let became = nearest(given);
    let became = if given == 0.0 {
        String::new()
    } else {
        format!("becomes {became} in float32, as the kernel reads it; ")
    };
    Err(refuse(
        name,
        given,
        format!(
            "{became}must be > 0, or a zero gradient on a zero state divides 0 by 0; the smallest is {:e}",
            f32::from_bits(1)
        ),
    ))
}

/// A clipping bound: `None`, 0 and negative values mean "off" as given; a positive bound must
/// stay positive and finite as read (one that becomes 0 would clip every gradient to 0).
pub(crate) fn clip(read: Read, name: &'static str, given: Option<f64>) -> Result<Option<f32>> {
    match given {
        Some(c) if c.is_nan() => {
            Err(refuse(name, c, "must be a number (null, 0 or a negative value turn clipping off)".into()))
        }
        Some(c) if c > 0.0 => {
            let became = finite_as_read(read, name, c)?;
            if became > 0.0 && nearest(c) > 0.0 {
                Ok(Some(became))
            } else {
                let became = nearest(c);
                Err(refuse(name, c, format!("becomes {became} in float32, as the kernel reads it, which would clip every gradient to 0; use null, 0 or a negative value to turn clipping off")))
            }
        }
        _ => Ok(None),
    }
}

/// A scalar of one parameter's step, computed from hyper-parameters that were each accepted:
/// it must still be finite as read. `what` describes how it was computed.
pub(crate) fn step_value(
    read: Read,
    name: &'static str,
    given: f64,
    index: usize,
    t: u64,
    what: &str,
    value: f64,
) -> Result<f32> {
    if let Some(became) = finite(read, value) {
        return Ok(became);
    }
    let became = nearest(value);
    Err(refuse(
        name,
        given,
        format!("parameter {index} at update {t}: {what} = {value:e}, which becomes {became} in float32, as the kernel reads it; the largest is {:e}", f32::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: Error) -> String {
        match e {
            Error::InvalidHyperParameter { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_are_judged_as_float32() {
        assert_eq!(non_negative(nearest, "wd", 1e38), Ok(1e38));
        assert!(reason(non_negative(nearest, "wd", 1e39).unwrap_err()).starts_with("becomes inf in float32"));
        assert!(reason(beta(nearest, "beta2", 0.99999999).unwrap_err()).contains("becomes 1 in float32"));
        assert_eq!(beta(nearest, "beta2", 0.9999999), Ok(0.9999999f32));
        assert!(reason(epsilon(nearest, "epsilon", 1e-50).unwrap_err()).starts_with("becomes 0 in float32"));
        assert!(reason(epsilon(nearest, "epsilon", 0.0).unwrap_err()).starts_with("must be > 0"));
        assert_eq!(epsilon(nearest, "epsilon", 1e-45), Ok(f32::from_bits(1)));
        assert!(reason(clip(nearest, "clip_gradient", Some(1e-50)).unwrap_err())
            .contains("clip every gradient to 0"));
        assert_eq!(clip(nearest, "clip_gradient", Some(-1.0)), Ok(None));
        assert_eq!(clip(nearest, "clip_gradient", Some(0.0)), Ok(None));
        assert!(clip(nearest, "clip_gradient", Some(f64::NAN)).is_err());
    }
}
