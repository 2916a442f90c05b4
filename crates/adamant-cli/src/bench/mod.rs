//! `adamant bench`: every update path, timed against a roofline measured in the same run.

mod op_by_op;
mod roofline;
mod row_gather;
mod run;
mod scenarios;
mod timing;

pub use run::{run, BenchArgs};
