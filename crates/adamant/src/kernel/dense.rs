//! The element loops: every element of a span is updated. Row-sparse updates run them on rows.
//!
//! [`Loop::Reference`] is the definition: one element at a time, flags read at run time. The
//! fast loops are the same formula with the flags as constants (so the inner loop is
//! branch-free and vectorises), each built for every instruction-set level and chosen by
//! [`Isa::current`](super::Isa::current). Half-precision elements are widened to float32 a block
//! at a time (branch-free conversions, or F16C), run through the float32 loop and rounded back,
//! which gives the same bits as element by element.

use super::element::adam;
use super::isa::multiversion;
use super::storage::{Half, Load};
use super::{Real, Scalars};

/// Which loop runs the elements: the reference or the fast one. They give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    /// One element at a time with the flags read at run time: the definition of the result.
    Reference,
    /// The fast loop: SIMD for the instruction set in use.
    Fused,
}

impl Loop {
    /// Updates `w`, `m`, `v` in place with gradient `g`: elements stored as `S`, computed in
    /// `C`. All four slices have the same length (the caller has checked).
    #[inline]
    pub fn run<S: Load<C>, C: Real>(self, w: &mut [S], g: &[S], m: &mut [S], v: &mut [S], s: &Scalars<C>) {
        debug_assert!(g.len() == w.len() && m.len() == w.len() && v.len() == w.len());
        match self {
            Loop::Reference => {
                for i in 0..w.len() {
                    let (wi, mi, vi) = adam(
                        w[i].load(),
                        g[i].load(),
                        m[i].load(),
                        v[i].load(),
                        s,
                        s.wd_before_clip,
                        s.clip_on,
                    );
                    (w[i], m[i], v[i]) = (S::store(wi), S::store(mi), S::store(vi));
                }
            }
            Loop::Fused => S::fused(w, g, m, v, s),
        }
    }

    /// The multi-precision update: the float32 `master` weight and float32 moments are updated
    /// with the widened half gradient, and the half weight `w` becomes the master rounded to
    /// nearest-even.
    #[inline]
    pub fn run_mixed<H: Half>(
        self,
        w: &mut [H],
        master: &mut [f32],
        g: &[H],
        m: &mut [f32],
        v: &mut [f32],
        s: &Scalars<f32>,
    ) {
        debug_assert!(
            master.len() == w.len() && g.len() == w.len() && m.len() == w.len() && v.len() == w.len()
        );
        match self {
            Loop::Reference => {
                for i in 0..w.len() {
                    let (wi, mi, vi) =
                        adam(master[i], g[i].to_f32(), m[i], v[i], s, s.wd_before_clip, s.clip_on);
                    (master[i], m[i], v[i], w[i]) = (wi, mi, vi, H::from_f32(wi));
                }
            }
            Loop::Fused => with_flags!(s, mixed_lanes::<H>(w, master, g, m, v, s)),
        }
    }
}

/// Calls `f::<T.., WD_BEFORE_CLIP, CLIP_ON>` with the flags of `s` as constants.
macro_rules! with_flags {
    ($s:expr, $f:ident::<$($t:ty),*>($($arg:expr),*)) => {
        match ($s.wd_before_clip, $s.clip_on) {
            (false, false) => $f::<$($t,)* false, false>($($arg),*),
            (false, true) => $f::<$($t,)* false, true>($($arg),*),
            (true, false) => $f::<$($t,)* true, false>($($arg),*),
            (true, true) => $f::<$($t,)* true, true>($($arg),*),
        }
    };
}
use with_flags;

/// The generic fast loop, baseline instruction set only (for arithmetic that does not
/// vectorise, such as MXNet's per-operation float16 rounding).
#[inline]
pub(crate) fn generic<S: Load<C>, C: Real>(w: &mut [S], g: &[S], m: &mut [S], v: &mut [S], s: &Scalars<C>) {
    with_flags!(s, lanes::<S, C>(w, g, m, v, s))
}

