//! The training loop of `adamant train`: options, epochs, reports, save and resume.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use adamant::{Grad, Param, RowSparseRef, TensorMut, TensorRef, Updater};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::{json, Value};

use super::bow::{self, Corpus};
use super::digits::{self, Images, CLASSES, FEATURES};
use super::network::Network;
use super::rng::Rng;
use super::{plot, saved};
use crate::progress;

/// What to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Softmax regression and a one-hidden-layer MLP on the built-in handwritten digits.
    Digits,
    /// Bag-of-words logistic regression with an embedding table (row-sparse gradients), lazy
    /// and standard Adam side by side.
    Sparse,
}

/// Options of `adamant train`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  adamant train\n  adamant train --task sparse --plot loss.svg\n  \
adamant train --set learning_rate=0.003 --set wd=1e-4 --lr-scheduler '{\"type\":\"cosine\",\"max_update\":1500}'\n  \
adamant train --epochs 10 --save-state run/ && adamant train --epochs 20 --resume run/")]
pub struct TrainArgs {
    /// What to train.
    #[arg(long, value_enum, default_value_t = Task::Digits)]
    pub task: Task,
    /// For --task sparse: a LIBSVM/SVMlight file (`label index:value ...`) instead of the
    /// generated corpus; a fifth of it is held out for test.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Any optimizer the registry knows.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// A hyper-parameter, as KEY=VALUE in MXNet's names (VALUE is JSON, or else a string);
    /// repeatable. The learning rate defaults to 0.01 for digits and 0.002 for sparse.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A learning-rate scheduler as JSON, e.g. '{"type":"factor","step":500,"factor":0.5}'.
    #[arg(long, value_name = "JSON")]
    pub lr_scheduler: Option<String>,
    /// Epochs in all, 30 for digits and 5 for sparse unless given (a resumed run continues up
    /// to this number).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Seed of the data split, initial weights, data order and dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads for the optimizer step (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Save weights, optimizer state and progress into DIR after every epoch.
    #[arg(long, value_name = "DIR")]
    pub save_state: Option<PathBuf>,
    /// Continue a run saved with --save-state DIR.
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
}

/// One model's figures after one epoch.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Record {
    pub epoch: usize,
    pub model: String,
    pub train_loss: f32,
    pub test_loss: f32,
    pub test_accuracy: f32,
    /// Mean time of one optimizer step (update call) in this epoch.
    pub step_ms: f64,
}

/// A model being trained.
trait Trainee {
    fn name(&self) -> &str;
    /// Optimizer steps per epoch.
    fn batches(&self) -> usize;
    /// One epoch; returns the mean training loss and the mean optimizer step time in ms.
    fn train_epoch(&mut self, epoch: usize, bar: &ProgressBar) -> Result<(f32, f64)>;
    /// Test loss and accuracy.
    fn evaluate(&self) -> (f32, f32);
    fn save(&self, dir: &Path) -> Result<()>;
    fn load(&mut self, dir: &Path) -> Result<()>;
}

/// The optimizer configuration: `--set`, `--lr-scheduler`, and the learning rate of 0.01 unless
/// either gives one.
fn optimizer_config(args: &TrainArgs) -> Result<Value> {
    let mut config = serde_json::Map::new();
    for pair in &args.set {
        let (key, value) =
            pair.split_once('=').with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        config.insert(key.trim().to_string(), value);
    }
    if let Some(s) = &args.lr_scheduler {
        let s: Value =
            serde_json::from_str(s).with_context(|| format!("--lr-scheduler {s:?} is not JSON"))?;
        config.insert("lr_scheduler".into(), s);
    }
    if !config.contains_key("learning_rate") && !config.contains_key("lr_scheduler") {
        let lr = if args.task == Task::Sparse { 0.002 } else { 0.01 };
        config.insert("learning_rate".into(), json!(lr));
    }
    Ok(Value::Object(config))
}

fn updater(args: &TrainArgs, config: &Value) -> Result<Updater> {
    let mut updater = Updater::new(adamant::create(&args.optimizer, config)?);
    if let Some(threads) = args.threads {
        updater.set_threads(threads)?;
    }
    Ok(updater)
}

/// The name of a model's file in a --save-state directory: `{model}.{what}.safetensors`.
fn file(model: &str, what: &str) -> String {
    format!("{model}.{what}.safetensors")
}

/// `order` shuffled for `epoch`: the same on a resumed run as on an uninterrupted one.
fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed, epoch as u64).shuffle(&mut order);
    order
}

