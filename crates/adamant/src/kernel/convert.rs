//! Half precision to float32 and back, written without branches so that loops over them
//! vectorise (the `half` crate's scalar conversions branch, and use F16C only where the whole
//! build enables it). Widening is exact; rounding is to nearest, ties to even; the bits are
//! the same as `half`'s, which the tests check. Blocks of float16 use F16C where the
//! instruction set in use has it (one instruction per eight elements); blocks of bfloat16 use
//! the integer formulas on whole AVX-512 registers where it has AVX-512 (sixteen elements a
//! step, narrowed by one `vpmovdw`), on AVX2 halves otherwise.

use half::{bf16, f16};

use super::isa::Isa;

/// Elements converted at once by the fast loops: two AVX2 registers of float32, one cache
/// line of float32.
pub const CHUNK: usize = 16;

// The AVX2 conversions work 16 (bfloat16 narrowing) or 8 elements at a time.
const _: () = assert!(CHUNK.is_multiple_of(16));

/// The conversion instructions a loop may use: AVX2 and F16C where the instruction set in use
/// has them. Holding one with `avx2` set proves the CPU has both.
#[derive(Debug, Clone, Copy)]
pub struct Conversions {
    avx2: bool,
    avx512: bool,
}

impl Conversions {
    /// The conversions of [`Isa::current`].
    #[inline]
    pub fn current() -> Conversions {
        let isa = Isa::current();
        let x86 = cfg!(target_arch = "x86_64");
        Conversions { avx2: x86 && isa >= Isa::Avx2, avx512: x86 && isa >= Isa::Avx512 }
    }

    /// `src` widened to float32.
    #[inline(always)]
    pub fn widen_f16(self, src: &[f16; CHUNK]) -> [f32; CHUNK] {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where Isa::current() was Avx2 or above: AVX2 and F16C.
            return unsafe { avx2::widen_f16(src) };
        }
        let mut dst = [0f32; CHUNK];
        dst.iter_mut().zip(src).for_each(|(d, h)| *d = f16_to_f32(h.to_bits()));
        dst
    }

    /// `src` rounded to float16.
    #[inline(always)]
    pub fn narrow_f16(self, src: &[f32; CHUNK]) -> [f16; CHUNK] {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where Isa::current() was Avx2 or above: AVX2 and F16C.
            return unsafe { avx2::narrow_f16(src) };
        }
        let mut dst = [f16::ZERO; CHUNK];
        dst.iter_mut().zip(src).for_each(|(d, &x)| *d = f16::from_bits(f16_bits(x)));
        dst
    }

    /// `src` widened to float32.
    #[inline(always)]
    pub fn widen_bf16(self, src: &[bf16; CHUNK]) -> [f32; CHUNK] {
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` is set only where Isa::current() was Avx512: AVX-512F.
            return unsafe { avx512::widen_bf16(src) };
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where Isa::current() was Avx2 or above.
            return unsafe { avx2::widen_bf16(src) };
        }
        let mut dst = [0f32; CHUNK];
        dst.iter_mut().zip(src).for_each(|(d, h)| *d = bf16_to_f32(h.to_bits()));
        dst
    }

    /// `src` rounded to bfloat16.
    #[inline(always)]
    pub fn narrow_bf16(self, src: &[f32; CHUNK]) -> [bf16; CHUNK] {
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` is set only where Isa::current() was Avx512: AVX-512F.
            return unsafe { avx512::narrow_bf16(src) };
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where Isa::current() was Avx2 or above.
            return unsafe { avx2::narrow_bf16(src) };
        }
        let mut dst = [bf16::ZERO; CHUNK];
        dst.iter_mut().zip(src).for_each(|(d, &x)| *d = bf16::from_bits(bf16_bits(x)));
        dst
    }
}

