//! One entry of an update batch: a parameter's index, its weight and its gradient.

#![deny(clippy::arithmetic_side_effects)]

use crate::error::{Error, Result};
use crate::kernel::element::{DataRef, Element};
use crate::tensor::{same_shape, shape_len, TensorMut, TensorRef};

/// A row-sparse gradient (MXNet's `row_sparse` storage): only some rows of a weight of shape
/// `(rows, ...)` are stored.
///
/// `values` holds `row_indices.len()` rows of `shape[1..].product()` elements each, the `i`-th
/// row belonging to weight row `row_indices[i]`. Indices may come in any order and may repeat:
/// repeated rows are summed, in the order they appear, before the update.
#[derive(Debug, Clone, Copy)]
pub struct RowSparseRef<'a> {
    /// The dense shape of the gradient (the weight's shape).
    pub shape: &'a [usize],
    /// The weight rows that have gradient values.
    pub row_indices: &'a [i64],
    /// The values, one row per entry of `row_indices`, row-major.
    pub values: DataRef<'a>,
}

/// The gradient of one parameter.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Grad<'a> {
    /// A dense gradient with the weight's shape.
    Dense(TensorRef<'a>),
    /// Gradient values for some rows only.
    RowSparse(RowSparseRef<'a>),
}

/// One entry of an update batch: which parameter, its weight and its gradient.
///
/// ```
/// let mut w = [0.5f32, -0.25];
/// let g = [0.1f32, 0.2];
/// let p = adamant::Param::dense(7, &[2], &mut w, &g);
/// assert_eq!(p.index, 7);
/// ```
#[derive(Debug)]
pub struct Param<'a> {
    /// The parameter index: it keys the state, the update counter and the multipliers.
    pub index: usize,
    /// The weight, updated in place.
    pub weight: TensorMut<'a>,
    /// The gradient; never modified.
    pub grad: Grad<'a>,
    /// For a weight in MXNet's `row_sparse` storage, the rows it holds. As in MXNet, such a
    /// weight must hold every row (`0, 1, ..., rows - 1`), and then it behaves as a dense
    /// weight. `None` for an ordinary dense weight.
    pub weight_rows: Option<&'a [i64]>,
}

impl<'a> Param<'a> {
    /// A parameter from views whose dtype is known only at run time.
    ///
    /// ```
    /// use adamant::{Grad, Param, TensorMut, TensorRef};
    /// let (mut w, g) = ([1.0f64; 4], [0.5f64; 4]);
    /// let p = Param::new(3, TensorMut::new(&[4], &mut w), Grad::Dense(TensorRef::new(&[4], &g)));
    /// assert!(p.check().is_ok());
    /// ```
    pub fn new(index: usize, weight: TensorMut<'a>, grad: Grad<'a>) -> Self {
        Param { index, weight, grad, weight_rows: None }
    }

    /// A parameter with a dense gradient of the weight's shape.
    pub fn dense<T: Element>(index: usize, shape: &'a [usize], weight: &'a mut [T], grad: &'a [T]) -> Self {
        Param::new(index, TensorMut::new(shape, weight), Grad::Dense(TensorRef::new(shape, grad)))
    }

    /// A parameter with a row-sparse gradient: `values` holds one row of
    /// `shape[1..].product()` elements for each entry of `row_indices`.
    ///
    /// ```
    /// // A 4 x 2 embedding table whose rows 3 and 0 received gradients.
    /// let mut table = [0.5f32; 8];
    /// let (rows, values) = ([3i64, 0], [0.1f32, 0.2, -0.3, 0.4]);
    /// let p = adamant::Param::row_sparse(0, &[4, 2], &mut table, &rows, &values);
    /// assert!(p.check().is_ok());
    /// ```
    pub fn row_sparse<T: Element>(
        index: usize,
        shape: &'a [usize],
        weight: &'a mut [T],
        row_indices: &'a [i64],
        values: &'a [T],
    ) -> Self {
        let grad = Grad::RowSparse(RowSparseRef { shape, row_indices, values: T::data_ref(values) });
        Param::new(index, TensorMut::new(shape, weight), grad)
    }

