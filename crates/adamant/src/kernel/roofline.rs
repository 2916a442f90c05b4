//! The roofline: streaming loops with the memory traffic of one step and almost no arithmetic,
//! compiled for the same instruction set as the step, so that a benchmark can pair each step
//! with the fastest pass over the same bytes.

use super::isa::multiversion;

/// An element a streaming loop combines cheaply (addition, or XOR for 2-byte patterns).
pub trait StreamElement: Copy + Send + Sync {
    /// `self` combined with `other`.
    fn mix(self, other: Self) -> Self;
}

impl StreamElement for f32 {
    #[inline(always)]
    fn mix(self, other: Self) -> Self {
        self + other
    }
}

impl StreamElement for f64 {
    #[inline(always)]
    fn mix(self, other: Self) -> Self {
        self + other
    }
}

impl StreamElement for u16 {
    #[inline(always)]
    fn mix(self, other: Self) -> Self {
        self ^ other
    }
}

multiversion! {
    /// Reads `w, g, m, v` and writes `w, m, v`: the traffic of a dense step.
    pub fn stream4[T: StreamElement] names[T](w: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) => stream4_body[T]
}

multiversion! {
    /// Reads and writes `w, m, v`: the traffic of a standard row-sparse step.
    pub fn stream3[T: StreamElement] names[T](w: &mut [T], m: &mut [T], v: &mut [T]) => stream3_body[T]
}

multiversion! {
    /// Reads a float32 master, a 2-byte gradient, mean and var; writes master, mean, var and a
    /// 2-byte weight: the traffic of a step with master weights.
    pub fn stream_mixed[] names[](x: &mut [f32], g: &[u16], m: &mut [f32], v: &mut [f32], w: &mut [u16]) => stream_mixed_body[]
}

#[inline(always)]
fn stream4_body<T: StreamElement>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
        (*w, *m, *v) = (w.mix(g), m.mix(g), v.mix(g));
    }
}

#[inline(always)]
fn stream3_body<T: StreamElement>(w: &mut [T], m: &mut [T], v: &mut [T]) {
    for ((w, m), v) in w.iter_mut().zip(m).zip(v) {
        (*w, *m, *v) = (w.mix(*m), m.mix(*v), v.mix(*w));
    }
}

#[inline(always)]
fn stream_mixed_body(x: &mut [f32], g: &[u16], m: &mut [f32], v: &mut [f32], w: &mut [u16]) {
    for ((((x, &g), m), v), w) in x.iter_mut().zip(g).zip(m).zip(v).zip(w) {
        let g = f32::from_bits(u32::from(g) << 16);
        (*x, *m, *v) = (*x + g, *m + g, *v + g);
        *w = (x.to_bits() >> 16) as u16;
    }
}
