//! Pure functions over slices: one element formula, several loops.
//!
//! The kernel knows nothing of parameter indices, names, schedules or files. It takes slices
//! and a small [`Scalars`] struct and updates in place. The per-element formula
//! ([`element::adam`]) is written once; every loop calls it, so all loops agree bit for bit.

pub mod convert;
pub mod dense;
pub mod element;
pub mod isa;
pub mod parallel;
pub mod per_op;
pub mod prefetch;
pub mod real;
pub mod roofline;
pub mod rows;
pub mod scalars;
pub mod storage;
pub mod target;

pub use dense::Loop;
pub use isa::Isa;
pub use per_op::{HalfMath, PerOp};
pub use real::Real;
pub use rows::CoalescedRows;
pub use scalars::{Scalars, StepScalars, WdOrder};
pub use storage::{Half, Load, Stored};
pub use target::{Mixed, Plain, Target};
