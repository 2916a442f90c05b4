//! `adamant._adamant.Updater`: an optimizer that owns its state (MXNet's `get_updater`),
//! stepping numpy arrays in place; state files as the Rust library writes them.

use std::ops::Range;

use adamant::{DType, DataRef, Grad, Param, RowSparseRef, TensorMut, TensorRef};
use numpy::npyffi::NPY_ARRAY_WRITEABLE;
use numpy::{PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::{refused, to_py};
use crate::optimizer::Optimizer;
use crate::raw::{first_overlap, Raw};

/// An optimizer with the state of every parameter it has stepped.
#[pyclass(module = "adamant._adamant")]
pub struct Updater {
    inner: adamant::Updater,
}

/// A numpy array's memory: C-contiguous, aligned, of a dtype adamant steps.
fn array(a: &Bound<'_, PyAny>, what: &dyn Fn() -> String, write: bool) -> PyResult<(Raw, Vec<usize>)> {
    let a = a.cast::<PyUntypedArray>().map_err(|_| refused(format!("{} is not a numpy array", what())))?;
    let descr = a.dtype();
    let dtype = match (descr.kind(), descr.itemsize()) {
        (b'f', 2) => DType::F16,
        (b'f', 4) => DType::F32,
        (b'f', 8) => DType::F64,
        _ => {
            return Err(refused(format!(
                "{} has dtype {descr}; adamant steps float16, float32 and float64",
                what()
            )))
        }
    };
    if descr.is_native_byteorder() == Some(false) {
        return Err(refused(format!("{} has dtype {descr}, not in this machine's byte order", what())));
    }
    if !a.is_c_contiguous() {
        return Err(refused(format!("{} is not C-contiguous; pass np.ascontiguousarray(...)", what())));
    }
    // SAFETY: `as_array_ptr` is the live array object this `Bound` holds, read with the GIL held.
    let (data, flags) = unsafe {
        let object = &*a.as_array_ptr();
        (object.fields.data as usize, object.fields.flags)
    };
    if write && flags & NPY_ARRAY_WRITEABLE == 0 {
        return Err(refused(format!("{} is read-only; it is updated in place", what())));
    }
    let raw = Raw { ptr: data, dtype, len: a.len() };
    if !raw.aligned() {
        return Err(refused(format!("{} is not aligned for {dtype}", what())));
    }
    Ok((raw, a.shape().to_vec()))
}

/// One entry of a batch: `(index, weight, grad)` or `(index, weight, (row_ids, values))`.
struct Entry {
    index: usize,
    weight: Raw,
    shape: Vec<usize>,
    grad: Raw,
    /// The dense gradient's shape (the library compares it with the weight's).
    grad_shape: Vec<usize>,
    rows: Option<(usize, usize)>,
}

fn entry(item: &Bound<'_, PyAny>) -> PyResult<Entry> {
    let (index, weight, grad): (usize, Bound<'_, PyAny>, Bound<'_, PyAny>) =
        item.extract().map_err(|_| {
            refused("each batch entry is (index, weight, grad) or (index, weight, (row_ids, values))")
        })?;
    let (weight, shape) = array(&weight, &|| format!("parameter {index}'s weight"), true)?;
    let (grad, grad_shape, rows) = match grad.cast::<PyTuple>() {
        Ok(pair) => {
            let (ids, values): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract()?;
            let ids_what = || format!("parameter {index}'s row ids");
            let ids = ids
                .cast::<PyUntypedArray>()
                .map_err(|_| refused(format!("{} are not a numpy array", ids_what())))?;
            let descr = ids.dtype();
            let int64 =
                descr.kind() == b'i' && descr.itemsize() == 8 && descr.is_native_byteorder() != Some(false);
            if !(int64 && ids.is_c_contiguous() && ids.ndim() == 1) {
                return Err(refused(format!(
                    "{} must be a contiguous 1-d int64 array, not {descr}",
                    ids_what()
                )));
            }
            // SAFETY: as in `array`.
            let ids_ptr = unsafe { (*ids.as_array_ptr()).fields.data as usize };
            if !ids_ptr.is_multiple_of(std::mem::align_of::<i64>()) {
                return Err(refused(format!("{} are not aligned for int64", ids_what())));
            }
            let values_what = || format!("parameter {index}'s row values");
            let (values, values_shape) = array(&values, &values_what, false)?;
            let rows_expected = std::iter::once(ids.len()).chain(shape.iter().skip(1).copied());
            if shape.is_empty() || !values_shape.iter().copied().eq(rows_expected) {
                return Err(refused(format!(
                    "{} have shape {values_shape:?}; {} row ids of a weight of shape {shape:?} need \
                     [{}, ...the weight's row shape]",
                    values_what(),
                    ids.len(),
                    ids.len()
                )));
            }
            (values, values_shape, Some((ids_ptr, ids.len())))
        }
        Err(_) => {
            let (grad, grad_shape) = array(&grad, &|| format!("parameter {index}'s gradient"), false)?;
            (grad, grad_shape, None)
        }
    };
    Ok(Entry { index, weight, shape, grad, grad_shape, rows })
}

#[pymethods]
impl Updater {
    /// `Updater(optimizer)`: a fresh updater (no state, no counts) running a copy of
    /// `optimizer` as it is now: its configuration, the scalars it keeps (Nadam's
    /// `m_schedule`) and its thread count. Later changes to `optimizer` do not reach it.
    #[new]
    fn new(optimizer: &Optimizer) -> PyResult<Self> {
        let config = optimizer.inner.config_json();
        let mut inner = adamant::create(optimizer.inner.name(), &config).map_err(to_py)?;
        let scalars: Vec<(String, f64)> =
            optimizer.inner.scalars().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
        inner.restore_scalars(&scalars).map_err(to_py)?;
        let mut updater = adamant::Updater::new(inner);
        if let Some(pool) = &optimizer.pool {
            updater.set_threads(pool.current_num_threads()).map_err(to_py)?;
        }
        Ok(Updater { inner: updater })
    }

    /// Runs steps on `threads` threads of its own (1 to 1024), or with 0 on the caller's pool.
    fn set_threads(&mut self, threads: i64) -> PyResult<()> {
        self.inner.set_threads(crate::optimizer::thread_count(threads)?).map_err(to_py)
    }

    /// Steps a batch of numpy arrays in place: `[(index, weight, grad), ...]`, a row-sparse
    /// gradient as `(index, weight, (row_ids, values))` (int64 row ids, `values` holding their
    /// rows). Checked as a whole first; on any error nothing changes.
    fn update(&mut self, py: Python<'_>, batch: &Bound<'_, PyList>) -> PyResult<()> {
        self.run(py, batch, adamant::updater::StepOptions::default()).map(|_| ())
    }

    /// `update`, with the gradients clipped by their global L2 norm (`clip_global_norm`, as
    /// PyTorch's `clip_grad_norm_`, folded into `rescale_grad` for this step) and the step
    /// skipped, changing nothing, when a gradient is not finite (`skip_non_finite`). Returns
    /// `(global_norm, factor, skipped)`.
    #[pyo3(signature = (batch, clip_global_norm = None, skip_non_finite = false))]
    fn step(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyList>,
        clip_global_norm: Option<f64>,
        skip_non_finite: bool,
    ) -> PyResult<(f64, f64, bool)> {
        let report =
            self.run(py, batch, adamant::updater::StepOptions { clip_global_norm, skip_non_finite })?;
        Ok((report.global_norm, report.factor, report.skipped))
    }

    /// The largest update count of any parameter (MXNet's `num_update`).
    #[getter]
    fn num_update(&self) -> u64 {
        self.inner.num_update()
    }

    /// The learning rate in force (the scheduler's at `num_update`, or the fixed rate).
    #[getter]
    fn learning_rate(&self) -> f64 {
        self.inner.optimizer().learning_rate()
    }

    /// Sets the fixed learning rate (refused under a scheduler, as in MXNet).
    fn set_learning_rate(&mut self, lr: f64) -> PyResult<()> {
        self.inner.optimizer_mut().set_learning_rate(lr).map_err(to_py)
    }

    /// Sets `rescale_grad` for the steps to come.
    fn set_rescale_grad(&mut self, rescale_grad: f64) -> PyResult<()> {
        self.inner.optimizer_mut().set_rescale_grad(rescale_grad).map_err(to_py)
    }

    /// Parameter `index`'s state as a dict of numpy arrays (copies), or `None` before its
    /// first update.
    fn state<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(state) = self.inner.state(index) else { return Ok(None) };
        let dict = PyDict::new(py);
        for (name, array) in state.arrays() {
            let shape = state.shape();
            let value = match array {
                DataRef::F16(d) => numpy::PyArray1::from_slice(py, d).reshape(shape)?.into_any(),
                DataRef::BF16(d) => {
                    let f: Vec<f32> = d.iter().map(|x| x.to_f32()).collect();
                    numpy::PyArray1::from_vec(py, f).reshape(shape)?.into_any()
                }
                DataRef::F32(d) => numpy::PyArray1::from_slice(py, d).reshape(shape)?.into_any(),
                DataRef::F64(d) => numpy::PyArray1::from_slice(py, d).reshape(shape)?.into_any(),
                _ => continue,
            };
            dict.set_item(name, value)?;
        }
        Ok(Some(dict))
    }

    /// Saves the state (optimizer, counters, scheduler, every array) to `path`, atomically.
    fn save(&self, path: &str) -> PyResult<()> {
        self.inner.save(path).map_err(to_py)
    }

    /// An updater resumed from a state file written by `save` (or by the Rust library).
    #[staticmethod]
    fn load(path: &str) -> PyResult<Self> {
        Ok(Updater { inner: adamant::Updater::load(path, &[]).map_err(to_py)? })
    }

    /// The optimizer's configuration as a JSON object.
    fn config_json(&self) -> String {
        self.inner.optimizer().config_json().to_string()
    }
}

