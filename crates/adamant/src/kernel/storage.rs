//! How stored elements enter and leave the arithmetic.
//!
//! A weight is stored as `f32`, `f64`, `f16` or `bf16`; the formula computes in a [`Real`]
//! type. [`Load`] connects the two: float32 and float64 compute in themselves; half-precision
//! elements compute in float32 and are rounded once when stored, or, for MXNet's float16
//! arithmetic, in [`PerOp`], which rounds after every operation.

use half::{bf16, f16};

use super::convert::{bf16_bits, bf16_to_f32, f16_bits, f16_to_f32, Conversions, CHUNK};
use super::dense;
use super::element::Element;
use super::formula::Formula;
use super::per_op::PerOp;
use super::Real;

/// How an element stored as `Self` enters and leaves arithmetic in `C`.
pub trait Load<C: Real>: Element {
    /// The element as `C` (exact).
    fn load(self) -> C;
    /// `c` rounded to the storage type (to nearest, ties to even; NaN stays NaN).
    fn store(c: C) -> Self;
    /// The fast loop for this storage type: bit-identical to
    /// [`Loop::Reference`](super::Loop::Reference). The default
    /// is the generic loop built for the baseline instruction set.
    #[inline]
    fn fused<R: Formula<C, K>, const K: usize>(w: &mut [Self], g: &[Self], s: [&mut [Self]; K], r: &R) {
        dense::generic(w, g, s, r)
    }
}

/// A half-precision storage type: `f16` or `bf16`. Its conversions are written without
/// branches, so loops over them vectorise; they give the same bits as the `half` crate's.
pub trait Half: Load<f32> {
    /// One.
    const ONE: Self;
    /// The exact float32 value.
    fn to_f32(self) -> f32;
    /// `x` rounded to nearest, ties to even.
    fn from_f32(x: f32) -> Self;

    /// A chunk widened, with conversion instructions where `c` has them.
    fn widen(src: &[Self; CHUNK], c: Conversions) -> [f32; CHUNK];

    /// A chunk rounded, with conversion instructions where `c` has them.
    fn narrow(src: &[f32; CHUNK], c: Conversions) -> [Self; CHUNK];
}

macro_rules! real {
    ($t:ty) => {
        impl Load<$t> for $t {
            #[inline(always)]
            fn load(self) -> $t {
                self
            }
            #[inline(always)]
            fn store(c: $t) -> Self {
                c
            }
            #[inline]
            fn fused<R: Formula<$t, K>, const K: usize>(
                w: &mut [Self],
                g: &[Self],
                s: [&mut [Self]; K],
                r: &R,
            ) {
                dense::simd(w, g, s, r)
            }
        }
    };
}
real!(f32);
real!(f64);

impl Half for f16 {
    const ONE: Self = f16::ONE;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16_to_f32(self.to_bits())
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_bits(f16_bits(x))
    }
    #[inline(always)]
    fn widen(src: &[Self; CHUNK], c: Conversions) -> [f32; CHUNK] {
        c.widen_f16(src)
    }
    #[inline(always)]
    fn narrow(src: &[f32; CHUNK], c: Conversions) -> [Self; CHUNK] {
        c.narrow_f16(src)
    }
}

impl Half for bf16 {
    const ONE: Self = bf16::ONE;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16_to_f32(self.to_bits())
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_bits(bf16_bits(x))
    }
    #[inline(always)]
    fn widen(src: &[Self; CHUNK], c: Conversions) -> [f32; CHUNK] {
        c.widen_bf16(src)
    }
    #[inline(always)]
    fn narrow(src: &[f32; CHUNK], c: Conversions) -> [Self; CHUNK] {
        c.narrow_bf16(src)
    }
}

macro_rules! half {
    ($t:ty) => {
        impl Load<f32> for $t {
            #[inline(always)]
            fn load(self) -> f32 {
                Half::to_f32(self)
            }
            #[inline(always)]
            fn store(c: f32) -> Self {
                Half::from_f32(c)
            }
            #[inline]
            fn fused<R: Formula<f32, K>, const K: usize>(
                w: &mut [Self],
                g: &[Self],
                s: [&mut [Self]; K],
                r: &R,
            ) {
                dense::half_chunks(w, g, s, r)
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
