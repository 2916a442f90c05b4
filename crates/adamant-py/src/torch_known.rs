//! What a step keeps of the PyTorch tensors it checked, for the next step.
//!
//! A step of 100,000 small tensors must not pay 100,000 full checks in Python calls, so what
//! was checked is kept ([`Cache`]) and re-checked cheaply at each step: a parameter by the
//! address and dtype of its data (its storage is held, so that an address cannot be
//! reused while it is known); its state by the identity of the state dict and of every value in
//! it and the address of every tensor it steps, found by one walk over the optimizer's state
//! (no per-parameter hashing). Gradients are new at every step and are checked every time.

use adamant::{DType, MASTER};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{intern, Py};
use rustc_hash::FxHashMap;

use crate::errors::refused;
use crate::raw::Raw;
use crate::torch_tensors::{dense, is_float32, step_counter, Dense, Torch};

/// The most state arrays a parameter has (AMSGrad's three and a master copy).
pub const MAX_ARRAYS: usize = adamant::MAX_STATE_ARRAYS;

/// What an optimizer's steps keep of the tensors they checked.
#[derive(Default)]
pub struct Cache {
    /// The parameters checked, in the order of the last step (the next step's is normally the
    /// same, so that a parameter is found at its position, without hashing).
    pub params: Vec<Known>,
    /// Each known parameter's position in `params`, by the address of its object.
    positions: FxHashMap<usize, usize>,
    /// The parameters of the last step, in order, by address: while they and their memory are
    /// unchanged, the written ranges checked then need no new sort.
    pub last_order: Vec<usize>,
    /// The last step's written ranges, sorted by start, with their parameter's index.
    pub written: Vec<(usize, usize, usize)>,
    /// Bumped at every step, to tell which states the walk over the state dict saw.
    pub generation: u64,
}

impl Cache {
    /// The position of the parameter whose object is at `key`, looked for first at `guess`.
    pub fn position(&self, key: usize, guess: usize) -> Option<usize> {
        match self.params.get(guess) {
            Some(k) if k.key == key => Some(guess),
            _ => self.positions.get(&key).copied(),
        }
    }

    /// Keeps `known`, replacing what was at `position`; returns where it is.
    pub fn insert(&mut self, known: Known, position: Option<usize>) -> usize {
        let key = known.key;
        match position {
            Some(at) => {
                self.params[at] = known;
                at
            }
            None => {
                self.params.push(known);
                self.positions.insert(key, self.params.len() - 1);
                self.params.len() - 1
            }
        }
    }

    /// Forgets the parameters this step did not have (and releases their memory) once they
    /// are most of what is known: parameters removed from the optimizer, or replaced.
    pub fn forget_unused(&mut self, stepped: usize) {
        if self.params.len() <= stepped.saturating_mul(2).saturating_add(64) {
            return;
        }
        let generation = self.generation;
        self.params.retain(|k| k.used == generation);
        self.positions = self.params.iter().enumerate().map(|(at, k)| (k.key, at)).collect();
        self.last_order.clear();
    }

