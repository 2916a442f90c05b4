//! The object users hold: an optimizer plus the state of every parameter it has seen.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use crate::error::{Error, Result};
use crate::index_map::{IndexHasher, IndexMap};
use crate::optimizer::interface::Optimizer;
use crate::optimizer::state::{State, StateMut};
use crate::param::Param;

/// Owns an optimizer and the per-parameter state, created on the first sight of an index.
///
/// A batch is applied in one parallel pass (with the optimizer's fused step), on the threads
/// of [`Updater::set_threads`] or of rayon's global pool. Results are the same bits for every
/// thread count.
///
/// ```
/// use adamant::{Param, Updater};
/// let adam = adamant::create("adam", &serde_json::json!({"learning_rate": 0.01})).unwrap();
/// let mut updater = Updater::new(adam);
/// updater.set_threads(2).unwrap();
/// let (mut w0, g0) = (vec![1.0f32; 3], vec![0.5f32; 3]);
/// let (mut w1, g1) = (vec![1.0f64; 2], vec![-0.5f64; 2]);
/// updater
///     .update(&mut [Param::dense(0, &[3], &mut w0, &g0), Param::dense(1, &[2], &mut w1, &g1)])
///     .unwrap();
/// assert!(w0[0] < 1.0 && w1[0] > 1.0);
/// assert_eq!(updater.optimizer().base().update_count(1), Some(1));
/// ```
#[derive(Debug)]
pub struct Updater {
    optimizer: Box<dyn Optimizer>,
    /// States in order of creation; `slots` maps a parameter index to its position here.
    states: Vec<State>,
    slots: IndexMap<usize>,
    /// The pool batches run on; `None` means rayon's global pool.
    pool: Option<rayon::ThreadPool>,
    /// The indices of the last batch that succeeded and their slots: training sends the same
    /// batch every step, which then needs no hashing and no duplicate check.
    last_indices: Vec<usize>,
    last_slots: Vec<usize>,
    /// Buffers a batch needs, kept so that a steady-state step allocates nothing.
    scratch: Scratch,
}

/// What a batch needs besides the states, kept between batches for their allocations.
#[derive(Debug, Default)]
struct Scratch {
    /// Each parameter's slot, `None` for a new one.
    found: Vec<Option<usize>>,
    /// Whether a slot was seen in the batch (the duplicate check).
    seen: Vec<bool>,
    /// New indices seen in the batch.
    new: HashSet<usize, BuildHasherDefault<IndexHasher>>,
    /// Each slot's position in the batch (`usize::MAX`: not in it).
    position: Vec<usize>,
    /// The borrowed states of the last batch, emptied: only their allocation is kept.
    views: Vec<Option<StateMut<'static>>>,
    lent: Vec<StateMut<'static>>,
}

