//! MXNet's float16 arithmetic: round to half after every operation.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::storage::Half;
use super::Real;

/// A half-precision number whose every operation widens to float32, computes once and rounds
/// back, as MXNet's `half_t` operators do.
///
/// Running a rule's formula in `PerOp<f16>` reproduces MXNet's float16 kernel bit for bit:
/// `m = h(h(beta1 * m) + h(h(1 - beta1) * g))`, and so on. `epsilon = 1e-8` becomes 0 here,
/// below float16's smallest subnormal.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct PerOp<H>(pub H);

macro_rules! binary {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<H: Half> $trait for PerOp<H> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, rhs: Self) -> Self {
                PerOp(H::from_f32(self.0.to_f32() $op rhs.0.to_f32()))
            }
        }
    };
}
binary!(Add, add, +);
binary!(Sub, sub, -);
binary!(Mul, mul, *);
binary!(Div, div, /);

impl<H: Half> Neg for PerOp<H> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        PerOp(H::from_f32(-self.0.to_f32()))
    }
}

impl<H: Half> Real for PerOp<H> {
    const ONE: Self = PerOp(H::ONE);
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        PerOp(H::from_f32(x))
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        // MXNet hands its float16 kernels float32 parameters; a float64 goes through float32.
        PerOp(H::from_f32(x as f32))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        PerOp(H::from_f32(self.0.to_f32().sqrt()))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        PerOp(H::from_f32(self.0.to_f32().abs()))
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    #[test]
    fn one_minus_beta_is_rounded_from_the_rounded_beta() {
        // MXNet's float16 kernel: beta2 = 0.999 becomes 0.99902344 in half, and 1 - beta2 0.00097656.
        let beta2 = PerOp::<f16>::from_f32(0.999);
        assert_eq!(beta2.0.to_f32(), 0.999_023_44);
        assert_eq!((PerOp::ONE - beta2).0.to_f32(), 0.000_976_562_5);
    }

    #[test]
    fn every_operation_rounds() {
        // 2049 is not a float16; 2048 + 1 rounds to 2048 (ties to even).
        let x = PerOp(f16::from_f32(2048.0)) + PerOp(f16::from_f32(1.0));
        assert_eq!(x.0.to_f32(), 2048.0);
    }
}
