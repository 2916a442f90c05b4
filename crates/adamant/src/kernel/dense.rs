//! The element loops: every element of a span is updated by a rule's [`Formula`]. Row-sparse updates run
//! them on rows.
//!
//! [`Loop::Reference`] is the definition: one element at a time. The fast loops are the same
//! rule over chunks of 16 elements (so the inner loop is straight SIMD code), built for every
//! instruction-set level and chosen by [`Isa::current`](super::Isa::current), asking for memory
//! a little ahead. Half-precision chunks are widened to float32 (AVX2 and F16C, or branch-free
//! scalar conversions), run through the float32 rule and rounded back, which gives the same
//! bits as element by element.

use super::convert::{Conversions, CHUNK};
use super::formula::Formula;
use super::isa::multiversion;
use super::prefetch::prefetch_at;
use super::storage::{Half, Load};
use super::Real;

/// Which loop runs the elements: the reference or the fast one. They give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    /// One element at a time: the definition of the result.
    Reference,
    /// The fast loop: SIMD for the instruction set in use.
    Fused,
}

impl Loop {
    /// Updates `w` and its state arrays `s` in place with gradient `g`: elements stored as `S`,
    /// computed in `C`. Every slice has `w`'s length (the caller has checked).
    #[inline]
    pub fn run<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize>(
        self,
        w: &mut [S],
        g: &[S],
        s: [&mut [S]; K],
        r: &R,
    ) {
        debug_assert!(g.len() == w.len() && s.iter().all(|a| a.len() == w.len()));
        match self {
            Loop::Reference => each(w, g, s, r),
            Loop::Fused => S::fused(w, g, s, r),
        }
    }

    /// The multi-precision update: the float32 `master` weight and float32 state are updated
    /// with the widened half gradient, and the half weight `w` becomes the master rounded to
    /// nearest-even.
    #[inline]
    pub fn run_mixed<H: Half, R: Formula<f32, K>, const K: usize>(
        self,
        w: &mut [H],
        master: &mut [f32],
        g: &[H],
        s: [&mut [f32]; K],
        r: &R,
    ) {
        debug_assert!(master.len() == w.len() && g.len() == w.len() && s.iter().all(|a| a.len() == w.len()));
        match self {
            Loop::Reference => each_mixed(w, master, g, s, r),
            Loop::Fused => mixed_lanes(w, master, g, s, r),
        }
    }
}

/// Every element, one after the other, stored as `S` and computed in `C`.
#[inline(always)]
fn each<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize>(
    w: &mut [S],
    g: &[S],
    mut s: [&mut [S]; K],
    r: &R,
) {
    for i in 0..w.len() {
        let mut state: [C; K] = std::array::from_fn(|j| s[j][i].load());
        w[i] = S::store(r.update(w[i].load(), g[i].load(), &mut state));
        for (array, value) in s.iter_mut().zip(state) {
            array[i] = S::store(value);
        }
    }
}

/// Every element of a master-weight span, one after the other.
#[inline(always)]
fn each_mixed<H: Half, R: Formula<f32, K>, const K: usize>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    mut s: [&mut [f32]; K],
    r: &R,
) {
    for i in 0..w.len() {
        let mut state: [f32; K] = std::array::from_fn(|j| s[j][i]);
        master[i] = r.update(master[i], g[i].to_f32(), &mut state);
        for (array, value) in s.iter_mut().zip(state) {
            array[i] = value;
        }
        w[i] = H::from_f32(master[i]);
    }
}

/// A chunk: with its length a constant, this compiles to straight SIMD code.
#[inline(always)]
fn chunk<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize>(
    w: &mut [S; CHUNK],
    g: &[S; CHUNK],
    mut s: [&mut [S; CHUNK]; K],
    r: &R,
) {
    for i in 0..CHUNK {
        let mut state: [C; K] = std::array::from_fn(|j| s[j][i].load());
        w[i] = S::store(r.update(w[i].load(), g[i].load(), &mut state));
        for (array, value) in s.iter_mut().zip(state) {
            array[i] = S::store(value);
        }
    }
}

/// A chunk of values: taken and returned by value, so that they stay in registers between the
/// conversions and the arithmetic (through memory, a 16-lane load of two 8-lane stores stalls).
#[inline(always)]
fn chunk_values<R: Formula<f32, K>, const K: usize>(
    mut w: [f32; CHUNK],
    g: [f32; CHUNK],
    mut s: [[f32; CHUNK]; K],
    r: &R,
) -> ([f32; CHUNK], [[f32; CHUNK]; K]) {
    for i in 0..CHUNK {
        let mut state: [f32; K] = std::array::from_fn(|j| s[j][i]);
        w[i] = r.update(w[i], g[i], &mut state);
        for (array, value) in s.iter_mut().zip(state) {
            array[i] = value;
        }
    }
    (w, s)
}

/// The generic fast loop, baseline instruction set only (for arithmetic that does not
/// vectorise, such as MXNet's per-operation float16 rounding).
#[inline]
pub(crate) fn generic<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize>(
    w: &mut [S],
    g: &[S],
    s: [&mut [S]; K],
    r: &R,
) {
    lanes(w, g, s, r)
}

multiversion! {
    /// The SIMD loop for float32 and float64.
    pub(crate) fn simd[S: Load<C>, C: Real, R: Formula<C, K>, const K: usize] names[S, C, R, K](
        w: &mut [S], g: &[S], s: [&mut [S]; K], r: &R
    ) => lanes[S, C, R, K]
}

