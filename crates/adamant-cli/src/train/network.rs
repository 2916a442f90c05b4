//! A small fully connected network with hand-written gradients: softmax regression (no hidden
//! layer) or a multi-layer perceptron with ReLU, trained with cross-entropy.

use adamant::DType;

use super::rng::Rng;
use super::weights::Weights;

/// Weights of a network: per layer a row-major `inputs x outputs` matrix and a bias.
#[derive(Debug, Clone)]
pub struct Network {
    /// Layer sizes, inputs first.
    pub sizes: Vec<usize>,
    /// Per layer: (weights, bias).
    pub layers: Vec<(Weights, Weights)>,
}

/// The loss and the gradients of every layer, averaged over a batch.
pub struct Gradients {
    pub loss: f32,
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Network {
    /// Glorot-uniform weights and zero biases, drawn from `rng`, stored in `dtype`.
    pub fn new(sizes: &[usize], rng: &mut Rng, dtype: DType) -> Network {
        let layers = sizes
            .windows(2)
            .map(|io| {
                let limit = (6.0 / (io[0] + io[1]) as f32).sqrt();
                let w = (0..io[0] * io[1]).map(|_| (rng.uniform() * 2.0 - 1.0) * limit).collect();
                (Weights::new(w, dtype), Weights::new(vec![0.0; io[1]], dtype))
            })
            .collect();
        Network { sizes: sizes.to_vec(), layers }
    }

    /// Activations of every layer for a batch (`x` is `batch x inputs`); the last are logits.
    fn forward(&self, x: &[f32], batch: usize) -> Vec<Vec<f32>> {
        let mut acts = vec![x.to_vec()];
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
            let a = &acts[l];
            let mut z = vec![0.0f32; batch * outputs];
            for n in 0..batch {
                let row = &mut z[n * outputs..(n + 1) * outputs];
                row.copy_from_slice(&b.values);
                for i in 0..inputs {
                    let ai = a[n * inputs + i];
                    if ai != 0.0 {
                        row.iter_mut()
                            .zip(&w.values[i * outputs..(i + 1) * outputs])
                            .for_each(|(z, &w)| *z += ai * w);
                    }
                }
            }
            if l + 1 < self.layers.len() {
                z.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            acts.push(z);
        }
        acts
    }

    /// Softmax probabilities of `logits` rows, in place; returns each row's log-sum-exp.
    fn softmax(logits: &mut [f32], classes: usize) -> Vec<f32> {
        logits
            .chunks_mut(classes)
            .map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = row.iter().map(|&z| (z - max).exp()).sum();
                let lse = max + sum.ln();
                row.iter_mut().for_each(|z| *z = (*z - lse).exp());
                lse
            })
            .collect()
    }

    /// Mean cross-entropy loss and accuracy on a batch.
    pub fn evaluate(&self, x: &[f32], labels: &[usize]) -> (f32, f32) {
        let classes = *self.sizes.last().unwrap();
        let mut logits = self.forward(x, labels.len()).pop().unwrap();
        let raw = logits.clone();
        let lse = Self::softmax(&mut logits, classes);
        let mut loss = 0.0;
        let mut correct = 0;
        for (n, &y) in labels.iter().enumerate() {
            loss += lse[n] - raw[n * classes + y];
            let row = &logits[n * classes..(n + 1) * classes];
            let best = (0..classes).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += usize::from(best == y);
        }
        (loss / labels.len() as f32, correct as f32 / labels.len() as f32)
    }

    /// The loss and its gradients with respect to every weight and bias, averaged over the
    /// batch (back-propagation, written out).
    pub fn gradients(&self, x: &[f32], labels: &[usize]) -> Gradients {
        let batch = labels.len();
        let classes = *self.sizes.last().unwrap();
        let acts = self.forward(x, batch);
        let mut delta = acts.last().unwrap().clone();
        let raw = delta.clone();
        let lse = Self::softmax(&mut delta, classes);
        let mut loss = 0.0;
        for (n, &y) in labels.iter().enumerate() {
            loss += lse[n] - raw[n * classes + y];
            delta[n * classes + y] -= 1.0; // d(loss)/d(logits) = softmax - one_hot
        }
        let scale = 1.0 / batch as f32;
        let mut layers = vec![(Vec::new(), Vec::new()); self.layers.len()];
        for l in (0..self.layers.len()).rev() {
            let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
            let a = &acts[l];
            let mut gw = vec![0.0f32; inputs * outputs];
            let mut gb = vec![0.0f32; outputs];
            for n in 0..batch {
                let d = &delta[n * outputs..(n + 1) * outputs];
                gb.iter_mut().zip(d).for_each(|(g, &d)| *g += d * scale);
                for i in 0..inputs {
                    let ai = a[n * inputs + i] * scale;
                    if ai != 0.0 {
                        gw[i * outputs..(i + 1) * outputs].iter_mut().zip(d).for_each(|(g, &d)| *g += ai * d);
                    }
                }
            }
            if l > 0 {
                let w = &self.layers[l].0.values;
                let mut previous = vec![0.0f32; batch * inputs];
                for n in 0..batch {
                    for i in 0..inputs {
                        if a[n * inputs + i] > 0.0 {
                            let d = &delta[n * outputs..(n + 1) * outputs];
                            previous[n * inputs + i] =
                                d.iter().zip(&w[i * outputs..(i + 1) * outputs]).map(|(&d, &w)| d * w).sum();
                        }
                    }
                }
                delta = previous;
            }
            layers[l] = (gw, gb);
        }
        Gradients { loss: loss * scale, layers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::new(3, 0);
        let net = Network::new(&[5, 4, 3], &mut rng, DType::F32);
        let x: Vec<f32> = (0..4 * 5).map(|_| rng.uniform()).collect();
        let labels = [0, 2, 1, 2];
        let grads = net.gradients(&x, &labels);
        let h = 1e-2f32;
        for (l, (gw, gb)) in grads.layers.iter().enumerate() {
            for (k, analytic) in gw.iter().chain(gb).enumerate() {
                let nudge = |delta: f32| {
                    let mut n = net.clone();
                    let (w, b) = &mut n.layers[l];
                    if k < w.values.len() {
                        w.values[k] += delta;
                    } else {
                        b.values[k - w.values.len()] += delta;
                    }
                    n.evaluate(&x, &labels).0
                };
                let numeric = (nudge(h) - nudge(-h)) / (2.0 * h);
                assert!(
                    (numeric - analytic).abs() < 2e-3 + 2e-2 * analytic.abs(),
                    "layer {l} #{k}: {numeric} vs {analytic}"
                );
            }
        }
        assert!((grads.loss - net.evaluate(&x, &labels).0).abs() < 1e-6);
    }
}
