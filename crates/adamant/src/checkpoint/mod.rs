//! Optimizer state that survives: a documented, versioned file (safetensors arrays and JSON
//! metadata, `docs/state-format.md`), written atomically, checked on load.

#![deny(clippy::arithmetic_side_effects)]

mod load;
mod metadata;
mod save;

pub use load::ParamSpec;