struct DigitsModel {
    name: &'static str,
    net: Network,
    updater: Updater,
    train: Rc<Images>,
    test: Rc<Images>,
    batch_size: usize,
    seed: u64,
}

impl Trainee for DigitsModel {
    fn name(&self) -> &str {
        self.name
    }

    fn batches(&self) -> usize {
        self.train.len().div_ceil(self.batch_size)
    }

    fn train_epoch(&mut self, epoch: usize, bar: &ProgressBar) -> Result<(f32, f64)> {
        let order = epoch_order(self.seed, epoch, self.train.len());
        let (mut loss, mut seconds) = (0.0f64, 0.0f64);
        for batch in order.chunks(self.batch_size) {
            let x: Vec<f32> = batch
                .iter()
                .flat_map(|&i| self.train.pixels[i * FEATURES..(i + 1) * FEATURES].iter().copied())
                .collect();
            let labels: Vec<usize> = batch.iter().map(|&i| self.train.labels[i]).collect();
            let grads = self.net.gradients(&x, &labels);
            loss += f64::from(grads.loss) * batch.len() as f64;
            let shapes: Vec<([usize; 2], [usize; 1])> =
                self.net.sizes.windows(2).map(|io| ([io[0], io[1]], [io[1]])).collect();
            let mut params: Vec<Param<'_>> = Vec::new();
            for (l, ((w, b), (gw, gb))) in self.net.layers.iter_mut().zip(&grads.layers).enumerate() {
                params.push(Param::dense(2 * l, &shapes[l].0, w, gw));
                params.push(Param::dense(2 * l + 1, &shapes[l].1, b, gb));
            }
            let start = Instant::now();
            self.updater.update(&mut params)?;
            seconds += start.elapsed().as_secs_f64();
            bar.inc(1);
        }
        Ok(((loss / self.train.len() as f64) as f32, seconds * 1e3 / self.batches() as f64))
    }

    fn evaluate(&self) -> (f32, f32) {
        self.net.evaluate(&self.test.pixels, &self.test.labels)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let names: Vec<String> =
            (0..self.net.layers.len()).flat_map(|l| [format!("w{l}"), format!("b{l}")]).collect();
        let arrays: Vec<&[f32]> =
            self.net.layers.iter().flat_map(|(w, b)| [w.as_slice(), b.as_slice()]).collect();
        let named: Vec<(&str, &[f32])> = names.iter().map(String::as_str).zip(arrays).collect();
        saved::save_weights(&dir.join(file(self.name, "weights")), &named)?;
        self.updater.save(dir.join(file(self.name, "optimizer")))?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let mut weights = saved::load_weights(&dir.join(file(self.name, "weights")))?;
        for (l, (w, b)) in self.net.layers.iter_mut().enumerate() {
            *w = saved::take(&mut weights, &format!("w{l}"), w.len())?;
            *b = saved::take(&mut weights, &format!("b{l}"), b.len())?;
        }
        self.updater = Updater::load(dir.join(file(self.name, "optimizer")), &[])?;
        Ok(())
    }
}

struct BowModel {
    name: &'static str,
    model: bow::Model,
    updater: Updater,
    train: Rc<Corpus>,
    test: Rc<Corpus>,
    batch_size: usize,
    seed: u64,
}

impl Trainee for BowModel {
    fn name(&self) -> &str {
        self.name
    }

    fn batches(&self) -> usize {
        self.train.docs.len().div_ceil(self.batch_size)
    }

    fn train_epoch(&mut self, epoch: usize, bar: &ProgressBar) -> Result<(f32, f64)> {
        let order = epoch_order(self.seed, epoch, self.train.docs.len());
        // Feature dropout: half the words of each document, the same draws for every model.
        let mut dropout = Rng::new(self.seed, (1 << 32) | epoch as u64);
        let (mut loss, mut seconds) = (0.0f64, 0.0f64);
        let table_shape = [self.train.vocab, bow::WIDTH];
        for batch in order.chunks(self.batch_size) {
            let docs: Vec<&(Vec<(u32, f32)>, f32)> = batch.iter().map(|&i| &self.train.docs[i]).collect();
            let g = self.model.gradients(&docs, &mut || dropout.uniform() < 0.5);
            loss += f64::from(g.loss) * batch.len() as f64;
            let table = Grad::RowSparse(RowSparseRef {
                shape: &table_shape,
                row_indices: &g.rows,
                values: adamant::DataRef::F32(&g.values),
            });
            let mut params = [
                Param::new(0, TensorMut::new(&table_shape, &mut self.model.table), table),
                Param::new(
                    1,
                    TensorMut::new(&[bow::WIDTH], &mut self.model.head),
                    Grad::Dense(TensorRef::new(&[bow::WIDTH], &g.head)),
                ),
                Param::new(
                    2,
                    TensorMut::new(&[1], &mut self.model.bias),
                    Grad::Dense(TensorRef::new(&[1], &g.bias)),
                ),
            ];
            let start = Instant::now();
            self.updater.update(&mut params)?;
            seconds += start.elapsed().as_secs_f64();
            bar.inc(1);
        }
        Ok(((loss / self.train.docs.len() as f64) as f32, seconds * 1e3 / self.batches() as f64))
    }

