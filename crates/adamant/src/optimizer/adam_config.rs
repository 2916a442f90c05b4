//! Adam's hyper-parameters and how the registry reads them.

use serde_json::{json, Value};

use crate::error::Result;
use crate::json_fields::JsonFields;
use crate::optimizer::config::OptimizerConfig;
use crate::optimizer::kernel_values;

/// Adam's configuration: the base hyper-parameters plus Adam's own.
///
/// `Default` gives MXNet 2.0's defaults (`beta1` 0.9, `beta2` 0.999, `epsilon` 1e-8,
/// `lazy_update` false, `use_fused_step` true; learning rate 0.001 when neither a rate nor a
/// scheduler is given).
///
/// ```
/// use adamant::{AdamConfig, OptimizerConfig};
/// let config = AdamConfig {
///     beta2: 0.99,
///     base: OptimizerConfig { learning_rate: Some(0.01), wd: 1e-4, ..Default::default() },
///     ..AdamConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamConfig {
    /// The hyper-parameters every optimizer has.
    pub base: OptimizerConfig,
    /// Decay of the first moment, in [0, 1) (and below 1 once rounded to float32).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1) (and below 1 once rounded to float32).
    pub beta2: f64,
    /// Added to `sqrt(v)` (not bias-corrected, as in MXNet); > 0, also once rounded to float32.
    pub epsilon: f64,
    /// With row-sparse gradients: update only the listed rows.
    pub lazy_update: bool,
    /// Whether [`Optimizer::update`](crate::Optimizer::update) runs the fast
    /// [`Adam::fused_step`](crate::Adam::fused_step) (true) or the reference
    /// [`Adam::step`](crate::Adam::step). Both give the same bits.
    pub use_fused_step: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            base: OptimizerConfig::default(),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            lazy_update: false,
            use_fused_step: true,
        }
    }
}

const ADAM_KEYS: [&str; 5] = ["beta1", "beta2", "epsilon", "lazy_update", "use_fused_step"];

impl AdamConfig {
    /// Every hyper-parameter name the registry accepts for Adam.
    pub fn keys() -> Vec<&'static str> {
        OptimizerConfig::KEYS.iter().chain(&ADAM_KEYS).copied().collect()
    }

    /// Checks every value as given and as the kernel reads it (rounded to float32): the betas
    /// in `[0, 1)` and below 1 as read, `epsilon` > 0 as read, and the base hyper-parameters
    /// ([`OptimizerConfig::validate`]). The error names the first value at fault.
    pub fn validate(&self) -> Result<()> {
        kernel_values::beta("beta1", self.beta1)?;
        kernel_values::beta("beta2", self.beta2)?;
        kernel_values::epsilon("epsilon", self.epsilon)?;
        self.base.validate()
    }

    /// The configuration as a JSON object of MXNet's argument names, which
    /// [`AdamConfig::from_json`] reads back to an equal configuration.
    ///
    /// ```
    /// let c = adamant::AdamConfig { beta1: 0.8, ..Default::default() };
    /// assert_eq!(adamant::AdamConfig::from_json(&c.to_json()).unwrap(), c);
    /// ```
    pub fn to_json(&self) -> Value {
        let mut map = self.base.to_json();
        for (key, value) in [
            ("beta1", json!(self.beta1)),
            ("beta2", json!(self.beta2)),
            ("epsilon", json!(self.epsilon)),
            ("lazy_update", json!(self.lazy_update)),
            ("use_fused_step", json!(self.use_fused_step)),
        ] {
            map.insert(key.to_string(), value);
        }
        Value::Object(map)
    }

    /// Reads a configuration from a JSON object of MXNet's argument names; absent keys and
    /// `null` keep the defaults. An unknown key or a value of the wrong type is an error that
    /// names the key. The values are not validated here ([`Adam::new`](crate::Adam::new) does).
    ///
    /// ```
    /// let c = adamant::AdamConfig::from_json(&serde_json::json!(
    ///     {"learning_rate": 0.01, "beta1": 0.8, "clip_gradient": null})).unwrap();
    /// assert_eq!((c.beta1, c.base.learning_rate), (0.8, Some(0.01)));
    /// ```
    pub fn from_json(value: &Value) -> Result<Self> {
        let keys = Self::keys();
        let f = JsonFields::new("adam", value, &keys)?;
        let mut config = AdamConfig::default();
        let defaults = AdamConfig::default();
        for key in f.keys() {
            if config.base.set_json(&f, key)? {
                continue;
            }
            match key {
                "beta1" => config.beta1 = f.f64(key)?.unwrap_or(defaults.beta1),
                "beta2" => config.beta2 = f.f64(key)?.unwrap_or(defaults.beta2),
                "epsilon" => config.epsilon = f.f64(key)?.unwrap_or(defaults.epsilon),
                "lazy_update" => config.lazy_update = f.bool(key)?.unwrap_or(defaults.lazy_update),
                "use_fused_step" => config.use_fused_step = f.bool(key)?.unwrap_or(defaults.use_fused_step),
                _ => unreachable!("JsonFields::new admitted only known keys"),
            }
        }
        Ok(config)
    }
}
