//! One optimizer step over PyTorch parameters, gradients and state tensors, in place: every
//! tensor of every group is checked (device, layout, dtype, shape, strides, alignment,
//! overlaps), and so is every step's arithmetic, before any memory is touched; then the
//! library's counted batch steps run on their memory with the GIL released, and the step
//! counters and autograd's version counters advance. The groups come in buckets, one per
//! configuration (one Rust optimizer each); the step is one transaction over all of them.

use std::borrow::Borrow;
use std::ops::Range;

use adamant::{Grad, Param, ParamStep, RowSparseRef, StateMut, TensorMut, TensorRef};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{refused, to_py};
use crate::optimizer::{on_pool, Optimizer};
use crate::torch_grad::{gradient, GradMemory};
use crate::torch_known::{Cache, Known, KnownState};
use crate::torch_tensors::Torch;

/// One parameter of the step, checked: where its weight and state are known, and its gradient.
struct Entry {
    /// Its position among the optimizer's parameters (errors name it).
    index: usize,
    /// Its position in its optimizer's cache.
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

/// One bucket's parameters with gradients, checked.
struct Gathered<'py> {
    entries: Vec<Entry>,
    /// The parameters' object addresses, in order.
    order: Vec<usize>,
    /// Whether a parameter or a state was checked anew.
    dirty: bool,
    /// Per group, the parameters stepped (the group's list when it is all of them).
    bumped: Vec<Bound<'py, PyAny>>,
    /// The gradients (and parameters) used, kept referenced through the step.
    held: Vec<Bound<'py, PyAny>>,
}

/// Checks the parameters of `groups` (`(params, lr, weight_decay, first_index)`) that have a
/// gradient, against what `cache` knows; those whose state is missing or incomplete go to
/// `missing`.
fn gather<'py>(
    torch: &Torch,
    cache: &mut Cache,
    layout: &dyn Fn(adamant::DType) -> adamant::Layout,
    groups: &Bound<'py, PyList>,
    state: &Bound<'py, PyDict>,
    missing: &Bound<'py, PyList>,
) -> PyResult<Gathered<'py>> {
    let py = groups.py();
    let mut g = Gathered {
        entries: Vec::new(),
        order: Vec::new(),
        dirty: false,
        bumped: Vec::new(),
        held: Vec::new(),
    };
    for group in groups.iter() {
        let (params, lr, wd, first): (Bound<'py, PyList>, f64, f64, usize) = group.extract()?;
        let before = g.entries.len();
        for (at, p) in params.iter().enumerate() {
            let index = first.saturating_add(at);
            let grad = p.getattr(intern!(py, "grad"))?;
            if grad.is_none() {
                continue;
            }
            let key = p.as_ptr() as usize;
            // A tensor without a data pointer (sparse, meta) fails the full check with a reason.
            let ptr = p.call_method0(intern!(py, "data_ptr")).and_then(|v| v.extract::<usize>()).ok();
            let position = cache.position(key, g.order.len());
            let slot = match position {
                Some(at) if cache.params[at].still(&p, ptr)? => at,
                _ => {
                    g.dirty = true;
                    cache.insert(Known::check(torch, &p, key, index)?, position)
                }
            };
            let generation = cache.generation;
            let known = &mut cache.params[slot];
            known.used = generation;
            let grad_memory = gradient(torch, &grad, known, index)?;
            if known.state.is_none() || known.seen != generation {
                known.state = KnownState::check(
                    layout(known.weight.raw.dtype),
                    torch,
                    &p,
                    state,
                    &known.weight,
                    index,
                )?;
                if known.state.is_none() {
                    missing.append(&p)?;
                    continue;
                }
                g.dirty = true;
            }
            g.order.push(key);
            g.entries.push(Entry { index, slot, grad: grad_memory, lr, wd });
            g.held.push(grad);
            g.held.push(p);
        }
        let stepped = g.entries.len() - before;
        if stepped == params.len() {
            g.bumped.push(params.into_any());
        } else if stepped > 0 {
            let list: Vec<&Bound<'py, PyAny>> =
                g.held[g.held.len() - 2 * stepped..].iter().skip(1).step_by(2).collect();
            g.bumped.push(PyList::new(py, list)?.into_any());
        }
    }
    Ok(g)
}

