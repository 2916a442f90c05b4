//! `adamant train`: real models trained with the library's optimizers.

mod bow;
mod digits;
mod network;
mod plot;
mod rng;
mod run;
mod saved;

pub use run::{run, TrainArgs};
