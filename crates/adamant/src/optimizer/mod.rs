//! The optimizer layer: configuration, counters, multipliers, each optimizer's rule, the shared
//! batch machinery and the registry.
//!
//! Each optimizer is one file: its configuration (MXNet's argument names and defaults), the
//! scalars of each step, and its rule's formula. Everything else is shared: `engine.rs` checks
//! a batch, counts updates and plans each step; `dispatch.rs` runs a tensor in its dtype and
//! loop; the kernel's loops run any formula.

pub mod adam;
pub mod adamax;
pub mod adamw;
pub(crate) mod algorithm;
pub mod base;
pub mod config;
pub(crate) mod dispatch;
pub(crate) mod engine;
pub(crate) mod fields;
pub mod interface;
pub(crate) mod kernel_values;
pub mod lamb;
pub(crate) mod moments;
pub(crate) mod mxnet_float;
pub mod nadam;
pub(crate) mod ndarray_rules;
pub mod options;
pub mod registry;
pub mod state;
pub(crate) mod torch_adam;
