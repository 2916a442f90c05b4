//! The element loops: every element of a span is updated. Row-sparse updates run them on rows.

use super::element::adam;
use super::storage::{Half, Load};
use super::{Real, Scalars};

/// Which loop runs the elements: the reference or the fast one. They give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    /// One element at a time with the flags read at run time: the definition of the result.
    Reference,
    /// The fast loop.
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
            Loop::Fused => match (s.wd_before_clip, s.clip_on) {
                (false, false) => fused::<S, C, false, false>(w, g, m, v, s),
                (false, true) => fused::<S, C, false, true>(w, g, m, v, s),
                (true, false) => fused::<S, C, true, false>(w, g, m, v, s),
                (true, true) => fused::<S, C, true, true>(w, g, m, v, s),
            },
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
            Loop::Fused => match (s.wd_before_clip, s.clip_on) {
                (false, false) => fused_mixed::<H, false, false>(w, master, g, m, v, s),
                (false, true) => fused_mixed::<H, false, true>(w, master, g, m, v, s),
                (true, false) => fused_mixed::<H, true, false>(w, master, g, m, v, s),
                (true, true) => fused_mixed::<H, true, true>(w, master, g, m, v, s),
            },
        }
    }
}

/// The fast loop: the flags are constants, so the inner loop is branch-free and the compiler
/// can vectorise it. Bit-identical to the reference loop.
#[inline(always)]
fn fused<S: Load<C>, C: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
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

#[inline(always)]
fn fused_mixed<H: Half, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [H],
    master: &mut [f32],
    g: &[H],
    m: &mut [f32],
    v: &mut [f32],
    s: &Scalars<f32>,
) {
    let lanes = w.iter_mut().zip(master.iter_mut()).zip(g).zip(m.iter_mut()).zip(v.iter_mut());
    for ((((wi, xi), &gi), mi), vi) in lanes {
        let (nx, nm, nv) = adam(*xi, gi.to_f32(), *mi, *vi, s, WD_BEFORE_CLIP, CLIP_ON);
        (*xi, *mi, *vi, *wi) = (nx, nm, nv, H::from_f32(nx));
    }
}