/// The SIMD loop for float32 and float64.
#[inline]
pub(crate) fn simd<S: Load<C>, C: Real>(w: &mut [S], g: &[S], m: &mut [S], v: &mut [S], s: &Scalars<C>) {
    with_flags!(s, simd_lanes::<S, C>(w, g, m, v, s))
}

/// The SIMD loop for half precision computed in float32, a block at a time.
#[inline]
pub(crate) fn half_blocks<H: Half>(w: &mut [H], g: &[H], m: &mut [H], v: &mut [H], s: &Scalars<f32>) {
    with_flags!(s, half_block_lanes::<H>(w, g, m, v, s))
}

multiversion! {
    fn simd_lanes[S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[S, C, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [S], g: &[S], m: &mut [S], v: &mut [S], s: &Scalars<C>
    ) => lanes[S, C, WD_BEFORE_CLIP, CLIP_ON]
}

multiversion! {
    fn half_block_lanes[H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[H, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [H], g: &[H], m: &mut [H], v: &mut [H], s: &Scalars<f32>
    ) => half_blocks_body[H, WD_BEFORE_CLIP, CLIP_ON]
}

multiversion! {
    fn mixed_lanes[H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[H, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [H], master: &mut [f32], g: &[H], m: &mut [f32], v: &mut [f32], s: &Scalars<f32>
    ) => mixed_blocks_body[H, WD_BEFORE_CLIP, CLIP_ON]
}

/// The fast loop's body: the flags are constants, so it is branch-free and vectorises.
#[inline(always)]
fn lanes<S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [S],
    g: &[S],
    m: &mut [S],
    v: &mut [S],
    s: &Scalars<C>,
) {
    let lanes = w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
    for (((wi, &gi), mi), vi) in lanes {
        let (nw, nm, nv) = adam(wi.load(), gi.load(), mi.load(), vi.load(), s, WD_BEFORE_CLIP, CLIP_ON);
        (*wi, *mi, *vi) = (S::store(nw), S::store(nm), S::store(nv));
    }
}

/// Elements per block in the half-precision loops: the float32 blocks stay in L1.
const BLOCK: usize = 512;

/// Widens a block, runs the float32 loop on it, rounds it back: the same bits as element by
/// element, with conversions that vectorise (or use F16C).
#[inline(always)]
fn half_blocks_body<H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [H],
    g: &[H],
    m: &mut [H],
    v: &mut [H],
    s: &Scalars<f32>,
) {
    let (mut wf, mut gf, mut mf, mut vf) = ([0f32; BLOCK], [0f32; BLOCK], [0f32; BLOCK], [0f32; BLOCK]);
    let blocks = w.chunks_mut(BLOCK).zip(g.chunks(BLOCK)).zip(m.chunks_mut(BLOCK)).zip(v.chunks_mut(BLOCK));
    for (((w, g), m), v) in blocks {
        let n = w.len();
        let (wf, gf, mf, vf) = (&mut wf[..n], &mut gf[..n], &mut mf[..n], &mut vf[..n]);
        H::widen(w, wf);
        H::widen(g, gf);
        H::widen(m, mf);
        H::widen(v, vf);
        lanes::<f32, f32, WD_BEFORE_CLIP, CLIP_ON>(wf, gf, mf, vf, s);
        H::narrow(wf, w);
        H::narrow(mf, m);
        H::narrow(vf, v);
    }
}

/// Master weights a block at a time: widen the gradient, run the float32 loop on the master,
/// round the master into the weight.
#[inline(always)]
fn mixed_blocks_body<H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    m: &mut [f32],
    v: &mut [f32],
    s: &Scalars<f32>,
) {
    let mut gf = [0f32; BLOCK];
    let blocks = w
        .chunks_mut(BLOCK)
        .zip(master.chunks_mut(BLOCK))
        .zip(g.chunks(BLOCK))
        .zip(m.chunks_mut(BLOCK))
        .zip(v.chunks_mut(BLOCK));
    for ((((w, master), g), m), v) in blocks {
        let gf = &mut gf[..w.len()];
        H::widen(g, gf);
        lanes::<f32, f32, WD_BEFORE_CLIP, CLIP_ON>(master, gf, m, v, s);
        H::narrow(master, w);
    }
}