impl Updater {
    /// A batch of numpy arrays stepped with `options`.
    fn run(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyList>,
        options: adamant::updater::StepOptions,
    ) -> PyResult<adamant::updater::StepReport> {
        let entries: Vec<Entry> = batch.iter().map(|item| entry(&item)).collect::<PyResult<_>>()?;
        let written: Vec<Range<usize>> = entries.iter().map(|e| e.weight.bytes()).collect();
        let read: Vec<Range<usize>> = entries
            .iter()
            .flat_map(|e| {
                let rows = e.rows.map(|(p, n)| p..n.saturating_mul(8).saturating_add(p));
                std::iter::once(e.grad.bytes()).chain(rows)
            })
            .collect();
        if first_overlap(&written, &read).is_some() {
            return Err(refused("two arrays of the batch share memory; each weight must own its memory"));
        }
        let inner = &mut self.inner;
        py.detach(|| {
            let mut params: Vec<Param<'_>> = entries
                .iter()
                .map(|e| {
                    // SAFETY: addresses, dtypes, lengths and alignment were read from live numpy
                    // arrays (C-contiguous, the weights writable) that the caller's batch keeps
                    // referenced; no weight overlaps another weight or any gradient.
                    let weight = unsafe { e.weight.data_mut() };
                    // SAFETY: as above, for reads.
                    let values: DataRef<'_> = unsafe { e.grad.data_ref() };
                    let grad = match e.rows {
                        None => Grad::Dense(TensorRef { shape: &e.grad_shape, data: values }),
                        Some((ptr, n)) => {
                            // SAFETY: a live, C-contiguous int64 array of `n` elements, only read.
                            let ids: &[i64] = if n == 0 {
                                &[]
                            } else {
                                unsafe { std::slice::from_raw_parts(ptr as *const i64, n) }
                            };
                            Grad::RowSparse(RowSparseRef { shape: &e.shape, row_indices: ids, values })
                        }
                    };
                    Param::new(e.index, TensorMut { shape: &e.shape, data: weight }, grad)
                })
                .collect();
            inner.step(&mut params, options)
        })
        .map_err(to_py)
    }
}