/// Chunk conversions with AVX2 and F16C, eight elements at a time: F16C for float16, and for
/// bfloat16 the integer formulas of [`bf16_to_f32`] and [`bf16_bits`] (LLVM vectorises the
/// scalar ones poorly: narrowing packs 32-bit lanes into 16-bit ones).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_blendv_epi8, _mm256_cmpgt_epi32,
        _mm256_cvtepu16_epi32, _mm256_cvtph_ps, _mm256_cvtps_ph, _mm256_loadu_ps, _mm256_loadu_si256,
        _mm256_or_si256, _mm256_packus_epi32, _mm256_permute4x64_epi64, _mm256_set1_epi32, _mm256_slli_epi32,
        _mm256_srli_epi32, _mm256_storeu_ps, _mm256_storeu_si256, _mm_loadu_si128, _mm_storeu_si128,
        _MM_FROUND_TO_NEAREST_INT,
    };

    use half::{bf16, f16};

    use super::CHUNK;

    /// # Safety
    /// The CPU must have AVX2 and F16C.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn widen_f16(src: &[f16; CHUNK]) -> [f32; CHUNK] {
        let mut dst = [0f32; CHUNK];
        for i in (0..CHUNK).step_by(8) {
            // SAFETY: i + 8 <= CHUNK, so the 8 halves read and the 8 floats written are in
            // bounds; the loads and stores are unaligned ones.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        dst
    }

    /// # Safety
    /// The CPU must have AVX2 and F16C.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn narrow_f16(src: &[f32; CHUNK]) -> [f16; CHUNK] {
        let mut dst = [f16::ZERO; CHUNK];
        for i in (0..CHUNK).step_by(8) {
            // SAFETY: i + 8 <= CHUNK, so the 8 floats read and the 8 halves written are in
            // bounds; the loads and stores are unaligned ones.
            unsafe {
                let x = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast::<__m128i>(), h);
            }
        }
        dst
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn widen_bf16(src: &[bf16; CHUNK]) -> [f32; CHUNK] {
        let mut dst = [0f32; CHUNK];
        for i in (0..CHUNK).step_by(8) {
            // SAFETY: i + 8 <= CHUNK, so the 8 halves read and the 8 floats written are in
            // bounds; the loads and stores are unaligned ones.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
                let x = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h));
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast::<__m256i>(), x);
            }
        }
        dst
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub unsafe fn narrow_bf16(src: &[f32; CHUNK]) -> [bf16; CHUNK] {
        let mut dst = [bf16::ZERO; CHUNK];
        let (magnitude, infinity) = (_mm256_set1_epi32(0x7fff_ffff), _mm256_set1_epi32(0x7f80_0000));
        let (half_ulp, one, quiet) =
            (_mm256_set1_epi32(0x7fff), _mm256_set1_epi32(1), _mm256_set1_epi32(0x40));
        let round = |b: __m256i| {
            let nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, magnitude), infinity);
            // Nearest-even as in `bf16_bits`; NaN lanes may wrap, and are replaced.
            let high = _mm256_srli_epi32::<16>(b);
            let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(
                _mm256_add_epi32(b, half_ulp),
                _mm256_and_si256(high, one),
            ));
            _mm256_blendv_epi8(rounded, _mm256_or_si256(high, quiet), nan)
        };
        for i in (0..CHUNK).step_by(16) {
            // SAFETY: i + 16 <= CHUNK, so the 16 floats read and the 16 halves written are in
            // bounds; the loads and stores are unaligned ones.
            unsafe {
                let lo = round(_mm256_loadu_si256(src.as_ptr().add(i).cast::<__m256i>()));
                let hi = round(_mm256_loadu_si256(src.as_ptr().add(i + 8).cast::<__m256i>()));
                // Every lane is below 2^16, so the saturating pack only narrows; it packs each
                // 128-bit half on its own, and the permutation puts the quarters in order.
                let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi));
                _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast::<__m256i>(), packed);
            }
        }
        dst
    }
}

/// bfloat16 chunks with AVX-512F: the formulas of [`bf16_to_f32`] and [`bf16_bits`] on one
/// register of sixteen lanes, narrowed to 16 bits by truncation (`vpmovdw`; every lane is
/// below 2^16 by then).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm512_add_epi32, _mm512_and_si512,
        _mm512_cmpgt_epi32_mask, _mm512_cvtepi32_epi16, _mm512_cvtepu16_epi32, _mm512_loadu_si512,
        _mm512_mask_blend_epi32, _mm512_or_si512, _mm512_set1_epi32, _mm512_slli_epi32, _mm512_srli_epi32,
        _mm512_storeu_si512,
    };

    use half::bf16;

    use super::CHUNK;

    // One register of float32 per chunk.
    const _: () = assert!(CHUNK == 16);

    /// # Safety
    /// The CPU must have AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn widen_bf16(src: &[bf16; CHUNK]) -> [f32; CHUNK] {
        let mut dst = [0f32; CHUNK];
        // SAFETY: CHUNK is 16: 16 halves (32 bytes) read, 16 floats (64 bytes) written, in
        // bounds; the loads and stores are unaligned ones.
        unsafe {
            let h = _mm256_loadu_si256(src.as_ptr().cast::<__m256i>());
            let x = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h));
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), x);
        }
        dst
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn narrow_bf16(src: &[f32; CHUNK]) -> [bf16; CHUNK] {
        let mut dst = [bf16::ZERO; CHUNK];
        // SAFETY: CHUNK is 16: 16 floats (64 bytes) read, 16 halves (32 bytes) written, in
        // bounds; the loads and stores are unaligned ones.
        unsafe {
            let b = _mm512_loadu_si512(src.as_ptr().cast());
            let magnitude = _mm512_and_si512(b, _mm512_set1_epi32(0x7fff_ffff));
            let nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7f80_0000));
            // Nearest-even as in `bf16_bits`; NaN lanes may wrap, and are replaced.
            let high = _mm512_srli_epi32::<16>(b);
            let odd = _mm512_and_si512(high, _mm512_set1_epi32(1));
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(
                _mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)),
                odd,
            ));
            let quiet = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
            let lanes = _mm512_mask_blend_epi32(nan, rounded, quiet);
            _mm256_storeu_si256(dst.as_mut_ptr().cast::<__m256i>(), _mm512_cvtepi32_epi16(lanes));
        }
        dst
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

