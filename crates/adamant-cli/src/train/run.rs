//! The training loop of `adamant train`: set up the models, resume, run the epochs, save.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use adamant::{DType, Updater};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::args::{Task, TrainArgs};
use super::bow::{self, Corpus};
use super::digits::{self, CLASSES, FEATURES};
use super::models::{self, BowModel, DigitsModel, Trainee};
use super::network::Network;
use super::report::{Record, Report};
use super::rng::Rng;
use super::scaling::Scaling;
use super::{libsvm, plot, resumed, saved};
use crate::output::{errln, outln};
use crate::progress;

/// The models of a run and what the header and summary say about them.
struct Setup {
    models: Vec<Box<dyn Trainee>>,
    /// The data, in a line.
    title: String,
    /// Facts about the data worth a line each (labels, scaling).
    notes: Vec<String>,
    /// Where the data came from, for the summary.
    data: String,
    epochs: usize,
}

/// Steps a run on a file aims for when `--epochs` is not given.
const STEPS_ON_A_FILE: usize = 1500;

/// Files smaller than this cannot hold out a test fifth worth the name.
const MIN_EXAMPLES: usize = 10;

fn updater(args: &TrainArgs, config: &Value) -> Result<Updater> {
    let flags = std::iter::once(format!("--optimizer {}", args.optimizer))
        .chain(args.set.iter().map(|pair| format!("--set {pair}")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut updater = Updater::new(adamant::create(&args.optimizer, config).context(flags)?);
    if let Some(threads) = args.threads {
        updater.set_threads(threads)?;
    }
    Ok(updater)
}

fn digits(args: &TrainArgs, config: &Value) -> Result<Setup> {
    let mut init = Rng::new(args.seed, 0x1417);
    let (train, test) = digits::load(args.seed)?;
    let (train, test) = (Rc::new(train), Rc::new(test));
    let mut models: Vec<Box<dyn Trainee>> = Vec::new();
    for (name, sizes) in [("softmax", vec![FEATURES, CLASSES]), ("mlp", vec![FEATURES, 64, CLASSES])] {
        models.push(Box::new(DigitsModel {
            name,
            net: Network::new(&sizes, &mut init, args.dtype.dtype()),
            updater: updater(args, config)?,
            train: train.clone(),
            test: test.clone(),
            batch_size: args.batch_size,
            seed: args.seed,
        }));
    }
    let title = format!("digits: {} train / {} test images", train.len(), test.len());
    let data = "the built-in digits".to_string();
    Ok(Setup { models, title, notes: Vec::new(), data, epochs: args.epochs.unwrap_or(30) })
}

/// The corpus of the sparse task, split into train and test, with its notes.
fn corpus(args: &TrainArgs) -> Result<(Corpus, Corpus, String, Vec<String>)> {
    let Some(path) = &args.data else {
        let corpus = bow::generate(args.seed, 100_000, 1_000, 10_000);
        let (train, test) = split(&corpus, args.seed);
        let title = format!(
            "bag of words: {} words, {} train / {} test documents",
            corpus.vocab,
            train.docs.len(),
            test.docs.len()
        );
        return Ok((train, test, title, Vec::new()));
    };
    let file = libsvm::read(path)?;
    let n = file.corpus.docs.len();
    if n < MIN_EXAMPLES {
        bail!(
            "{} holds {n} examples; at least {MIN_EXAMPLES} are needed to hold out a fifth for testing",
            path.display()
        );
    }
    let (train, test) = split(&file.corpus, args.seed);
    let scaling = Scaling::fit(&train);
    let (train, test) = (scaling.apply(&train), scaling.apply(&test));
    let classes = &file.labels;
    let labels = if classes.len() == 2 {
        format!("labels: {} is the negative class, {} the positive", classes[0], classes[1])
    } else {
        format!("labels: {} classes, {}", classes.len(), classes.join(", "))
    };
    let (standardized, divided) = scaling.summary();
    let scaled = format!(
        "features scaled on the training part: {standardized} standardized, {divided} divided by their largest value"
    );
    let title = format!(
        "{}: {n} examples ({} train / {} test), {} features, {} classes",
        path.display(),
        train.docs.len(),
        test.docs.len(),
        train.vocab,
        classes.len()
    );
    Ok((train, test, title, vec![labels, scaled]))
}

/// A fifth held out for test, chosen by `seed`.
fn split(corpus: &Corpus, seed: u64) -> (Corpus, Corpus) {
    let mut order: Vec<usize> = (0..corpus.docs.len()).collect();
    Rng::new(seed, u64::MAX).shuffle(&mut order);
    let test_len = corpus.docs.len() / 5;
    (corpus.pick(&order[test_len..]), corpus.pick(&order[..test_len]))
}

fn sparse(args: &TrainArgs, config: &Value) -> Result<Setup> {
    let (train, test, title, notes) = corpus(args)?;
    // The table, its float32 copy, moments and master copy: at most 32 bytes an element.
    let bytes = (train.vocab as u64).checked_mul(bow::WIDTH as u64 * 32 * 2);
    crate::machine::check_memory(
        &format!("an embedding table of {} rows", train.vocab),
        bytes,
        "use a file with fewer distinct features",
    )?;
    let batches = train.docs.len().div_ceil(args.batch_size);
    let epochs = match (args.epochs, &args.data) {
        (Some(epochs), _) => epochs,
        (None, None) => 5,
        (None, Some(_)) => STEPS_ON_A_FILE.div_ceil(batches).clamp(5, 1000),
    };
    let data = args.data.as_ref().map_or("the generated corpus".to_string(), |p| p.display().to_string());
    // Dropout regularises the generated corpus's many rare words; real files keep every feature.
    let keep_rate = if args.data.is_some() { 1.0 } else { 0.5 };
    let (train, test) = (Rc::new(train), Rc::new(test));
    let mut init = Rng::new(args.seed, 0x1417);
    let model = bow::Model::new(train.vocab, train.classes, &mut init, args.dtype.dtype());
    // `--set lazy_update=...` trains that model alone.
    let chosen = config.get("lazy_update").and_then(Value::as_bool);
    let mut models: Vec<Box<dyn Trainee>> = Vec::new();
    for (name, lazy) in [("lazy", true), ("standard", false)] {
        if chosen.is_some_and(|c| c != lazy) {
            continue;
        }
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
            keep_rate,
            lazy,
        }));
    }
    Ok(Setup { models, title, notes, data, epochs })
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
        "dtype": args.dtype,
    })
}