/// The counted steps of `stepped`: each parameter's state `step` plus one, which must stay an
/// int64 count.
fn counts(stepped: &[Stepped<'_>], entries: &[Entry]) -> PyResult<Vec<ParamStep>> {
    stepped
        .iter()
        .zip(entries)
        .map(|(s, e)| {
            // SAFETY: `s.state.step` is the checked address of a live, aligned one-element int64
            // CPU tensor (its storage is held by the cache, its address re-read this step), read
            // here with the GIL held.
            let count = unsafe { std::ptr::read(s.state.step as *const i64) };
            let t = u64::try_from(count)
                .ok()
                .and_then(|c| c.checked_add(1))
                .filter(|&t| i64::try_from(t).is_ok());
            t.map(|t| ParamStep { t, lr: e.lr, wd: e.wd }).ok_or_else(|| {
                refused(format!(
                    "parameter {}: its state \"step\" is {count}; a step counts from 0 to {}",
                    e.index,
                    i64::MAX
                ))
            })
        })
        .collect()
}

/// The step of every bucket `(optimizer, rescale_grad, groups)` with `state` (parameter ->
/// dict of tensors); `groups` as [`gather`] takes them. With `scheduler`, a group's `lr`
/// multiplies the scheduler's rate at `num_update` (MXNet's: the largest update count once this
/// step is counted). Returns the parameters whose state is missing, stepping nothing, or an
/// empty list once the step is taken; and the largest update count. On any error nothing has
/// changed, the scheduler included.
pub fn step<'py>(
    py: Python<'py>,
    buckets: &Bound<'py, PyList>,
    state: &Bound<'py, PyDict>,
    scheduler: Option<&mut adamant::LrScheduler>,
    num_update: u64,
) -> PyResult<(Bound<'py, PyList>, u64)> {
    let torch = Torch::get(py)?;
    let mut engines = Vec::with_capacity(buckets.len());
    let mut group_lists = Vec::with_capacity(buckets.len());
    let mut rescales = Vec::with_capacity(buckets.len());
    for bucket in buckets.iter() {
        let (engine, rescale, groups): (Bound<'py, Optimizer>, f64, Bound<'py, PyList>) = bucket.extract()?;
        let engine = engine.try_borrow_mut().map_err(|_| {
            refused("an optimizer is stepped twice at once (from two threads, or twice in one step)")
        })?;
        engines.push(engine);
        group_lists.push(groups);
        rescales.push(rescale);
    }
    let mut parts: Vec<_> = engines
        .iter_mut()
        .map(|e| {
            let Optimizer { inner, pool, torch: cache } = &mut **e;
            (inner, &*pool, cache)
        })
        .collect();
    let missing = PyList::empty(py);
    let mut gathered = Vec::with_capacity(parts.len());
    for ((inner, _, cache), groups) in parts.iter_mut().zip(&group_lists) {
        cache.generation = cache.generation.wrapping_add(1);
        cache.walk_state(state)?;
        let layout = |dtype| inner.layout(dtype);
        gathered.push(gather(torch, cache, &layout, groups, state, &missing)?);
    }
    if !missing.is_empty() {
        for ((_, _, cache), g) in parts.iter_mut().zip(&gathered) {
            cache.forget_unused(g.entries.len());
        }
        return Ok((missing, num_update));
    }
    let mut scheduler = scheduler;
    let saved = scheduler.as_ref().map(|s| s.state());
    let stepped = take(py, &mut parts, &gathered, &rescales, scheduler.as_deref_mut(), num_update);
    let num_update = match stepped {
        Ok(n) => n,
        Err(e) => {
            if let (Some(s), Some(saved)) = (scheduler, saved) {
                s.restore_state(saved).map_err(to_py)?;
            }
            return Err(e);
        }
    };
    // Autograd's version counters: a tensor saved for backward and stepped since is caught.
    for g in &gathered {
        for params in &g.bumped {
            torch.increment_version.call1(py, (params,))?;
        }
    }
    for ((_, _, cache), g) in parts.iter_mut().zip(&gathered) {
        cache.forget_unused(g.entries.len());
    }
    Ok((PyList::empty(py), num_update))
}