    /// Marks every known state that the optimizer's state still maps to the same dict holding
    /// the same objects at the same addresses, walking the state once by address.
    pub fn walk_state(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut at: pyo3::ffi::Py_ssize_t = 0;
        let (mut key, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
        let mut position = 0;
        // SAFETY: `state` is a live dict held by the caller, iterated with the GIL held and not
        // changed meanwhile (the walk runs no Python code that could change it: `data_ptr` of
        // a tensor does not); `PyDict_Next` hands out borrowed pointers, only compared here.
        while unsafe { pyo3::ffi::PyDict_Next(state.as_ptr(), &mut at, &mut key, &mut value) } != 0 {
            if let Some(slot) = self.position(key as usize, position) {
                let known = &mut self.params[slot];
                if let Some(s) = &known.state {
                    if s.dict.as_ptr() == value && s.unchanged(state.py())? {
                        known.seen = self.generation;
                    }
                }
            }
            position += 1;
        }
        Ok(())
    }
}

/// A parameter as last checked.
pub struct Known {
    /// The address of the parameter object (its key).
    key: usize,
    /// The parameter object, kept so that its address stays its key.
    _param: Py<PyAny>,
    /// Its storage: held, the memory of `weight` stays allocated (and its address unreused).
    _storage: Py<PyAny>,
    /// Its `dtype` object, compared at each step with the parameter's.
    dtype: Py<PyAny>,
    pub weight: Dense,
    pub contiguous: bool,
    pub state: Option<KnownState>,
    /// The step at which the walk over the state dict last found its state unchanged.
    pub seen: u64,
    /// The last step that had it.
    pub used: u64,
    /// Whether its last gradient was sparse.
    pub sparse_grad: bool,
}

impl Known {
    /// Parameter `p` (the object at `key`, position `index`) checked in full.
    pub fn check(torch: &Torch, p: &Bound<'_, PyAny>, key: usize, index: usize) -> PyResult<Known> {
        let py = p.py();
        let weight = dense(torch, p, &|| format!("parameter {index}"))?;
        let storage = p.call_method0(intern!(py, "untyped_storage"))?.unbind();
        let contiguous = weight.contiguous();
        Ok(Known {
            key,
            _param: p.clone().unbind(),
            _storage: storage,
            dtype: p.getattr(intern!(py, "dtype"))?.unbind(),
            weight,
            contiguous,
            state: None,
            seen: 0,
            used: 0,
            sparse_grad: false,
        })
    }