/// The epoch a run resumed from `dir` starts at, with the records so far; every model's
/// weights and state are loaded and checked before anything trains.
fn resume(dir: &Path, this_run: &Value, args: &TrainArgs, setup: &mut Setup) -> Result<(usize, Vec<Record>)> {
    let progress = saved::read_progress(dir, setup.models.len())?;
    let differences = resumed::differences(&progress.run, this_run);
    if !differences.is_empty() {
        bail!(
            "cannot resume from {}: the options given differ from the saved run's ({}); leave them out \
             to continue the saved run, or train a new run with those settings (without --resume)",
            dir.display(),
            differences.join("; ")
        );
    }
    for model in setup.models.iter_mut() {
        models::load(model.as_mut(), dir)?;
        if let Some(threads) = args.threads {
            model.updater_mut().set_threads(threads)?;
        }
    }
    if progress.epoch >= setup.epochs {
        bail!("{} already holds {} epochs; ask for more with --epochs", dir.display(), progress.epoch);
    }
    let (first_epoch, records) = (progress.epoch + 1, progress.records);
    Ok((first_epoch, records))
}

/// `adamant train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let mut args = resumed::completed(args)?;
    // The registry's names are case-insensitive; the header and the saved run say them one way.
    args.optimizer.make_ascii_lowercase();
    let args = &args;
    args.check()?;
    let config = args.optimizer_config()?;
    let mut setup = match args.task {
        Task::Digits => digits(args, &config)?,
        Task::Sparse => sparse(args, &config)?,
    };
    let this_run = fingerprint(args, &config);
    let (first_epoch, mut records) = match &args.resume {
        Some(dir) => resume(dir, &this_run, args, &mut setup)?,
        None => (1, Vec::new()),
    };
    if let Some(dir) = args.save_dir() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--save-state {}: cannot create it", dir.display()))?;
    }
    let multi_precision = config.get("multi_precision").and_then(Value::as_bool).unwrap_or(false);
    if args.dtype.dtype() == DType::F16 && !multi_precision {
        errln!(
            "adamant: warning: float16 weights without multi_precision keep their moments in float16, \
             where a gradient below about 5e-3 leaves no trace in v and the weight moves too far \
             (docs/semantics.md); add --set multi_precision=true"
        );
    }
    let report = Report::new(args.json, setup.epochs);
    if !args.json {
        outln!("{}; optimizer {} {}", setup.title, args.optimizer, config)?;
        for note in &setup.notes {
            outln!("{note}")?;
        }
        if report.every > 1 {
            outln!("(one epoch in {} shown, and the first and the last)", report.every)?;
        }
    }
    let started = Instant::now();
    let epochs = setup.epochs;
    for epoch in first_epoch..=epochs {
        let batches: usize = setup.models.iter().map(|m| m.batches()).sum();
        let bar = progress::bar(batches as u64, &format!("epoch {epoch}/{epochs}"), args.quiet || args.json);
        for model in setup.models.iter_mut() {
            let (train_loss, step_ms) = model.train_epoch(epoch, &bar)?;
            let (test_loss, test_accuracy) = model.evaluate();
            let lr = model.updater().optimizer().learning_rate();
            let model = model.name().to_string();
            let record = Record { epoch, model, train_loss, test_loss, test_accuracy, step_ms, lr };
            bar.suspend(|| report.epoch(&record))?;
            if !train_loss.is_finite() {
                bail!(
                    "the {} model diverged in epoch {epoch} (training loss {train_loss}); nothing of this \
                     epoch was saved: try a smaller learning rate (--set learning_rate=...)",
                    record.model
                );
            }
            records.push(record);
        }
        bar.finish_and_clear();
        if let Some(dir) = args.save_dir() {
            for model in &setup.models {
                models::save(model.as_ref(), dir)?;
            }
            let progress = json!({"run": this_run, "epoch": epoch, "records": records});
            let bytes = serde_json::to_string_pretty(&progress)?;
            saved::write_atomic(&dir.join(saved::PROGRESS), bytes.as_bytes())?;
        }
    }
    report.summary(&records, &setup.data, started.elapsed().as_secs_f64())?;
    if let Some(path) = &args.plot {
        plot::draw(path, &setup.title, &records).with_context(|| format!("--plot {}", path.display()))?;
        if !args.json {
            outln!("loss curves written to {}", path.display())?;
        }
    }
    Ok(())
}
