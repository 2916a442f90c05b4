//! The models `adamant train` trains, each with its own optimizer state: what one epoch does,
//! how it is evaluated, and how it is saved and resumed.

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use adamant::{Buffer, DataRef, Grad, Param, ParamSpec, RowSparseRef, TensorMut, TensorRef, Updater};
use anyhow::{Context, Result};
use indicatif::ProgressBar;

use super::bow::{self, Corpus, Doc};
use super::digits::{Images, FEATURES};
use super::network::Network;
use super::rng::Rng;
use super::saved;
use super::weights::{gradient, Weights};

/// A model being trained.
pub trait Trainee {
    fn name(&self) -> &str;
    /// Optimizer steps per epoch.
    fn batches(&self) -> usize;
    /// One epoch; returns the mean training loss and the mean optimizer step time in ms.
    fn train_epoch(&mut self, epoch: usize, bar: &ProgressBar) -> Result<(f32, f64)>;
    /// Test loss and accuracy.
    fn evaluate(&self) -> (f32, f32);
    /// The parameters in index order, with their names and shapes.
    fn params(&self) -> Vec<(String, Vec<usize>, &Weights)>;
    fn params_mut(&mut self) -> Vec<&mut Weights>;
    fn updater(&self) -> &Updater;
    fn updater_mut(&mut self) -> &mut Updater;
}

/// The name of a model's file in a --save-state directory: `{model}.{what}.safetensors`.
pub fn file(model: &str, what: &str) -> String {
    format!("{model}.{what}.safetensors")
}

/// Saves a model's weights and optimizer state into `dir`.
pub fn save(model: &dyn Trainee, dir: &Path) -> Result<()> {
    let params = model.params();
    let arrays: Vec<(&str, DataRef<'_>)> = params.iter().map(|(n, _, w)| (n.as_str(), w.data())).collect();
    saved::save_weights(&dir.join(file(model.name(), "weights")), &arrays)?;
    model.updater().save(dir.join(file(model.name(), "optimizer")))?;
    Ok(())
}

/// Loads a model's weights and optimizer state from `dir`, checking both against the model
/// (names, shapes, dtypes) before anything is trained. Errors name the model and the file. The
/// loaded updater runs on rayon's global pool until given threads again.
pub fn load(model: &mut dyn Trainee, dir: &Path) -> Result<()> {
    let name = model.name().to_string();
    let weights_path = dir.join(file(&name, "weights"));
    let optimizer_path = dir.join(file(&name, "optimizer"));
    let in_file = |path: &Path| format!("cannot resume model {name} from {}", path.display());
    let mut saved_weights = saved::load_weights(&weights_path).with_context(|| in_file(&weights_path))?;
    let params = model.params();
    let mut loaded = Vec::with_capacity(params.len());
    for (param, shape, weights) in &params {
        let data = weights.data();
        let len = shape.iter().product();
        loaded.push(
            saved::take(&mut saved_weights, param, len, data.dtype())
                .with_context(|| in_file(&weights_path))?,
        );
    }
    let specs: Vec<ParamSpec<'_>> = params
        .iter()
        .enumerate()
        .map(|(index, (_, shape, w))| ParamSpec { index, shape, dtype: w.data().dtype() })
        .collect();
    let updater = Updater::load(&optimizer_path, &specs).with_context(|| in_file(&optimizer_path))?;
    drop(params);
    for (weights, stored) in model.params_mut().into_iter().zip(loaded) {
        *weights = Weights::from_stored(stored);
    }
    *model.updater_mut() = updater;
    Ok(())
}

/// `order` shuffled for `epoch`: the same on a resumed run as on an uninterrupted one.
fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed, epoch as u64).shuffle(&mut order);
    order
}

