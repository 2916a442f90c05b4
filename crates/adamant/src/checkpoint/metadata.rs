//! The metadata document of a state file (see `docs/state-format.md`).

#![deny(clippy::arithmetic_side_effects)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kernel::element::DType;

/// The `format` field's value.
pub const FORMAT: &str = "adamant-state";
/// The version this build writes; it reads this one and every earlier one.
pub const VERSION: u32 = 2;
/// The safetensors metadata key holding the document, and the one holding its CRC-32.
pub const KEY: &str = "adamant";
/// See [`KEY`].
pub const CRC_KEY: &str = "adamant_crc32";

/// Everything a resume needs besides the arrays.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub format: String,
    pub version: u32,
    /// The registry name of the optimizer.
    pub optimizer: String,
    /// Its configuration, in the registry's form (`create(optimizer, config)` rebuilds it).
    pub config: Value,
    /// The fixed learning rate in force (it differs from the configuration's after
    /// `set_learning_rate`).
    pub learning_rate: f64,
    pub num_update: u64,
    /// `[index, count]` pairs, in index order.
    pub update_counts: Vec<(usize, u64)>,
    /// The scheduler's mutable state, if there is a scheduler.
    pub scheduler_state: Option<SchedulerState>,
    /// Scalars the optimizer keeps across steps (Nadam's `m_schedule`), by name (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optimizer_scalars: Vec<(String, f64)>,
    pub params: Vec<ParamMeta>,
}

/// The mutable part of a scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerState {
    /// The current base rate.
    pub base_lr: f64,
    /// Factor: the update count at the last decay.
    pub count: u64,
    /// MultiFactor: how many steps have been passed.
    pub cur_step_ind: u64,
}

/// One parameter's state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamMeta {
    pub index: usize,
    /// The weight's dtype and shape.
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// The arrays, each a safetensors tensor named `{index}.{name}`.
    pub arrays: Vec<ArrayMeta>,
}

/// One array of a parameter's state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayMeta {
    /// The state array's name (`mean`, `var`, `weight32`, ...; version 1 called the master
    /// copy `master`).
    pub name: String,
    /// The CRC-32 of the tensor's bytes.
    pub crc32: u32,
}
