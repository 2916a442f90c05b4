//! The arithmetic the element formula needs, for the types it computes in.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// A floating-point type a rule's formula computes in: `f32`, `f64`, or MXNet's per-operation
/// half precision.
///
/// Every operation is one IEEE operation, correctly rounded; nothing here fuses a multiply
/// and an add, because MXNet's CPU kernels do not and exactness depends on it.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    /// 1.
    const ONE: Self;
    /// The value of a float32 in this type (exact for both types).
    fn from_f32(x: f32) -> Self;
    /// A float64 rounded to this type (to nearest, ties to even).
    fn from_f64(x: f64) -> Self;
    /// The correctly rounded square root.
    fn sqrt(self) -> Self;
    /// The absolute value (exact; `-0.0` gives `0.0`).
    fn abs(self) -> Self;
    /// Whether this is NaN.
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn is_nan(self) -> bool {
        self != self
    }
}

impl Real for f32 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
}

impl Real for f64 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f64::from(x)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
}