multiversion! {
    /// The SIMD loop for half precision computed in float32, a chunk at a time.
    pub(crate) fn half_chunks[H: Half, R: Formula<f32, K>, const K: usize] names[H, R, K](
        w: &mut [H], g: &[H], s: [&mut [H]; K], r: &R
    ) => half_lanes[H, R, K]
}

multiversion! {
    fn mixed_lanes[H: Half, R: Formula<f32, K>, const K: usize] names[H, R, K](
        w: &mut [H], master: &mut [f32], g: &[H], s: [&mut [f32]; K], r: &R
    ) => mixed_lanes_body[H, R, K]
}

/// How far ahead of the chunk being updated the fast loops ask for memory, in elements (1 KiB
/// of float32). On the AMD EPYC (Zen 3) this was tuned on, anything from 512 B to 2 KiB ahead
/// keeps a 64M-element float32 step at the memory bus; asking nothing ahead leaves it at 0.88
/// of the bus whenever the machine streams fast.
const AHEAD: usize = 256;

/// Asks for the chunk `AHEAD` elements after `start` in each of `arrays` (pointers to their
/// first elements), while it is within `len`.
#[inline(always)]
fn ask_ahead<T, const N: usize>(start: usize, len: usize, arrays: &[*const T; N]) {
    let at = start + AHEAD;
    if at < len {
        for &array in arrays {
            prefetch_at(array, at, CHUNK);
        }
    }
}

/// Splits each of `arrays` into its chunks and its tail.
#[inline(always)]
fn chunks_of<T, const K: usize>(arrays: [&mut [T]; K]) -> [(&mut [[T; CHUNK]], &mut [T]); K] {
    arrays.map(|a| a.as_chunks_mut::<CHUNK>())
}

/// The fast loop's body: a chunk at a time, asking for memory ahead.
#[inline(always)]
fn lanes<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize>(
    w: &mut [S],
    g: &[S],
    s: [&mut [S]; K],
    r: &R,
) {
    let (n, wp, gp, sp) = (w.len(), w.as_ptr(), g.as_ptr(), s.each_ref().map(|a| a.as_ptr()));
    let ((wc, wt), (gc, gt)) = (w.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let mut sc = chunks_of(s);
    for (k, (w, g)) in wc.iter_mut().zip(gc).enumerate() {
        ask_ahead(k * CHUNK, n, &[wp, gp]);
        ask_ahead(k * CHUNK, n, &sp);
        chunk(w, g, sc.each_mut().map(|(c, _)| &mut c[k]), r);
    }
    each(wt, gt, sc.map(|(_, t)| t), r);
}

/// Half precision computed in float32: each chunk is widened, run through the float32 rule
/// and rounded back, which gives the same bits as element by element. Converting in the same
/// loop as the arithmetic lets the conversions run while the divisions wait.
///
/// The chunk loop is written out here as in [`lanes`] on purpose: passed to a shared helper
/// as a closure, this body was not inlined, and plain bfloat16 fell from 0.30 to 0.12 of the
/// roofline.
#[inline(always)]
fn half_lanes<H: Half, R: Formula<f32, K>, const K: usize>(w: &mut [H], g: &[H], s: [&mut [H]; K], r: &R) {
    let c = Conversions::current();
    let (n, wp, gp, sp) = (w.len(), w.as_ptr(), g.as_ptr(), s.each_ref().map(|a| a.as_ptr()));
    let ((wc, wt), (gc, gt)) = (w.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let mut sc = chunks_of(s);
    for (k, (w, g)) in wc.iter_mut().zip(gc).enumerate() {
        ask_ahead(k * CHUNK, n, &[wp, gp]);
        ask_ahead(k * CHUNK, n, &sp);
        let mut widened = [[0f32; CHUNK]; K];
        for j in 0..K {
            widened[j] = H::widen(&sc[j].0[k], c);
        }
        let (wf, sf) = chunk_values(H::widen(w, c), H::widen(g, c), widened, r);
        *w = H::narrow(&wf, c);
        for ((a, _), f) in sc.iter_mut().zip(&sf) {
            a[k] = H::narrow(f, c);
        }
    }
    each::<H, f32, R, K>(wt, gt, sc.map(|(_, t)| t), r);
}

/// Master weights a chunk at a time: widen the gradient, run the float32 rule on the master,
/// round the master into the weight.
#[inline(always)]
fn mixed_lanes_body<H: Half, R: Formula<f32, K>, const K: usize>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    s: [&mut [f32]; K],
    r: &R,
) {
    let c = Conversions::current();
    let (n, wp, gp) = (w.len(), w.as_ptr(), g.as_ptr());
    let (xp, sp) = (master.as_ptr(), s.each_ref().map(|a| a.as_ptr()));
    let ((wc, wt), (xc, xt), (gc, gt)) =
        (w.as_chunks_mut::<CHUNK>(), master.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let mut sc = chunks_of(s);
    for (k, ((w, x), g)) in wc.iter_mut().zip(xc).zip(gc).enumerate() {
        ask_ahead(k * CHUNK, n, &[wp, gp]);
        ask_ahead(k * CHUNK, n, &[xp]);
        ask_ahead(k * CHUNK, n, &sp);
        let mut state = [[0f32; CHUNK]; K];
        for (v, (a, _)) in state.iter_mut().zip(sc.iter()) {
            *v = a[k];
        }
        let (nx, ns) = chunk_values(*x, H::widen(g, c), state, r);
        (*x, *w) = (nx, H::narrow(&nx, c));
        for ((a, _), v) in sc.iter_mut().zip(ns) {
            a[k] = v;
        }
    }
    each_mixed(wt, xt, gt, sc.map(|(_, t)| t), r);
}
