//! The sum of squares of PyTorch gradients for clipping by their global norm, in the library's
//! fixed blocks: the same bits for every thread count and wherever the tensors sit.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::torch_tensors::{dense, Torch};

/// `sum_of_squares(tensors)`: the float64 sum of the squares of every element of the dense CPU
/// tensors (float16, bfloat16, float32, float64), in the library's blocks and order. The GIL
/// is released while it sums.
#[pyfunction]
pub fn sum_of_squares(py: Python<'_>, tensors: &Bound<'_, PyList>) -> PyResult<f64> {
    let torch = Torch::get(py)?;
    let mut raws = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        raws.push(dense(torch, &t, &|| format!("gradient {i}"))?.raw);
    }
    Ok(py.detach(|| {
        // SAFETY: every address was read from a live, dense CPU tensor of the checked dtype,
        // extent and alignment; the list keeps them referenced while the GIL is released, and
        // they are only read. (Another thread that replaces a tensor's memory meanwhile is not
        // supported, as with PyTorch's own kernels.)
        let arrays: Vec<adamant::DataRef<'_>> = raws.iter().map(|r| unsafe { r.data_ref() }).collect();
        adamant::global_norm::sum_of_squares_of(&arrays)
    }))
}
