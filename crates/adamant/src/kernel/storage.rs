//! How stored elements enter and leave the arithmetic.
//!
//! A weight is stored as `f32`, `f64`, `f16` or `bf16`; the formula computes in a [`Real`]
//! type. [`Load`] connects the two: float32 and float64 compute in themselves; half-precision
//! elements compute in float32 and are rounded once when stored, or, for MXNet's float16
//! arithmetic, in [`PerOp`], which rounds after every operation.

use std::ops::Add;

use half::{bf16, f16};

use super::per_op::PerOp;
use super::Real;

/// A type elements are stored in: `f32`, `f64`, `f16`, `bf16`.
///
/// Addition is what coalescing repeated gradient rows needs (one rounding per addition).
pub trait Stored: Copy + Send + Sync + Add<Output = Self> + 'static {
    /// Zero, the gradient of a row a row-sparse gradient does not list.
    const ZERO: Self;
}

/// How an element stored as `Self` enters and leaves arithmetic in `C`.
pub trait Load<C: Real>: Stored {
    /// The element as `C` (exact).
    fn load(self) -> C;
    /// `c` rounded to the storage type (to nearest, ties to even; NaN stays NaN).
    fn store(c: C) -> Self;
}

/// A half-precision storage type: `f16` or `bf16`.
pub trait Half: Stored + Load<f32> + PartialOrd {
    /// One.
    const ONE: Self;
    /// The exact float32 value.
    fn to_f32(self) -> f32;
    /// `x` rounded to nearest, ties to even.
    fn from_f32(x: f32) -> Self;
}

macro_rules! stored {
    ($t:ty, $zero:expr) => {
        impl Stored for $t {
            const ZERO: Self = $zero;
        }
    };
}
stored!(f32, 0.0);
stored!(f64, 0.0);
stored!(f16, f16::ZERO);
stored!(bf16, bf16::ZERO);

impl Load<f32> for f32 {
    #[inline(always)]
    fn load(self) -> f32 {
        self
    }
    #[inline(always)]
    fn store(c: f32) -> Self {
        c
    }
}

impl Load<f64> for f64 {
    #[inline(always)]
    fn load(self) -> f64 {
        self
    }
    #[inline(always)]
    fn store(c: f64) -> Self {
        c
    }
}

macro_rules! half {
    ($t:ty) => {
        impl Half for $t {
            const ONE: Self = <$t>::ONE;
            #[inline(always)]
            fn to_f32(self) -> f32 {
                <$t>::to_f32(self)
            }
            #[inline(always)]
            fn from_f32(x: f32) -> Self {
                <$t>::from_f32(x)
            }
        }

        impl Load<f32> for $t {
            #[inline(always)]
            fn load(self) -> f32 {
                <$t>::to_f32(self)
            }
            #[inline(always)]
            fn store(c: f32) -> Self {
                <$t>::from_f32(c)
            }
        }

        impl Load<PerOp<$t>> for $t {
            #[inline(always)]
            fn load(self) -> PerOp<$t> {
                PerOp(self)
            }
            #[inline(always)]
            fn store(c: PerOp<$t>) -> Self {
                c.0
            }
        }
    };
}
half!(f16);
half!(bf16);
