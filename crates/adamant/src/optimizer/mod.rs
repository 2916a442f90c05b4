//! The optimizer layer: configuration, counters, multipliers, the Adam rule and the registry.

pub mod adam;
pub mod adam_config;
pub mod base;
pub mod config;
pub mod interface;
pub(crate) mod kernel_values;
pub mod registry;
