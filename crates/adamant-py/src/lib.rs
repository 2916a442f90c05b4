//! `adamant._adamant`: the Python extension of adamant. The Python package `adamant` wraps it:
//! `adamant.create`/`adamant.Updater` (numpy), `adamant.torch` (PyTorch optimizers),
//! `adamant.lr_scheduler`. All arithmetic is the Rust library's; this crate converts and checks.

use pyo3::prelude::*;

mod errors;
mod optimizer;
mod raw;
mod scheduler;
mod torch_grad;
mod torch_grads;
mod torch_known;
mod torch_step;
mod torch_tensors;
mod updater;

/// The extension module.
#[pymodule]
fn _adamant(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AdamantError", m.py().get_type::<errors::AdamantError>())?;
    m.add("OPTIMIZERS", adamant::OPTIMIZERS.to_vec())?;
    m.add_class::<optimizer::Optimizer>()?;
    m.add_class::<updater::Updater>()?;
    m.add_class::<scheduler::LrScheduler>()?;
    m.add_function(wrap_pyfunction!(step_torch, m)?)?;
    m.add_function(wrap_pyfunction!(torch_grads::sum_of_squares, m)?)?;
    Ok(())
}

/// `torch_step(buckets, state, scheduler=None, num_update=0)`: one step of PyTorch parameters.
/// `buckets` is a list of `(optimizer, rescale_grad, groups)`, one per configuration, each
/// group `(params, lr, weight_decay, first_index)` (`first_index`: the position of its first
/// parameter among the optimizer's, for errors); `state` maps a parameter to its dict of state
/// tensors (`step` and the layout's arrays). With `scheduler` (MXNet's), a group's `lr`
/// multiplies its rate at `num_update`, the largest update count once this step is counted.
/// Parameters without a gradient are skipped. Returns the parameters whose state is missing or
/// incomplete, stepping nothing, or an empty list once the step is taken; and the largest
/// update count. Everything, in every bucket, is checked before anything changes; the GIL is
/// released during the arithmetic.
#[pyfunction]
#[pyo3(name = "torch_step", signature = (buckets, state, scheduler = None, num_update = 0))]
fn step_torch<'py>(
    py: Python<'py>,
    buckets: &Bound<'py, pyo3::types::PyList>,
    state: &Bound<'py, pyo3::types::PyDict>,
    scheduler: Option<PyRefMut<'py, scheduler::LrScheduler>>,
    num_update: u64,
) -> PyResult<(Bound<'py, pyo3::types::PyList>, u64)> {
    let mut scheduler = scheduler;
    let scheduler = scheduler.as_mut().map(|s| &mut s.inner);
    torch_step::step(py, buckets, state, scheduler, num_update)
}
