//! The roofline: adam-shaped streaming passes over the very arrays a step reads and writes
//! (weights, gradients and optimizer state), on the same threads, changing no bit. Using the
//! step's own memory matters on this machine: two sets of arrays of the same size can stream
//! at rates that differ by a third, depending on where their pages landed.

use adamant::kernel::roofline::{self, Bits};
use adamant::{DataMut, DataRef, State};
use rayon::prelude::*;

/// Elements per parallel piece.
const CHUNK: usize = 16 * 1024;

/// A zero the compiler cannot see through, so that no load or store is dropped.
fn zero() -> u64 {
    std::hint::black_box(0)
}

/// Which arrays a step touches, for counting its bytes.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    /// float32 weight, gradient, mean, var.
    F32,
    /// float64 weight, gradient, mean, var.
    F64,
    /// 2-byte weight, gradient, mean, var.
    Half,
    /// float32 master, mean, var with a 2-byte gradient and weight.
    Mixed,
    /// float32 weight, mean, var; no gradient stream.
    NoGrad,
}

impl Layout {
    /// Bytes read and written per element by a step of this layout.
    pub fn bytes_per_element(self) -> usize {
        match self {
            Layout::F32 => 28,
            Layout::F64 => 56,
            Layout::Half => 14,
            Layout::Mixed => 28,
            Layout::NoGrad => 24,
        }
    }
}

/// Streams the first `len` elements of a dense tensor: weight `w`, gradient `g` and the
/// optimizer's state (mean, var and a master copy where there is one).
pub fn dense(w: DataMut<'_>, g: DataRef<'_>, state: &mut State, len: usize) {
    let State::Adam(state) = state else { unreachable!("the bench runs Adam") };
    let (m, v, master) = state.arrays_mut();
    match (w, g, m, v, master) {
        (DataMut::F32(w), DataRef::F32(g), DataMut::F32(m), DataMut::F32(v), None) => four(w, g, m, v, len),
        (DataMut::F64(w), DataRef::F64(g), DataMut::F64(m), DataMut::F64(v), None) => four(w, g, m, v, len),
        (DataMut::F16(w), DataRef::F16(g), DataMut::F16(m), DataMut::F16(v), None) => four(w, g, m, v, len),
        (DataMut::BF16(w), DataRef::BF16(g), DataMut::BF16(m), DataMut::BF16(v), None) => {
            four(w, g, m, v, len)
        }
        (DataMut::F16(w), DataRef::F16(g), DataMut::F32(m), DataMut::F32(v), Some(x)) => mixed(w, x, g, m, v),
        (DataMut::BF16(w), DataRef::BF16(g), DataMut::F32(m), DataMut::F32(v), Some(x)) => {
            mixed(w, x, g, m, v)
        }
        _ => unreachable!("the bench makes no other combination"),
    }
}

/// Streams weight, mean and var of a float32 table (a standard row-sparse step's traffic).
pub fn no_grad(w: DataMut<'_>, state: &mut State) {
    let State::Adam(state) = state else { unreachable!("the bench runs Adam") };
    let (m, v, _) = state.arrays_mut();
    let (DataMut::F32(w), DataMut::F32(m), DataMut::F32(v)) = (w, m, v) else {
        unreachable!("float32 table")
    };
    let zero = zero();
    let pieces = w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(v.par_chunks_mut(CHUNK));
    pieces.for_each(|((w, m), v)| roofline::stream3(w, m, v, zero));
}

/// Reads four arrays and writes three, in parallel pieces.
pub fn four<W: Bits, M: Bits>(w: &mut [W], g: &[W], m: &mut [M], v: &mut [M], len: usize) {
    let zero = zero();
    let pieces =
        w[..len].par_chunks_mut(CHUNK).zip(g[..len].par_chunks(CHUNK)).zip(m[..len].par_chunks_mut(CHUNK));
    pieces
        .zip(v[..len].par_chunks_mut(CHUNK))
        .for_each(|(((w, g), m), v)| roofline::stream4(w, g, m, v, zero));
}

fn mixed<H: Bits>(w: &mut [H], x: &mut [f32], g: &[H], m: &mut [f32], v: &mut [f32]) {
    let zero = zero();
    let pieces = w.par_chunks_mut(CHUNK).zip(x.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK));
    let pieces = pieces.zip(m.par_chunks_mut(CHUNK)).zip(v.par_chunks_mut(CHUNK));
    pieces.for_each(|((((w, x), g), m), v)| roofline::stream_mixed(w, x, g, m, v, zero));
}
