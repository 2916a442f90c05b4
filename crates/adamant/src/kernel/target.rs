//! What a loop updates: a weight and its state arrays, with or without a float32 master copy,
//! and the rule that updates them.

use std::marker::PhantomData;
use std::ops::Range;

use super::element::Element;
use super::formula::Formula;
use super::prefetch::prefetch;
use super::storage::{Half, Load};
use super::{Loop, Real};

/// Arrays that a gradient of element type `G` updates, span by span.
///
/// Dense updates run one span over everything; row-sparse updates run one span per row.
/// A target splits into two disjoint targets, which is how work is shared between threads.
pub trait Target<G: Element>: Send + Sync + Sized {
    /// Elements in the weight.
    fn len(&self) -> usize;

    /// The targets for elements `..mid` and `mid..`.
    fn split_at(self, mid: usize) -> (Self, Self);

    /// The weight's address, so that split points can fall on cache-line boundaries.
    fn weight_ptr(&self) -> *const u8;

    /// Updates the elements in `span` with their gradient `g` (`g.len() == span.len()`).
    fn update(&mut self, span: Range<usize>, g: &[G], l: Loop);

    /// Starts fetching the arrays of `span` into the cache (a hint for scattered rows).
    fn prefetch(&self, span: Range<usize>);
}

/// Each of `arrays` split at `mid`: the parts before, and the parts from `mid` on.
fn split_all<T, const K: usize>(arrays: [&mut [T]; K], mid: usize) -> ([&mut [T]; K], [&mut [T]; K]) {
    let mut pairs = arrays.map(|a| a.split_at_mut(mid));
    let before = pairs.each_mut().map(|pair| std::mem::take(&mut pair.0));
    (before, pairs.map(|pair| pair.1))
}

/// `span` of each of `arrays`.
fn spans<'s, T, const K: usize>(arrays: &'s mut [&mut [T]; K], span: &Range<usize>) -> [&'s mut [T]; K] {
    arrays.each_mut().map(|a| &mut a[span.clone()])
}

/// A weight and its state, all stored as `S`, computed in `C` by rule `R`.
#[derive(Debug)]
pub struct Plain<'a, S, C, R, const K: usize> {
    /// The weight.
    pub w: &'a mut [S],
    /// The rule's state arrays.
    pub s: [&'a mut [S]; K],
    /// The rule, its scalars in `C`.
    pub rule: R,
    pub(crate) compute: PhantomData<C>,
}

impl<'a, S, C, R, const K: usize> Plain<'a, S, C, R, K> {
    /// A target of `w` and its state `s`.
    pub fn new(w: &'a mut [S], s: [&'a mut [S]; K], rule: R) -> Self {
        Plain { w, s, rule, compute: PhantomData }
    }
}

impl<S: Load<C>, C: Real, R: Formula<C, K>, const K: usize> Target<S> for Plain<'_, S, C, R, K> {
    fn len(&self) -> usize {
        self.w.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (w0, w1) = self.w.split_at_mut(mid);
        let (s0, s1) = split_all(self.s, mid);
        (Plain::new(w0, s0, self.rule), Plain::new(w1, s1, self.rule))
    }

    fn weight_ptr(&self) -> *const u8 {
        self.w.as_ptr().cast()
    }

    #[inline]
    fn update(&mut self, span: Range<usize>, g: &[S], l: Loop) {
        l.run(&mut self.w[span.clone()], g, spans(&mut self.s, &span), &self.rule)
    }

    #[inline]
    fn prefetch(&self, span: Range<usize>) {
        prefetch(&self.w[span.clone()]);
        for a in &self.s {
            prefetch(&a[span.clone()]);
        }
    }
}

/// A half-precision weight with a float32 master copy and float32 state.
#[derive(Debug)]
pub struct Mixed<'a, H, R, const K: usize> {
    /// The half weight, written as the rounded master.
    pub w: &'a mut [H],
    /// The float32 master weight the update is computed on.
    pub master: &'a mut [f32],
    /// The rule's state arrays.
    pub s: [&'a mut [f32]; K],
    /// The rule, its scalars in float32.
    pub rule: R,
}

impl<H: Half, R: Formula<f32, K>, const K: usize> Target<H> for Mixed<'_, H, R, K> {
    fn len(&self) -> usize {
        self.w.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (w0, w1) = self.w.split_at_mut(mid);
        let (x0, x1) = self.master.split_at_mut(mid);
        let (s0, s1) = split_all(self.s, mid);
        (
            Mixed { w: w0, master: x0, s: s0, rule: self.rule },
            Mixed { w: w1, master: x1, s: s1, rule: self.rule },
        )
    }

    fn weight_ptr(&self) -> *const u8 {
        self.w.as_ptr().cast()
    }

    #[inline]
    fn update(&mut self, span: Range<usize>, g: &[H], l: Loop) {
        let (w, master) = (&mut self.w[span.clone()], &mut self.master[span.clone()]);
        l.run_mixed(w, master, g, spans(&mut self.s, &span), &self.rule)
    }

    #[inline]
    fn prefetch(&self, span: Range<usize>) {
        prefetch(&self.w[span.clone()]);
        prefetch(&self.master[span.clone()]);
        for a in &self.s {
            prefetch(&a[span.clone()]);
        }
    }
}
