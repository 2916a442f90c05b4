//! Lazy row-sparse updates under PyTorch's rule are `torch.optim.SparseAdam`'s: epsilon added to
//! the square root of the uncorrected second moment, a step size of `lr * sqrt(bc2) / bc1`,
//! repeated rows summed first, and no weight decay or AMSGrad. No golden file covers them, so
//! this test writes SparseAdam's update out as PyTorch's `_functional.sparse_adam` does, in
//! float64, and holds the library to it. With `eps = 1e-3` Adam's placement of epsilon (after
//! the bias correction) gives results far outside the tolerance, so the test tells the two apart.

use adamant::{Error, Param, Updater};
use serde_json::json;

const ROWS: usize = 6;
const WIDTH: usize = 3;
const LR: f64 = 0.1;
const BETAS: (f64, f64) = (0.9, 0.999);
const EPS: f64 = 1e-3;

/// A float64 model of SparseAdam on a dense table.
struct Model {
    w: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    step: i32,
    /// Epsilon after the bias correction, as `torch.optim.Adam` places it (to show the
    /// difference).
    adam_eps: bool,
}

impl Model {
    fn new(w: &[f64], adam_eps: bool) -> Model {
        Model { w: w.to_vec(), m: vec![0.0; w.len()], v: vec![0.0; w.len()], step: 0, adam_eps }
    }

    fn update(&mut self, rows: &[i64], values: &[f64]) {
        self.step += 1;
        let (b1, b2) = BETAS;
        // grad.coalesce(): repeated rows summed, rows in increasing order.
        let mut coalesced: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i]);
        for i in order {
            let (row, value) = (rows[i] as usize, &values[i * WIDTH..(i + 1) * WIDTH]);
            match coalesced.last_mut() {
                Some((r, sum)) if *r == row => sum.iter_mut().zip(value).for_each(|(s, v)| *s += v),
                _ => coalesced.push((row, value.to_vec())),
            }
        }
        let (bc1, bc2) = (1.0 - b1.powi(self.step), 1.0 - b2.powi(self.step));
        let step_size = LR * bc2.sqrt() / bc1;
        for (row, grad) in coalesced {
            for (j, g) in grad.into_iter().enumerate() {
                let k = row * WIDTH + j;
                let (old_m, old_v) = (self.m[k], self.v[k]);
                let m_update = (g - old_m) * (1.0 - b1);
                let v_update = (g * g - old_v) * (1.0 - b2);
                self.m[k] += m_update;
                self.v[k] += v_update;
                self.w[k] += if self.adam_eps {
                    -(LR / bc1) * (self.m[k] / (self.v[k].sqrt() / bc2.sqrt() + EPS))
                } else {
                    -step_size * ((m_update + old_m) / ((v_update + old_v).sqrt() + EPS))
                };
            }
        }
    }
}

fn torch(lazy: bool, extra: serde_json::Value) -> Updater {
    let mut config = json!({"rule": "torch", "learning_rate": LR, "beta1": BETAS.0, "beta2": BETAS.1,
                            "epsilon": EPS, "lazy_update": lazy});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    Updater::new(adamant::create("adam", &config).unwrap())
}

/// Three steps: rows repeated and unsorted, a row listed once only, rows never listed.
fn steps() -> Vec<(Vec<i64>, Vec<f64>)> {
    let values = |n: usize, seed: f64| (0..n * WIDTH).map(|i| ((i as f64 + seed) * 0.77).sin()).collect();
    vec![(vec![4, 1, 4], values(3, 0.0)), (vec![1, 3], values(2, 5.0)), (vec![4, 1, 1, 4], values(4, 9.0))]
}

fn run(updater: &mut Updater, w0: &[f64]) -> Vec<f64> {
    let mut w = w0.to_vec();
    for (rows, values) in steps() {
        updater.update(&mut [Param::row_sparse(0, &[ROWS, WIDTH], &mut w, &rows, &values)]).unwrap();
    }
    w
}

fn max_relative_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-300)).fold(0.0, f64::max)
}

#[test]
fn the_lazy_update_under_the_torch_rule_is_sparse_adams() {
    let w0: Vec<f64> = (0..ROWS * WIDTH).map(|i| 0.5 - i as f64 * 0.05).collect();
    let (mut sparse_adam, mut adam) = (Model::new(&w0, false), Model::new(&w0, true));
    for (rows, values) in steps() {
        sparse_adam.update(&rows, &values);
        adam.update(&rows, &values);
    }
    let got = run(&mut torch(true, json!({})), &w0);

    let tolerance = 1e-14;
    let error = max_relative_difference(&got, &sparse_adam.w);
    assert!(error <= tolerance, "{error:e} from SparseAdam: {got:?} against {:?}", sparse_adam.w);
    let adams = max_relative_difference(&got, &adam.w);
    assert!(
        adams > 1e-6,
        "with eps = 1e-3 Adam's formula is {adams:e} away; the test could not tell them apart"
    );
    for row in [0, 2, 5] {
        assert_eq!(
            got[row * WIDTH..(row + 1) * WIDTH],
            w0[row * WIDTH..(row + 1) * WIDTH],
            "row {row} never listed"
        );
    }
}

#[test]
fn the_standard_update_under_the_torch_rule_is_adam_on_the_densified_gradient() {
    let w0: Vec<f64> = (0..ROWS * WIDTH).map(|i| 0.5 - i as f64 * 0.05).collect();
    let (mut standard, mut dense) = (torch(false, json!({})), torch(false, json!({})));
    let got = run(&mut standard, &w0);
    let mut w = w0.clone();
    for (rows, values) in steps() {
        let mut grad = vec![0.0; ROWS * WIDTH];
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..WIDTH {
                grad[r as usize * WIDTH + j] += values[i * WIDTH + j];
            }
        }
        dense.update(&mut [Param::dense(0, &[ROWS, WIDTH], &mut w, &grad)]).unwrap();
    }
    assert_eq!(
        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        w.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn sparse_adam_has_no_weight_decay_and_no_amsgrad() {
    let w0 = vec![0.5f64; ROWS * WIDTH];
    for (extra, what) in [(json!({"wd": 0.01}), "weight decay"), (json!({"amsgrad": true}), "amsgrad")] {
        let mut updater = torch(true, extra.clone());
        let mut w = w0.clone();
        let (rows, values) = &steps()[0];
        let err =
            updater.update(&mut [Param::row_sparse(3, &[ROWS, WIDTH], &mut w, rows, values)]).unwrap_err();
        match &err {
            Error::SparseUnsupported { index: 3, what: said } => assert!(said.starts_with(what), "{err}"),
            other => panic!("{extra}: expected SparseUnsupported, got {other}"),
        }
        assert!(err.to_string().contains("SparseAdam"), "{err}");
        assert_eq!(w, w0, "nothing changed");
        assert_eq!(updater.optimizer().base().num_update(), 0, "nothing counted");
        // The same optimizer takes dense gradients.
        let grad = vec![0.1f64; ROWS * WIDTH];
        updater.update(&mut [Param::dense(3, &[ROWS, WIDTH], &mut w, &grad)]).unwrap();
    }
}