    /// Whether parameter `p`, with data at `ptr` (if it has an address), is still the tensor
    /// checked: contiguous, at the same address, with the same dtype and element count, so its
    /// elements are exactly the memory checked (`p.data = ...`, `set_` and a storage freed and
    /// reallocated change some of these). A contiguous view of the same memory in another shape
    /// is stepped element by element as before; any other parameter is checked in full again.
    pub fn still(&self, p: &Bound<'_, PyAny>, ptr: Option<usize>) -> PyResult<bool> {
        let py = p.py();
        Ok(self.contiguous
            && Some(self.weight.raw.ptr) == ptr
            && p.getattr(intern!(py, "dtype"))?.is(&self.dtype)
            && p.call_method0(intern!(py, "numel"))?.extract::<usize>()? == self.weight.raw.len
            && p.call_method0(intern!(py, "is_contiguous"))?.is_truthy()?)
    }
}

/// A state tensor's memory as checked.
#[derive(Clone, Copy)]
struct Used {
    address: usize,
    len: usize,
    /// Whether its storage can be resized (freed and reallocated elsewhere, and another tensor
    /// given its old address): then its element count is compared too. adamant makes the
    /// storages of the states it creates fixed.
    resizable: bool,
}

/// A parameter's state as last checked.
pub struct KnownState {
    /// The state dict object.
    dict: Py<PyAny>,
    /// The dict's values in its order, held so that their addresses are not reused, each with
    /// its memory as checked when the step uses it (the step count and the arrays).
    values: Vec<(Py<PyAny>, Option<Used>)>,
    pub arrays: [(&'static str, Raw); MAX_ARRAYS],
    pub count: usize,
    /// The address of its int64 step counter.
    pub step: usize,
    /// The storages of the tensors the step uses, held as the weight's is.
    _storages: Vec<Py<PyAny>>,
}

impl KnownState {
    /// Whether the dict holds exactly the values checked, in order, and the tensors the step
    /// uses still have their memory where it was (`.data = ...`, `set_` or `resize_` on a
    /// state tensor moves it).
    fn unchanged(&self, py: Python<'_>) -> PyResult<bool> {
        let dict = self.dict.bind(py);
        let mut at: pyo3::ffi::Py_ssize_t = 0;
        let (mut key, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
        let mut expected = self.values.iter();
        // SAFETY: `dict` is a live dict (held here), iterated with the GIL held; the borrowed
        // pointers are only compared, and the values compared are held by `self.values`.
        while unsafe { pyo3::ffi::PyDict_Next(dict.as_ptr(), &mut at, &mut key, &mut value) } != 0 {
            let Some((object, address)) = expected.next() else { return Ok(false) };
            if object.as_ptr() != value {
                return Ok(false);
            }
            if let Some(used) = address {
                let tensor = object.bind(py);
                let now: usize = tensor.call_method0(intern!(py, "data_ptr"))?.extract()?;
                if now != used.address
                    || used.resizable
                        && (tensor.call_method0(intern!(py, "numel"))?.extract::<usize>()? != used.len
                            || !tensor.call_method0(intern!(py, "is_contiguous"))?.is_truthy()?)
                {
                    return Ok(false);
                }
            }
        }
        Ok(expected.next().is_none())
    }

    /// The state of parameter `p` checked in full against `layout` and its weight, or `None`
    /// when it is missing or incomplete.
    pub fn check(
        layout: adamant::Layout,
        torch: &Torch,
        p: &Bound<'_, PyAny>,
        state: &Bound<'_, PyDict>,
        weight: &Dense,
        index: usize,
    ) -> PyResult<Option<KnownState>> {
        let py = p.py();
        let param = || format!("parameter {index}");
        let Some(st) = state.get_item(p)? else { return Ok(None) };
        let dict = st
            .cast::<PyDict>()
            .map_err(|_| refused(format!("parameter {index}: its state is not a dict")))?;
        let Some(step_tensor) = dict.get_item(intern!(py, "step"))? else { return Ok(None) };
        let step = step_counter(torch, &step_tensor, &param)?;
        let resizable = |t: &Bound<'_, PyAny>| -> PyResult<(Py<PyAny>, bool)> {
            let storage = t.call_method0(intern!(py, "untyped_storage"))?;
            let resizable = storage.call_method0(intern!(py, "resizable"))?.is_truthy()?;
            Ok((storage.unbind(), resizable))
        };
        let (storage, step_resizable) = resizable(&step_tensor)?;
        let mut storages = vec![storage];
        let mut used =
            vec![(step_tensor.as_ptr() as usize, Used { address: step, len: 1, resizable: step_resizable })];
        let mut arrays = [("", Raw { ptr: 0, dtype: DType::F32, len: 0 }); MAX_ARRAYS];
        let mut count = 0;
        for name in layout.names() {
            let Some(t) = dict.get_item(name)? else { return Ok(None) };
            let what = || format!("parameter {index}'s state {name:?}");
            let array = dense(torch, &t, &what)?;
            let dtype = if name == MASTER { DType::F32 } else { layout.dtype };
            if name == MASTER && !is_float32(torch, &t)? || array.raw.dtype != dtype {
                return Err(refused(format!(
                    "{} is {}, this optimizer keeps {dtype}",
                    what(),
                    array.raw.dtype
                )));
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
            // A state array's memory must be a dense block in the weight's order: a
            // non-contiguous one (channels_last) is checked in full at every step.
            let (storage, can_resize) = resizable(&t)?;
            storages.push(storage);
            let fixed = !can_resize && array.contiguous();
            used.push((
                t.as_ptr() as usize,
                Used { address: array.raw.ptr, len: array.raw.len, resizable: !fixed },
            ));
            if let Some(slot) = arrays.get_mut(count) {
                *slot = (name, array.raw);
            }
            count += 1;
        }
        let values = dict
            .values()
            .iter()
            .map(|v| {
                let address = used.iter().find(|(object, _)| *object == v.as_ptr() as usize).map(|&(_, a)| a);
                (v.unbind(), address)
            })
            .collect();
        Ok(Some(KnownState { dict: st.unbind(), values, arrays, count, step, _storages: storages }))
    }
}
