//! Borrowed views of weights and gradients: the caller's memory with a shape.
//!
//! A weight is a `&mut [T]` plus a shape, a gradient a `&[T]` plus a shape, tagged with their
//! dtype ([`DataMut`], [`DataRef`]) so that one batch can mix dtypes.

#![deny(clippy::arithmetic_side_effects)]

use crate::kernel::element::{DataMut, DataRef, Element};

/// A weight: the caller's elements, updated in place, and the shape they have.
#[derive(Debug)]
pub struct TensorMut<'a> {
    /// The shape, row-major.
    pub shape: &'a [usize],
    /// The elements.
    pub data: DataMut<'a>,
}

/// A dense gradient (or any read-only tensor): elements and shape.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// The shape, row-major.
    pub shape: &'a [usize],
    /// The elements.
    pub data: DataRef<'a>,
}

impl<'a> TensorMut<'a> {
    /// A weight view over `data` with `shape`.
    ///
    /// ```
    /// let mut w = [1.0f32; 6];
    /// let t = adamant::TensorMut::new(&[2, 3], &mut w);
    /// assert_eq!(t.data.len(), 6);
    /// ```
    pub fn new<T: Element>(shape: &'a [usize], data: &'a mut [T]) -> Self {
        TensorMut { shape, data: T::data_mut(data) }
    }
}

impl<'a> TensorRef<'a> {
    /// A read-only view over `data` with `shape`.
    pub fn new<T: Element>(shape: &'a [usize], data: &'a [T]) -> Self {
        TensorRef { shape, data: T::data_ref(data) }
    }
}

/// A shape kept by value: up to four dimensions inline (no allocation, no pointer to follow
/// when many small tensors are checked), more on the heap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Up to four dimensions, the first `ndim` used.
    Inline { dims: [usize; 4], ndim: u8 },
    /// Five or more dimensions.
    Heap(Vec<usize>),
}

impl Shape {
    /// `dims` as a `Shape`.
    pub fn new(dims: &[usize]) -> Shape {
        match dims.len() {
            n @ 0..=4 => {
                let mut inline = [0; 4];
                inline[..n].copy_from_slice(dims);
                Shape::Inline { dims: inline, ndim: n as u8 }
            }
            _ => Shape::Heap(dims.to_vec()),
        }
    }

    /// The dimensions.
    pub fn as_slice(&self) -> &[usize] {
        match self {
            Shape::Inline { dims, ndim } => &dims[..usize::from(*ndim)],
            Shape::Heap(dims) => dims,
        }
    }
}

/// Whether two shapes are equal; cheap when they are the same slice (as a dense gradient's and
/// its weight's usually are), which matters with many small tensors.
#[inline]
pub(crate) fn same_shape(a: &[usize], b: &[usize]) -> bool {
    std::ptr::eq(a, b) || (a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y))
}

/// The number of elements a shape holds, or `None` when that number does not fit a `usize`.
///
/// A shape with a zero dimension holds no elements, whatever its other dimensions are.
pub(crate) fn shape_len(shape: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1usize, |len, &dim| len.checked_mul(dim))
}
