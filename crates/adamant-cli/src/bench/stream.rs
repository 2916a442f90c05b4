//! The roofline: adam-shaped streaming loops that read and write the same arrays a step does,
//! on the same threads, with as little arithmetic as possible, compiled like the step.

use adamant::kernel::roofline::{self, StreamElement};
use rayon::prelude::*;

/// Elements per parallel piece.
const CHUNK: usize = 16 * 1024;

/// Arrays shaped like one step's memory traffic.
pub enum Stream {
    /// Read weight, gradient, mean, var; write weight, mean, var (float32).
    F32 { w: Vec<f32>, g: Vec<f32>, m: Vec<f32>, v: Vec<f32> },
    /// The same with 8-byte elements.
    F64 { w: Vec<f64>, g: Vec<f64>, m: Vec<f64>, v: Vec<f64> },
    /// The same with 2-byte elements (half precision without master weights).
    Half { w: Vec<u16>, g: Vec<u16>, m: Vec<u16>, v: Vec<u16> },
    /// Master weights: read master, half gradient, mean, var; write master, mean, var and the
    /// half weight.
    Mixed { x: Vec<f32>, g: Vec<u16>, m: Vec<f32>, v: Vec<f32>, w: Vec<u16> },
    /// A standard row-sparse step: read and write weight, mean, var (the gradient is small).
    NoGrad { w: Vec<f32>, m: Vec<f32>, v: Vec<f32> },
}

impl Stream {
    /// Streaming arrays for `n` elements of the given layout.
    pub fn new(layout: Layout, n: usize) -> Stream {
        let f = || vec![1.0f32; n];
        let h = || vec![0x3f80u16; n];
        match layout {
            Layout::F32 => Stream::F32 { w: f(), g: f(), m: f(), v: f() },
            Layout::F64 => Stream::F64 { w: vec![1.0; n], g: vec![1.0; n], m: vec![1.0; n], v: vec![1.0; n] },
            Layout::Half => Stream::Half { w: h(), g: h(), m: h(), v: h() },
            Layout::Mixed => Stream::Mixed { x: f(), g: h(), m: f(), v: f(), w: h() },
            Layout::NoGrad => Stream::NoGrad { w: f(), m: f(), v: f() },
        }
    }

    /// One pass over every element, in parallel pieces on the current rayon pool, with the
    /// library's roofline loops (compiled for the same instruction set as the step).
    pub fn run(&mut self) {
        match self {
            Stream::F32 { w, g, m, v } => four(w, g, m, v),
            Stream::F64 { w, g, m, v } => four(w, g, m, v),
            Stream::Half { w, g, m, v } => four(w, g, m, v),
            Stream::Mixed { x, g, m, v, w } => {
                let pieces = x.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(m.par_chunks_mut(CHUNK));
                pieces
                    .zip(v.par_chunks_mut(CHUNK))
                    .zip(w.par_chunks_mut(CHUNK))
                    .for_each(|((((x, g), m), v), w)| roofline::stream_mixed(x, g, m, v, w))
            }
            Stream::NoGrad { w, m, v } => {
                let pieces =
                    w.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(v.par_chunks_mut(CHUNK));
                pieces.for_each(|((w, m), v)| roofline::stream3(w, m, v))
            }
        }
    }
}

/// Which arrays a step touches.
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

/// Reads four arrays and writes three, chunk by chunk in parallel.
fn four<T: StreamElement>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    let pieces = w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(m.par_chunks_mut(CHUNK));
    pieces.zip(v.par_chunks_mut(CHUNK)).for_each(|(((w, g), m), v)| roofline::stream4(w, g, m, v))
}
