//! An update rule as the loops see it: its formula, for one element of the weight, its gradient
//! and `K` state arrays.
//!
//! A rule is written once, as an `#[inline(always)]` function generic over the type it computes
//! in ([`Real`]: `f32`, `f64`, or MXNet's per-operation half precision). Every loop (the scalar
//! reference, the SIMD loop of each instruction set, master weights, lazy and standard rows)
//! calls it, so every loop gives the reference's bits, and a new rule needs no new loop. A
//! rule's structural options (an order of operations, an extra term) are const parameters of
//! its type, so that the fast loops compile them away; its scalars are fields.

use super::Real;

/// The formula of one element: a weight `w`, its gradient `g` and its state `s` (the rule's
/// `K` arrays at this element, such as Adam's two moments) in; the new weight out, the state
/// updated in place.
pub trait Formula<C: Real, const K: usize>: Copy + Send + Sync {
    /// One element's update.
    fn update(&self, w: C, g: C, s: &mut [C; K]) -> C;
}

/// A rule for any compute type: what a tensor's step builds once its dtype is known.
pub trait Factory<const K: usize>: Copy + Send + Sync {
    /// The rule in compute type `C`.
    type For<C: Real>: Formula<C, K>;
    /// The rule in compute type `C`, its scalars converted to `C`.
    fn rule<C: Real>(&self) -> Self::For<C>;
}

/// `clip(x, b)` as MXNet defines it: `b` if `x > b`, `-b` if `x < -b`, else `x`, so NaN passes.
/// With `b` infinite it returns `x` for every `x`, which is how a rule switches clipping off
/// without a branch.
#[inline(always)]
pub fn clip<C: Real>(x: C, bound: C) -> C {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// `maximum(a, b)` as MXNet's NDArray defines it: `a` if `a` is NaN, else the larger (`b` when
/// they are equal, or when `b` is NaN).
#[inline(always)]
pub fn maximum<C: Real>(a: C, b: C) -> C {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maximum_keeps_a_nan_first_argument_and_a_nan_second_one() {
        assert!(maximum(f32::NAN, 1.0).is_nan());
        assert!(maximum(1.0f32, f32::NAN).is_nan());
        assert_eq!((maximum(1.0f32, 2.0), maximum(3.0f32, 2.0)), (2.0, 3.0));
        assert_eq!(maximum(0.0f32, -0.0).to_bits(), (-0.0f32).to_bits(), "equal: the second");
    }

    #[test]
    fn clip_passes_nan_and_an_infinite_bound_changes_nothing() {
        assert!(clip(f32::NAN, 1.0).is_nan());
        assert_eq!((clip(3.0f32, 1.0), clip(-3.0f32, 1.0), clip(0.25f32, 1.0)), (1.0, -1.0, 0.25));
        for x in [f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 3e38, -1e-45] {
            assert_eq!(clip(x, f32::INFINITY).to_bits(), x.to_bits());
        }
        assert!(clip(f32::NAN, f32::INFINITY).is_nan());
    }
}