impl Updater {
    /// An updater with no state yet.
    pub fn new(optimizer: Box<dyn Optimizer>) -> Self {
        Updater {
            optimizer,
            states: Vec::new(),
            slots: IndexMap::default(),
            pool: None,
            last_indices: Vec::new(),
            last_slots: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// An updater holding `states` (a checkpoint's); fails on a repeated index.
    pub(crate) fn with_states(
        optimizer: Box<dyn Optimizer>,
        states: Vec<(usize, State)>,
    ) -> Result<Self, String> {
        let mut updater = Updater::new(optimizer);
        for (index, state) in states {
            if updater.slots.insert(index, updater.states.len()).is_some() {
                return Err(format!("parameter {index} appears twice"));
            }
            updater.states.push(state);
        }
        Ok(updater)
    }

    /// The most threads [`Updater::set_threads`] starts: more than any CPU has cores, and far
    /// fewer than would exhaust a process's thread limit.
    pub const MAX_THREADS: usize = 1024;

    /// Runs batches on a pool of `threads` threads of its own from now on; 0 (the default)
    /// runs them on the rayon pool `update` is called from (the global pool, unless the caller
    /// is inside `ThreadPool::install`). The results do not depend on it.
    ///
    /// A pool of its own suits a program that does no other parallel work at the same time;
    /// otherwise prefer calling `update` inside your pool, since idle rayon threads spin for a
    /// while and two busy pools on the same cores slow each other down.
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`] naming `threads` above [`Updater::MAX_THREADS`], or when
    /// the pool cannot start; the previous pool stays.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if threads > Self::MAX_THREADS {
            return Err(Error::InvalidHyperParameter {
                name: "threads",
                value: threads.to_string(),
                reason: format!(
                    "must be at most {} (one per core is the most that helps)",
                    Self::MAX_THREADS
                ),
            });
        }
        self.pool = match threads {
            0 => None,
            n => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| {
                Error::InvalidHyperParameter {
                    name: "threads",
                    value: format!("{n} ({e})"),
                    reason: "cannot start".into(),
                }
            })?),
        };
        Ok(())
    }

    /// The largest update count of any parameter (MXNet's `num_update`).
    pub fn num_update(&self) -> u64 {
        self.optimizer.num_update()
    }

    /// The number of threads batches run on.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or_else(rayon::current_num_threads, rayon::ThreadPool::current_num_threads)
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    /// The optimizer, mutably (to change its learning rate, say).
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        self.optimizer.as_mut()
    }

    /// The state of parameter `index`, once it has been updated.
    pub fn state(&self, index: usize) -> Option<&State> {
        self.slots.get(&index).map(|&slot| &self.states[slot])
    }

    /// Every state with its parameter index, in index order.
    pub fn states(&self) -> Vec<(usize, &State)> {
        let mut all: Vec<(usize, &State)> =
            self.slots.iter().map(|(&i, &slot)| (i, &self.states[slot])).collect();
        all.sort_unstable_by_key(|&(i, _)| i);
        all
    }

    /// Applies one batch: each parameter's gradient to its weight.
    ///
    /// # Errors
    /// The whole batch is checked before any element is touched (shapes, dtypes, states,
    /// repeated indices, each step's scalars); on error nothing has changed.
    pub fn update(&mut self, batch: &mut [Param<'_>]) -> Result<()> {
        let repeated = batch.len() == self.last_indices.len()
            && batch.iter().zip(&self.last_indices).all(|(p, &index)| p.index == index);
        let existing = self.states.len();
        let slots =
            if repeated { std::mem::take(&mut self.last_slots) } else { self.find_or_create_slots(batch)? };
        let scratch = &mut self.scratch;
        let mut states =
            lend(&mut self.states, &slots, &mut scratch.position, &mut scratch.views, &mut scratch.lent);
        let result = match &self.pool {
            Some(pool) => pool.install(|| self.optimizer.update(batch, &mut states)),
            None => self.optimizer.update(batch, &mut states),
        };
        scratch.lent = recycle(states);
        if result.is_ok() {
            self.last_indices.clear();
            self.last_indices.extend(batch.iter().map(|p| p.index));
            self.last_slots = slots;
        } else {
            // The optimizer changed nothing; forget the states this batch created.
            self.forget_from(existing);
        }
        result
    }

    /// [`Updater::update`] with what training loops need around it: the gradients clipped by
    /// their global norm (`options.clip_global_norm`: as PyTorch's `clip_grad_norm_`, the factor
    /// folded into `rescale_grad` for this step, so no extra pass over the weights), and the step
    /// skipped when the gradients are not all finite (`options.skip_non_finite`: weights, states,
    /// counters, `num_update` and the scheduler all unchanged, as when a loss scaler skips).
    /// The global norm costs one extra read of the gradients ([`crate::global_norm`]).
    ///
    /// ```
    /// use adamant::{Param, Updater, updater::StepOptions};
    /// let mut updater = Updater::new(adamant::create("adam", &serde_json::json!({}))?);
    /// let (mut w, g) = ([0f32; 2], [3f32, f32::NAN]);
    /// let options = StepOptions { clip_global_norm: Some(1.0), skip_non_finite: true };
    /// let report = updater.step(&mut [Param::dense(0, &[2], &mut w, &g)], options)?;
    /// assert!(report.skipped && updater.num_update() == 0 && w == [0.0, 0.0]);
    /// # Ok::<(), adamant::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Updater::update`] (checked before the norm is read, so a batch with a non-finite
    /// gradient is refused, not skipped, when it is malformed), and
    /// [`Error::InvalidHyperParameter`] naming `clip_global_norm` when it is NaN or not above
    /// 0; on error nothing has changed (`rescale_grad` included).
    pub fn step(&mut self, batch: &mut [Param<'_>], options: StepOptions) -> Result<StepReport> {
        if let Some(max) = options.clip_global_norm.filter(|max| max.is_nan() || *max <= 0.0) {
            return Err(Error::InvalidHyperParameter {
                name: "clip_global_norm",
                value: max.to_string(),
                reason: "must be > 0 (None turns clipping off; infinity clips nothing)".into(),
            });
        }
        let needs_norm = options.clip_global_norm.is_some() || options.skip_non_finite;
        if needs_norm {
            // The norm reads every gradient, and a skip must not hide a batch `update` refuses.
            self.check_batch(batch)?;
        }
        let norm = if needs_norm {
            match &self.pool {
                Some(pool) => pool.install(|| crate::global_norm::global_norm_of_checked(batch)),
                None => crate::global_norm::global_norm_of_checked(batch),
            }
        } else {
            f64::NAN
        };
        if options.skip_non_finite && !norm.is_finite() {
            return Ok(StepReport { global_norm: norm, factor: 1.0, skipped: true });
        }
        let factor = options.clip_global_norm.map_or(1.0, |max| crate::global_norm::clip_factor(norm, max));
        if factor == 1.0 {
            self.update(batch)?;
            return Ok(StepReport { global_norm: norm, factor, skipped: false });
        }
        let rescale_grad = self.optimizer.base().config().rescale_grad;
        self.optimizer.set_rescale_grad(rescale_grad * factor)?;
        let result = self.update(batch);
        let restored = self.optimizer.set_rescale_grad(rescale_grad);
        result?;
        restored?;
        Ok(StepReport { global_norm: norm, factor, skipped: false })
    }

    /// Checks what the global norm reads and what a skipped step would otherwise hide: each
    /// parameter as the optimizer checks it, against the state it already has, and no index
    /// twice.
    fn check_batch(&mut self, batch: &[Param<'_>]) -> Result<()> {
        for param in batch {
            self.optimizer.check(param)?;
            if let Some(state) = self.state(param.index) {
                state.check_made_for(param)?;
            }
        }
        let new = &mut self.scratch.new;
        new.clear();
        match batch.iter().find(|p| !new.insert(p.index)) {
            Some(p) => Err(Error::DuplicateIndex { index: p.index }),
            None => Ok(()),
        }
    }

    /// Forgets the states from slot `existing` on (those a refused batch created).
    fn forget_from(&mut self, existing: usize) {
        self.slots.retain(|_, slot| *slot < existing);
        self.states.truncate(existing);
        self.last_indices.clear();
        self.last_slots.clear();
    }

    /// The state slot of each parameter of `batch`, creating states for new indices. Fails,
    /// creating nothing, on a repeated index or a new parameter whose shape does not hold.
    fn find_or_create_slots(&mut self, batch: &[Param<'_>]) -> Result<Vec<usize>> {
        let mut found = std::mem::take(&mut self.scratch.found);
        found.clear();
        found.extend(batch.iter().map(|p| self.slots.get(&p.index).copied()));
        let checked = self.slots_for(batch, &found);
        self.scratch.found = found;
        checked
    }

    /// The slots of `batch`, whose parameters' existing slots are `found`.
    fn slots_for(&mut self, batch: &[Param<'_>], found: &[Option<usize>]) -> Result<Vec<usize>> {
        self.check_unique(batch, found)?;
        // A new parameter gets a state sized by its shape, so its shape is checked first; the
        // optimizer checks everything again, before it changes anything.
        for (param, _) in batch.iter().zip(found).filter(|(_, slot)| slot.is_none()) {
            self.optimizer.check(param)?;
        }
        let mut slots = std::mem::take(&mut self.last_slots);
        slots.clear();
        slots.extend(batch.iter().zip(found).map(|(param, &slot)| {
            slot.unwrap_or_else(|| {
                let weight = &param.weight;
                let layout = self.optimizer.layout(weight.data.dtype());
                self.states.push(State::new(&layout, weight.shape, weight.data.as_ref()));
                self.slots.insert(param.index, self.states.len() - 1);
                self.states.len() - 1
            })
        }));
        // Room for the duplicate check of later batches, while this batch is new.
        self.scratch.seen.reserve(self.states.len());
        Ok(slots)
    }

    fn check_unique(&mut self, batch: &[Param<'_>], slots: &[Option<usize>]) -> Result<()> {
        let Scratch { seen, new, .. } = &mut self.scratch;
        seen.clear();
        seen.resize(self.states.len(), false);
        new.clear();
        for (param, slot) in batch.iter().zip(slots) {
            let first = match slot {
                Some(s) => !std::mem::replace(&mut seen[*s], true),
                None => new.insert(param.index),
            };
            if !first {
                return Err(Error::DuplicateIndex { index: param.index });
            }
        }
        Ok(())
    }
}

impl Drop for Updater {
    /// Frees the buffers steps keep between batches ([`crate::kernel::spare`]), which are the
    /// process's: another optimizer's next step allocates its own again.
    fn drop(&mut self) {
        crate::kernel::spare::release_all();
    }
}

/// The states at `slots` (which are distinct), borrowed in that order, in the allocations of
/// `views` and `lent` (emptied), with `position` as scratch.
fn lend<'s>(
    states: &'s mut [State],
    slots: &[usize],
    position: &mut Vec<usize>,
    views: &mut Vec<Option<StateMut<'static>>>,
    lent: &mut Vec<StateMut<'static>>,
) -> Vec<StateMut<'s>> {
    let mut out: Vec<StateMut<'s>> = recycle(std::mem::take(lent));
    if slots.len() == states.len() && slots.iter().enumerate().all(|(i, &s)| i == s) {
        // The next batch may take a subset: room for it now, while the batch is new.
        views.reserve(states.len());
        position.reserve(states.len());
        out.extend(states.iter_mut().map(State::as_mut));
        return out;
    }
    position.clear();
    position.resize(states.len(), usize::MAX);
    for (at, &slot) in slots.iter().enumerate() {
        position[slot] = at;
    }
    let mut placed: Vec<Option<StateMut<'s>>> = recycle(std::mem::take(views));
    placed.resize_with(slots.len(), || None);
    for (state, &at) in states.iter_mut().zip(position.iter()) {
        if let Some(place) = placed.get_mut(at) {
            *place = Some(state.as_mut());
        }
    }
    out.extend(placed.drain(..).flatten());
    *views = recycle(placed);
    out
}

/// An empty vector in the allocation of `v` (emptied), for the same elements with another
/// lifetime: the standard library collects a vector's own iterator into its allocation when the
/// element layouts match, as they do here, so nothing is allocated (the steady-state allocation
/// test holds it to that).
fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

/// What [`Updater::step`] does around the optimizer's step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepOptions {
    /// Clip the gradients to this global L2 norm (PyTorch's `max_norm`); `None`: no clipping.
    pub clip_global_norm: Option<f64>,
    /// Skip the step, changing nothing, when the gradients' global norm is not finite (a NaN or
    /// infinite element, or float32 squares past float32's range, as PyTorch's norm).
    pub skip_non_finite: bool,
}

/// What [`Updater::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The gradients' global L2 norm (NaN when neither clipping nor skipping asked for it).
    pub global_norm: f64,
    /// The factor the gradients were scaled by (1: not clipped).
    pub factor: f64,
    /// Whether the step was skipped (non-finite gradients): nothing changed.
    pub skipped: bool,
}
