//! The base optimizer's configuration (MXNet's `Optimizer.__init__` arguments).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json_fields::{as_f64, index_key, number, wrong_type, JsonFields};
use crate::lr_scheduler::LrScheduler;
use crate::optimizer::kernel_values;
use crate::optimizer::options::{Choice, HalfMath};

/// Per-parameter multipliers of the learning rate or of weight decay.
///
/// A parameter's multiplier is looked up by its index first, then by its name (through
/// [`OptimizerConfig::param_idx2name`]); a parameter found in neither gets 1.
///
/// In the registry's JSON (`lr_mult`, `wd_mult`) either form is read: MXNet's own, one object
/// keyed by index or by name as MXNet's `set_lr_mult` takes it (a key of decimal digits is an
/// index), or the explicit `{"by_index": {...}, "by_name": {...}}`, which is what is written.
///
/// ```
/// use adamant::Multipliers;
/// let mut m = Multipliers::default();
/// m.by_name.insert("fc1_bias".into(), 0.0);
/// assert!(m.by_index.is_empty());
///
/// // MXNet's form: no weight decay for parameter 2 and for the one named fc1_bias.
/// let adam = adamant::create("adam", &serde_json::json!({
///     "wd": 1e-4,
///     "param_idx2name": {"0": "fc1_bias"},
///     "wd_mult": {"2": 0.0, "fc1_bias": 0.0},
/// }))?;
/// let c = adam.base().config();
/// assert_eq!((c.wd_for(2), c.wd_for(0), c.wd_for(1)), (0.0, 0.0, 1e-4));
/// # Ok::<(), adamant::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Multipliers {
    /// Multipliers keyed by parameter index (these win).
    pub by_index: BTreeMap<usize, f64>,
    /// Multipliers keyed by parameter name.
    pub by_name: BTreeMap<String, f64>,
}

impl Multipliers {
    /// The multiplier of parameter `index` named `name`, if any rule matches.
    pub fn get(&self, index: usize, name: Option<&str>) -> Option<f64> {
        self.by_index.get(&index).or_else(|| name.and_then(|n| self.by_name.get(n))).copied()
    }

    fn validate(&self, kind: &'static str) -> Result<()> {
        let keyed = self
            .by_index
            .iter()
            .map(|(i, &v)| (format!("index {i}"), v))
            .chain(self.by_name.iter().map(|(n, &v)| (format!("name {n:?}"), v)));
        for (key, value) in keyed {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidMultiplier { kind, key, value });
            }
        }
        Ok(())
    }

    /// `{"by_index": {"1": 0.5}, "by_name": {"fc1_bias": 2.0}}`.
    fn to_json(&self) -> Value {
        let by_index: Map<String, Value> =
            self.by_index.iter().map(|(i, v)| (i.to_string(), json!(v))).collect();
        let by_name: Map<String, Value> = self.by_name.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
        json!({"by_index": by_index, "by_name": by_name})
    }

    /// Reads either form: adamant's explicit `{"by_index": {"1": 0.5}, "by_name": {"fc1_bias":
    /// 2.0}}`, or MXNet's own, one object keyed by index or by name as `set_lr_mult` takes it
    /// (`{"1": 0.5, "fc1_bias": 2.0}`: a key of decimal digits is an index, any other a name).
    /// An object whose keys are only `by_index` and `by_name` is the explicit form.
    fn from_json(kind: &'static str, value: &Value) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| wrong_type(kind, "a JSON object", value))?;
        let explicit = !map.is_empty() && map.keys().all(|k| k == "by_index" || k == "by_name");
        let mut m = Multipliers::default();
        if !explicit {
            for (key, v) in map {
                let v = as_f64(kind, v)?;
                match key.parse::<usize>() {
                    Ok(index) if key.bytes().all(|b| b.is_ascii_digit()) => m.by_index.insert(index, v),
                    _ => m.by_name.insert(key.clone(), v),
                };
            }
            return Ok(m);
        }
        let f = JsonFields::new(kind, value, &["by_index", "by_name"])?;
        for (part, map) in [("by_index", f.get("by_index")), ("by_name", f.get("by_name"))] {
            let Some(map) = map else { continue };
            let map = map.as_object().ok_or_else(|| wrong_type(part, "a JSON object", map))?;
            for (key, v) in map {
                let v = as_f64(kind, v)?;
                if part == "by_index" {
                    m.by_index.insert(index_key(kind, key)?, v);
                } else {
                    m.by_name.insert(key.clone(), v);
                }
            }
        }
        Ok(m)
    }
}