/// Softmax regression or an MLP on the digits.
pub struct DigitsModel {
    pub name: &'static str,
    pub net: Network,
    pub updater: Updater,
    pub train: Rc<Images>,
    pub test: Rc<Images>,
    pub batch_size: usize,
    pub seed: u64,
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
        let shapes: Vec<([usize; 2], [usize; 1])> =
            self.net.sizes.windows(2).map(|io| ([io[0], io[1]], [io[1]])).collect();
        let mut scratch: Vec<Option<Buffer>> = vec![None; 2 * shapes.len()];
        for batch in order.chunks(self.batch_size) {
            let x: Vec<f32> = batch
                .iter()
                .flat_map(|&i| self.train.pixels[i * FEATURES..(i + 1) * FEATURES].iter().copied())
                .collect();
            let labels: Vec<usize> = batch.iter().map(|&i| self.train.labels[i]).collect();
            let grads = self.net.gradients(&x, &labels);
            loss += f64::from(grads.loss) * batch.len() as f64;
            let mut params: Vec<Param<'_>> = Vec::new();
            let layers = self.net.layers.iter_mut().zip(&grads.layers).zip(scratch.chunks_mut(2));
            for (l, (((w, b), (gw, gb)), scratch)) in layers.enumerate() {
                let (dtype, [sw, sb]) = (w.data().dtype(), scratch) else { unreachable!("chunks of 2") };
                let (gw, gb) = (gradient(gw, dtype, sw), gradient(gb, dtype, sb));
                let (ws, bs) = (&shapes[l].0, &shapes[l].1);
                params.push(Param::new(2 * l, TensorMut { shape: ws, data: w.data_mut() }, dense(ws, gw)));
                params.push(Param::new(
                    2 * l + 1,
                    TensorMut { shape: bs, data: b.data_mut() },
                    dense(bs, gb),
                ));
            }
            let start = Instant::now();
            self.updater.update(&mut params)?;
            seconds += start.elapsed().as_secs_f64();
            for (w, b) in &mut self.net.layers {
                w.refresh(None);
                b.refresh(None);
            }
            bar.inc(1);
        }
        Ok(((loss / self.train.len() as f64) as f32, seconds * 1e3 / self.batches() as f64))
    }

    fn evaluate(&self) -> (f32, f32) {
        self.net.evaluate(&self.test.pixels, &self.test.labels)
    }

    fn params(&self) -> Vec<(String, Vec<usize>, &Weights)> {
        let sizes = &self.net.sizes;
        let layers = self.net.layers.iter().enumerate();
        layers
            .flat_map(|(l, (w, b))| {
                [(format!("w{l}"), vec![sizes[l], sizes[l + 1]], w), (format!("b{l}"), vec![sizes[l + 1]], b)]
            })
            .collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Weights> {
        self.net.layers.iter_mut().flat_map(|(w, b)| [w, b]).collect()
    }

    fn updater(&self) -> &Updater {
        &self.updater
    }

    fn updater_mut(&mut self) -> &mut Updater {
        &mut self.updater
    }
}

fn dense<'a>(shape: &'a [usize], data: DataRef<'a>) -> Grad<'a> {
    Grad::Dense(TensorRef { shape, data })
}

/// The bag-of-words model with its embedding table.
pub struct BowModel {
    pub name: &'static str,
    pub model: bow::Model,
    pub updater: Updater,
    pub train: Rc<Corpus>,
    pub test: Rc<Corpus>,
    pub batch_size: usize,
    pub seed: u64,
    /// The fraction of features kept by dropout (1: no dropout).
    pub keep_rate: f32,
    /// Whether the table's update is lazy (only listed rows change).
    pub lazy: bool,
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
        // Feature dropout: the same draws for every model.
        let mut dropout = Rng::new(self.seed, (1 << 32) | epoch as u64);
        let keep_rate = self.keep_rate;
        let mut keep = || keep_rate >= 1.0 || dropout.uniform() < keep_rate;
        let (mut loss, mut seconds) = (0.0f64, 0.0f64);
        let classes = self.model.bias.values.len();
        let (table_shape, head_shape, bias_shape) =
            ([self.train.vocab, bow::WIDTH], [bow::WIDTH, classes], [classes]);
        let dtype = self.model.table.data().dtype();
        let mut scratch: [Option<Buffer>; 3] = Default::default();
        for batch in order.chunks(self.batch_size) {
            let docs: Vec<&Doc> = batch.iter().map(|&i| &self.train.docs[i]).collect();
            let g = self.model.gradients(&docs, &mut keep, keep_rate);
            loss += f64::from(g.loss) * batch.len() as f64;
            let [st, sh, sb] = &mut scratch;
            let table_grad = Grad::RowSparse(RowSparseRef {
                shape: &table_shape,
                row_indices: &g.rows,
                values: gradient(&g.values, dtype, st),
            });
            let m = &mut self.model;
            let mut params = [
                Param::new(0, TensorMut { shape: &table_shape, data: m.table.data_mut() }, table_grad),
                Param::new(
                    1,
                    TensorMut { shape: &head_shape, data: m.head.data_mut() },
                    dense(&head_shape, gradient(&g.head, dtype, sh)),
                ),
                Param::new(
                    2,
                    TensorMut { shape: &bias_shape, data: m.bias.data_mut() },
                    dense(&bias_shape, gradient(&g.bias, dtype, sb)),
                ),
            ];
            let start = Instant::now();
            self.updater.update(&mut params)?;
            seconds += start.elapsed().as_secs_f64();
            // A lazy update changed only the listed rows; a standard one every row.
            m.table.refresh(self.lazy.then_some((&g.rows, bow::WIDTH)));
            m.head.refresh(None);
            m.bias.refresh(None);
            bar.inc(1);
        }
        Ok(((loss / self.train.docs.len() as f64) as f32, seconds * 1e3 / self.batches() as f64))
    }

    fn evaluate(&self) -> (f32, f32) {
        self.model.evaluate(&self.test.docs)
    }

    fn params(&self) -> Vec<(String, Vec<usize>, &Weights)> {
        let (m, classes) = (&self.model, self.model.bias.values.len());
        vec![
            ("table".into(), vec![self.train.vocab, bow::WIDTH], &m.table),
            ("head".into(), vec![bow::WIDTH, classes], &m.head),
            ("bias".into(), vec![classes], &m.bias),
        ]
    }

    fn params_mut(&mut self) -> Vec<&mut Weights> {
        let m = &mut self.model;
        vec![&mut m.table, &mut m.head, &mut m.bias]
    }

    fn updater(&self) -> &Updater {
        &self.updater
    }

    fn updater_mut(&mut self) -> &mut Updater {
        &mut self.updater
    }
}
