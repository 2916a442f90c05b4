//! The element loops: every element of a span is updated. Row-sparse updates run them on rows.
//!
//! [`Loop::Reference`] is the definition: one element at a time, flags read at run time. The
//! fast loops are the same formula with the flags as constants (so the inner loop is
//! branch-free and vectorises), each built for every instruction-set level and chosen by
//! [`Isa::current`](super::Isa::current). They run a chunk of 16 elements at a time and ask
//! for memory a little ahead. Half-precision chunks are widened to float32 (AVX2 and F16C, or
//! branch-free scalar conversions), run through the float32 formula and rounded back, which
//! gives the same bits as element by element.

use super::convert::{Conversions, CHUNK};
use super::element::adam;
use super::isa::multiversion;
use super::prefetch::prefetch_at;
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

/// The SIMD loop for half precision computed in float32, a chunk at a time.
#[inline]
pub(crate) fn half_chunks<H: Half>(w: &mut [H], g: &[H], m: &mut [H], v: &mut [H], s: &Scalars<f32>) {
    with_flags!(s, half_lanes::<H>(w, g, m, v, s))
}

multiversion! {
    fn simd_lanes[S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[S, C, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [S], g: &[S], m: &mut [S], v: &mut [S], s: &Scalars<C>
    ) => lanes[S, C, WD_BEFORE_CLIP, CLIP_ON]
}

multiversion! {
    fn half_lanes[H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[H, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [H], g: &[H], m: &mut [H], v: &mut [H], s: &Scalars<f32>
    ) => half_lanes_body[H, WD_BEFORE_CLIP, CLIP_ON]
}

multiversion! {
    fn mixed_lanes[H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool] names[H, WD_BEFORE_CLIP, CLIP_ON](
        w: &mut [H], master: &mut [f32], g: &[H], m: &mut [f32], v: &mut [f32], s: &Scalars<f32>
    ) => mixed_lanes_body[H, WD_BEFORE_CLIP, CLIP_ON]
}

/// How far ahead of the chunk being updated the fast loops ask for memory, in elements (1 KiB
/// of float32). On the AMD EPYC (Zen 3) this was tuned on, anything from 512 B to 2 KiB ahead
/// keeps a 64M-element float32 step at the memory bus; asking nothing ahead leaves it at 0.88
/// of the bus whenever the machine streams fast.
const AHEAD: usize = 256;

/// Asks for the chunk `AHEAD` elements after `start` in each array, while it is within `len`.
macro_rules! ask_ahead {
    ($start:expr, $len:expr; $($array:expr),*) => {
        let at = $start + AHEAD;
        if at < $len {
            $(prefetch_at($array, at, CHUNK);)*
        }
    };
}

/// The fast loop's body: a chunk at a time, asking for memory ahead.
#[inline(always)]
fn lanes<S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [S],
    g: &[S],
    m: &mut [S],
    v: &mut [S],
    s: &Scalars<C>,
) {
    let (n, wp, gp, mp, vp) = (w.len(), w.as_ptr(), g.as_ptr(), m.as_ptr(), v.as_ptr());
    let ((wc, wt), (gc, gt)) = (w.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let ((mc, mt), (vc, vt)) = (m.as_chunks_mut::<CHUNK>(), v.as_chunks_mut::<CHUNK>());
    for (k, (((w, g), m), v)) in wc.iter_mut().zip(gc).zip(mc).zip(vc).enumerate() {
        ask_ahead!(k * CHUNK, n; wp, gp, mp, vp);
        elements::<S, C, WD_BEFORE_CLIP, CLIP_ON>(w, g, m, v, s);
    }
    elements::<S, C, WD_BEFORE_CLIP, CLIP_ON>(wt, gt, mt, vt, s);
}

/// Every element, one after the other: with the flags constant and the length a chunk's,
/// this compiles to straight SIMD code.
#[inline(always)]
fn elements<S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
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

/// Half precision computed in float32: each chunk is widened, run through the float32
/// elements and rounded back, which gives the same bits as element by element. Converting
/// in the same loop as the arithmetic lets the conversions run while the divisions wait.
///
/// The chunk loop is written out here as in [`lanes`] on purpose: passed to a shared helper
/// as a closure, this body was not inlined, and plain bfloat16 fell from 0.30 to 0.12 of the
/// roofline.
#[inline(always)]
fn half_lanes_body<H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [H],
    g: &[H],
    m: &mut [H],
    v: &mut [H],
    s: &Scalars<f32>,
) {
    let (c, n, wp, gp, mp, vp) =
        (Conversions::current(), w.len(), w.as_ptr(), g.as_ptr(), m.as_ptr(), v.as_ptr());
    let ((wc, wt), (gc, gt)) = (w.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let ((mc, mt), (vc, vt)) = (m.as_chunks_mut::<CHUNK>(), v.as_chunks_mut::<CHUNK>());
    for (k, (((w, g), m), v)) in wc.iter_mut().zip(gc).zip(mc).zip(vc).enumerate() {
        ask_ahead!(k * CHUNK, n; wp, gp, mp, vp);
        let (mut wf, gf, mut mf, mut vf) = (H::widen(w, c), H::widen(g, c), H::widen(m, c), H::widen(v, c));
        elements::<f32, f32, WD_BEFORE_CLIP, CLIP_ON>(&mut wf, &gf, &mut mf, &mut vf, s);
        (*w, *m, *v) = (H::narrow(&wf, c), H::narrow(&mf, c), H::narrow(&vf, c));
    }
    elements::<H, f32, WD_BEFORE_CLIP, CLIP_ON>(wt, gt, mt, vt, s);
}

/// Master weights a chunk at a time: widen the gradient, run the float32 elements on the
/// master, round the master into the weight.
#[inline(always)]
fn mixed_lanes_body<H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    m: &mut [f32],
    v: &mut [f32],
    s: &Scalars<f32>,
) {
    let (c, n) = (Conversions::current(), w.len());
    let (wp, xp, gp, mp, vp) = (w.as_ptr(), master.as_ptr(), g.as_ptr(), m.as_ptr(), v.as_ptr());
    let ((wc, wt), (xc, xt), (gc, gt)) =
        (w.as_chunks_mut::<CHUNK>(), master.as_chunks_mut::<CHUNK>(), g.as_chunks::<CHUNK>());
    let ((mc, mt), (vc, vt)) = (m.as_chunks_mut::<CHUNK>(), v.as_chunks_mut::<CHUNK>());
    let chunks = wc.iter_mut().zip(xc).zip(gc).zip(mc).zip(vc).enumerate();
    for (k, ((((w, x), g), m), v)) in chunks {
        ask_ahead!(k * CHUNK, n; wp, xp, gp, mp, vp);
        let gf = H::widen(g, c);
        elements::<f32, f32, WD_BEFORE_CLIP, CLIP_ON>(x, &gf, m, v, s);
        *w = H::narrow(x, c);
    }
    for ((((w, x), g), m), v) in wt.iter_mut().zip(xt).zip(gt).zip(mt).zip(vt) {
        let (nx, nm, nv) = adam(*x, g.to_f32(), *m, *v, s, WD_BEFORE_CLIP, CLIP_ON);
        (*x, *m, *v, *w) = (nx, nm, nv, H::from_f32(nx));
    }
}
