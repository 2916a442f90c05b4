//! The object users hold: an optimizer plus the state of every parameter it has seen.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::optimizer::interface::{Optimizer, State};
use crate::param::Param;

/// Owns an optimizer and the per-parameter state, created on the first sight of an index.
///
/// ```
/// use adamant::{Param, Updater};
/// let adam = adamant::create("adam", &serde_json::json!({"learning_rate": 0.01})).unwrap();
/// let mut updater = Updater::new(adam);
/// let (mut w0, g0) = (vec![1.0f32; 3], vec![0.5f32; 3]);
/// let (mut w1, g1) = (vec![1.0f64; 2], vec![-0.5f64; 2]);
/// updater
///     .update(&mut [Param::dense(0, &[3], &mut w0, &g0), Param::dense(1, &[2], &mut w1, &g1)])
///     .unwrap();
/// assert!(w0[0] < 1.0 && w1[0] > 1.0);
/// assert_eq!(updater.optimizer().base().update_counts().len(), 2);
/// ```
#[derive(Debug)]
pub struct Updater {
    optimizer: Box<dyn Optimizer>,
    states: BTreeMap<usize, State>,
}

impl Updater {
    /// An updater with no state yet.
    pub fn new(optimizer: Box<dyn Optimizer>) -> Self {
        Updater { optimizer, states: BTreeMap::new() }
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
        self.states.get(&index)
    }

    /// Every state, by index.
    pub fn states(&self) -> &BTreeMap<usize, State> {
        &self.states
    }

    /// Applies one batch: each parameter's gradient to its weight, in order.
    ///
    /// The whole batch is checked before any element is touched (shapes, dtypes, states,
    /// repeated indices); on error nothing has changed.
    pub fn update(&mut self, batch: &mut [Param<'_>]) -> Result<()> {
        let mut indices: Vec<usize> = batch.iter().map(|p| p.index).collect();
        indices.sort_unstable();
        if let Some(pair) = indices.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Error::DuplicateIndex { index: pair[0] });
        }
        for param in batch.iter() {
            self.optimizer.check(param, self.states.get(&param.index))?;
        }
        // Move the states out for the call and back after it; new ones are created here.
        let mut created = Vec::with_capacity(batch.len());
        let mut states: Vec<State> = batch
            .iter()
            .map(|p| {
                let existing = self.states.remove(&p.index);
                created.push(existing.is_none());
                existing.unwrap_or_else(|| self.optimizer.create_state(&p.weight))
            })
            .collect();
        let result = self.optimizer.update(batch, &mut states);
        for ((param, state), new) in batch.iter().zip(states).zip(created) {
            // On error the optimizer changed nothing: keep the old states, drop the new ones.
            if result.is_ok() || !new {
                self.states.insert(param.index, state);
            }
        }
        result
    }
}
