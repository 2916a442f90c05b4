//! The global norm of a batch's gradients, for clipping by it (Gluon's `clip_global_norm`,
//! PyTorch's `clip_grad_norm_`) and for skipping a step whose gradients are not finite.
//!
//! The sum of squares runs over fixed blocks of each tensor (4096 elements from its first),
//! each block in 32 partial sums by position (float32 for half and float32 gradients, float64
//! for float64 ones) added in float64 in a fixed tree, the blocks' sums then added in float64 in
//! batch and block order:
//! the same bits for every thread count and wherever the tensors sit in memory. A row-sparse
//! gradient counts its rows once, repeated rows summed first (the gradient it stands for).

use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::element::{DataRef, Element};
use crate::kernel::isa::multiversion;
use crate::kernel::rows::CoalescedRows;
use crate::param::{Grad, Param};

/// Elements per block of the sum.
const BLOCK: usize = 4096;

/// An element as its squares are summed: float32 for float16, bfloat16 and float32 gradients
/// (as PyTorch sums a float32 norm), float64 for float64 ones. Each of a block's partial sums
/// adds 128 squares; the partial sums and the blocks are added in float64.
trait Wide: Element {
    type Acc: Copy
        + Default
        + std::ops::Add<Output = Self::Acc>
        + std::ops::Mul<Output = Self::Acc>
        + Into<f64>;
    fn acc(self) -> Self::Acc;
}

impl Wide for half::f16 {
    type Acc = f32;
    #[inline(always)]
    fn acc(self) -> f32 {
        self.to_f32()
    }
}

impl Wide for half::bf16 {
    type Acc = f32;
    #[inline(always)]
    fn acc(self) -> f32 {
        self.to_f32()
    }
}

impl Wide for f32 {
    type Acc = f32;
    #[inline(always)]
    fn acc(self) -> f32 {
        self
    }
}

impl Wide for f64 {
    type Acc = f64;
    #[inline(always)]
    fn acc(self) -> f64 {
        self
    }
}

/// Independent partial sums of a block: element `k` goes to sum `k % LANES`, and the sums are
/// added in a fixed tree at the end. The order depends only on the positions, and the
/// independent chains keep the adds in flight (one chain waits on every add's latency).
const LANES: usize = 32;

#[inline(always)]
fn squares_body<T: Wide>(x: &[T], out: &mut f64) {
    let mut acc = [T::Acc::default(); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = *a + v.acc() * v.acc();
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = *a + v.acc() * v.acc();
    }
    let mut wide: [f64; LANES] = acc.map(Into::into);
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            wide[i] += wide[i + width];
        }
    }
    *out = wide[0];
}

multiversion! {
    /// [`squares_body`] compiled for the instruction set in use (the same bits at every level:
    /// no fused multiply-add, the same partial sums).
    fn squares_simd[T: Wide] names[T](x: &[T], out: &mut f64) => squares_body[T]
}

fn squares<T: Wide>(x: &[T]) -> f64 {
    let mut out = 0.0;
    squares_simd(x, &mut out);
    out
}

/// A dense array's block sums, in block order.
fn dense_blocks(data: DataRef<'_>) -> Vec<f64> {
    fn blocks<T: Wide>(d: &[T]) -> Vec<f64> {
        d.par_chunks(BLOCK).map(squares).collect()
    }
    match data {
        DataRef::F16(d) => blocks(d),
        DataRef::BF16(d) => blocks(d),
        DataRef::F32(d) => blocks(d),
        DataRef::F64(d) => blocks(d),
    }
}

/// One tensor's block sums, in block order.
fn block_sums(grad: &Grad<'_>, row_len: usize) -> Vec<f64> {
    match grad {
        Grad::Dense(g) => dense_blocks(g.data),
        Grad::RowSparse(g) => {
            fn coalesced<T: Wide>(indices: &[i64], values: &[T], row_len: usize) -> Vec<f64> {
                let rows = CoalescedRows::new(indices, values, row_len);
                let mut sum = 0.0;
                rows.for_each(|_, row| sum += squares(row));
                vec![sum]
            }
            match g.values {
                DataRef::F16(d) => coalesced(g.row_indices, d, row_len),
                DataRef::BF16(d) => coalesced(g.row_indices, d, row_len),
                DataRef::F32(d) => coalesced(g.row_indices, d, row_len),
                DataRef::F64(d) => coalesced(g.row_indices, d, row_len),
            }
        }
    }
}

/// The sum of the squares of every gradient element of `params` (float64), for a caller that
/// adds sums from several processes before the square root. Gradients are read as given,
/// before `rescale_grad`.
///
/// ```
/// use adamant::Param;
/// let (mut w, g) = ([0f32; 2], [3f32, 4.0]);
/// let params = [Param::dense(0, &[2], &mut w, &g)];
/// assert_eq!(adamant::global_norm::sum_of_squares(&params)?, 25.0);
/// assert_eq!(adamant::global_norm::global_norm(&params)?, 5.0);
/// # Ok::<(), adamant::Error>(())
/// ```
///
/// # Errors
/// What [`Param::check`] finds: a gradient whose length or row indices do not match its
/// weight's shape (nothing is read then).
pub fn sum_of_squares(params: &[Param<'_>]) -> Result<f64> {
    params.iter().try_for_each(Param::check)?;
    Ok(sum_of_squares_of_checked(params))
}

/// [`sum_of_squares`] of parameters the caller has checked ([`Param::check`]).
fn sum_of_squares_of_checked(params: &[Param<'_>]) -> f64 {
    let sums: Vec<Vec<f64>> = params.par_iter().map(|p| block_sums(&p.grad, p.row_len())).collect();
    sums.iter().flatten().fold(0.0, |total, &s| total + s)
}

/// The sum of the squares of every element of dense `arrays`, in the same blocks and order as
/// [`sum_of_squares`] (for gradients held elsewhere, such as PyTorch's).
pub fn sum_of_squares_of(arrays: &[DataRef<'_>]) -> f64 {
    let sums: Vec<Vec<f64>> = arrays.par_iter().map(|&a| dense_blocks(a)).collect();
    sums.iter().flatten().fold(0.0, |total, &s| total + s)
}

/// The L2 norm of every gradient element of `params`: `sqrt(sum_of_squares(params))`.
///
/// # Errors
/// As [`sum_of_squares`].
pub fn global_norm(params: &[Param<'_>]) -> Result<f64> {
    Ok(sum_of_squares(params)?.sqrt())
}

/// [`global_norm`] of parameters the caller has checked ([`Param::check`]).
pub(crate) fn global_norm_of_checked(params: &[Param<'_>]) -> f64 {
    sum_of_squares_of_checked(params).sqrt()
}

/// The factor that clips gradients whose global norm is `norm` to at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` computes it: `max_norm / (norm + 1e-6)`, at most 1 (1 also for
/// a norm that is not finite: such a step is skipped or fails, it is not rescaled).
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm.is_finite() {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    }
}
