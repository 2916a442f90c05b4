//! One optimizer step over PyTorch parameters, gradients and state tensors, in place: every
//! tensor is checked (device, layout, dtype, shape, strides, alignment, overlaps) before any
//! memory is touched, then the library's counted batch step runs on their memory with the GIL
//! released, and the step counters and autograd version counters advance.
//!
//! A step of 100,000 small tensors must not pay 100,000 full checks in Python calls, so what
//! was checked is kept ([`Cache`]) and re-checked cheaply at each step: a parameter by the
//! address of its data (its storage is held, so that an address cannot be reused while it is
//! known), its state by the identity of the state dict and of every tensor in it, found by one
//! walk over the optimizer's state (no per-parameter hashing in Python). Gradients are new at
//! every step and are checked every time.

use std::ops::Range;

use adamant::{DType, Grad, Param, ParamStep, RowSparseRef, StateMut, TensorMut, TensorRef, MASTER};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{intern, Py};
use rustc_hash::FxHashMap;

use crate::errors::{refused, to_py};
use crate::optimizer::{on_pool, Optimizer};
use crate::raw::Raw;
use crate::torch_tensors::{dense, is_float32, step_counter, Dense, Torch};

/// The most state arrays a parameter has (AMSGrad's three and a master copy).
const MAX_ARRAYS: usize = adamant::MAX_STATE_ARRAYS;

/// What a step keeps of the tensors it checked, for the next step.
#[derive(Default)]
pub struct Cache {
    /// The parameters checked, in the order of the last step (the next step's is normally the
    /// same, so that a parameter is found at its position, without hashing).
    params: Vec<Known>,
    /// Each known parameter's position in `params`, by the address of its object.
    positions: FxHashMap<usize, usize>,
    /// The parameters of the last step, in order, by address: while they and their memory are
    /// unchanged, the written ranges checked then need no new sort.
    last_order: Vec<usize>,
    /// The last step's written ranges, sorted by start, with their parameter's position.
    written: Vec<(usize, usize, usize)>,
    /// Bumped at every step, to tell which states the walk over the state dict saw.
    generation: u64,
}

impl Cache {
    /// The position of the parameter whose object is at `key`, looked for first at `guess`.
    fn position(&self, key: usize, guess: usize) -> Option<usize> {
        match self.params.get(guess) {
            Some(k) if k.key == key => Some(guess),
            _ => self.positions.get(&key).copied(),
        }
    }

    /// Forgets the parameters this step did not have (and releases their memory) once they
    /// are most of what is known: parameters removed from the optimizer, or replaced.
    fn forget_unused(&mut self, stepped: usize) {
        if self.params.len() <= stepped.saturating_mul(2).saturating_add(64) {
            return;
        }
        let generation = self.generation;
        self.params.retain(|k| k.used == generation);
        self.positions = self.params.iter().enumerate().map(|(at, k)| (k.key, at)).collect();
        self.last_order.clear();
    }

