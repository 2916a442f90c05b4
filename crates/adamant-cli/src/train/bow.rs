//! Bag-of-words classification whose vocabulary is an embedding table: a document's class
//! scores are `head^T sum(value * E[word]) + bias`, so a batch's gradient for `E` touches only
//! the rows of the words it contains (row-sparse). The shape of the Adam paper's IMDB
//! experiment; with a file of real features (`--data`), a factorized multinomial logistic
//! regression.

use adamant::DType;

use super::rng::Rng;
use super::weights::Weights;

/// A document: its `(word, value)` features and its class.
pub type Doc = (Vec<(u32, f32)>, usize);

/// Documents and the sizes they imply.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Rows of the embedding table (one per distinct word or feature).
    pub vocab: usize,
    /// Classes (2 for the generated corpus).
    pub classes: usize,
    pub docs: Vec<Doc>,
}

impl Corpus {
    /// The documents at `indices`.
    pub fn pick(&self, indices: &[usize]) -> Corpus {
        let docs = indices.iter().map(|&i| self.docs[i].clone()).collect();
        Corpus { vocab: self.vocab, classes: self.classes, docs }
    }
}

/// A corpus with a planted truth: words Zipf-distributed over `vocab`, a hidden weight for each
/// of the `informative` most frequent words (the rest carry none), and labels that follow the
/// sign of the document's summed weight, with noise.
pub fn generate(seed: u64, vocab: usize, informative: usize, docs: usize) -> Corpus {
    let mut rng = Rng::new(seed, 0x5eed);
    let truth: Vec<f32> = (0..vocab).map(|w| if w < informative { rng.normal() } else { 0.0 }).collect();
    // Zipf with exponent 1.1: a cumulative table sampled by binary search.
    let mut cumulative = Vec::with_capacity(vocab);
    let mut total = 0.0f64;
    for k in 1..=vocab {
        total += 1.0 / (k as f64).powf(1.1);
        cumulative.push(total);
    }
    let docs = (0..docs)
        .map(|_| {
            let len = 20 + rng.below(100);
            let words: Vec<(u32, f32)> = (0..len)
                .map(|_| {
                    let u = f64::from(rng.uniform()) * total;
                    (cumulative.partition_point(|&c| c < u).min(vocab - 1) as u32, 1.0)
                })
                .collect();
            let score: f32 = words.iter().map(|&(w, _)| truth[w as usize]).sum::<f32>() / (len as f32).sqrt();
            let label = usize::from(score + 0.3 * rng.normal() > 0.0);
            (words, label)
        })
        .collect();
    Corpus { vocab, classes: 2, docs }
}

/// Embedding width.
pub const WIDTH: usize = 16;

/// The model's parameters: table `E` (`vocab x WIDTH`), `head` (`WIDTH x classes`, row-major)
/// and `bias` (`classes`).
#[derive(Debug, Clone)]
pub struct Model {
    pub table: Weights,
    pub head: Weights,
    pub bias: Weights,
}

