//! Half precision to float32 and back, written without branches so that loops over them
//! vectorise (the `half` crate's scalar conversions branch, and use F16C only where the whole
//! build enables it). Widening is exact; rounding is to nearest, ties to even; the bits are
//! the same as `half`'s, which the tests check. Blocks of float16 use F16C where the
//! instruction set in use has it (one instruction per eight elements).

use half::f16;

use super::isa::Isa;

/// `dst[i] = src[i]` widened, for a block.
#[inline(always)]
pub fn widen_f16(src: &[f16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::current() >= Isa::Avx2 {
        // SAFETY: Isa::current() is Avx2 or above only where the CPU has AVX2 and F16C.
        return unsafe { f16c::widen(src, dst) };
    }
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = f16_to_f32(s.to_bits()));
}

/// `dst[i] = src[i]` rounded to float16, for a block.
#[inline(always)]
pub fn narrow_f16(src: &[f32], dst: &mut [f16]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::current() >= Isa::Avx2 {
        // SAFETY: Isa::current() is Avx2 or above only where the CPU has AVX2 and F16C.
        return unsafe { f16c::narrow(src, dst) };
    }
    dst.iter_mut().zip(src).for_each(|(d, &s)| *d = f16::from_bits(f16_bits(s)));
}

/// Float16 conversions with the F16C instructions.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use std::arch::x86_64::{
        __m128i, _mm256_cvtph_ps, _mm256_cvtps_ph, _mm256_loadu_ps, _mm256_storeu_ps, _mm_loadu_si128,
        _mm_storeu_si128, _MM_FROUND_TO_NEAREST_INT,
    };

    use half::f16;

    use super::{f16_bits, f16_to_f32};

    /// # Safety
    /// The CPU must have AVX2 and F16C.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n, so the 8 halves read and the 8 floats written are in bounds;
            // the loads and stores are unaligned ones.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        for i in whole..n {
            dst[i] = f16_to_f32(src[i].to_bits());
        }
    }

    /// # Safety
    /// The CPU must have AVX2 and F16C.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn narrow(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n, so the 8 floats read and the 8 halves written are in bounds;
            // the loads and stores are unaligned ones.
            unsafe {
                let x = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast::<__m128i>(), h);
            }
        }
        for i in whole..n {
            dst[i] = f16::from_bits(f16_bits(src[i]));
        }
    }
}

/// The float32 value of the float16 with bits `h` (exact; a NaN stays NaN and becomes quiet):
/// the same bits as `half::f16::to_f32`, without branches.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let exponent = (h >> 10) & 0x1f;
    let mantissa = h & 0x3ff;
    let normal = ((exponent + 112) << 23) | (mantissa << 13);
    let inf_or_nan = 0x7f80_0000 | (mantissa << 13) | if mantissa != 0 { 0x40_0000 } else { 0 };
    // Zero and subnormals: mantissa * 2^-24, exact in float32.
    let small = (mantissa as f32 * (1.0 / 16_777_216.0)).to_bits();
    let magnitude = if exponent == 0 {
        small
    } else if exponent == 31 {
        inf_or_nan
    } else {
        normal
    };
    f32::from_bits(sign | magnitude)
}

/// `x` rounded to float16, nearest-even, with a NaN kept quiet: the same bits as
/// `half::f16::from_f32`, without branches.
#[inline(always)]
pub fn f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = (bits >> 16) & 0x8000;
    let a = bits & 0x7fff_ffff;
    // |x| >= 65536 overflows to infinity (values in [65520, 65536) do so in the normal path).
    let huge = if a > 0x7f80_0000 { 0x7e00 | ((a >> 13) & 0x3ff) } else { 0x7c00 };
    // |x| < 2^-14: adding 0.5 rounds |x| to a multiple of 2^-24, nearest-even, and leaves the
    // float16 subnormal (or the smallest normal) in the low bits.
    let small = (f32::from_bits(a) + 0.5).to_bits().wrapping_sub(0x3f00_0000);
    // Normal: rebias the exponent and round the 13 dropped bits to nearest-even.
    let odd = (a >> 13) & 1;
    let normal = a.wrapping_sub(0x3800_0000).wrapping_add(0xfff + odd) >> 13;
    let magnitude = if a >= 0x4780_0000 {
        huge
    } else if a < 0x3880_0000 {
        small
    } else {
        normal
    };
    (sign | magnitude) as u16
}

/// The float32 value of the bfloat16 with bits `h` (exact; a NaN becomes quiet, as in
/// `half::bf16::to_f32`).
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    let bits = u32::from(h) << 16;
    let quiet = if (bits & 0x7fff_ffff) > 0x7f80_0000 { 0x40_0000 } else { 0 };
    f32::from_bits(bits | quiet)
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
    use half::{bf16, f16};

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
    fn float16_widening_matches_half_on_every_value() {
        for h in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(h), f16::from_bits(h).to_f32());
            assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}");
        }
    }

    #[test]
    fn float16_rounding_matches_half_on_every_97th_float_and_the_edges() {
        let edges = [
            0x477f_efff,
            0x477f_f000,
            0x477f_f001,
            0x4780_0000,
            0x3880_0000,
            0x387f_ffff,
            0x3300_0000,
            0x3300_0001,
            0x7f80_0001,
            0xffc0_0000,
        ];
        for bits in (0..=u32::MAX).step_by(97).chain(edges) {
            let x = f32::from_bits(bits);
            assert_eq!(f16_bits(x), f16::from_f32(x).to_bits(), "{bits:#x}");
        }
    }

    #[test]
    fn float16_blocks_match_elements_at_every_instruction_set() {
        let xs: Vec<f32> = (0..100_003u32).map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761))).collect();
        let want: Vec<u16> = xs.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
        for isa in Isa::available() {
            isa.set();
            let mut h = vec![f16::ZERO; xs.len()];
            narrow_f16(&xs, &mut h);
            for ((a, &w), x) in h.iter().zip(&want).zip(&xs) {
                assert!(
                    a.to_bits() == w || (a.is_nan() && x.is_nan()),
                    "{isa:?}: {x:e} -> {:#06x}, want {w:#06x}",
                    a.to_bits()
                );
            }
            let mut back = vec![0f32; h.len()];
            widen_f16(&h, &mut back);
            for (b, a) in back.iter().zip(&h) {
                assert!(b.to_bits() == a.to_f32().to_bits() || (b.is_nan() && a.is_nan()), "{isa:?}: {a:?}");
            }
        }
        Isa::detected().set();
    }

    #[test]
    fn bfloat16_widening_is_exact() {
        for h in 0..=u16::MAX {
            assert_eq!(bf16_to_f32(h).to_bits(), bf16::from_bits(h).to_f32().to_bits(), "{h:#06x}");
        }
    }
}
