//! `adamant inspect FILE`: what a state file holds, as a table or as JSON.

use std::path::PathBuf;

use adamant::{DataRef, Updater};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::output::outln;

/// Options of `adamant inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A state file written by `Updater::save` (or `adamant train --save-state`).
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Summary statistics of an array: min, max and mean of its finite elements, and how many are
/// not finite.
fn stats(data: DataRef<'_>) -> Value {
    let values: Vec<f64> = match data {
        DataRef::F16(d) => d.iter().map(|x| x.to_f64()).collect(),
        DataRef::BF16(d) => d.iter().map(|x| x.to_f64()).collect(),
        DataRef::F32(d) => d.iter().map(|&x| f64::from(x)).collect(),
        DataRef::F64(d) => d.to_vec(),
        _ => Vec::new(),
    };
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let (min, max) =
        finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let mean = if finite.is_empty() { None } else { Some(finite.iter().sum::<f64>() / finite.len() as f64) };
    json!({
        "dtype": data.dtype().name(),
        "min": if finite.is_empty() { None } else { Some(min) },
        "max": if finite.is_empty() { None } else { Some(max) },
        "mean": mean,
        "non_finite": values.len() - finite.len(),
    })
}

/// Everything the file holds, as one JSON object.
fn describe(file: &std::path::Path, updater: &Updater) -> Value {
    let optimizer = updater.optimizer();
    let base = optimizer.base();
    // The schedule as configured, and the state MXNet's schedulers keep (Factor and
    // MultiFactor decay their base rate in place).
    let scheduler = base.scheduler().map(|s| {
        let (base_lr, count, cur_step_ind) = s.state();
        json!({"schedule": s.to_json(), "state": {"base_lr": base_lr, "count": count, "cur_step_ind": cur_step_ind}})
    });
    let params: Vec<Value> = updater
        .states()
        .into_iter()
        .map(|(index, state)| {
            let arrays: serde_json::Map<String, Value> =
                state.arrays().map(|(name, array)| (name.to_string(), stats(array))).collect();
            json!({"index": index, "dtype": state.dtype().name(), "shape": state.shape(), "arrays": arrays})
        })
        .collect();
    let counts: serde_json::Map<String, Value> =
        base.update_counts().into_iter().map(|(i, c)| (i.to_string(), json!(c))).collect();
    // The rate in force, and where it comes from: the scheduler at num_update, or the fixed
    // rate (the file's own `learning_rate` field, which a scheduler overrides).
    let source = if base.scheduler().is_some() { "scheduler" } else { "fixed" };
    json!({
        "file": file.display().to_string(),
        "optimizer": optimizer.name(),
        "config": optimizer.config_json(),
        "learning_rate": optimizer.learning_rate(),
        "learning_rate_source": source,
        "fixed_learning_rate": base.fixed_learning_rate(),
        "num_update": base.num_update(),
        "update_counts": counts,
        "scheduler": scheduler,
        "params": params,
    })
}

fn number(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".to_string(), |x| format!("{x:.4e}"))
}

/// `adamant inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    if args.file.is_dir() {
        // A --save-state folder: name the state files in it.
        let mut files: Vec<String> = std::fs::read_dir(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".optimizer.safetensors"))
            .collect();
        files.sort();
        match files.as_slice() {
            [] => bail!(
                "{} is a folder, and holds no state file (*.optimizer.safetensors)",
                args.file.display()
            ),
            _ => bail!(
                "{} is a folder; give one of its state files: {}",
                args.file.display(),
                files.iter().map(|f| args.file.join(f).display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let updater = Updater::load(&args.file, &[]).map_err(|e| match e {
        // Already names the file.
        adamant::Error::Io { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e).context(format!("cannot load {}", args.file.display())),
    })?;
    let d = describe(&args.file, &updater);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&d)?)?;
        return Ok(());
    }
    outln!("file:          {}", args.file.display())?;
    outln!("optimizer:     {}", d["optimizer"].as_str().unwrap_or("?"))?;
    let rate = |key: &str| d[key].as_f64().map_or_else(|| "-".to_string(), |x| format!("{x:.4e}"));
    match d["learning_rate_source"].as_str() {
        Some("scheduler") => outln!(
            "learning rate: {} (the scheduler's at num_update {}; the fixed rate {} is unused)",
            rate("learning_rate"),
            d["num_update"],
            rate("fixed_learning_rate")
        )?,
        _ => outln!("learning rate: {} (fixed)", rate("learning_rate"))?,
    }
    outln!("num_update:    {}", d["num_update"])?;
    outln!("config:        {}", d["config"])?;
    match &d["scheduler"] {
        Value::Null => outln!("scheduler:     none")?,
        s => outln!("scheduler:     {}", s)?,
    }
    outln!("update counts: {}", d["update_counts"])?;
    outln!()?;
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let row = |cells: [String; 9]| {
        let [index, weight, shape, array, dtype, min, max, mean, non_finite] = cells;
        outln!("{index:>6} {weight:<9} {shape:<14} {array:<15} {dtype:<8} {min:>13} {max:>13} {mean:>13} {non_finite:>10}")
    };
    row(["index", "weight", "shape", "array", "dtype", "min", "max", "mean", "non-finite"].map(String::from))?;
    for p in d["params"].as_array().into_iter().flatten() {
        for (name, a) in p["arrays"].as_object().into_iter().flatten() {
            row([
                text(&p["index"]),
                text(&p["dtype"]),
                text(&p["shape"]),
                name.clone(),
                text(&a["dtype"]),
                number(&a["min"]),
                number(&a["max"]),
                number(&a["mean"]),
                text(&a["non_finite"]),
            ])?;
        }
    }
    Ok(())
}
