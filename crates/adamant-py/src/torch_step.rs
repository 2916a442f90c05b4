//! One optimizer step over PyTorch parameters, gradients and state tensors, in place: every
//! tensor is checked (device, layout, dtype, shape, strides, alignment, overlaps) before any
//! memory is touched, then the library's counted batch step runs on their memory with the GIL
//! released, and the step counters and autograd version counters advance.

use std::collections::HashSet;
use std::ops::Range;

use adamant::{DType, Grad, Param, ParamStep, RowSparseRef, StateMut, TensorMut, TensorRef, MASTER};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{intern, Py};

use crate::errors::{refused, to_py};
use crate::optimizer::Optimizer;
use crate::raw::{first_overlap, Raw};
use crate::torch_tensors::{dense, is_float32, step_counter, Dense, Torch};

/// What the step keeps between calls (nothing yet: every call checks every tensor).
#[derive(Debug, Default)]
pub struct Cache {}

/// A gradient's memory.
enum GradMemory {
    Dense(Raw),
    /// A sparse COO gradient of an embedding: row ids (int64) and their rows.
    RowSparse {
        rows: usize,
        listed: usize,
        values: Raw,
    },
}

/// One parameter of the step, checked.
struct Entry {
    /// Its position among the step's parameters (errors name it).
    index: usize,
    weight: Dense,
    /// The shape the library sees: the weight's for row-sparse gradients, else flat (the
    /// gradient and state have the weight's strides, so elements correspond in any order).
    shape: Vec<usize>,
    grad: GradMemory,
    /// The state arrays, named as the layout names them.
    arrays: Vec<(&'static str, Raw)>,
    /// The address of its int64 step counter.
    step: usize,
    lr: f64,
    wd: f64,
}

/// The step of `optimizer` over `groups` (`(params, lr, weight_decay)`) with `state`
/// (parameter -> dict of tensors). With `scheduler`, a group's `lr` multiplies the scheduler's
/// rate at `num_update` (MXNet's: the largest update count once this step is counted).
/// Returns the parameters whose state is missing, stepping nothing, or an empty list once the
/// step is taken, with the largest update count.
pub fn step<'py>(
    optimizer: &mut Optimizer,
    py: Python<'py>,
    groups: &Bound<'py, PyList>,
    state: &Bound<'py, PyDict>,
    scheduler: Option<&mut adamant::LrScheduler>,
    num_update: u64,
) -> PyResult<(Bound<'py, PyList>, u64)> {
    let torch = Torch::get(py)?;
    let missing = PyList::empty(py);
    let mut entries = Vec::new();
    let mut stepped: Vec<Py<PyAny>> = Vec::new();
    let mut seen = HashSet::new();
    let mut index = 0usize;
    for group in groups.iter() {
        let (params, lr, wd): (Bound<'py, PyList>, f64, f64) = group.extract()?;
        for p in params.iter() {
            let i = index;
            index += 1;
            if !seen.insert(p.as_ptr() as usize) {
                return Err(refused(format!(
                    "parameter {i} is listed twice in one step (it would be updated twice)"
                )));
            }
            let grad = p.getattr(intern!(py, "grad"))?;
            if grad.is_none() {
                continue;
            }
            let Some(entry) = entry(optimizer, torch, &p, &grad, state, i, lr, wd)? else {
                missing.append(&p)?;
                continue;
            };
            entries.push(entry);
            stepped.push(p.unbind());
        }
    }
    if !missing.is_empty() {
        return Ok((missing, num_update));
    }
    check_overlaps(&entries)?;
    let counts: Vec<ParamStep> = entries
        .iter()
        .map(|e| {
            // SAFETY: `e.step` is the checked address of a live, aligned one-element int64 CPU
            // tensor, read here with the GIL held.
            let count = unsafe { std::ptr::read(e.step as *const i64) };
            let t = u64::try_from(count).ok().and_then(|c| c.checked_add(1));
            t.map(|t| ParamStep { t, lr: e.lr, wd: e.wd })
                .ok_or_else(|| refused(format!("parameter {}: its state \"step\" is {count}", e.index)))
        })
        .collect::<PyResult<_>>()?;
    let num_update = counts.iter().map(|c| c.t).fold(num_update, u64::max);
    let mut counts = counts;
    if let Some(scheduler) = scheduler {
        let rate = scheduler.lr(num_update);
        counts.iter_mut().for_each(|c| c.lr *= rate);
    }
    let result = py.detach(|| {
        let (mut params, mut states) = views(&entries)?;
        optimizer.on_pool(|o| o.update_counted(&mut params, &mut states, &counts))
    });
    result.map_err(to_py)?;
    for (e, c) in entries.iter().zip(&counts) {
        // SAFETY: as for the read above; the step succeeded, so the count advances to `t`.
        unsafe { std::ptr::write(e.step as *mut i64, i64::try_from(c.t).unwrap_or(i64::MAX)) };
    }
    if !stepped.is_empty() {
        torch.increment_version.call1(py, (PyList::new(py, &stepped)?,))?;
    }
    Ok((missing, num_update))
}

/// Parameter `p`'s entry, checked, or `None` when its state is missing or incomplete.
#[allow(clippy::too_many_arguments)]
fn entry(
    optimizer: &Optimizer,
    torch: &Torch,
    p: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    state: &Bound<'_, PyDict>,
    index: usize,
    lr: f64,
    wd: f64,
) -> PyResult<Option<Entry>> {
    let py = p.py();
    let param = || format!("parameter {index}");
    let weight = dense(torch, p, &param)?;
    let sparse = grad.getattr(intern!(py, "is_sparse"))?.is_truthy()?;
    let grad = if sparse {
        row_sparse(torch, grad, &weight, index)?
    } else {
        dense_grad(torch, grad, &weight, index)?
    };
    let Some(st) = state.get_item(p)? else { return Ok(None) };
    let st = st
        .cast_into::<PyDict>()
        .map_err(|_| refused(format!("parameter {index}: its state is not a dict")))?;
    let layout = optimizer.inner.layout(weight.raw.dtype);
    let Some(step) = st.get_item(intern!(py, "step"))? else { return Ok(None) };
    let step = step_counter(torch, &step, &param)?;
    let mut arrays = Vec::with_capacity(layout.len());
    for name in layout.names() {
        let Some(t) = st.get_item(name)? else { return Ok(None) };
        let what = || format!("parameter {index}'s state {name:?}");
        let array = dense(torch, &t, &what)?;
        let dtype = if name == MASTER { DType::F32 } else { layout.dtype };
        if name == MASTER && !is_float32(torch, &t)? || array.raw.dtype != dtype {
            return Err(refused(format!("{} is {}, this optimizer keeps {dtype}", what(), array.raw.dtype)));
        }
        if array.shape != weight.shape || array.strides != weight.strides {
            return Err(refused(format!(
                "{} has shape {:?} and strides {:?}; the parameter has {:?} and {:?}",
                what(),
                array.shape,
                array.strides,
                weight.shape,
                weight.strides
            )));
        }
        arrays.push((name, array.raw));
    }
    let shape = match grad {
        GradMemory::RowSparse { .. } => weight.shape.clone(),
        GradMemory::Dense(_) => vec![weight.raw.len],
    };
    Ok(Some(Entry { index, weight, shape, grad, arrays, step, lr, wd }))
}

/// A dense gradient: the parameter's dtype, shape and strides.
fn dense_grad(torch: &Torch, grad: &Bound<'_, PyAny>, weight: &Dense, index: usize) -> PyResult<GradMemory> {
    let g = dense(torch, grad, &|| format!("parameter {index}'s gradient"))?;
    if g.raw.dtype != weight.raw.dtype || g.shape != weight.shape || g.strides != weight.strides {
        return Err(refused(format!(
            "parameter {index}'s gradient is {} {:?} with strides {:?}; the parameter is {} {:?} with \
             strides {:?}",
            g.raw.dtype, g.shape, g.strides, weight.raw.dtype, weight.shape, weight.strides
        )));
    }
    Ok(GradMemory::Dense(g.raw))
}

/// A sparse COO gradient with one sparse dimension (an embedding's), uncoalesced as autograd
/// makes it: its row ids and their rows, used in place.
fn row_sparse(torch: &Torch, grad: &Bound<'_, PyAny>, weight: &Dense, index: usize) -> PyResult<GradMemory> {
    let py = grad.py();
    let what = || format!("parameter {index}'s sparse gradient");
    let sparse_dim: usize = grad.call_method0(intern!(py, "sparse_dim"))?.extract()?;
    if sparse_dim != 1 || weight.shape.is_empty() {
        return Err(refused(format!(
            "{} has {sparse_dim} sparse dimensions; adamant takes row-sparse gradients (1)",
            what()
        )));
    }
    if !weight.contiguous() {
        return Err(refused(format!("parameter {index} has a sparse gradient but is not contiguous")));
    }
    let indices = grad.call_method0(intern!(py, "_indices"))?;
    let values = dense(torch, &grad.call_method0(intern!(py, "_values"))?, &what)?;
    let idx_dtype = indices.getattr(intern!(py, "dtype"))?;
    let idx_shape: Vec<usize> = indices.getattr(intern!(py, "shape"))?.extract()?;
    let idx_strides: Vec<isize> = indices.call_method0(intern!(py, "stride"))?.extract()?;
    let listed = idx_shape.get(1).copied().unwrap_or(0);
    let ids_contiguous = idx_shape.len() == 2 && (listed <= 1 || idx_strides[1] == 1);
    if !idx_dtype.is(torch.int64()) || !ids_contiguous {
        return Err(refused(format!(
            "{} has row ids of dtype {idx_dtype} and strides {idx_strides:?}",
            what()
        )));
    }
    let rows: usize = indices.call_method0(intern!(py, "data_ptr"))?.extract()?;
    let mut expected = vec![listed];
    expected.extend_from_slice(&weight.shape[1..]);
    if values.raw.dtype != weight.raw.dtype || values.shape != expected || !values.contiguous() {
        return Err(refused(format!(
            "{} has values {} {:?}; rows of the parameter ({} {expected:?}, contiguous) were expected",
            what(),
            values.raw.dtype,
            values.shape,
            weight.raw.dtype
        )));
    }
    if listed > 0 && !rows.is_multiple_of(8) {
        return Err(refused(format!("{}'s row ids are not aligned", what())));
    }
    Ok(GradMemory::RowSparse { rows, listed, values: values.raw })
}

/// Refuses a step whose written memory (weights, state arrays, step counters) overlaps itself
/// or a gradient: the same memory would be updated twice, or read while it is written.
fn check_overlaps(entries: &[Entry]) -> PyResult<()> {
    let mut written: Vec<(Range<usize>, usize)> = Vec::new();
    let mut read: Vec<(Range<usize>, usize)> = Vec::new();
    for e in entries {
        written.push((e.weight.raw.bytes(), e.index));
        written.extend(e.arrays.iter().map(|(_, a)| (a.bytes(), e.index)));
        written.push((e.step..e.step.saturating_add(8), e.index));
        match &e.grad {
            GradMemory::Dense(g) => read.push((g.bytes(), e.index)),
            GradMemory::RowSparse { rows, listed, values } => {
                read.push((*rows..listed.saturating_mul(8).saturating_add(*rows), e.index));
                read.push((values.bytes(), e.index));
            }
        }
    }
    let ranges = |v: &[(Range<usize>, usize)]| v.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>();
    if let Some((a, b)) = first_overlap(&ranges(&written), &ranges(&read)) {
        let owner = |k: usize| if k < written.len() { written[k].1 } else { read[k - written.len()].1 };
        return Err(refused(format!(
            "parameters {} and {} share memory (a tensor, or state, of one step overlaps another's); \
             each tensor must own its memory",
            owner(a),
            owner(b)
        )));
    }
    Ok(())
}

/// The library's views of the entries' memory.
fn views(entries: &[Entry]) -> adamant::Result<(Vec<Param<'_>>, Vec<StateMut<'_>>)> {
    let mut params = Vec::with_capacity(entries.len());
    let mut states = Vec::with_capacity(entries.len());
    for e in entries {
        // SAFETY: every address was read from a live CPU tensor whose dtype, extent, strides and
        // alignment were checked, and `check_overlaps` found no written range overlapping
        // another written or read range; the tensors stay referenced by the caller's lists and
        // state dict for the whole step. (As with PyTorch's own kernels, another thread that
        // replaces a tensor's storage during the step is not supported.)
        let weight = unsafe { e.weight.raw.data_mut() };
        let grad = match &e.grad {
            // SAFETY: as above, for reads.
            GradMemory::Dense(g) => Grad::Dense(TensorRef { shape: &e.shape, data: unsafe { g.data_ref() } }),
            GradMemory::RowSparse { rows, listed, values } => {
                let row_indices: &[i64] = if *listed == 0 {
                    &[]
                } else {
                    // SAFETY: `rows` is the checked, aligned address of `listed` int64 row ids of
                    // a live tensor, only read.
                    unsafe { std::slice::from_raw_parts(*rows as *const i64, *listed) }
                };
                // SAFETY: as above, for reads.
                let values = unsafe { values.data_ref() };
                Grad::RowSparse(RowSparseRef { shape: &e.shape, row_indices, values })
            }
        };
        params.push(Param::new(e.index, TensorMut { shape: &e.shape, data: weight }, grad));
        // SAFETY: as for the weight.
        states.push(StateMut::named(e.arrays.iter().map(|&(name, a)| (name, unsafe { a.data_mut() })))?);
    }
    Ok((params, states))
}