    /// Keeps `known`, replacing what was at `position`; returns where it is.
    fn insert(&mut self, known: Known, position: Option<usize>) -> usize {
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
}

/// A parameter as last checked.
struct Known {
    /// The address of the parameter object (its key).
    key: usize,
    /// The parameter object, kept so that its address stays its key.
    _param: Py<PyAny>,
    /// Its storage: held, the memory of `weight` stays allocated (and its address unreused).
    _storage: Py<PyAny>,
    weight: Dense,
    contiguous: bool,
    state: Option<KnownState>,
    /// The step at which the walk over the state dict last found its state unchanged.
    seen: u64,
    /// The last step that had it.
    used: u64,
    /// Whether its last gradient was sparse.
    sparse_grad: bool,
}

/// A parameter's state as last checked.
struct KnownState {
    /// The state dict object: while the optimizer's state maps the parameter to this same dict
    /// holding these same objects, its tensors are the ones checked.
    dict: Py<PyAny>,
    /// The dict's values in its order, held so that their addresses are not reused.
    values: Vec<Py<PyAny>>,
    arrays: [(&'static str, Raw); MAX_ARRAYS],
    count: usize,
    /// The address of its int64 step counter.
    step: usize,
    /// The state tensors' storages, held as the weight's is.
    _storages: Vec<Py<PyAny>>,
}

/// A gradient's memory.
#[derive(Clone, Copy)]
enum GradMemory {
    Dense(Raw),
    /// A sparse COO gradient of an embedding: row ids (int64) and their rows.
    RowSparse {
        rows: usize,
        listed: usize,
        values: Raw,
    },
}

/// One parameter of the step, checked: where its weight and state are known, and its gradient.
struct Entry {
    /// Its position among the step's parameters (errors name it).
    index: usize,
    /// Its position in the cache.
    slot: usize,
    grad: GradMemory,
    lr: f64,
    wd: f64,
}

/// What the library needs of an entry's weight and state.
struct Stepped<'c> {
    index: usize,
    known: &'c Known,
    state: &'c KnownState,
    grad: GradMemory,
}

impl<'c> Stepped<'c> {
    fn of(params: &'c [Known], e: &Entry) -> Self {
        let known = &params[e.slot];
        // Every entry's state was found before it was listed.
        let state = known.state.as_ref().expect("a listed parameter has its state");
        Stepped { index: e.index, known, state, grad: e.grad }
    }
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
    let cache = &mut optimizer.torch;
    cache.generation = cache.generation.wrapping_add(1);
    walk_state(cache, state);
    let missing = PyList::empty(py);
    let mut entries = Vec::new();
    let mut held: Vec<Bound<'py, PyAny>> = Vec::new();
    // Per group, its list when every parameter in it is stepped, or the stepped ones.
    let mut bumped: Vec<Bound<'py, PyAny>> = Vec::new();
    let mut order = Vec::new();
    let mut dirty = false;
    let mut index = 0usize;
    for group in groups.iter() {
        let (params, lr, wd): (Bound<'py, PyList>, f64, f64) = group.extract()?;
        let first = entries.len();
        for p in params.iter() {
            let i = index;
            index += 1;
            let grad = p.getattr(intern!(py, "grad"))?;
            if grad.is_none() {
                continue;
            }
            let key = p.as_ptr() as usize;
            // A tensor without a data pointer (sparse, meta) fails the full check with a reason.
            let ptr = p.call_method0(intern!(py, "data_ptr")).and_then(|v| v.extract::<usize>()).ok();
            let position = cache.position(key, order.len());
            let slot = match position {
                Some(at) if Some(cache.params[at].weight.raw.ptr) == ptr => at,
                _ => {
                    dirty = true;
                    cache.insert(known(torch, &p, key, i)?, position)
                }
            };
            let known = &mut cache.params[slot];
            known.used = cache.generation;
            let grad_memory = gradient(torch, &grad, known, i)?;
            if known.state.as_ref().is_none() || known.seen != cache.generation {
                known.state = None;
                match known_state(
                    optimizer_layout(&*optimizer.inner, known.weight.raw.dtype),
                    torch,
                    &p,
                    state,
                    known,
                    i,
                )? {
                    Some(s) => known.state = Some(s),
                    None => {
                        missing.append(&p)?;
                        continue;
                    }
                }
                dirty = true;
            }
            order.push(key);
            entries.push(Entry { index: i, slot, grad: grad_memory, lr, wd });
            held.push(grad);
            held.push(p);
        }
        let stepped = entries.len() - first;
        if stepped == params.len() {
            bumped.push(params.into_any());
        } else if stepped > 0 {
            let list: Vec<&Bound<'py, PyAny>> =
                held[held.len() - 2 * stepped..].iter().skip(1).step_by(2).collect();
            bumped.push(PyList::new(py, list)?.into_any());
        }
    }
    if !missing.is_empty() {
        cache.forget_unused(entries.len());
        return Ok((missing, num_update));
    }
    let Optimizer { inner, pool, torch: cache } = optimizer;
    let stepped: Vec<Stepped<'_>> = entries.iter().map(|e| Stepped::of(&cache.params, e)).collect();
    check_overlaps(&mut cache.written, &mut cache.last_order, &stepped, order, dirty)?;
    let counts: Vec<ParamStep> = stepped
        .iter()
        .zip(&entries)
        .map(|(s, e)| {
            let step = s.state.step;
            // SAFETY: `e.step` is the checked address of a live, aligned one-element int64 CPU
            // tensor (its storage is held by the cache), read here with the GIL held.
            let count = unsafe { std::ptr::read(step as *const i64) };
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
        let (mut params, mut states) = views(&stepped)?;
        on_pool(pool, inner.as_mut(), |o| o.update_counted(&mut params, &mut states, &counts))
    });
    result.map_err(to_py)?;
    for (s, c) in stepped.iter().zip(&counts) {
        // SAFETY: as for the read above; the step succeeded, so the count advances to `t`.
        unsafe { std::ptr::write(s.state.step as *mut i64, i64::try_from(c.t).unwrap_or(i64::MAX)) };
    }
    // Autograd's version counters: a tensor saved for backward and stepped since is caught.
    for params in bumped {
        torch.increment_version.call1(py, (params,))?;
    }
    // After the step: it names parameters by their slots.
    cache.forget_unused(entries.len());
    Ok((missing, num_update))
}

/// The layout of `optimizer`'s state for weights of `dtype`.
fn optimizer_layout(optimizer: &dyn adamant::Optimizer, dtype: DType) -> adamant::Layout {
    optimizer.layout(dtype)
}

/// Marks every known state that the optimizer's state still maps to the same dict object,
/// walking the state once by address, without hashing keys or touching the objects.
fn walk_state(cache: &mut Cache, state: &Bound<'_, PyDict>) {
    let mut at: pyo3::ffi::Py_ssize_t = 0;
    let (mut key, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
    let mut position = 0;
    // SAFETY: `state` is a live dict held by the caller, iterated with the GIL held and not
    // changed meanwhile; `PyDict_Next` hands out borrowed pointers, only compared here.
    while unsafe { pyo3::ffi::PyDict_Next(state.as_ptr(), &mut at, &mut key, &mut value) } != 0 {
        if let Some(slot) = cache.position(key as usize, position) {
            let known = &mut cache.params[slot];
            if known.state.as_ref().is_some_and(|s| s.dict.as_ptr() == value && holds(value, &s.values)) {
                known.seen = cache.generation;
            }
        }
        position += 1;
    }
}

/// Whether the dict at `dict` holds exactly `values`, in order (a tensor replaced by another
/// is a state to check again), compared by address.
fn holds(dict: *mut pyo3::ffi::PyObject, values: &[Py<PyAny>]) -> bool {
    let mut at: pyo3::ffi::Py_ssize_t = 0;
    let (mut key, mut value) = (std::ptr::null_mut(), std::ptr::null_mut());
    let mut expected = values.iter();
    // SAFETY: `dict` is a live dict (a value of the state dict being walked, with the GIL held);
    // the borrowed pointers are only compared.
    while unsafe { pyo3::ffi::PyDict_Next(dict, &mut at, &mut key, &mut value) } != 0 {
        if expected.next().map(Py::as_ptr) != Some(value) {
            return false;
        }
    }
    expected.next().is_none()
}

/// Parameter `p` checked in full.
fn known(torch: &Torch, p: &Bound<'_, PyAny>, key: usize, index: usize) -> PyResult<Known> {
    let py = p.py();
    let weight = dense(torch, p, &|| format!("parameter {index}"))?;
    let storage = p.call_method0(intern!(py, "untyped_storage"))?.unbind();
    let contiguous = weight.contiguous();
    Ok(Known {
        key,
        _param: p.clone().unbind(),
        _storage: storage,
        weight,
        contiguous,
        state: None,
        seen: 0,
        used: 0,
        sparse_grad: false,
    })
}

/// The gradient of `known`'s parameter, checked: a dense one has the parameter's shape and
/// strides (its dtype and device PyTorch checks when it is set); a sparse one is an embedding's.
fn gradient(torch: &Torch, grad: &Bound<'_, PyAny>, known: &mut Known, index: usize) -> PyResult<GradMemory> {
    let py = grad.py();
    // An embedding's gradient is sparse at every step: asked first, it spares the exception
    // that `data_ptr` raises for it.
    let is_sparse = || -> PyResult<bool> { grad.getattr(intern!(py, "is_sparse"))?.is_truthy() };
    if known.sparse_grad && is_sparse()? {
        return row_sparse(torch, grad, &known.weight, index);
    }
    // The common case in three calls: a contiguous parameter and a contiguous gradient of as
    // many elements. (A sparse gradient has no data pointer.) Otherwise every attribute is
    // compared.
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
    let contiguous = grad.call_method0(intern!(py, "is_contiguous"))?;
    let raw = Raw { ptr, dtype: weight.raw.dtype, len: weight.raw.len };
    if known.contiguous
        && contiguous.is_truthy()?
        && grad.call_method0(intern!(py, "numel"))?.extract::<usize>()? == weight.raw.len
        && raw.aligned()
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

/// The state of parameter `p` checked in full against `layout`, or `None` when it is missing
/// or incomplete.
fn known_state(
    layout: adamant::Layout,
    torch: &Torch,
    p: &Bound<'_, PyAny>,
    state: &Bound<'_, PyDict>,
    known: &Known,
    index: usize,
) -> PyResult<Option<KnownState>> {
    let py = p.py();
    let param = || format!("parameter {index}");
    let Some(st) = state.get_item(p)? else { return Ok(None) };
    let dict =
        st.cast::<PyDict>().map_err(|_| refused(format!("parameter {index}: its state is not a dict")))?;
    let Some(step_tensor) = dict.get_item(intern!(py, "step"))? else { return Ok(None) };
    let step = step_counter(torch, &step_tensor, &param)?;
    let mut storages = vec![step_tensor.call_method0(intern!(py, "untyped_storage"))?.unbind()];
    let weight = &known.weight;
    let mut arrays = [("", Raw { ptr: 0, dtype: DType::F32, len: 0 }); MAX_ARRAYS];
    let mut count = 0;
    for name in layout.names() {
        let Some(t) = dict.get_item(name)? else { return Ok(None) };
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
        storages.push(t.call_method0(intern!(py, "untyped_storage"))?.unbind());
        if let Some(slot) = arrays.get_mut(count) {
            *slot = (name, array.raw);
        }
        count += 1;
    }
    let values = dict.values().iter().map(Bound::unbind).collect();
    Ok(Some(KnownState { dict: st.unbind(), values, arrays, count, step, _storages: storages }))
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

/// The byte ranges an entry writes: its weight, state arrays and step counter.
fn written_by<'s>(e: &'s Stepped<'_>) -> impl Iterator<Item = Range<usize>> + 's {
    let (state, step) = (e.state, e.state.step);
    let arrays = state.arrays[..state.count].iter().map(|(_, a)| a.bytes());
    std::iter::once(e.known.weight.raw.bytes())
        .chain(arrays)
        .chain(std::iter::once(step..step.saturating_add(8)))
}

/// The byte ranges an entry reads: its gradient's.
fn read_by(e: &Stepped<'_>) -> [Range<usize>; 2] {
    match e.grad {
        GradMemory::Dense(g) => [g.bytes(), 0..0],
        GradMemory::RowSparse { rows, listed, values } => {
            [rows..listed.saturating_mul(8).saturating_add(rows), values.bytes()]
        }
    }
}

/// Refuses a step whose written memory (weights, state arrays, step counters) overlaps itself
/// or a gradient: the same memory would be updated twice (a parameter listed twice), or read
/// while it is written. The sorted written ranges are kept while the parameters and their
/// memory stay as they were; gradients are searched in them at every step.
fn check_overlaps(
    kept: &mut Vec<(usize, usize, usize)>,
    last_order: &mut Vec<usize>,
    entries: &[Stepped<'_>],
    order: Vec<usize>,
    dirty: bool,
) -> PyResult<()> {
    let share = |a: usize, b: usize| {
        refused(format!(
            "parameters {a} and {b} share memory (a tensor, or state, of one step overlaps another's); \
             each tensor must own its memory"
        ))
    };
    if dirty || order != *last_order {
        let mut written: Vec<(usize, usize, usize)> = Vec::new();
        for e in entries {
            written.extend(written_by(e).filter(|r| !r.is_empty()).map(|r| (r.start, r.end, e.index)));
        }
        written.sort_unstable();
        if let Some(pair) = written.windows(2).find(|w| w[0].1 > w[1].0) {
            last_order.clear();
            return Err(share(pair[0].2.min(pair[1].2), pair[0].2.max(pair[1].2)));
        }
        *kept = written;
        *last_order = order;
    }
    for e in entries {
        for r in read_by(e).into_iter().filter(|r| !r.is_empty()) {
            let at = kept.partition_point(|&(start, _, _)| start < r.end);
            if let Some(&(_, end, owner)) = at.checked_sub(1).and_then(|k| kept.get(k)) {
                if end > r.start {
                    return Err(share(owner.min(e.index), owner.max(e.index)));
                }
            }
        }
    }
    Ok(())
}

/// The library's views of the entries' memory.
fn views<'a>(entries: &'a [Stepped<'_>]) -> adamant::Result<(Vec<Param<'a>>, Vec<StateMut<'a>>)> {
    let mut params = Vec::with_capacity(entries.len());
    let mut states = Vec::with_capacity(entries.len());
    for e in entries {
        // SAFETY: every address was read from a live CPU tensor whose dtype, extent, strides and
        // alignment were checked (again at this step, or kept with its storage held since), and
        // `check_overlaps` found no written range overlapping another written or read range; the
        // tensors stay referenced (the caller's lists, the state dict, the cache) for the whole
        // step. (As with PyTorch's own kernels, another thread that replaces a tensor's storage
        // during the step is not supported.)
        let weight = unsafe { e.known.weight.raw.data_mut() };
        // Flat for a dense gradient (gradient and state have the weight's strides, so elements
        // correspond in any order), the weight's shape for a row-sparse one.
        let shape: &[usize] = match e.grad {
            GradMemory::Dense(_) => std::slice::from_ref(&e.known.weight.raw.len),
            GradMemory::RowSparse { .. } => &e.known.weight.shape,
        };
        let grad = match e.grad {
            // SAFETY: as above, for reads.
            GradMemory::Dense(g) => Grad::Dense(TensorRef { shape, data: unsafe { g.data_ref() } }),
            GradMemory::RowSparse { rows, listed, values } => {
                let row_indices: &[i64] = if listed == 0 {
                    &[]
                } else {
                    // SAFETY: `rows` is the checked, aligned address of `listed` int64 row ids of
                    // a live tensor, only read.
                    unsafe { std::slice::from_raw_parts(rows as *const i64, listed) }
                };
                // SAFETY: as above, for reads.
                let values = unsafe { values.data_ref() };
                Grad::RowSparse(RowSparseRef { shape, row_indices, values })
            }
        };
        params.push(Param::new(e.index, TensorMut { shape, data: weight }, grad));
        // SAFETY: as for the weight.
        let arrays = e.state.arrays[..e.state.count].iter().map(|&(name, a)| (name, unsafe { a.data_mut() }));
        states.push(StateMut::named(arrays)?);
    }
    Ok((params, states))
}