    /// The same parameter with its weight in MXNet's `row_sparse` storage, holding `rows`.
    pub fn with_weight_rows(mut self, rows: &'a [i64]) -> Self {
        self.weight_rows = Some(rows);
        self
    }

    /// Checks that the weight and the gradient agree with their shapes and with each other,
    /// and that every row index is in range. Changes nothing.
    pub fn check(&self) -> Result<()> {
        let index = self.index;
        let shape = self.weight.shape;
        let dtype = self.weight.data.dtype();
        let overflow = || Error::ShapeOverflow { index, shape: shape.to_vec(), bits: usize::BITS };
        let expected = shape_len(shape).ok_or_else(overflow)?;
        if self.weight.data.len() != expected {
            let len = self.weight.data.len();
            return Err(Error::ShapeLength { index, what: "weight", len, shape: shape.to_vec(), expected });
        }
        if let Some(rows) = self.weight_rows {
            let all_rows = shape.first().copied().unwrap_or(0);
            let out_of_place = rows.iter().zip(0..).position(|(&r, i)| r != i).map(|at| (at, rows[at]));
            if rows.len() != all_rows || out_of_place.is_some() {
                let present = rows.len();
                return Err(Error::MissingWeightRows { index, rows: all_rows, present, out_of_place });
            }
        }
        let (grad_shape, grad_dtype) = match self.grad {
            Grad::Dense(g) => (g.shape, g.data.dtype()),
            Grad::RowSparse(g) => (g.shape, g.values.dtype()),
        };
        if !same_shape(grad_shape, shape) {
            return Err(Error::GradShape { index, weight: shape.to_vec(), grad: grad_shape.to_vec() });
        }
        if grad_dtype != dtype {
            return Err(Error::GradDType { index, weight: dtype, grad: grad_dtype });
        }
        match self.grad {
            Grad::Dense(g) => {
                if g.data.len() != expected {
                    let len = g.data.len();
                    return Err(Error::ShapeLength {
                        index,
                        what: "gradient",
                        len,
                        shape: shape.to_vec(),
                        expected,
                    });
                }
            }
            Grad::RowSparse(g) => {
                let Some((&rows, row_shape)) = shape.split_first() else {
                    return Err(Error::RowSparseScalar { index });
                };
                // The whole shape's product fits (checked above), so a row's product overflows
                // only in a table of no rows, which can list none.
                let row_len = match (shape_len(row_shape), g.row_indices.first()) {
                    (Some(row_len), _) => row_len,
                    (None, Some(&row)) => return Err(Error::RowIndexOutOfRange { index, row, rows }),
                    (None, None) => 0,
                };
                let listed = g.row_indices.len();
                if Some(g.values.len()) != listed.checked_mul(row_len) {
                    return Err(Error::RowSparseValues { index, listed, row_len, len: g.values.len() });
                }
                if let Some(&row) = g.row_indices.iter().find(|&&r| r < 0 || r as u64 >= rows as u64) {
                    return Err(Error::RowIndexOutOfRange { index, row, rows });
                }
            }
        }
        Ok(())
    }

    /// Whether this is a dense parameter that [`Param::check`] accepts, decided without building
    /// an error (a batch's common case; `check` says what is wrong otherwise).
    #[inline]
    pub(crate) fn is_plain_dense(&self) -> bool {
        let (shape, w) = (self.weight.shape, &self.weight.data);
        match (&self.grad, shape_len(shape), self.weight_rows) {
            (Grad::Dense(g), Some(len), None) => {
                w.len() == len
                    && g.data.len() == len
                    && g.data.dtype() == w.dtype()
                    && same_shape(g.shape, shape)
            }
            _ => false,
        }
    }

    /// Elements per row of the weight (`shape[1..].product()`; 1 for a scalar). Meaningful
    /// after [`Param::check`], which refuses shapes whose product overflows.
    pub(crate) fn row_len(&self) -> usize {
        shape_len(self.weight.shape.get(1..).unwrap_or(&[])).unwrap_or(0)
    }
}
