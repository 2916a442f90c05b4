//! A parameter's gradient at one step, checked: dense with the parameter's dtype, shape and
//! strides, or an embedding's sparse COO gradient used in place (uncoalesced, as autograd
//! makes it).

use pyo3::intern;
use pyo3::prelude::*;

use crate::errors::refused;
use crate::raw::Raw;
use crate::torch_known::Known;
use crate::torch_tensors::{dense, Dense, Torch};

/// A gradient's memory.
#[derive(Clone, Copy)]
pub enum GradMemory {
    Dense(Raw),
    /// A sparse COO gradient of an embedding: row ids (int64) and their rows.
    RowSparse {
        rows: usize,
        listed: usize,
        values: Raw,
    },
}

/// The gradient `grad` of `known`'s parameter (position `index`), checked.
pub fn gradient(
    torch: &Torch,
    grad: &Bound<'_, PyAny>,
    known: &mut Known,
    index: usize,
) -> PyResult<GradMemory> {
    let py = grad.py();
    // An embedding's gradient is sparse at every step: asked first, it spares the exception
    // that `data_ptr` raises for it.
    let is_sparse = || -> PyResult<bool> { grad.getattr(intern!(py, "is_sparse"))?.is_truthy() };
    if known.sparse_grad && is_sparse()? {
        return row_sparse(torch, grad, &known.weight, index);
    }
    let ptr = grad.call_method0(intern!(py, "data_ptr")).and_then(|v| v.extract::<usize>());
    let Ok(ptr) = ptr else {
        if is_sparse()? {
            known.sparse_grad = true;
            return row_sparse(torch, grad, &known.weight, index);
        }
        return Err(ptr.err().unwrap_or_else(|| refused("data_ptr failed")));
    };
    known.sparse_grad = false;
    let weight = &known.weight;
    // The common case in five calls: a contiguous gradient of the contiguous parameter's dtype
    // and element count at an address of its own, holding its values as they are (not a lazily
    // negated view). (PyTorch checks a `.grad` when it is set, but not one changed through
    // `.grad.data`.) Otherwise every attribute is compared.
    let raw = Raw { ptr, dtype: weight.raw.dtype, len: weight.raw.len };
    let same_dtype = || -> PyResult<bool> {
        let dtype = grad.getattr(intern!(py, "dtype"))?;
        Ok(torch.dtype_object(weight.raw.dtype).is_some_and(|d| dtype.is(d)))
    };
    if known.contiguous
        && (ptr != 0 || raw.len == 0)
        && raw.aligned()
        && grad.call_method0(intern!(py, "is_contiguous"))?.is_truthy()?
        && grad.call_method0(intern!(py, "numel"))?.extract::<usize>()? == weight.raw.len
        && same_dtype()?
        && !grad.call_method0(intern!(py, "is_neg"))?.is_truthy()?
    {
        return Ok(GradMemory::Dense(raw));
    }
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
    if listed > 0 && rows == 0 {
        return Err(refused(format!("{}'s row ids have no memory", what())));
    }
    if listed > 0 && !rows.is_multiple_of(8) {
        return Err(refused(format!("{}'s row ids are not aligned", what())));
    }
    Ok(GradMemory::RowSparse { rows, listed, values: values.raw })
}
