//! Borrowed views of weights and gradients, and the owned buffers that hold optimizer state.
//!
//! The public API borrows the caller's memory: a weight is a `&mut [T]` plus a shape, a
//! gradient a `&[T]` plus a shape, tagged with their dtype so that one batch can mix dtypes.

#![deny(clippy::arithmetic_side_effects)]

use crate::dtype::{DType, Element};

/// A mutable slice whose element type is known at run time.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataMut<'a> {
    /// float16 elements.
    F16(&'a mut [half::f16]),
    /// bfloat16 elements.
    BF16(&'a mut [half::bf16]),
    /// float32 elements.
    F32(&'a mut [f32]),
    /// float64 elements.
    F64(&'a mut [f64]),
}

/// A shared slice whose element type is known at run time.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DataRef<'a> {
    /// float16 elements.
    F16(&'a [half::f16]),
    /// bfloat16 elements.
    BF16(&'a [half::bf16]),
    /// float32 elements.
    F32(&'a [f32]),
    /// float64 elements.
    F64(&'a [f64]),
}

impl DataMut<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.as_ref().dtype()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A shared view of the same elements.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            DataMut::F16(d) => DataRef::F16(d),
            DataMut::BF16(d) => DataRef::BF16(d),
            DataMut::F32(d) => DataRef::F32(d),
            DataMut::F64(d) => DataRef::F64(d),
        }
    }
}

impl DataRef<'_> {
    /// The elements widened to float32 (exact for every dtype but float64, which is rounded).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            DataRef::F16(d) => d.iter().map(|x| x.to_f32()).collect(),
            DataRef::BF16(d) => d.iter().map(|x| x.to_f32()).collect(),
            DataRef::F32(d) => d.to_vec(),
            DataRef::F64(d) => d.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            DataRef::F16(_) => DType::F16,
            DataRef::BF16(_) => DType::BF16,
            DataRef::F32(_) => DType::F32,
            DataRef::F64(_) => DType::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            DataRef::F16(d) => d.len(),
            DataRef::BF16(d) => d.len(),
            DataRef::F32(d) => d.len(),
            DataRef::F64(d) => d.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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

/// Owned, dtype-tagged storage: what optimizer state is made of.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Buffer {
    /// float16 elements.
    F16(Vec<half::f16>),
    /// bfloat16 elements.
    BF16(Vec<half::bf16>),
    /// float32 elements.
    F32(Vec<f32>),
    /// float64 elements.
    F64(Vec<f64>),
}

impl Buffer {
    /// `len` zeros of `dtype`.
    pub fn zeros(dtype: DType, len: usize) -> Self {
        match dtype {
            DType::F16 => Buffer::F16(vec![half::f16::ZERO; len]),
            DType::BF16 => Buffer::BF16(vec![half::bf16::ZERO; len]),
            DType::F32 => Buffer::F32(vec![0.0; len]),
            DType::F64 => Buffer::F64(vec![0.0; len]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.as_ref().dtype()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A shared view of the elements.
    pub fn as_ref(&self) -> DataRef<'_> {
        match self {
            Buffer::F16(d) => DataRef::F16(d),
            Buffer::BF16(d) => DataRef::BF16(d),
            Buffer::F32(d) => DataRef::F32(d),
            Buffer::F64(d) => DataRef::F64(d),
        }
    }

    /// A mutable view of the elements.
    pub fn as_mut(&mut self) -> DataMut<'_> {
        match self {
            Buffer::F16(d) => DataMut::F16(d),
            Buffer::BF16(d) => DataMut::BF16(d),
            Buffer::F32(d) => DataMut::F32(d),
            Buffer::F64(d) => DataMut::F64(d),
        }
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
