//! Feature scaling for real data, fitted on the training examples only.
//!
//! Real files come unscaled (one wine feature runs to 1,680 where the others stay below 1),
//! and an optimizer's default step then suits no feature. A feature present in at least half
//! of the training examples is standardized (mean 0, standard deviation 1: absent entries count
//! as 0 and become `-mean / sd`); a rarer one is divided by its largest magnitude, which keeps
//! it sparse (one-hot and bag-of-words features stay 0 or 1, and the table's gradients stay
//! row-sparse). Constant features are left as they are. The arithmetic is float64, so that
//! values near float32's limits (3e38 and -3e38 in one column) scale to finite numbers: a
//! standardized value is at most `sqrt(n)` in magnitude, a divided one at most 1.

use super::bow::Corpus;

/// How one feature column is scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    /// `(x - mean) / sd`, also for the examples that lack it.
    Standardized { mean: f64, sd: f64 },
    /// `x / largest |x|`.
    Divided(f64),
}

/// The scaling of every column of a corpus.
#[derive(Debug, Clone)]
pub struct Scaling {
    columns: Vec<Column>,
    /// The standardized columns, whose absent entries get a value too.
    dense: Vec<u32>,
}

impl Scaling {
    /// The scaling that fits `train`.
    pub fn fit(train: &Corpus) -> Scaling {
        let n = train.docs.len().max(1) as f64;
        let mut stats = vec![(0usize, 0f64, 0f64, 0f32); train.vocab]; // count, sum, sum of squares, max |x|
        for (features, _) in &train.docs {
            for &(c, x) in features {
                let s = &mut stats[c as usize];
                *s = (s.0 + 1, s.1 + f64::from(x), s.2 + f64::from(x) * f64::from(x), s.3.max(x.abs()));
            }
        }
        let columns: Vec<Column> = stats
            .iter()
            .map(|&(count, sum, squares, largest)| {
                let mean = sum / n;
                let sd = (squares / n - mean * mean).max(0.0).sqrt();
                if count as f64 >= 0.5 * n && sd > 1e-12 * mean.abs().max(1e-300) {
                    Column::Standardized { mean, sd }
                } else if largest > 0.0 {
                    Column::Divided(f64::from(largest))
                } else {
                    Column::Divided(1.0)
                }
            })
            .collect();
        let dense = (0..columns.len() as u32)
            .filter(|&c| matches!(columns[c as usize], Column::Standardized { .. }))
            .collect();
        Scaling { columns, dense }
    }

    /// `corpus` scaled.
    pub fn apply(&self, corpus: &Corpus) -> Corpus {
        let mut present = vec![false; self.columns.len()];
        let docs = corpus
            .docs
            .iter()
            .map(|(features, class)| {
                let mut scaled: Vec<(u32, f32)> = features
                    .iter()
                    .map(|&(c, x)| {
                        present[c as usize] = true;
                        (c, self.scale(c, x))
                    })
                    .collect();
                for &c in &self.dense {
                    if !present[c as usize] {
                        let zero = self.scale(c, 0.0);
                        if zero != 0.0 {
                            scaled.push((c, zero));
                        }
                    }
                }
                for &(c, _) in features {
                    present[c as usize] = false;
                }
                (scaled, *class)
            })
            .collect();
        Corpus { vocab: corpus.vocab, classes: corpus.classes, docs }
    }

    fn scale(&self, column: u32, x: f32) -> f32 {
        let x = f64::from(x);
        let scaled = match self.columns[column as usize] {
            Column::Standardized { mean, sd } => (x - mean) / sd,
            Column::Divided(largest) => x / largest,
        };
        scaled as f32
    }

    /// How many columns are standardized and how many divided by their largest value.
    pub fn summary(&self) -> (usize, usize) {
        (self.dense.len(), self.columns.len() - self.dense.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_features_are_standardized_and_rare_ones_stay_sparse() {
        // Column 0 in every example (values 1000, 1002, 1004, 1006), column 1 in one (value 8).
        let docs = (0..4).map(|i| (vec![(0, 1000.0 + 2.0 * i as f32)], i % 2)).chain([(vec![(1, 8.0)], 0)]);
        let train = Corpus { vocab: 2, classes: 2, docs: docs.collect() };
        let scaled = Scaling::fit(&train).apply(&train);
        let column0: Vec<f32> =
            scaled.docs.iter().map(|(f, _)| f.iter().find(|e| e.0 == 0).unwrap().1).collect();
        let mean = column0.iter().sum::<f32>() / 5.0;
        let sd = (column0.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / 5.0).sqrt();
        assert!(mean.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5, "{column0:?}");
        assert_eq!(scaled.docs[4].0.iter().find(|e| e.0 == 1), Some(&(1, 1.0)));
        assert_eq!(scaled.docs[0].0.len(), 1, "the rare column stays absent where it was");
    }

    #[test]
    fn values_at_float32s_limits_scale_to_finite_numbers() {
        // A column at +-3.4e38 (its difference overflows float32), one of subnormals, and one
        // with a single huge value among small ones.
        let extremes = [-f32::MAX, -f32::MAX, -f32::MAX, f32::MAX];
        let docs = (0..4).map(|i| {
            (
                vec![
                    (0, extremes[i]),
                    (1, f32::from_bits(1 + i as u32)),
                    (2, if i == 0 { 3e38 } else { 1e-3 }),
                ],
                i % 2,
            )
        });
        let train = Corpus { vocab: 3, classes: 2, docs: docs.collect() };
        let scaled = Scaling::fit(&train).apply(&train);
        for (features, _) in &scaled.docs {
            assert!(features.iter().all(|(_, x)| x.is_finite() && x.abs() <= 2.0), "{features:?}");
        }
    }
}
