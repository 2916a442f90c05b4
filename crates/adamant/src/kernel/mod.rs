//! Pure functions over slices: one formula per rule, many loops.
//!
//! The kernel knows nothing of parameter indices, names, schedules or files. It takes slices
//! and a [`Formula`](formula::Formula) (a formula with its scalars) and updates in place. A rule's formula
//! is written once; every loop calls it (the scalar reference, SIMD at each instruction-set
//! level, master weights, MXNet's per-operation float16, lazy rows, standard rows), so all loops
//! agree bit for bit, and adding a rule touches no loop.

pub(crate) mod convert;
pub(crate) mod dense;
pub mod element;
pub(crate) mod formula;
pub(crate) mod isa;
pub(crate) mod pages;
pub(crate) mod parallel;
pub(crate) mod per_op;
pub(crate) mod prefetch;
pub(crate) mod real;
pub(crate) mod rows;
pub(crate) mod spare;
pub(crate) mod storage;
pub(crate) mod target;

pub(crate) use dense::Loop;
pub(crate) use per_op::PerOp;
pub(crate) use real::Real;