/// The float32 value of the bfloat16 with bits `h`: its bits shifted up, exact. A signaling
/// NaN stays signaling (`half::bf16::to_f32` quiets it); in the kernel every widened value
/// goes through arithmetic, which quiets it anyway, before anything is stored.
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `x` rounded to bfloat16, nearest-even, with a NaN kept quiet: the same bits as
/// `half::bf16::from_f32`, written without branches so that it vectorises.
#[inline(always)]
pub fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let is_nan = (b & 0x7fff_ffff) > 0x7f80_0000;
    // Nearest-even: add just under half a unit, plus one if the kept lowest bit is odd.
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
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

    /// Runs a chunk conversion over `src`, whose length is a multiple of `CHUNK`.
    fn by_chunks<A, B: Copy>(src: &[A], convert: impl Fn(&[A; CHUNK]) -> [B; CHUNK]) -> Vec<B> {
        let (chunks, tail) = src.as_chunks::<CHUNK>();
        assert!(tail.is_empty());
        chunks.iter().flat_map(convert).collect()
    }

    /// 100,000 spread-out floats and the given edges, a multiple of `CHUNK` in all.
    fn floats(edges: &[u32]) -> Vec<f32> {
        let mut bits: Vec<u32> =
            (0..100_000u32).map(|i| i.wrapping_mul(2_654_435_761)).chain(edges.iter().copied()).collect();
        bits.resize(bits.len().next_multiple_of(CHUNK), 0x3f80_8000);
        bits.into_iter().map(f32::from_bits).collect()
    }

    #[test]
    fn float16_chunks_match_half_at_every_instruction_set() {
        let xs = floats(&[0x477f_efff, 0x477f_f000, 0x3880_0000, 0x387f_ffff, 0x3300_0001, 0x7f80_0001]);
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        for isa in Isa::available() {
            isa.set();
            let c = Conversions::current();
            for (h, x) in by_chunks(&xs, |x| c.narrow_f16(x)).iter().zip(&xs) {
                let want = f16::from_f32(*x);
                assert!(
                    h.to_bits() == want.to_bits() || (h.is_nan() && x.is_nan()),
                    "{isa:?}: {x:e} -> {h:?}"
                );
            }
            for (x, h) in by_chunks(&all, |h| c.widen_f16(h)).iter().zip(&all) {
                assert!(x.to_bits() == h.to_f32().to_bits() || (x.is_nan() && h.is_nan()), "{isa:?}: {h:?}");
            }
        }
        Isa::detected().set();
    }

    #[test]
    fn bfloat16_chunks_match_the_scalar_formulas_bitwise_at_every_instruction_set() {
        let xs = floats(&[
            0x3f80_8000,
            0x3f81_8000,
            0x3f80_8001,
            0x7f7f_ffff,
            0xff7f_8000,
            0x7fc0_0001,
            0xffff_ffff,
        ]);
        // Every float32 subnormal exponent (the highest set bit at each place), with and
        // without a half unit of bfloat16 below it, either sign: subnormals round as integers.
        let subnormals = (0..23u32).flat_map(|k| {
            let x = 1u32 << k;
            [x, x | 0x8000, x | 0x7fff, x | 0x1_8000].into_iter().flat_map(|b| [b, b | 0x8000_0000])
        });
        let mut xs = xs;
        xs.extend(subnormals.map(f32::from_bits));
        xs.resize(xs.len().next_multiple_of(CHUNK), 0.0);
        let all: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
        for isa in Isa::available() {
            isa.set();
            let c = Conversions::current();
            for (h, x) in by_chunks(&xs, |x| c.narrow_bf16(x)).iter().zip(&xs) {
                assert_eq!(h.to_bits(), bf16::from_f32(*x).to_bits(), "{isa:?}: {:#x}", x.to_bits());
            }
            for (x, h) in by_chunks(&all, |h| c.widen_bf16(h)).iter().zip(&all) {
                assert_eq!(x.to_bits(), bf16_to_f32(h.to_bits()).to_bits(), "{isa:?}: {:#06x}", h.to_bits());
            }
        }
        Isa::detected().set();
    }

    #[test]
    fn bfloat16_widening_is_exact_and_keeps_nan_payloads() {
        for h in 0..=u16::MAX {
            let (got, want) = (bf16_to_f32(h), bf16::from_bits(h).to_f32());
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#06x}");
            let back = if got.is_nan() { h | 0x40 } else { h };
            assert_eq!(bf16_bits(got), back, "{h:#06x} does not round back to itself (quieted if NaN)");
        }
    }
}
