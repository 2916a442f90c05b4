//! LAMB's norms on a tensor far larger than the golden ones: a 1,000,000-element step is the
//! plain sequential computation of MXNet's multi-tensor kernel, bit for bit, for every thread
//! count (threads share a batch's tensors, never one tensor's sums).

use adamant::{Param, Updater};
use serde_json::json;

const N: usize = 1_000_000;

fn data() -> (Vec<f32>, Vec<f32>) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let w: Vec<f32> = (0..N).map(|_| next()).collect();
    let g: Vec<f32> = (0..N).map(|_| next() * 1e-2).collect();
    (w, g)
}

/// MXNet's `_multi_lamb_update` on one float32 tensor at its first step, written out.
fn sequential(w: &[f32], g: &[f32], lr: f32, wd: f32) -> Vec<f32> {
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-6f32);
    let (c1, c2) = (1.0 - beta1.powf(1.0), 1.0 - beta2.powf(1.0));
    let mut d = vec![0f32; w.len()];
    let (mut s1, mut s2) = (0f32, 0f32);
    for k in 0..w.len() {
        let m = beta1 * 0.0 + (1.0 - beta1) * g[k];
        let v = beta2 * 0.0 + ((1.0 - beta2) * g[k]) * g[k];
        let u = f64::from(m / c1) / (f64::from(v / c2).sqrt() + f64::from(eps)) + f64::from(wd * w[k]);
        d[k] = u as f32;
        s1 += w[k] * w[k];
        s2 += d[k] * d[k];
    }
    let r = s1.sqrt() / s2.sqrt();
    w.iter().zip(&d).map(|(&w, &d)| w - (lr * r) * d).collect()
}

#[test]
fn a_million_element_step_is_the_sequential_kernel_for_every_thread_count() {
    let (w0, g) = data();
    let want = sequential(&w0, &g, 0.01, 0.01);
    for threads in 1..=4 {
        let lamb = adamant::create("lamb", &json!({"learning_rate": 0.01, "wd": 0.01})).unwrap();
        let mut updater = Updater::new(lamb);
        updater.set_threads(threads).unwrap();
        let mut w = w0.clone();
        // Three more tensors in the batch, so that threads have other tensors to take.
        let mut others = [w0[..1000].to_vec(), w0[..5000].to_vec(), w0[..7].to_vec()];
        let grads = [g[..1000].to_vec(), g[..5000].to_vec(), g[..7].to_vec()];
        let shapes = [[1000], [5000], [7]];
        let mut params = vec![Param::dense(0, &[N], &mut w, &g)];
        for (i, ((o, gr), shape)) in others.iter_mut().zip(&grads).zip(&shapes).enumerate() {
            params.push(Param::dense(i + 1, shape, o, gr));
        }
        updater.update(&mut params).unwrap();
        drop(params);
        let differs = w.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(differs, None, "{threads} threads: element {differs:?} differs");
    }
}

#[test]
fn a_resumed_lamb_run_equals_one_that_never_stopped() {
    use adamant::{DType, ParamSpec};
    let (w0, g) = data();
    let (w0, g) = (&w0[..300], &g[..300]);
    for config in [
        json!({"lamb_kernel": "multi", "lower_bound": 0.1, "upper_bound": 10.0}),
        json!({"lamb_kernel": "phase", "bias_correction": false, "wd": 0.01}),
    ] {
        let step = |updater: &mut Updater, w: &mut Vec<f32>, s: usize| {
            let grad: Vec<f32> = g.iter().map(|x| x * (s as f32 + 1.0)).collect();
            updater.update(&mut [Param::dense(0, &[300], w, &grad)]).unwrap();
        };
        let (mut straight, mut stopped) = (w0.to_vec(), w0.to_vec());
        let mut a = Updater::new(adamant::create("lamb", &config).unwrap());
        let mut b = Updater::new(adamant::create("lamb", &config).unwrap());
        for s in 0..5 {
            step(&mut a, &mut straight, s);
        }
        for s in 0..2 {
            step(&mut b, &mut stopped, s);
        }
        let mut file = Vec::new();
        b.save_to(&mut file).unwrap();
        let mut b =
            Updater::load_from(&file[..], &[ParamSpec { index: 0, shape: &[300], dtype: DType::F32 }])
                .unwrap();
        for s in 2..5 {
            step(&mut b, &mut stopped, s);
        }
        assert_eq!(
            straight.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            stopped.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{config}"
        );
    }
}

#[test]
fn what_lamb_cannot_step_is_refused_with_the_reason() {
    let mut updater = Updater::new(adamant::create("lamb", &json!({})).unwrap());
    let mut table = vec![0f32; 8];
    let err = updater
        .update(&mut [Param::row_sparse(0, &[4, 2], &mut table, &[1], &[1.0, 1.0])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("dense gradients only"), "{err}");
    let mut half = vec![adamant::half::f16::ONE; 4];
    let g = vec![adamant::half::f16::ONE; 4];
    let err = updater.update(&mut [Param::dense(1, &[4], &mut half, &g)]).unwrap_err().to_string();
    assert!(err.contains("multi_precision"), "{err}");
    let err = adamant::create("lamb", &json!({"lamb_kernel": "phase", "multi_precision": true})).unwrap_err();
    assert!(err.to_string().contains("never updates the master copy"), "{err}");
    assert_eq!(updater.num_update(), 0);
}
