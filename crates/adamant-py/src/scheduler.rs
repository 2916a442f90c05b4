//! `adamant._adamant.LrScheduler`: MXNet's schedulers (stateful, as MXNet's are), built from
//! their JSON form; `adamant.lr_scheduler` gives them MXNet's classes and argument names.

use pyo3::prelude::*;

use crate::errors::{refused, to_py};

/// A learning-rate scheduler: Factor, MultiFactor, Poly or Cosine, with warmup.
#[pyclass(module = "adamant._adamant")]
#[derive(Clone)]
pub struct LrScheduler {
    pub inner: adamant::LrScheduler,
}

#[pymethods]
impl LrScheduler {
    /// `LrScheduler(json)`: from `{"type": "factor" | "multifactor" | "poly" | "cosine", ...}`
    /// with MXNet's argument names.
    #[new]
    fn new(json: &str) -> PyResult<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| refused(format!("lr_scheduler: {e}")))?;
        Ok(LrScheduler { inner: adamant::LrScheduler::from_json(&value).map_err(to_py)? })
    }

    /// The rate at update `num_update`; like MXNet's, the scheduler keeps state (Factor and
    /// MultiFactor decay their base rate as updates pass).
    fn __call__(&mut self, num_update: u64) -> f64 {
        self.inner.lr(num_update)
    }

    /// The schedule as JSON (its starting values).
    fn to_json(&self) -> String {
        self.inner.to_json().to_string()
    }

    /// The mutable state `(base_lr, count, cur_step_ind)`.
    fn state(&self) -> (f64, u64, u64) {
        self.inner.state()
    }

    /// Puts back a state taken by `state()`.
    fn restore_state(&mut self, state: (f64, u64, u64)) -> PyResult<()> {
        self.inner.restore_state(state).map_err(to_py)
    }
}