/// The base optimizer's hyper-parameters: everything that is not particular to one rule.
///
/// `Default` gives MXNet's defaults.
///
/// ```
/// let c = adamant::OptimizerConfig::default();
/// assert_eq!((c.rescale_grad, c.wd, c.begin_num_update), (1.0, 0.0, 0));
/// assert_eq!(c.learning_rate, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerConfig {
    /// The learning rate. `None` means the scheduler's base rate, or the optimizer's
    /// default when there is no scheduler. A set rate overrides the scheduler's base rate.
    pub learning_rate: Option<f64>,
    /// The learning-rate schedule, called with the global update count.
    pub lr_scheduler: Option<LrScheduler>,
    /// Multiplies every raw gradient first.
    pub rescale_grad: f64,
    /// The L2 weight-decay coefficient (added to the gradient as `wd * w`).
    pub wd: f64,
    /// Clips the rescaled gradient to `[-c, c]`; `None`, 0 and negative values mean off.
    pub clip_gradient: Option<f64>,
    /// The value every update counter starts from; the first step uses `t = begin + 1`.
    pub begin_num_update: u64,
    /// Keep a float32 master copy of half-precision weights (no effect on float32/float64
    /// weights, as in MXNet).
    pub multi_precision: bool,
    /// Parameter names, for name-keyed multipliers.
    pub param_idx2name: BTreeMap<usize, String>,
    /// Learning-rate multipliers.
    pub lr_mult: Multipliers,
    /// Weight-decay multipliers.
    pub wd_mult: Multipliers,
    /// How half-precision weights without master weights are computed.
    pub half_math: HalfMath,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            learning_rate: None,
            lr_scheduler: None,
            rescale_grad: 1.0,
            wd: 0.0,
            clip_gradient: None,
            begin_num_update: 0,
            multi_precision: false,
            param_idx2name: BTreeMap::new(),
            lr_mult: Multipliers::default(),
            wd_mult: Multipliers::default(),
            half_math: HalfMath::RoundOnce,
        }
    }
}

impl OptimizerConfig {
    /// The base hyper-parameter names the registry accepts (MXNet's argument names).
    pub const KEYS: [&'static str; 11] = [
        "learning_rate",
        "lr_scheduler",
        "rescale_grad",
        "wd",
        "clip_gradient",
        "begin_num_update",
        "multi_precision",
        "param_idx2name",
        "lr_mult",
        "wd_mult",
        "half_math",
    ];

    /// Checks every value as given and as the kernel reads it (rounded to float32; see
    /// `docs/semantics.md`); the error names the first one out of range, the value given and,
    /// where rounding is at fault, the value it would become. `rescale_grad` is each
    /// optimizer's to check (AdamW takes 0 and NaN, and skips the step).
    ///
    /// # Errors
    /// [`Error::InvalidHyperParameter`] or [`Error::InvalidMultiplier`] for the first value at
    /// fault.
    pub fn validate(&self) -> Result<()> {
        self.validate_as(kernel_values::nearest)
    }

    /// [`OptimizerConfig::validate`] with values read as `read` reads them (a rule's reader).
    pub(crate) fn validate_as(&self, read: kernel_values::Read) -> Result<()> {
        if let Some(lr) = self.learning_rate {
            kernel_values::non_negative(read, "learning_rate", lr)?;
        }
        kernel_values::non_negative(read, "wd", self.wd)?;
        kernel_values::clip(read, "clip_gradient", self.clip_gradient)?;
        self.lr_mult.validate("lr_mult")?;
        self.wd_mult.validate("wd_mult")
    }

