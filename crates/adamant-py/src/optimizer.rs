//! `adamant._adamant.Optimizer`: an optimizer of the registry, with its own thread pool, and
//! the batch step over PyTorch tensors that `adamant.torch` calls.

use adamant::DType;
use pyo3::prelude::*;

use crate::errors::{refused, to_py};
use crate::torch_known::Cache;

/// An optimizer of the registry (`adam`, `adamw`), configured from JSON with MXNet's names.
#[pyclass(module = "adamant._adamant")]
pub struct Optimizer {
    pub inner: Box<dyn adamant::Optimizer>,
    /// Its own pool, when it was given a thread count.
    pub pool: Option<rayon::ThreadPool>,
    /// What the torch step keeps between steps.
    pub torch: Cache,
}

/// A dtype by its NumPy / PyTorch name.
pub fn dtype_named(name: &str) -> PyResult<DType> {
    match name {
        "float16" => Ok(DType::F16),
        "bfloat16" => Ok(DType::BF16),
        "float32" => Ok(DType::F32),
        "float64" => Ok(DType::F64),
        other => {
            Err(refused(format!("dtype {other:?}: adamant steps float16, bfloat16, float32 and float64")))
        }
    }
}

/// A thread count from Python: a negative one is refused with the value, as a value out of
/// range (not Python's `OverflowError` for an unsigned argument).
pub fn thread_count(threads: i64) -> PyResult<usize> {
    usize::try_from(threads)
        .map_err(|_| refused(format!("threads = {threads}: must be 0 (the caller's pool) or more")))
}

/// Runs `f` on `inner` on `pool`, or on the caller's thread pool without one.
pub fn on_pool<R: Send>(
    pool: &Option<rayon::ThreadPool>,
    inner: &mut dyn adamant::Optimizer,
    f: impl FnOnce(&mut dyn adamant::Optimizer) -> R + Send,
) -> R {
    match pool {
        Some(pool) => pool.install(|| f(inner)),
        None => f(inner),
    }
}

#[pymethods]
impl Optimizer {
    /// `Optimizer(name, config_json, threads=0)`: the registry's optimizer `name` configured by
    /// the JSON object `config_json`; `threads` > 0 gives it a pool of its own.
    #[new]
    #[pyo3(signature = (name, config_json, threads = 0))]
    fn new(name: &str, config_json: &str, threads: i64) -> PyResult<Self> {
        let config: serde_json::Value =
            serde_json::from_str(config_json).map_err(|e| refused(format!("configuration: {e}")))?;
        let inner = adamant::create(name, &config).map_err(to_py)?;
        let mut optimizer = Optimizer { inner, pool: None, torch: Cache::default() };
        optimizer.set_threads(threads)?;
        Ok(optimizer)
    }

    /// The registry's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// The configuration as a JSON object (every option, defaults included).
    fn config_json(&self) -> String {
        self.inner.config_json().to_string()
    }

    /// `(names, dtype)`: the state arrays kept for a weight of `dtype`, in order, and the
    /// dtype of all but the master copy (`weight32`, always float32).
    fn layout(&self, dtype: &str) -> PyResult<(Vec<&'static str>, &'static str)> {
        let layout = self.inner.layout(dtype_named(dtype)?);
        Ok((layout.names().collect(), layout.dtype.name()))
    }

    /// Runs steps on `threads` threads of its own (1 to 1024), or with 0 on the caller's pool.
    fn set_threads(&mut self, threads: i64) -> PyResult<()> {
        let threads = thread_count(threads)?;
        if threads > adamant::Updater::MAX_THREADS {
            return Err(refused(format!("threads = {threads}: at most {}", adamant::Updater::MAX_THREADS)));
        }
        self.pool = match threads {
            0 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| refused(format!("threads = {n}: cannot start ({e})")))?,
            ),
        };
        Ok(())
    }

    /// The scalars it keeps across steps (Nadam's `m_schedule`), as `(name, value)` pairs.
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        self.inner.scalars()
    }

    /// Puts back scalars taken by `scalars()`.
    fn restore_scalars(&mut self, scalars: Vec<(String, f64)>) -> PyResult<()> {
        self.inner.restore_scalars(&scalars).map_err(to_py)
    }

    /// Sets `rescale_grad` for the steps to come (a loss scale's `1 / scale` folded in).
    fn set_rescale_grad(&mut self, rescale_grad: f64) -> PyResult<()> {
        self.inner.set_rescale_grad(rescale_grad).map_err(to_py)
    }
}
