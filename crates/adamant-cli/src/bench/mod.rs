//! `adamant bench`: every update path, timed against a roofline measured in the same run.

mod op_by_op;
mod run;
mod scenarios;
mod stream;
mod timing;

pub use run::{run, BenchArgs};
