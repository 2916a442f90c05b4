//! `adamant._adamant`: the Python extension of adamant. The Python package `adamant` wraps it:
//! `adamant.create`/`adamant.Updater` (numpy), `adamant.torch` (PyTorch optimizers),
//! `adamant.lr_scheduler`. All arithmetic is the Rust library's; this crate converts and checks.

use pyo3::prelude::*;

mod errors;
mod optimizer;
mod raw;
mod scheduler;
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
    Ok(())
}
