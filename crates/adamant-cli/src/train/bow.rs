//! Bag-of-words logistic regression whose vocabulary is an embedding table: each document's
//! score is `head . sum(value * E[word]) + bias`, so a batch's gradient for `E` touches only the
//! rows of the words it contains (row-sparse). The shape of the Adam paper's IMDB experiment.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::rng::Rng;

/// Documents: `(word, value)` features and a 0/1 label each.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Rows of the embedding table (one more than the largest word index).
    pub vocab: usize,
    pub docs: Vec<(Vec<(u32, f32)>, f32)>,
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
            let label = f32::from(score + 0.3 * rng.normal() > 0.0);
            (words, label)
        })
        .collect();
    Corpus { vocab, docs }
}

/// Reads LIBSVM / SVMlight text: `label index:value index:value ...` per line, `#` comments.
/// Labels `+1`/`1` are positive, `-1`/`0` negative.
pub fn read_libsvm(path: &Path) -> Result<Corpus> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let mut corpus = Corpus::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| anyhow::anyhow!("{name}:{}: {what}", i + 1);
        let mut fields = line.split_whitespace();
        let label = match fields.next().unwrap_or("") {
            "+1" | "1" => 1.0,
            "-1" | "0" => 0.0,
            other => return Err(at(format!("expected a label (+1, 1, -1 or 0), got {other:?}"))),
        };
        let mut features = Vec::new();
        for field in fields {
            let (index, value) =
                field.split_once(':').ok_or_else(|| at(format!("expected index:value, got {field:?}")))?;
            let index: u32 =
                index.parse().map_err(|_| at(format!("expected a feature index, got {index:?}")))?;
            let value: f32 =
                value.parse().map_err(|_| at(format!("expected a feature value, got {value:?}")))?;
            if !value.is_finite() {
                return Err(at(format!("feature value {value} is not finite")));
            }
            corpus.vocab = corpus.vocab.max(index as usize + 1);
            features.push((index, value));
        }
        corpus.docs.push((features, label));
    }
    if corpus.docs.is_empty() {
        bail!("{name}: no examples");
    }
    Ok(corpus)
}

/// Embedding width.
pub const WIDTH: usize = 16;

/// The model's parameters: table `E` (`vocab x WIDTH`), `head` and `bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub table: Vec<f32>,
    pub head: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A batch's loss and gradients: the table's as listed rows (with repeats) and values.
pub struct Gradients {
    pub loss: f32,
    pub rows: Vec<i64>,
    pub values: Vec<f32>,
    pub head: Vec<f32>,
    pub bias: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Model {
    /// Small random weights.
    pub fn new(vocab: usize, rng: &mut Rng) -> Model {
        Model {
            table: (0..vocab * WIDTH).map(|_| 0.1 * rng.normal()).collect(),
            head: (0..WIDTH).map(|_| 0.1 * rng.normal()).collect(),
            bias: vec![0.0],
        }
    }

    fn hidden(&self, words: &[(u32, f32)]) -> [f32; WIDTH] {
        let mut h = [0.0f32; WIDTH];
        for &(w, v) in words {
            let row = &self.table[w as usize * WIDTH..(w as usize + 1) * WIDTH];
            h.iter_mut().zip(row).for_each(|(h, &e)| *h += v * e);
        }
        h
    }

    fn probability(&self, words: &[(u32, f32)]) -> (f32, [f32; WIDTH]) {
        let h = self.hidden(words);
        let score: f32 = h.iter().zip(&self.head).map(|(h, w)| h * w).sum::<f32>() + self.bias[0];
        (sigmoid(score), h)
    }

    /// Mean cross-entropy loss and accuracy.
    pub fn evaluate(&self, docs: &[(Vec<(u32, f32)>, f32)]) -> (f32, f32) {
        let (mut loss, mut correct) = (0.0f32, 0);
        for (words, y) in docs {
            let (p, _) = self.probability(words);
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
            correct += usize::from((p > 0.5) == (*y > 0.5));
        }
        (loss / docs.len() as f32, correct as f32 / docs.len() as f32)
    }

    /// Gradients over a batch, averaged; each document's features pass through `keep` (feature
    /// dropout: a dropped feature is left out, a kept one scaled by 2).
    pub fn gradients(&self, batch: &[&(Vec<(u32, f32)>, f32)], keep: &mut dyn FnMut() -> bool) -> Gradients {
        let scale = 1.0 / batch.len() as f32;
        let mut g = Gradients {
            loss: 0.0,
            rows: Vec::new(),
            values: Vec::new(),
            head: vec![0.0; WIDTH],
            bias: vec![0.0],
        };
        for (words, y) in batch {
            let words: Vec<(u32, f32)> =
                words.iter().filter(|_| keep()).map(|&(w, v)| (w, 2.0 * v)).collect();
            let (p, h) = self.probability(&words);
            let pc = p.clamp(1e-7, 1.0 - 1e-7);
            g.loss -= (y * pc.ln() + (1.0 - y) * (1.0 - pc).ln()) * scale;
            let d = (p - y) * scale; // d(loss)/d(score)
            g.bias[0] += d;
            g.head.iter_mut().zip(&h).for_each(|(gh, h)| *gh += d * h);
            for (w, v) in words {
                g.rows.push(i64::from(w));
                g.values.extend(self.head.iter().map(|hw| d * v * hw));
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_gradients_match_finite_differences() {
        let mut rng = Rng::new(5, 0);
        let model = Model::new(6, &mut rng);
        let doc = (vec![(1u32, 1.0f32), (4, 0.5), (1, 2.0)], 1.0f32);
        let g = model.gradients(&[&doc], &mut || true);
        let loss = |m: &Model| m.evaluate(&[(doc.0.iter().map(|&(w, v)| (w, 2.0 * v)).collect(), doc.1)]).0;
        // Row 1 is listed twice; its gradient is the sum of both entries.
        for j in 0..WIDTH {
            let analytic: f32 = g
                .rows
                .iter()
                .enumerate()
                .filter(|(_, &r)| r == 1)
                .map(|(k, _)| g.values[k * WIDTH + j])
                .sum();
            let (mut up, mut down) = (model.clone(), model.clone());
            up.table[WIDTH + j] += 1e-2;
            down.table[WIDTH + j] -= 1e-2;
            let numeric = (loss(&up) - loss(&down)) / 2e-2;
            assert!(
                (numeric - analytic).abs() < 1e-3 + 2e-2 * analytic.abs(),
                "column {j}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn a_malformed_libsvm_line_names_the_file_and_line() {
        let path = std::env::temp_dir().join(format!("adamant-libsvm-{}.txt", std::process::id()));
        std::fs::write(&path, "+1 3:1 7:0.5\n-1 2:1\n+1 4-2\n").unwrap();
        let err = read_libsvm(&path).unwrap_err().to_string();
        assert_eq!(err, format!("{}:3: expected index:value, got \"4-2\"", path.display()));
        std::fs::write(&path, "+1 3:1\nmaybe 2:1\n").unwrap();
        let err = read_libsvm(&path).unwrap_err().to_string();
        assert!(err.ends_with(":2: expected a label (+1, 1, -1 or 0), got \"maybe\""), "{err}");
        std::fs::write(&path, "1 3:1 # a comment\n0 9:2\n").unwrap();
        let corpus = read_libsvm(&path).unwrap();
        assert_eq!((corpus.vocab, corpus.docs.len()), (10, 2));
        std::fs::remove_file(&path).unwrap();
    }
}
