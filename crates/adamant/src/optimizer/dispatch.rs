//! One tensor's step, for every optimizer: the dtype dispatch (storage and compute types,
//! master weights or not, MXNet's per-operation half precision) and the loop (dense, lazy rows
//! or standard rows; the reference or the fused one). An optimizer supplies only its rule.

use crate::kernel::element::{DataMut, DataRef, Element};
use crate::kernel::formula::Factory;
use crate::kernel::rows::{self, CoalescedRows};
use crate::kernel::storage::{Half, Load};
use crate::kernel::target::{Mixed, Plain, Target};
use crate::kernel::{parallel, Loop, PerOp, Real};
use crate::optimizer::state::StateMut;
use crate::param::{Grad, Param};

/// How a tensor's step runs, besides its rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// With a row-sparse gradient, update only the listed rows.
    pub lazy: bool,
    /// Half-precision weights without a master copy compute as MXNet's float16 kernels do,
    /// rounding after every operation.
    pub per_op: bool,
}

/// How a row-sparse gradient is applied.
struct Sparse<'a> {
    rows: &'a [i64],
    row_len: usize,
    lazy: bool,
}

/// Steps `param` with its `state` by the rule `f` builds. `param` and `state` were checked:
/// the gradient matches the weight, and the state has the rule's layout (`K` arrays, then a
/// float32 master copy for half-precision weights with one).
pub(crate) fn step<F: Factory<K>, const K: usize>(
    f: &F,
    param: &mut Param<'_>,
    state: &mut StateMut<'_>,
    o: Options,
    l: Loop,
) {
    let row_len = param.row_len();
    let (grad, rows) = match param.grad {
        Grad::Dense(g) => (g.data, None),
        Grad::RowSparse(g) => (g.values, Some(g.row_indices)),
    };
    let sparse = rows.map(|rows| Sparse { rows, row_len, lazy: o.lazy });
    match (&mut param.weight.data, grad) {
        (DataMut::F32(w), DataRef::F32(g)) => plain::<f32, f32, F, K>(f, w, g, state, sparse, l),
        (DataMut::F64(w), DataRef::F64(g)) => plain::<f64, f64, F, K>(f, w, g, state, sparse, l),
        (DataMut::F16(w), DataRef::F16(g)) => half(f, w, g, state, sparse, o.per_op, l),
        (DataMut::BF16(w), DataRef::BF16(g)) => half(f, w, g, state, sparse, o.per_op, l),
        _ => debug_assert!(false, "the gradient's dtype was checked"),
    }
}

/// A rule's `K` state arrays and, with master weights, the float32 master copy.
type Arrays<'s, T, const K: usize> = ([&'s mut [T]; K], Option<&'s mut [f32]>);

/// The first `K` arrays of `state` as slices of `T`, and the next one as a float32 master copy.
fn arrays<'s, T: Element, const K: usize>(state: &'s mut StateMut<'_>) -> Option<Arrays<'s, T, K>> {
    let mut all = state.arrays_mut();
    let arrays: [Option<&mut [T]>; K] = std::array::from_fn(|_| all.next().and_then(T::slice_mut));
    let master = all.next().and_then(f32::slice_mut);
    arrays.iter().all(Option::is_some).then(|| (arrays.map(Option::unwrap_or_default), master))
}

/// Weight and state stored as `S`, computed in `C`.
fn plain<S: Load<C>, C: Real, F: Factory<K>, const K: usize>(
    f: &F,
    w: &mut [S],
    g: &[S],
    state: &mut StateMut<'_>,
    sparse: Option<Sparse<'_>>,
    l: Loop,
) {
    if let Some((s, _)) = arrays::<S, K>(state) {
        run(Plain::new(w, s, f.rule::<C>()), g, sparse, l)
    }
}

/// A half-precision weight: with its float32 master copy when the state has one, otherwise
/// computed in float32 and rounded once, or rounded after every operation (`per_op`).
fn half<H: Half + Load<PerOp<H>>, F: Factory<K>, const K: usize>(
    f: &F,
    w: &mut [H],
    g: &[H],
    state: &mut StateMut<'_>,
    sparse: Option<Sparse<'_>>,
    per_op: bool,
    l: Loop,
) {
    if state.len() > K {
        if let Some((s, Some(master))) = arrays::<f32, K>(state) {
            run(Mixed { w, master, s, rule: f.rule::<f32>() }, g, sparse, l)
        }
    } else if per_op {
        plain::<H, PerOp<H>, F, K>(f, w, g, state, sparse, l)
    } else {
        plain::<H, f32, F, K>(f, w, g, state, sparse, l)
    }
}

/// One tensor's update; `sparse` is `None` for a dense gradient. The reference runs on the
/// calling thread; the fused loop shares the tensor between threads.
fn run<G: Element>(mut target: impl Target<G>, g: &[G], sparse: Option<Sparse<'_>>, l: Loop) {
    let lazy = sparse.as_ref().is_some_and(|s| s.lazy);
    let rows = sparse.as_ref().map(|s| match l {
        Loop::Fused if lazy => parallel::coalesce_fetching(&target, s.rows, g, s.row_len),
        _ => CoalescedRows::new(s.rows, g, s.row_len),
    });
    match (l, rows) {
        (Loop::Reference, None) => {
            let len = target.len();
            target.update(0..len, g, l)
        }
        (Loop::Reference, Some(rows)) if lazy => rows::lazy(&mut target, &rows, l),
        (Loop::Reference, Some(rows)) => rows::standard(&mut target, &rows, l),
        (Loop::Fused, None) => parallel::dense(target, g, l),
        (Loop::Fused, Some(rows)) if lazy => parallel::lazy(target, &rows, l),
        (Loop::Fused, Some(rows)) => parallel::standard(target, &rows, l),
    }
}
