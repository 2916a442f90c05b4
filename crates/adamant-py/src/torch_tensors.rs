//! PyTorch tensors read through their Python attributes: device, layout, dtype, shape, strides
//! and address, each checked, so that the step can use their memory in place.

use adamant::DType;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{intern, Py};

use crate::errors::refused;
use crate::raw::Raw;

/// The `torch` objects tensors are compared with (looked up once).
pub struct Torch {
    /// `torch.float16`, `torch.bfloat16`, `torch.float32`, `torch.float64` and their dtypes.
    dtypes: [(Py<PyAny>, DType); 4],
    int64: Py<PyAny>,
    float32: Py<PyAny>,
    strided: Py<PyAny>,
    /// `torch.autograd.graph.increment_version`.
    pub increment_version: Py<PyAny>,
}

static TORCH: PyOnceLock<Torch> = PyOnceLock::new();

impl Torch {
    /// The objects, importing `torch` the first time.
    pub fn get(py: Python<'_>) -> PyResult<&Torch> {
        TORCH.get_or_try_init(py, || {
            let torch = py.import("torch")?;
            let dtype = |name: &str| torch.getattr(name).map(Bound::unbind);
            let graph = py.import("torch.autograd.graph")?;
            Ok(Torch {
                dtypes: [
                    (dtype("float16")?, DType::F16),
                    (dtype("bfloat16")?, DType::BF16),
                    (dtype("float32")?, DType::F32),
                    (dtype("float64")?, DType::F64),
                ],
                int64: dtype("int64")?,
                float32: dtype("float32")?,
                strided: dtype("strided")?,
                increment_version: graph.getattr("increment_version")?.unbind(),
            })
        })
    }

    /// `torch.int64`.
    pub fn int64(&self) -> &Py<PyAny> {
        &self.int64
    }

    /// The `torch` dtype object of `dtype`.
    pub fn dtype_object(&self, dtype: DType) -> Option<&Py<PyAny>> {
        self.dtypes.iter().find(|(_, d)| *d == dtype).map(|(object, _)| object)
    }

    /// The dtype of `t`, if adamant steps it.
    fn dtype_of(&self, t: &Bound<'_, PyAny>) -> PyResult<Option<DType>> {
        let dtype = t.getattr(intern!(t.py(), "dtype"))?;
        Ok(self.dtypes.iter().find(|(d, _)| d.is(&dtype)).map(|(_, d)| *d))
    }
}

/// A dense tensor's memory, shape and strides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dense {
    pub raw: Raw,
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
}

impl Dense {
    /// Whether the elements are laid out row-major without gaps.
    pub fn contiguous(&self) -> bool {
        let mut expected = 1isize;
        for (&size, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected = expected.saturating_mul(isize::try_from(size).unwrap_or(isize::MAX));
        }
        true
    }
}

/// Whether `shape` and `strides` cover exactly `0..len` elements once each, in some order of
/// the dimensions (a `channels_last` weight does; a slice with gaps or a broadcast does not).
fn dense_in_some_order(shape: &[usize], strides: &[isize]) -> bool {
    let mut dims: Vec<(isize, usize)> =
        strides.iter().copied().zip(shape.iter().copied()).filter(|&(_, size)| size != 1).collect();
    if dims.iter().any(|&(_, size)| size == 0) {
        return true;
    }
    dims.sort_unstable();
    let mut expected = 1isize;
    for (stride, size) in dims {
        if stride != expected {
            return false;
        }
        expected = expected.saturating_mul(isize::try_from(size).unwrap_or(isize::MAX));
    }
    true
}