type Part<'e> = (&'e mut Box<dyn adamant::Optimizer>, &'e Option<rayon::ThreadPool>, &'e mut Cache);

/// Checks the gathered buckets as a whole (overlaps, counts, the arithmetic), then steps them
/// all and advances their counts; returns the largest update count.
fn take(
    py: Python<'_>,
    parts: &mut [Part<'_>],
    gathered: &[Gathered<'_>],
    rescales: &[f64],
    scheduler: Option<&mut adamant::LrScheduler>,
    num_update: u64,
) -> PyResult<u64> {
    let mut inners = Vec::with_capacity(parts.len());
    let mut stepped_all = Vec::with_capacity(parts.len());
    for ((inner, pool, cache), g) in parts.iter_mut().zip(gathered) {
        let Cache { params, written, last_order, .. } = &mut **cache;
        let stepped: Vec<Stepped<'_>> = g.entries.iter().map(|e| Stepped::of(params, e)).collect();
        if gathered.len() == 1 {
            check_overlaps(written, last_order, &stepped, g.order.clone(), g.dirty)?;
        }
        stepped_all.push(stepped);
        inners.push((inner.as_mut(), *pool));
    }
    if gathered.len() > 1 {
        // Buckets may share memory with each other (one tensor in two groups): all at once.
        let all: Vec<&Stepped<'_>> = stepped_all.iter().flatten().collect();
        check_overlaps_of(&all)?;
    }
    let mut counts_all = Vec::with_capacity(gathered.len());
    for (stepped, g) in stepped_all.iter().zip(gathered) {
        counts_all.push(counts(stepped, &g.entries)?);
    }
    let num_update = counts_all.iter().flatten().map(|c| c.t).fold(num_update, u64::max);
    if let Some(scheduler) = scheduler {
        let rate = scheduler.lr(num_update);
        counts_all.iter_mut().flatten().for_each(|c| c.lr *= rate);
    }
    for ((inner, _), &rescale) in inners.iter_mut().zip(rescales) {
        inner.set_rescale_grad(rescale).map_err(to_py)?;
    }
    let several = inners.len() > 1;
    let result = py.detach(|| -> adamant::Result<()> {
        let mut batches = Vec::with_capacity(stepped_all.len());
        for stepped in &stepped_all {
            batches.push(views(stepped)?);
        }
        if several {
            for ((inner, _), ((params, states), counts)) in
                inners.iter_mut().zip(batches.iter().zip(&counts_all))
            {
                inner.check_counted(params, states, counts)?;
            }
        }
        for ((inner, pool), ((params, states), counts)) in
            inners.iter_mut().zip(batches.iter_mut().zip(&counts_all))
        {
            on_pool(pool, &mut **inner, |o| o.update_counted(params, states, counts))?;
        }
        Ok(())
    });
    result.map_err(to_py)?;
    for (stepped, counts) in stepped_all.iter().zip(&counts_all) {
        for (s, c) in stepped.iter().zip(counts) {
            // SAFETY: as for the read in `counts`; the step succeeded, and `t` fits an int64.
            unsafe { std::ptr::write(s.state.step as *mut i64, i64::try_from(c.t).unwrap_or(i64::MAX)) };
        }
    }
    Ok(num_update)
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
fn check_overlaps<'c, E: Borrow<Stepped<'c>>>(
    kept: &mut Vec<(usize, usize, usize)>,
    last_order: &mut Vec<usize>,
    entries: &[E],
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
        for e in entries.iter().map(Borrow::borrow) {
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
    for e in entries.iter().map(Borrow::borrow) {
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

/// [`check_overlaps`] of entries from several buckets, with nothing kept.
fn check_overlaps_of(entries: &[&Stepped<'_>]) -> PyResult<()> {
    check_overlaps(&mut Vec::new(), &mut Vec::new(), entries, Vec::new(), true)
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