    fn evaluate(&self) -> (f32, f32) {
        self.model.evaluate(&self.test.docs)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let m = &self.model;
        let arrays: [(&str, &[f32]); 3] = [("table", &m.table), ("head", &m.head), ("bias", &m.bias)];
        saved::save_weights(&dir.join(file(self.name, "weights")), &arrays)?;
        self.updater.save(dir.join(file(self.name, "optimizer")))?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let mut weights = saved::load_weights(&dir.join(file(self.name, "weights")))?;
        let m = &mut self.model;
        m.table = saved::take(&mut weights, "table", m.table.len())?;
        m.head = saved::take(&mut weights, "head", m.head.len())?;
        m.bias = saved::take(&mut weights, "bias", m.bias.len())?;
        self.updater = Updater::load(dir.join(file(self.name, "optimizer")), &[])?;
        Ok(())
    }
}

/// The models of the chosen task, freshly initialised.
fn trainees(args: &TrainArgs, config: &Value) -> Result<(Vec<Box<dyn Trainee>>, String)> {
    let mut init = Rng::new(args.seed, 0x1417);
    match args.task {
        Task::Digits => {
            let (train, test) = digits::load(args.seed)?;
            let (train, test) = (Rc::new(train), Rc::new(test));
            let mut models: Vec<Box<dyn Trainee>> = Vec::new();
            for (name, sizes) in [("softmax", vec![FEATURES, CLASSES]), ("mlp", vec![FEATURES, 64, CLASSES])]
            {
                models.push(Box::new(DigitsModel {
                    name,
                    net: Network::new(&sizes, &mut init),
                    updater: updater(args, config)?,
                    train: train.clone(),
                    test: test.clone(),
                    batch_size: args.batch_size,
                    seed: args.seed,
                }));
            }
            let title = format!("digits: {} train / {} test images", train.len(), test.len());
            Ok((models, title))
        }
        Task::Sparse => {
            let corpus = match &args.data {
                Some(path) => bow::read_libsvm(path)?,
                None => bow::generate(args.seed, 100_000, 1_000, 10_000),
            };
            let mut order: Vec<usize> = (0..corpus.docs.len()).collect();
            Rng::new(args.seed, u64::MAX).shuffle(&mut order);
            let test_len = corpus.docs.len() / 5;
            let split = |idx: &[usize]| Corpus {
                vocab: corpus.vocab,
                docs: idx.iter().map(|&i| corpus.docs[i].clone()).collect(),
            };
            let (train, test) = (Rc::new(split(&order[test_len..])), Rc::new(split(&order[..test_len])));
            let model = bow::Model::new(corpus.vocab, &mut init);
            let mut models: Vec<Box<dyn Trainee>> = Vec::new();
            for (name, lazy) in [("lazy", true), ("standard", false)] {
                let mut config = config.clone();
                config["lazy_update"] = json!(lazy);
                models.push(Box::new(BowModel {
                    name,
                    model: model.clone(),
                    updater: updater(args, &config)?,
                    train: train.clone(),
                    test: test.clone(),
                    batch_size: args.batch_size,
                    seed: args.seed,
                }));
            }
            let title = format!(
                "bag of words: {} words, {} train / {} test documents",
                corpus.vocab,
                train.docs.len(),
                test.docs.len()
            );
            Ok((models, title))
        }
    }
}

/// What must match between a saved run and its resumption.
fn fingerprint(args: &TrainArgs, config: &Value) -> Value {
    json!({
        "task": args.task,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "config": config,
        "data": args.data.as_ref().map(|d| d.display().to_string()),
    })
}