/// `t` (named `what` in errors) as a dense CPU tensor of a dtype adamant steps, whose memory
/// covers its elements once each.
pub fn dense(torch: &Torch, t: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Dense> {
    let py = t.py();
    if !t.getattr(intern!(py, "is_cpu"))?.is_truthy()? {
        let device = t.getattr(intern!(py, "device"))?;
        return Err(refused(format!("{} is on {device}; adamant steps CPU tensors", what())));
    }
    if !t.getattr(intern!(py, "layout"))?.is(&torch.strided) {
        let layout = t.getattr(intern!(py, "layout"))?;
        return Err(refused(format!("{} has layout {layout}; adamant steps strided tensors", what())));
    }
    let dtype = match torch.dtype_of(t)? {
        Some(d) => d,
        None => {
            let dtype = t.getattr(intern!(py, "dtype"))?;
            return Err(refused(format!(
                "{} has dtype {dtype}; adamant steps float16, bfloat16, float32 and float64",
                what()
            )));
        }
    };
    for (bit, undo) in [("is_neg", "resolve_neg"), ("is_conj", "resolve_conj")] {
        if t.call_method0(bit)?.is_truthy()? {
            return Err(refused(format!(
                "{} is a view whose values are negated or conjugated lazily ({bit}); its memory \
                 holds other values: pass .{undo}()",
                what()
            )));
        }
    }
    let shape: Vec<usize> = t.getattr(intern!(py, "shape"))?.extract()?;
    let strides: Vec<isize> = t.call_method0(intern!(py, "stride"))?.extract()?;
    let ptr: usize = t.call_method0(intern!(py, "data_ptr"))?.extract()?;
    let len = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let Some(len) = len else { return Err(refused(format!("{} has shape {shape:?}, too large", what()))) };
    if !dense_in_some_order(&shape, &strides) {
        return Err(refused(format!(
            "{} has strides {strides:?} for shape {shape:?}: its memory has gaps or repeats (a slice \
             or an expanded view); step a contiguous tensor",
            what()
        )));
    }
    if ptr == 0 && len > 0 {
        return Err(refused(format!(
            "{} has no memory of its own (a ZeroTensor of autograd, say); pass .clone()",
            what()
        )));
    }
    let raw = Raw { ptr, dtype, len };
    if !raw.aligned() {
        return Err(refused(format!("{} starts at {ptr:#x}, not aligned for {dtype}", what())));
    }
    Ok(Dense { raw, shape, strides })
}

/// The address of the one-element int64 CPU tensor `step` (a parameter's update count).
pub fn step_counter(torch: &Torch, step: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<usize> {
    let py = step.py();
    let dtype = step.getattr(intern!(py, "dtype"))?;
    let problem = if !dtype.is(&torch.int64) {
        Some(format!("has dtype {dtype}; it must be int64 (load_state_dict converts a float step)"))
    } else if step.call_method0(intern!(py, "is_neg"))?.is_truthy()? {
        Some("is a lazily negated view; its memory holds another count".to_string())
    } else if !step.getattr(intern!(py, "is_cpu"))?.is_truthy()? {
        Some("is not on the CPU".to_string())
    } else if step.call_method0(intern!(py, "numel"))?.extract::<usize>()? != 1 {
        Some("does not hold exactly one count".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(refused(format!("{}'s state \"step\" {problem}", what())));
    }
    let ptr: usize = step.call_method0(intern!(py, "data_ptr"))?.extract()?;
    if ptr == 0 {
        return Err(refused(format!("{}'s state \"step\" has no memory of its own", what())));
    }
    if !ptr.is_multiple_of(8) {
        return Err(refused(format!("{}'s state \"step\" is not aligned", what())));
    }
    Ok(ptr)
}

/// Whether `dtype` is `torch.float32` (master weights must be).
pub fn is_float32(torch: &Torch, t: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(t.getattr(intern!(t.py(), "dtype"))?.is(&torch.float32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_layouts_in_any_order_are_accepted_and_gaps_are_not() {
        assert!(dense_in_some_order(&[2, 3], &[3, 1]));
        assert!(dense_in_some_order(&[8, 3, 4, 4], &[48, 1, 12, 3]), "channels_last");
        assert!(dense_in_some_order(&[2, 1, 3], &[3, 99, 1]), "a size-1 dimension's stride is free");
        assert!(!dense_in_some_order(&[2, 3], &[6, 1]), "every other row");
        assert!(!dense_in_some_order(&[2, 3], &[0, 1]), "expanded");
        assert!(dense_in_some_order(&[0, 3], &[0, 1]), "empty");
    }
}
