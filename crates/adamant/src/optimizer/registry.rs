//! Creating optimizers by name (MXNet's `mx.optimizer.create`).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::optimizer::adam::AdamConfig;
use crate::optimizer::adamax::AdamaxConfig;
use crate::optimizer::adamw::AdamWConfig;
use crate::optimizer::interface::Optimizer;
use crate::optimizer::lamb::LambConfig;
use crate::optimizer::nadam::NadamConfig;

/// The names [`create`] knows, lowercase.
pub const OPTIMIZERS: [&str; 5] = ["adam", "adamw", "adamax", "nadam", "lamb"];

/// Creates the optimizer registered as `name` (case-insensitive) from a JSON object of its
/// hyper-parameters, in MXNet's argument names.
///
/// An unknown name is an error that lists the known ones; an unknown hyper-parameter, or one of
/// the wrong type or out of range, is an error that names it.
///
/// ```
/// let adam = adamant::create("Adam", &serde_json::json!({"learning_rate": 0.01, "wd": 1e-4}))
///     .unwrap();
/// assert_eq!(adam.name(), "adam");
/// assert_eq!(adam.learning_rate(), 0.01);
///
/// let err = adamant::create("adagrad", &serde_json::json!({})).unwrap_err();
/// assert_eq!(err.to_string(), "unknown optimizer \"adagrad\"; known optimizers: adam, adamw, adamax, nadam, lamb");
/// ```
pub fn create(name: &str, config: &Value) -> Result<Box<dyn Optimizer>> {
    match name.to_ascii_lowercase().as_str() {
        "adam" => AdamConfig::from_json(config)?.build(),
        "adamw" => AdamWConfig::from_json(config)?.build(),
        "adamax" => AdamaxConfig::from_json(config)?.build(),
        "nadam" => NadamConfig::from_json(config)?.build(),
        "lamb" => LambConfig::from_json(config)?.build(),
        _ => Err(Error::UnknownOptimizer { name: name.to_string(), known: OPTIMIZERS.join(", ") }),
    }
}
