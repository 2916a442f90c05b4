//! The options of `adamant train`, and the checks of everything that can be checked before any
//! work starts.

use std::path::{Path, PathBuf};

use adamant::DType;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::saved;

/// What to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Softmax regression and a one-hidden-layer MLP on the built-in handwritten digits.
    Digits,
    /// A bag-of-words classifier with an embedding table (row-sparse gradients), lazy and
    /// standard Adam side by side, on a generated corpus or a LIBSVM file (--data).
    Sparse,
}

/// The dtype the models' weights are stored and updated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Float32,
    Float16,
    Bfloat16,
    Float64,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::Float32 => DType::F32,
            Precision::Float16 => DType::F16,
            Precision::Bfloat16 => DType::BF16,
            Precision::Float64 => DType::F64,
        }
    }
}

/// Options of `adamant train`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  adamant train\n  adamant train --task sparse --plot loss.svg\n  \
adamant train --task sparse --data train.libsvm\n  \
adamant train --set learning_rate=0.003 --set wd=1e-4 --lr-scheduler '{\"type\":\"cosine\",\"max_update\":1500}'\n  \
adamant train --dtype float16 --set multi_precision=true\n  \
adamant train --epochs 10 --save-state run/ && adamant train --epochs 20 --resume run/")]
pub struct TrainArgs {
    /// What to train.
    #[arg(long, value_enum, default_value_t = Task::Digits)]
    pub task: Task,
    /// For --task sparse: a LIBSVM/SVMlight file (`label index:value ...`) instead of the
    /// generated corpus. Any two labels make two classes (the larger is positive), more make a
    /// softmax; features are scaled on the training part; a fifth is held out for test.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The optimizer, by its registry name: adam, adamw (each with MXNet's rule, or PyTorch's
    /// with --set rule=torch), adamax, nadam or lamb (MXNet's; --set formula=1.x for MXNet 1.x's).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// A hyper-parameter, as KEY=VALUE in MXNet's names (VALUE is JSON, or else a string);
    /// repeatable. The learning rate defaults to 0.01 (0.002 for the generated sparse corpus),
    /// or with --lr-scheduler to the scheduler's base_lr.
    /// For --task sparse, lazy_update=true or false trains only that model.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A learning-rate scheduler as JSON, e.g. '{"type":"factor","step":500,"factor":0.5}'.
    #[arg(long, value_name = "JSON")]
    pub lr_scheduler: Option<String>,
    /// Epochs in all (a resumed run continues up to this number). Default: 30 for digits, 5
    /// for the generated corpus, and for --data enough for about 1,500 steps (5 to 1,000).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// The dtype the weights are stored and updated in (the models compute in float32).
    #[arg(long, value_enum, default_value_t = Precision::Float32)]
    pub dtype: Precision,
    /// Seed of the data split, initial weights, data order and dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads for the optimizer step, 1 to the CPUs of this machine (default: all of them).
    #[arg(long, value_parser = crate::machine::parse_threads)]
    pub threads: Option<usize>,
    /// Save weights, optimizer state and progress into DIR after every epoch (a new or empty
    /// folder, or the one given to --resume).
    #[arg(long, value_name = "DIR")]
    pub save_state: Option<PathBuf>,
    /// Continue a run saved with --save-state DIR, saving into DIR again after every epoch
    /// (unless --save-state names another folder).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Draw the loss curves into FILE.svg.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object per model and epoch, then a summary, instead of text.
    #[arg(long)]
    pub json: bool,
    /// Hide the progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// The options given on the command line (by clap's id), as opposed to defaults.
    #[arg(skip)]
    pub given: Vec<String>,
    /// The optimizer configuration of the run being resumed, which --set and --lr-scheduler
    /// change.
    #[arg(skip)]
    pub saved_config: Option<Value>,
}

impl TrainArgs {
    /// Checks the options that need no data, before anything is read, trained or written.
    pub fn check(&self) -> Result<()> {
        if self.epochs == Some(0) || self.batch_size == 0 {
            bail!("--epochs and --batch-size must be at least 1");
        }
        if self.data.is_some() && self.task != Task::Sparse {
            bail!("--data is for --task sparse");
        }
        if let Some(path) = &self.data {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => bail!("--data {}: not a regular file; give a LIBSVM file", path.display()),
                Err(e) => bail!("--data {}: {e}", path.display()),
            }
        }
        if let Some(path) = &self.plot {
            if path.extension().and_then(|e| e.to_str()) != Some("svg") {
                bail!(
                    "--plot {}: only .svg is supported (it needs no system fonts); name the file *.svg",
                    path.display()
                );
            }
            saved::check_writable("--plot", path)?;
        }
        if let Some(dir) = &self.resume {
            saved::parse_progress(dir)?;
        }
        if let Some(dir) = &self.save_state {
            saved::check_save_dir(dir, self.resume.as_deref())?;
        }
        Ok(())
    }

    /// Whether option `id` (clap's id: the field's name) was given on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.given.iter().any(|g| g == id)
    }

    /// Where the run saves after every epoch: --save-state, or else the folder it resumes.
    pub fn save_dir(&self) -> Option<&Path> {
        self.save_state.as_deref().or(self.resume.as_deref())
    }

    /// The optimizer configuration: `--set`, `--lr-scheduler`, and the default learning rate
    /// unless either gives one.
    pub fn optimizer_config(&self) -> Result<Value> {
        // A resumed run starts from its saved configuration; --set and --lr-scheduler apply over it.
        let mut config = match &self.saved_config {
            Some(Value::Object(saved)) => saved.clone(),
            _ => serde_json::Map::new(),
        };
        for pair in &self.set {
            let (key, value) =
                pair.split_once('=').with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
            config.insert(key.trim().to_string(), value);
        }
        if let Some(s) = &self.lr_scheduler {
            let text = s;
            let s: Value =
                serde_json::from_str(s).with_context(|| format!("--lr-scheduler {s:?} is not JSON"))?;
            adamant::LrScheduler::from_json(&s).with_context(|| format!("--lr-scheduler {text}"))?;
            config.insert("lr_scheduler".into(), s);
        }
        if self.saved_config.is_none()
            && !config.contains_key("learning_rate")
            && !config.contains_key("lr_scheduler")
        {
            let generated_sparse = self.task == Task::Sparse && self.data.is_none();
            config.insert("learning_rate".into(), json!(if generated_sparse { 0.002 } else { 0.01 }));
        }
        Ok(Value::Object(config))
    }
}