/// A batch's loss and gradients: the table's as listed rows (with repeats) and values.
pub struct Gradients {
    pub loss: f32,
    pub rows: Vec<i64>,
    pub values: Vec<f32>,
    pub head: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Model {
    /// Small random weights, stored in `dtype`.
    pub fn new(vocab: usize, classes: usize, rng: &mut Rng, dtype: DType) -> Model {
        let table = (0..vocab * WIDTH).map(|_| 0.1 * rng.normal()).collect();
        let head = (0..WIDTH * classes).map(|_| 0.1 * rng.normal()).collect();
        Model {
            table: Weights::new(table, dtype),
            head: Weights::new(head, dtype),
            bias: Weights::new(vec![0.0; classes], dtype),
        }
    }

    fn classes(&self) -> usize {
        self.bias.values.len()
    }

    fn hidden(&self, words: &[(u32, f32)]) -> [f32; WIDTH] {
        let mut h = [0.0f32; WIDTH];
        for &(w, v) in words {
            let row = &self.table.values[w as usize * WIDTH..(w as usize + 1) * WIDTH];
            h.iter_mut().zip(row).for_each(|(h, &e)| *h += v * e);
        }
        h
    }

    /// The class probabilities of a document (the softmax of its scores) and its hidden vector.
    fn probabilities(&self, words: &[(u32, f32)]) -> (Vec<f32>, [f32; WIDTH]) {
        let h = self.hidden(words);
        let (k, head, bias) = (self.classes(), &self.head.values, &self.bias.values);
        let mut p: Vec<f32> = (0..k)
            .map(|c| bias[c] + h.iter().enumerate().map(|(i, h)| h * head[i * k + c]).sum::<f32>())
            .collect();
        let top = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        p.iter_mut().for_each(|z| *z = (*z - top).exp());
        let sum: f32 = p.iter().sum();
        p.iter_mut().for_each(|z| *z /= sum);
        (p, h)
    }

    /// Mean cross-entropy loss and accuracy over `docs` (which is not empty).
    pub fn evaluate(&self, docs: &[Doc]) -> (f32, f32) {
        let (mut loss, mut correct) = (0.0f32, 0);
        for (words, y) in docs {
            let (p, _) = self.probabilities(words);
            loss -= p[*y].clamp(1e-7, 1.0).ln();
            let best = (0..p.len()).fold(0, |best, c| if p[c] > p[best] { c } else { best });
            correct += usize::from(best == *y);
        }
        (loss / docs.len() as f32, correct as f32 / docs.len() as f32)
    }

    /// Gradients over a batch, averaged; each document's features pass through `keep` (feature
    /// dropout: a dropped feature is left out, a kept one scaled by `1 / keep_rate`).
    pub fn gradients(&self, batch: &[&Doc], keep: &mut dyn FnMut() -> bool, keep_rate: f32) -> Gradients {
        let (scale, k) = (1.0 / batch.len() as f32, self.classes());
        let mut g = Gradients {
            loss: 0.0,
            rows: Vec::new(),
            values: Vec::new(),
            head: vec![0.0; WIDTH * k],
            bias: vec![0.0; k],
        };
        for (words, y) in batch {
            let words: Vec<(u32, f32)> =
                words.iter().filter(|_| keep()).map(|&(w, v)| (w, v / keep_rate)).collect();
            let (p, h) = self.probabilities(&words);
            g.loss -= p[*y].clamp(1e-7, 1.0).ln() * scale;
            // d(loss) / d(score of class c) = p_c - [c == y], averaged over the batch.
            let d: Vec<f32> = (0..k).map(|c| (p[c] - if c == *y { 1.0 } else { 0.0 }) * scale).collect();
            g.bias.iter_mut().zip(&d).for_each(|(gb, d)| *gb += d);
            for (i, hi) in h.iter().enumerate() {
                g.head[i * k..(i + 1) * k].iter_mut().zip(&d).for_each(|(gh, d)| *gh += d * hi);
            }
            // d(loss) / d(h_i) = sum over classes of head[i][c] * d_c.
            let dh: Vec<f32> =
                (0..WIDTH).map(|i| (0..k).map(|c| self.head.values[i * k + c] * d[c]).sum()).collect();
            for (w, v) in words {
                g.rows.push(i64::from(w));
                g.values.extend(dh.iter().map(|dh| dh * v));
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::new(5, 0);
        let model = Model::new(6, 3, &mut rng, DType::F32);
        let doc: Doc = (vec![(1u32, 1.0f32), (4, 0.5), (1, 2.0)], 2);
        let g = model.gradients(&[&doc], &mut || true, 1.0);
        let numeric = |nudge: &dyn Fn(&mut Model, f32)| {
            let (mut up, mut down) = (model.clone(), model.clone());
            nudge(&mut up, 1e-2);
            nudge(&mut down, -1e-2);
            let loss = |m: &Model| m.evaluate(std::slice::from_ref(&doc)).0;
            (loss(&up) - loss(&down)) / 2e-2
        };
        let close = |numeric: f32, analytic: f32| (numeric - analytic).abs() < 1e-3 + 2e-2 * analytic.abs();
        // Row 1 is listed twice; its gradient is the sum of both entries.
        for j in 0..WIDTH {
            let listed = g.rows.iter().enumerate().filter(|(_, &r)| r == 1);
            let analytic: f32 = listed.map(|(k, _)| g.values[k * WIDTH + j]).sum();
            let n = numeric(&|m, d| m.table.values[WIDTH + j] += d);
            assert!(close(n, analytic), "table column {j}: {n} vs {analytic}");
        }
        for i in 0..WIDTH * 3 {
            let n = numeric(&|m, d| m.head.values[i] += d);
            assert!(close(n, g.head[i]), "head {i}: {n} vs {}", g.head[i]);
        }
        for c in 0..3 {
            let n = numeric(&|m, d| m.bias.values[c] += d);
            assert!(close(n, g.bias[c]), "bias {c}: {n} vs {}", g.bias[c]);
        }
    }
}
