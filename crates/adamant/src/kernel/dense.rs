//! Dense loops: every element of a slice is updated.

use super::element::adam;
use super::{Real, Scalars};

/// Which loop runs the elements: the reference or the fast one. They give the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    /// [`reference()`]: one element at a time, the definition of the result.
    Reference,
    /// [`fused()`]: the fast loop.
    Fused,
}

impl Loop {
    /// Runs `w, m, v` (and their gradient `g`) through this loop.
    #[inline]
    pub fn run<T: Real>(self, w: &mut [T], g: &[T], m: &mut [T], v: &mut [T], s: &Scalars<T>) {
        match self {
            Loop::Reference => reference(w, g, m, v, s),
            Loop::Fused => fused(w, g, m, v, s),
        }
    }
}

/// The reference loop: one element at a time, flags read at run time.
///
/// This is the definition the fast loops are tested against. All four slices have the same
/// length (the caller has checked).
pub fn reference<T: Real>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T], s: &Scalars<T>) {
    debug_assert!(g.len() == w.len() && m.len() == w.len() && v.len() == w.len());
    for i in 0..w.len() {
        let (wi, mi, vi) = adam(w[i], g[i], m[i], v[i], s, s.wd_before_clip, s.clip_on);
        w[i] = wi;
        m[i] = mi;
        v[i] = vi;
    }
}

/// The fused loop: the flags become constants, so the inner loop is branch-free and the
/// compiler can vectorise it. Bit-identical to [`reference()`].
pub fn fused<T: Real>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T], s: &Scalars<T>) {
    match (s.wd_before_clip, s.clip_on) {
        (false, false) => fused_with::<T, false, false>(w, g, m, v, s),
        (false, true) => fused_with::<T, false, true>(w, g, m, v, s),
        (true, false) => fused_with::<T, true, false>(w, g, m, v, s),
        (true, true) => fused_with::<T, true, true>(w, g, m, v, s),
    }
}

#[inline(always)]
fn fused_with<T: Real, const WD_BEFORE_CLIP: bool, const CLIP_ON: bool>(
    w: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    s: &Scalars<T>,
) {
    let lanes = w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
    for (((wi, &gi), mi), vi) in lanes {
        let (nw, nm, nv) = adam(*wi, gi, *mi, *vi, s, WD_BEFORE_CLIP, CLIP_ON);
        *wi = nw;
        *mi = nm;
        *vi = nv;
    }
}
