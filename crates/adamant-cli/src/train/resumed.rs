//! `--resume DIR`: the saved run's settings stand in for the options the command line leaves
//! out, and a setting given that differs from the saved one is named with both values.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::args::TrainArgs;
use super::saved;

/// `args` with every setting the command line does not give taken from the run saved in the
/// folder `--resume` names (nothing changes without --resume).
pub fn completed(args: &TrainArgs) -> Result<TrainArgs> {
    let Some(dir) = &args.resume else { return Ok(args.clone()) };
    let run = saved::parse_progress(dir)?.run;
    let mut args = args.clone();
    let damaged = || format!("{} is damaged: its run settings", dir.join(saved::PROGRESS).display());
    fn field<T: DeserializeOwned>(run: &Value, key: &str) -> Option<T> {
        serde_json::from_value(run.get(key)?.clone()).ok()
    }
    if !args.given("task") {
        args.task = field(&run, "task").with_context(damaged)?;
    }
    if !args.given("seed") {
        args.seed = field(&run, "seed").with_context(damaged)?;
    }
    if !args.given("batch_size") {
        args.batch_size = field(&run, "batch_size").with_context(damaged)?;
    }
    if !args.given("optimizer") {
        args.optimizer = field(&run, "optimizer").with_context(damaged)?;
    }
    if !args.given("dtype") {
        args.dtype = field(&run, "dtype").with_context(damaged)?;
    }
    if !args.given("data") {
        args.data = field::<Option<String>>(&run, "data").with_context(damaged)?.map(Into::into);
    }
    args.saved_config = Some(run.get("config").cloned().with_context(damaged)?);
    Ok(args)
}

/// The settings in which `now` differs from `saved` (two runs' settings, as `progress.json`
/// holds them), as `name: saved X, given Y`, the optimizer's configuration key by key.
pub fn differences(saved: &Value, now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let mut names = keys(saved);
    names.extend(keys(now).into_iter().filter(|k| saved.get(k).is_none()));
    for name in names {
        let (a, b) = (&saved[&name], &now[&name]);
        if a == b {
            continue;
        }
        if name == "config" && a.is_object() && b.is_object() {
            out.extend(differences(a, b).into_iter().map(|d| format!("{name}.{d}")));
        } else {
            let shown = |v: &Value| if v.is_null() { "not set".to_string() } else { v.to_string() };
            out.push(format!("{name}: saved {}, given {}", shown(a), shown(b)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn differences_name_each_setting_with_both_values() {
        let saved = json!({"seed": 5, "task": "digits", "config": {"learning_rate": 0.01, "wd": 0.0}});
        let now = json!({"seed": 6, "task": "digits", "config": {"learning_rate": 0.01, "wd": 0.1, "rule": "torch"}});
        assert_eq!(
            differences(&saved, &now),
            [
                "config.wd: saved 0.0, given 0.1",
                "config.rule: saved not set, given \"torch\"",
                "seed: saved 5, given 6"
            ]
        );
        assert!(differences(&saved, &saved).is_empty());
    }
}
