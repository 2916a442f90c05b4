//! `adamant train`: real models trained with the library's optimizers.

mod args;
mod bow;
mod digits;
mod libsvm;
mod models;
mod network;
mod plot;
mod report;
mod resumed;
mod rng;
mod run;
mod saved;
mod scaling;
mod weights;

pub use args::TrainArgs;
pub use run::run;
