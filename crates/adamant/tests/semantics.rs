//! The decisions of docs/semantics.md that the golden vectors do not pin down on their own.

use adamant::{Param, Updater};
use serde_json::{json, Value};

/// Updates of `w`, one per gradient in `grads`, under `config`; returns the weight's bits.
fn steps(config: Value, w: &[f32], grads: &[&[f32]]) -> Vec<u32> {
    let mut updater = Updater::new(adamant::create("adam", &config).unwrap());
    let mut w = w.to_vec();
    for g in grads {
        updater.update(&mut [Param::dense(0, &[w.len()], &mut w, g)]).unwrap();
    }
    w.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn clip_none_zero_and_negative_all_mean_off() {
    let w = [0.5f32, -1.5, 2.0, 0.0];
    // Two steps: Adam's first step is invariant to the gradient's scale, so clipping shows
    // only from the second on.
    let grads: [&[f32]; 2] = [&[3.0, -7.0, 0.01, -0.2], &[0.2, 5.0, -4.0, 0.3]];
    let off = steps(json!({"wd": 0.1}), &w, &grads);
    assert_eq!(steps(json!({"wd": 0.1, "clip_gradient": 0.0}), &w, &grads), off);
    assert_eq!(steps(json!({"wd": 0.1, "clip_gradient": -1.0}), &w, &grads), off);
    let on = steps(json!({"wd": 0.1, "clip_gradient": 0.5}), &w, &grads);
    assert_ne!(on, off, "a positive bound clips");
}

#[test]
fn an_explicit_rate_overrides_poly_and_cosine_base_rates() {
    for scheduler in [
        json!({"type": "poly", "max_update": 10, "base_lr": 3.0, "pwr": 1}),
        json!({"type": "cosine", "max_update": 10, "base_lr": 3.0}),
    ] {
        let adam =
            adamant::create("adam", &json!({"learning_rate": 0.5, "lr_scheduler": scheduler})).unwrap();
        assert_eq!(adam.learning_rate(), 0.5, "{scheduler}");
    }
    let adam =
        adamant::create("adam", &json!({"lr_scheduler": {"type": "poly", "max_update": 10, "base_lr": 3.0}}))
            .unwrap();
    assert_eq!(adam.learning_rate(), 3.0, "without a rate the scheduler's base rate applies");
}

#[test]
fn begin_num_update_starts_bias_correction_at_begin_plus_one() {
    let (beta1, beta2, lr) = (0.9f64, 0.999f64, 0.01f64);
    let w0 = [0.5f32, -0.25, 1.0];
    let g = [0.3f32, 0.1, -0.2];
    let got = steps(json!({"learning_rate": lr, "begin_num_update": 10}), &w0, &[&g]);

    // The oracle: MXNet's Python layer with t = 11, then the kernel.
    let t = 11.0;
    let lr_t = (lr * ((1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t)))) as f32;
    let (b1, b2, eps) = (beta1 as f32, beta2 as f32, 1e-8f32);
    let want: Vec<u32> = w0
        .iter()
        .zip(&g)
        .map(|(&w, &g)| {
            let (m, v) = ((1.0 - b1) * g, ((1.0 - b2) * g) * g);
            (w - (lr_t * m) / (v.sqrt() + eps)).to_bits()
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn counters_are_per_index_and_num_update_is_their_maximum() {
    let mut updater = Updater::new(adamant::create("adam", &json!({})).unwrap());
    let (mut a, mut b, g) = (vec![1.0f32; 2], vec![1.0f32; 2], vec![0.1f32; 2]);
    for _ in 0..3 {
        updater.update(&mut [Param::dense(0, &[2], &mut a, &g)]).unwrap();
    }
    updater.update(&mut [Param::dense(5, &[2], &mut b, &g)]).unwrap();
    let base = updater.optimizer().base();
    assert_eq!(base.update_counts().iter().map(|(i, c)| (*i, *c)).collect::<Vec<_>>(), [(0, 3), (5, 1)]);
    assert_eq!(base.num_update(), 3);
}