impl TrainArgs {
    /// The number of epochs in all.
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(if self.task == Task::Sparse { 5 } else { 30 })
    }
}

/// `adamant train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let epochs = args.epochs();
    if epochs == 0 || args.batch_size == 0 {
        bail!("--epochs and --batch-size must be at least 1");
    }
    if args.data.is_some() && args.task != Task::Sparse {
        bail!("--data is for --task sparse");
    }
    let config = optimizer_config(args)?;
    let (mut models, title) = trainees(args, &config)?;
    let this_run = fingerprint(args, &config);
    let mut records: Vec<Record> = Vec::new();
    let mut first_epoch = 1;
    if let Some(dir) = &args.resume {
        let progress = saved::read_progress(dir)?;
        if progress["run"] != this_run {
            bail!(
                "cannot resume from {}: it was saved by another run ({}), not this one ({})",
                dir.display(),
                progress["run"],
                this_run
            );
        }
        for model in models.iter_mut() {
            model.load(dir).with_context(|| format!("cannot resume from {}", dir.display()))?;
        }
        records =
            serde_json::from_value(progress["records"].clone()).context("progress.json: bad records")?;
        first_epoch = progress["epoch"].as_u64().unwrap_or(0) as usize + 1;
        if first_epoch > epochs {
            bail!("{} already holds {} epochs; ask for more with --epochs", dir.display(), first_epoch - 1);
        }
    }
    if !args.json {
        println!("{title}; optimizer {} {}", args.optimizer, config);
    }
    let started = Instant::now();
    for epoch in first_epoch..=epochs {
        let batches: usize = models.iter().map(|m| m.batches()).sum();
        let bar = progress::bar(batches as u64, &format!("epoch {epoch}/{epochs}"), args.quiet || args.json);
        for model in models.iter_mut() {
            let (train_loss, step_ms) = model.train_epoch(epoch, &bar)?;
            let (test_loss, test_accuracy) = model.evaluate();
            let record = Record {
                epoch,
                model: model.name().to_string(),
                train_loss,
                test_loss,
                test_accuracy,
                step_ms,
            };
            if args.json {
                println!("{}", serde_json::to_string(&record)?);
            } else {
                bar.suspend(|| {
                    println!(
                        "epoch {epoch:>3}/{epochs}  {:<9} train loss {train_loss:.4}  test loss {test_loss:.4}  test accuracy {:6.2}%  step {step_ms:.3} ms",
                        model.name(),
                        100.0 * test_accuracy
                    )
                });
            }
            records.push(record);
        }
        bar.finish_and_clear();
        if let Some(dir) = &args.save_state {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for model in &models {
                model.save(dir)?;
            }
            let progress = json!({"run": this_run, "epoch": epoch, "records": records});
            saved::write_atomic(
                &dir.join("progress.json"),
                serde_json::to_string_pretty(&progress)?.as_bytes(),
            )?;
        }
    }
    summarize(args, &records, started.elapsed().as_secs_f64())?;
    if let Some(path) = &args.plot {
        plot::draw(path, &title, &records)?;
        if !args.json {
            println!("loss curves written to {}", path.display());
        }
    }
    Ok(())
}

fn summarize(args: &TrainArgs, records: &[Record], seconds: f64) -> Result<()> {
    let last: Vec<&Record> = records.iter().filter(|r| r.epoch == args.epochs()).collect();
    let step = |name: &str| records.iter().filter(|r| r.model == name).map(|r| r.step_ms).sum::<f64>();
    let speedup = (args.task == Task::Sparse).then(|| step("standard") / step("lazy"));
    if args.json {
        let finals: Vec<Value> = last
            .iter()
            .map(|r| json!({"model": r.model, "train_loss": r.train_loss, "test_loss": r.test_loss, "test_accuracy": r.test_accuracy}))
            .collect();
        println!(
            "{}",
            json!({"summary": {"epochs": args.epochs(), "seconds": seconds, "models": finals, "lazy_speedup": speedup}})
        );
        return Ok(());
    }
    for r in &last {
        println!(
            "{}: test accuracy {:.2}% after {} epochs (final train loss {})",
            r.model,
            100.0 * r.test_accuracy,
            r.epoch,
            r.train_loss
        );
    }
    if let Some(speedup) = speedup {
        println!("lazy Adam steps were {speedup:.1}x faster than standard Adam steps");
    }
    println!("{seconds:.1} s");
    Ok(())
}
