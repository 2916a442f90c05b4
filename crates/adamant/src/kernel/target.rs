//! What a loop updates: a weight with its moments, with or without a float32 master copy.

use std::ops::Range;

use super::prefetch::prefetch;
use super::storage::{Half, Load, Stored};
use super::{Loop, Real, Scalars};

/// Arrays that a gradient of element type `G` updates, span by span.
///
/// Dense updates run one span over everything; row-sparse updates run one span per row.
/// A target splits into two disjoint targets, which is how work is shared between threads.
pub trait Target<G: Stored>: Send + Sized {
    /// Elements in the weight.
    fn len(&self) -> usize;

    /// The targets for elements `..mid` and `mid..`.
    fn split_at(self, mid: usize) -> (Self, Self);

    /// The weight's address, so that split points can fall on cache-line boundaries.
    fn weight_ptr(&self) -> *const u8;

    /// Whether the weight is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Updates the elements in `span` with their gradient `g` (`g.len() == span.len()`).
    fn update(&mut self, span: Range<usize>, g: &[G], l: Loop);

    /// Starts fetching the arrays of `span` into the cache (a hint for scattered rows).
    fn prefetch(&self, span: Range<usize>);
}

/// A weight and its moments, all stored as `S`, computed in `C`.
#[derive(Debug)]
pub struct Plain<'a, S, C> {
    /// The weight.
    pub w: &'a mut [S],
    /// The first moment.
    pub m: &'a mut [S],
    /// The second moment.
    pub v: &'a mut [S],
    /// The step's scalars in `C`.
    pub s: Scalars<C>,
}

impl<S: Load<C>, C: Real> Target<S> for Plain<'_, S, C> {
    fn len(&self) -> usize {
        self.w.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((w0, w1), (m0, m1), (v0, v1)) =
            (self.w.split_at_mut(mid), self.m.split_at_mut(mid), self.v.split_at_mut(mid));
        (Plain { w: w0, m: m0, v: v0, s: self.s }, Plain { w: w1, m: m1, v: v1, s: self.s })
    }

    fn weight_ptr(&self) -> *const u8 {
        self.w.as_ptr().cast()
    }

    #[inline]
    fn update(&mut self, span: Range<usize>, g: &[S], l: Loop) {
        l.run(&mut self.w[span.clone()], g, &mut self.m[span.clone()], &mut self.v[span], &self.s)
    }

    #[inline]
    fn prefetch(&self, span: Range<usize>) {
        prefetch(&self.w[span.clone()]);
        prefetch(&self.m[span.clone()]);
        prefetch(&self.v[span]);
    }
}

/// A half-precision weight with a float32 master copy and float32 moments.
#[derive(Debug)]
pub struct Mixed<'a, H> {
    /// The half weight, written as the rounded master.
    pub w: &'a mut [H],
    /// The float32 master weight the update is computed on.
    pub master: &'a mut [f32],
    /// The first moment.
    pub m: &'a mut [f32],
    /// The second moment.
    pub v: &'a mut [f32],
    /// The step's scalars.
    pub s: Scalars<f32>,
}

impl<H: Half> Target<H> for Mixed<'_, H> {
    fn len(&self) -> usize {
        self.w.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (w0, w1) = self.w.split_at_mut(mid);
        let (x0, x1) = self.master.split_at_mut(mid);
        let ((m0, m1), (v0, v1)) = (self.m.split_at_mut(mid), self.v.split_at_mut(mid));
        (
            Mixed { w: w0, master: x0, m: m0, v: v0, s: self.s },
            Mixed { w: w1, master: x1, m: m1, v: v1, s: self.s },
        )
    }

    fn weight_ptr(&self) -> *const u8 {
        self.w.as_ptr().cast()
    }

    #[inline]
    fn update(&mut self, span: Range<usize>, g: &[H], l: Loop) {
        let (w, master) = (&mut self.w[span.clone()], &mut self.master[span.clone()]);
        l.run_mixed(w, master, g, &mut self.m[span.clone()], &mut self.v[span], &self.s)
    }

    #[inline]
    fn prefetch(&self, span: Range<usize>) {
        prefetch(&self.w[span.clone()]);
        prefetch(&self.master[span.clone()]);
        prefetch(&self.m[span.clone()]);
        prefetch(&self.v[span]);
    }
}
