//! Building a scheduler from its JSON description (the golden files' and the CLI's form).

use serde_json::{json, Value};

use super::{
    CosineScheduler, FactorScheduler, LrScheduler, MultiFactorScheduler, PastMaxUpdate, PolyScheduler, Rule,
    Warmup, WarmupMode,
};
use crate::error::{Error, Result};
use crate::json_fields::{as_u64, wrong_type, JsonFields};

/// The spellings of [`PastMaxUpdate`].
const PAST_MAX_UPDATE: [(&str, PastMaxUpdate); 2] =
    [("value_at_max_update", PastMaxUpdate::ValueAtMaxUpdate), ("keep_last", PastMaxUpdate::KeepLast)];

const COMMON: [&str; 5] = ["type", "base_lr", "warmup_steps", "warmup_begin_lr", "warmup_mode"];

fn required<T>(value: Option<T>, name: &'static str, owner: &'static str) -> Result<T> {
    value.ok_or(Error::MissingHyperParameter { name, owner })
}

impl LrScheduler {
    /// Builds a scheduler from `{"type": "factor" | "multifactor" | "poly" | "cosine", ...}`
    /// with MXNet's argument names; absent keys take MXNet's defaults (`base_lr` 0.01,
    /// `factor` 1, `stop_factor_lr` 1e-8, `pwr` 2, `final_lr` 0, no warmup, linear warmup).
    /// Poly and Cosine also take `past_max_update`: `"value_at_max_update"` (the default) or
    /// `"keep_last"` (MXNet's; see [`PastMaxUpdate`]).
    ///
    /// ```
    /// let mut s = adamant::LrScheduler::from_json(&serde_json::json!(
    ///     {"type": "multifactor", "step": [2, 4], "factor": 0.5, "base_lr": 0.1})).unwrap();
    /// assert_eq!(s.lr(3), 0.05);
    /// ```
    pub fn from_json(value: &Value) -> Result<Self> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                wrong_type(
                    "lr_scheduler",
                    "an object with \"type\": factor, multifactor, poly or cosine",
                    value,
                )
            })?
            .to_ascii_lowercase();
        let (owner, extra): (&'static str, &[&str]) = match kind.as_str() {
            "factor" => ("factor scheduler", &["step", "factor", "stop_factor_lr"]),
            "multifactor" => ("multifactor scheduler", &["step", "factor"]),
            "poly" => ("poly scheduler", &["max_update", "pwr", "final_lr", "past_max_update"]),
            "cosine" => ("cosine scheduler", &["max_update", "final_lr", "past_max_update"]),
            _ => {
                let hint = crate::aliases::scheduler_type_hint(&kind);
                return Err(Error::InvalidHyperParameter {
                    name: "lr_scheduler.type",
                    value: kind,
                    reason: format!("must be factor, multifactor, poly or cosine{hint}"),
                });
            }
        };
        let known: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
        let f = JsonFields::new(owner, value, &known)?;
        let modes = [("linear", WarmupMode::Linear), ("constant", WarmupMode::Constant)];
        let warmup = Warmup {
            steps: f.u64("warmup_steps")?.unwrap_or(0),
            begin_lr: f.f64("warmup_begin_lr")?.unwrap_or(0.0),
            mode: f.choice("warmup_mode", &modes)?.unwrap_or_default(),
        };
        let past_max_update = f.choice("past_max_update", &PAST_MAX_UPDATE)?.unwrap_or_default();
        // Absent keys keep the configurations' defaults, which are MXNet's.
        let or = |name: &str, default: f64| Ok::<f64, Error>(f.f64(name)?.unwrap_or(default));
        match kind.as_str() {
            "factor" => {
                let d = FactorScheduler::new(required(f.u64("step")?, "step", owner)?);
                let (factor, stop_factor_lr, base_lr) = (
                    or("factor", d.factor)?,
                    or("stop_factor_lr", d.stop_factor_lr)?,
                    or("base_lr", d.base_lr)?,
                );
                FactorScheduler { factor, stop_factor_lr, base_lr, warmup, ..d }.build()
            }
            "multifactor" => {
                let steps = required(f.get("step"), "step", owner)?;
                let steps = steps
                    .as_array()
                    .ok_or_else(|| wrong_type("step", "a list of integers", steps))?
                    .iter()
                    .map(|s| as_u64("step", s))
                    .collect::<Result<Vec<_>>>()?;
                let d = MultiFactorScheduler::new(steps);
                let (factor, base_lr) = (or("factor", d.factor)?, or("base_lr", d.base_lr)?);
                MultiFactorScheduler { factor, base_lr, warmup, ..d }.build()
            }
            "poly" => {
                let d = PolyScheduler::new(required(f.u64("max_update")?, "max_update", owner)?);
                let (pwr, final_lr, base_lr) =
                    (or("pwr", d.pwr)?, or("final_lr", d.final_lr)?, or("base_lr", d.base_lr)?);
                PolyScheduler { pwr, final_lr, base_lr, warmup, past_max_update, ..d }.build()
            }
            _ => {
                let d = CosineScheduler::new(required(f.u64("max_update")?, "max_update", owner)?);
                let (final_lr, base_lr) = (or("final_lr", d.final_lr)?, or("base_lr", d.base_lr)?);
                CosineScheduler { final_lr, base_lr, warmup, past_max_update, ..d }.build()
            }
        }
    }
}

impl LrScheduler {
    /// The scheduler as [`LrScheduler::from_json`] reads it, with its starting values (its
    /// mutable state is [`LrScheduler::state`]).
    ///
    /// ```
    /// let s = adamant::CosineScheduler { base_lr: 0.1, final_lr: 0.001, ..adamant::CosineScheduler::new(100) }
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(adamant::LrScheduler::from_json(&s.to_json()).unwrap(), s);
    /// ```
    pub fn to_json(&self) -> Value {
        let w = self.warmup();
        let mode = match w.mode {
            WarmupMode::Linear => "linear",
            WarmupMode::Constant => "constant",
        };
        let mut value = json!({
            "base_lr": self.initial_lr(),
            "warmup_steps": w.steps,
            "warmup_begin_lr": w.begin_lr,
            "warmup_mode": mode,
        });
        let past = PAST_MAX_UPDATE.iter().find(|(_, p)| *p == self.past_max_update()).map(|(name, _)| *name);
        let rule = match self.rule() {
            Rule::Factor { step, factor, stop_factor_lr, .. } => {
                json!({"type": "factor", "step": step, "factor": factor, "stop_factor_lr": stop_factor_lr})
            }
            Rule::MultiFactor { steps, factor, .. } => {
                json!({"type": "multifactor", "step": steps, "factor": factor})
            }
            Rule::Poly { max_update, pwr, final_lr } => {
                json!({"type": "poly", "max_update": max_update, "pwr": pwr, "final_lr": final_lr,
                       "past_max_update": past})
            }
            Rule::Cosine { max_update, final_lr } => {
                json!({"type": "cosine", "max_update": max_update, "final_lr": final_lr,
                       "past_max_update": past})
            }
        };
        if let (Some(map), Value::Object(rule)) = (value.as_object_mut(), rule) {
            map.extend(rule);
        }
        value
    }
}