    fn name(&self, index: usize) -> Option<&str> {
        self.param_idx2name.get(&index).map(String::as_str)
    }

    /// The multiplier of `index` in `m`. Its name is looked up only where `m` keys some
    /// multiplier by name: Gluon names every parameter, and a batch looks up every one twice.
    fn multiplier(&self, m: &Multipliers, index: usize) -> Option<f64> {
        let name = if m.by_name.is_empty() { None } else { self.name(index) };
        m.get(index, name)
    }

    /// The learning rate of `index` given the base rate (MXNet's `_get_lr`: the multiplier by
    /// index, else by name).
    pub fn lr_for(&self, index: usize, base_lr: f64) -> f64 {
        match self.multiplier(&self.lr_mult, index) {
            Some(mult) => base_lr * mult,
            None => base_lr,
        }
    }

    /// The weight decay of `index` (MXNet's `_get_wd`).
    pub fn wd_for(&self, index: usize) -> f64 {
        match self.multiplier(&self.wd_mult, index) {
            Some(mult) => self.wd * mult,
            None => self.wd,
        }
    }

    /// The clipping bound in force: `Some(c)` for `c > 0`, `None` when clipping is off.
    pub fn clip(&self) -> Option<f64> {
        self.clip_gradient.filter(|&c| c > 0.0)
    }

    /// The configuration in the registry's form: `set_json` of each entry gives it back.
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let names: Map<String, Value> =
            self.param_idx2name.iter().map(|(i, n)| (i.to_string(), json!(n))).collect();
        let value = json!({
            "learning_rate": self.learning_rate,
            "lr_scheduler": self.lr_scheduler.as_ref().map(LrScheduler::to_json),
            // AdamW's MXNet rule takes NaN and infinities (it skips the step): a state file keeps them.
            "rescale_grad": number(self.rescale_grad),
            "wd": self.wd,
            "clip_gradient": self.clip_gradient,
            "begin_num_update": self.begin_num_update,
            "multi_precision": self.multi_precision,
            "param_idx2name": names,
            "lr_mult": self.lr_mult.to_json(),
            "wd_mult": self.wd_mult.to_json(),
            "half_math": self.half_math.to_json(),
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!("json! of an object literal"),
        }
    }

    /// Sets the hyper-parameter `key` from a JSON value (the registry's and the CLI's way in).
    /// Returns `Ok(false)` when `key` is not a base hyper-parameter.
    pub(crate) fn set_json(&mut self, f: &JsonFields<'_>, key: &str) -> Result<bool> {
        let value = f.get(key);
        match key {
            "learning_rate" => self.learning_rate = f.f64(key)?,
            "lr_scheduler" => self.lr_scheduler = value.map(LrScheduler::from_json).transpose()?,
            "rescale_grad" => self.rescale_grad = f.f64(key)?.unwrap_or(1.0),
            "wd" => self.wd = f.f64(key)?.unwrap_or(0.0),
            "clip_gradient" => self.clip_gradient = f.f64(key)?,
            "begin_num_update" => self.begin_num_update = f.u64(key)?.unwrap_or(0),
            "multi_precision" => self.multi_precision = f.bool(key)?.unwrap_or(false),
            "param_idx2name" => {
                self.param_idx2name.clear();
                if let Some(v) = value {
                    let map = v.as_object().ok_or_else(|| wrong_type(key, "a JSON object", v))?;
                    for (index, name) in map {
                        let name = name.as_str().ok_or_else(|| wrong_type(key, "names as strings", name))?;
                        self.param_idx2name.insert(index_key(key, index)?, name.to_string());
                    }
                }
            }
            "lr_mult" | "wd_mult" => {
                let kind = if key == "lr_mult" { "lr_mult" } else { "wd_mult" };
                let m = value.map(|v| Multipliers::from_json(kind, v)).transpose()?.unwrap_or_default();
                *(if key == "lr_mult" { &mut self.lr_mult } else { &mut self.wd_mult }) = m;
            }
            "half_math" => self.half_math = HalfMath::read(f)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}
