//! MXNet's four learning-rate schedulers, with warmup, stateful exactly as MXNet's are.

mod configs;
mod decay;
mod from_json;
mod schedule;
#[cfg(test)]
mod tests;

pub use configs::{CosineScheduler, FactorScheduler, MultiFactorScheduler, PolyScheduler};
pub use schedule::{LrScheduler, PastMaxUpdate, Rule, Warmup, WarmupMode};
