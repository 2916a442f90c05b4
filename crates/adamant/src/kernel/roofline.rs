//! The roofline: streaming loops with the memory traffic of one step and almost no arithmetic,
//! compiled for the same instruction set as the step. They run over a step's own arrays and
//! leave every bit as it was: each element is combined with `g & zero`, where `zero` is a
//! run-time 0 the compiler cannot see through, so every load and store happens.

use half::{bf16, f16};

use super::isa::multiversion;

/// An element whose bits a streaming loop can read and write back unchanged.
pub trait Bits: Copy + Send + Sync {
    /// The bit pattern, widened.
    fn bits(self) -> u64;
    /// `self` with its bits XOR-ed with `mask` (truncated to the element's width).
    fn xor(self, mask: u64) -> Self;
}

macro_rules! bits {
    ($t:ty, $u:ty) => {
        impl Bits for $t {
            #[inline(always)]
            fn bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            #[inline(always)]
            fn xor(self, mask: u64) -> Self {
                <$t>::from_bits(self.to_bits() ^ mask as $u)
            }
        }
    };
}
bits!(f32, u32);
bits!(f64, u64);
bits!(f16, u16);
bits!(bf16, u16);

multiversion! {
    /// Reads `w, g, m, v` and writes `w, m, v`, unchanged when `zero` is 0: a dense step's
    /// traffic (`m` and `v` may be float32 for half weights).
    pub fn stream4[W: Bits, M: Bits] names[W, M](w: &mut [W], g: &[W], m: &mut [M], v: &mut [M], zero: u64) => stream4_body[W, M]
}

multiversion! {
    /// Reads and writes `w, m, v`, unchanged when `zero` is 0: a standard row-sparse step's
    /// traffic (its gradient is small).
    pub fn stream3[T: Bits] names[T](w: &mut [T], m: &mut [T], v: &mut [T], zero: u64) => stream3_body[T]
}

multiversion! {
    /// Reads master, `g`, `m`, `v`; writes master, `m`, `v` and the half weight `w`, unchanged
    /// when `zero` is 0: the traffic of a step with master weights.
    pub fn stream_mixed[H: Bits] names[H](w: &mut [H], master: &mut [f32], g: &[H], m: &mut [f32], v: &mut [f32], zero: u64) => stream_mixed_body[H]
}

#[inline(always)]
fn stream4_body<W: Bits, M: Bits>(w: &mut [W], g: &[W], m: &mut [M], v: &mut [M], zero: u64) {
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
        let mask = g.bits() & zero;
        (*w, *m, *v) = (w.xor(mask), m.xor(mask), v.xor(mask));
    }
}

#[inline(always)]
fn stream3_body<T: Bits>(w: &mut [T], m: &mut [T], v: &mut [T], zero: u64) {
    for ((w, m), v) in w.iter_mut().zip(m).zip(v) {
        let mask = (w.bits() ^ m.bits() ^ v.bits()) & zero;
        (*w, *m, *v) = (w.xor(mask), m.xor(mask), v.xor(mask));
    }
}

#[inline(always)]
fn stream_mixed_body<H: Bits>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    m: &mut [f32],
    v: &mut [f32],
    zero: u64,
) {
    for ((((w, x), &g), m), v) in w.iter_mut().zip(master).zip(g).zip(m).zip(v) {
        let mask = (g.bits() ^ x.bits()) & zero;
        (*x, *m, *v, *w) = (x.xor(mask), m.xor(mask), v.xor(mask), w.xor(mask));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_with_zero_changes_no_bit() {
        let g = [f16::from_f32(1.5), f16::NAN, f16::from_f32(-0.0)];
        let (mut w, mut x, mut m, mut v) = (g, [1.0f32, -2.0, 3.0], [0.5f32; 3], [f32::NAN; 3]);
        let before = (w, x, m, v);
        stream_mixed(&mut w, &mut x, &g, &mut m, &mut v, std::hint::black_box(0));
        stream4(&mut w, &g, &mut m, &mut v, std::hint::black_box(0));
        stream3(&mut x, &mut m, &mut v, std::hint::black_box(0));
        let bits = |(w, x, m, v): ([f16; 3], [f32; 3], [f32; 3], [f32; 3])| {
            (w.map(|a| a.to_bits()), x.map(f32::to_bits), m.map(f32::to_bits), v.map(f32::to_bits))
        };
        assert_eq!(bits((w, x, m, v)), bits(before));
    }
}
