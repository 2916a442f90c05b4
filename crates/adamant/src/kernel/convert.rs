//! Widening half-precision blocks to float32 and rounding them back, in loops the compiler can
//! vectorise. Both directions are exact or correctly rounded (to nearest, ties to even), so a
//! block conversion gives the same bits as converting element by element.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// A half type whose blocks convert to and from float32 quickly.
pub trait HalfBlock: Sized {
    /// `dst[i] = src[i]` widened (exact).
    fn widen(src: &[Self], dst: &mut [f32]);
    /// `dst[i] = src[i]` rounded to nearest-even (NaN stays NaN).
    fn narrow(src: &[f32], dst: &mut [Self]);
}

impl HalfBlock for f16 {
    #[inline(always)]
    fn widen(src: &[Self], dst: &mut [f32]) {
        // half uses F16C here when the CPU has it (detected at run time).
        src.convert_to_f32_slice(dst)
    }

    #[inline(always)]
    fn narrow(src: &[f32], dst: &mut [Self]) {
        dst.convert_from_f32_slice(src)
    }
}

impl HalfBlock for bf16 {
    #[inline(always)]
    fn widen(src: &[Self], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(u32::from(s.to_bits()) << 16);
        }
    }

    #[inline(always)]
    fn narrow(src: &[f32], dst: &mut [Self]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = bf16::from_bits(bf16_bits(s));
        }
    }
}

/// `x` rounded to bfloat16, nearest-even, with a NaN kept quiet: the same bits as
/// `half::bf16::from_f32`, written without branches so that it vectorises.
#[inline(always)]
pub fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let is_nan = (b & 0x7fff_ffff) > 0x7f80_0000;
    let round_up = (b & 0x8000) != 0 && (b & 0x1_7fff) != 0;
    let rounded = (b >> 16) + u32::from(round_up);
    let quiet_nan = (b >> 16) | 0x40;
    (if is_nan { quiet_nan } else { rounded }) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_rounding_matches_half_on_every_32768th_float() {
        for bits in (0..=u32::MAX).step_by(32_768).chain([0x3f80_8000, 0x3f81_8000, 0x7f7f_ffff, 0x7fc0_0001])
        {
            let x = f32::from_bits(bits);
            assert_eq!(bf16_bits(x), bf16::from_f32(x).to_bits(), "{bits:#x}");
        }
    }

    #[test]
    fn block_conversions_match_element_conversions() {
        let xs: Vec<f32> = (0..1000u32).map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761))).collect();
        let mut h = vec![f16::ZERO; xs.len()];
        f16::narrow(&xs, &mut h);
        assert!(h
            .iter()
            .zip(&xs)
            .all(|(a, &x)| a.to_bits() == f16::from_f32(x).to_bits() || (a.is_nan() && x.is_nan())));
        let mut back = vec![0f32; xs.len()];
        f16::widen(&h, &mut back);
        assert!(back.iter().zip(&h).all(|(&b, a)| b.to_bits() == a.to_f32().to_bits()));
        let mut b = vec![bf16::ZERO; xs.len()];
        bf16::narrow(&xs, &mut b);
        assert!(b.iter().zip(&xs).all(|(a, &x)| a.to_bits() == bf16::from_f32(x).to_bits()));
    }
}
