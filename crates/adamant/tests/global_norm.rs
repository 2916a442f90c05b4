//! Clipping by the global norm and skipping non-finite steps (`Updater::step`): the norm is the
//! same bits for every thread count and wherever the tensors sit in memory; a skipped step
//! changes nothing; clipping scales the step as clipping the gradients does.

use adamant::global_norm::{global_norm, sum_of_squares};
use adamant::half::f16;
use adamant::updater::StepOptions;
use adamant::{Param, Updater};
use serde_json::json;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

#[test]
fn the_norm_is_the_same_bits_for_every_thread_count_and_alignment() {
    let sizes = [1usize, 4095, 4096, 4097, 100_000, 3];
    let grads: Vec<Vec<f32>> = sizes.iter().enumerate().map(|(i, &n)| values(n, i as u64 + 7)).collect();
    let half: Vec<f16> = values(9000, 99).into_iter().map(f16::from_f32).collect();
    let norm_of = |grads: &[&[f32]], half: &[f16]| {
        let mut weights: Vec<Vec<f32>> = grads.iter().map(|g| vec![0.0; g.len()]).collect();
        let mut hw = vec![f16::ZERO; half.len()];
        let shapes: Vec<[usize; 1]> = grads.iter().map(|g| [g.len()]).collect();
        let mut params: Vec<Param<'_>> = weights
            .iter_mut()
            .zip(grads)
            .zip(&shapes)
            .enumerate()
            .map(|(i, ((w, g), s))| Param::dense(i, s, w, g))
            .collect();
        let half_shape = [half.len()];
        params.push(Param::dense(99, &half_shape, &mut hw, half));
        global_norm(&params).unwrap()
    };
    let aligned: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    let want = norm_of(&aligned, &half);
    // The same values one element further into their buffers: another alignment.
    let shifted: Vec<Vec<f32>> =
        grads.iter().map(|g| std::iter::once(0.0).chain(g.iter().copied()).collect()).collect();
    let misaligned: Vec<&[f32]> = shifted.iter().map(|g| &g[1..]).collect();
    for threads in 1..=4 {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for data in [&aligned, &misaligned] {
            let got = pool.install(|| norm_of(data, &half));
            assert_eq!(got.to_bits(), want.to_bits(), "{threads} threads");
        }
    }
    let exact: f64 = grads.iter().flatten().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>()
        + half.iter().map(|x| x.to_f64() * x.to_f64()).sum::<f64>();
    // float32 squares in partial sums of 128: within float32 rounding of the float64 sum.
    assert!((want - exact.sqrt()).abs() <= 1e-6 * exact.sqrt());
}

#[test]
fn a_row_sparse_gradient_counts_its_repeated_rows_summed() {
    let mut table = vec![0f32; 8];
    let params = [Param::row_sparse(0, &[4, 2], &mut table, &[1, 3, 1], &[1.0, 2.0, 5.0, 5.0, 3.0, 4.0])];
    // Row 1 is (1 + 3, 2 + 4) = (4, 6), row 3 is (5, 5).
    assert_eq!(sum_of_squares(&params).unwrap(), 16.0 + 36.0 + 25.0 + 25.0);
}

#[test]
fn a_malformed_batch_is_refused_before_the_norm_reads_it_not_skipped() {
    let options = StepOptions { clip_global_norm: Some(1.0), skip_non_finite: true };
    let mut updater = updater();
    // Four values needed (two rows of two), two given: an error, not a read past the end.
    let mut table = vec![0f32; 4];
    let err = updater.step(&mut [Param::row_sparse(0, &[2, 2], &mut table, &[0, 1], &[1.0, 2.0])], options);
    assert!(
        matches!(err, Err(adamant::Error::RowSparseValues { index: 0, listed: 2, row_len: 2, len: 2 })),
        "{err:?}"
    );
    assert!(sum_of_squares(&[Param::row_sparse(0, &[2, 2], &mut table, &[0, 1], &[1.0, 2.0])]).is_err());
    // A NaN gradient does not turn a repeated index into a skip.
    let (mut a, mut b, g) = (vec![1f32; 2], vec![1f32; 2], vec![f32::NAN, 0.5]);
    let batch = &mut [Param::dense(3, &[2], &mut a, &g), Param::dense(3, &[2], &mut b, &g)];
    let err = updater.step(batch, options);
    assert!(matches!(err, Err(adamant::Error::DuplicateIndex { index: 3 })), "{err:?}");
    assert_eq!((updater.num_update(), table, a), (0, vec![0.0; 4], vec![1.0; 2]));
}

#[test]
fn a_weight_that_no_longer_matches_its_state_is_refused_not_skipped() {
    let options = StepOptions { clip_global_norm: None, skip_non_finite: true };
    let mut updater = updater();
    let mut w = vec![0.5f32; 12];
    updater.update(&mut [Param::dense(0, &[4, 3], &mut w, &[0.1f32; 12])]).unwrap();
    let before = (updater.num_update(), w.clone(), updater.state(0).cloned());
    // The same elements in another shape, and a NaN gradient: refused as `update` refuses it.
    let g = [f32::NAN; 12];
    let err = updater.step(&mut [Param::dense(0, &[3, 4], &mut w, &g)], options);
    assert!(matches!(err, Err(adamant::Error::StateMismatch { index: 0, .. })), "{err:?}");
    // Another dtype for the same index.
    let (mut w64, g64) = (vec![0.5f64; 12], [f64::NAN; 12]);
    let err = updater.step(&mut [Param::dense(0, &[4, 3], &mut w64, &g64)], options);
    assert!(matches!(err, Err(adamant::Error::StateMismatch { index: 0, .. })), "{err:?}");
    assert_eq!((updater.num_update(), w, updater.state(0).cloned()), before);
}

#[test]
fn a_max_norm_that_is_nan_or_not_above_zero_is_refused_by_name() {
    let mut updater = updater();
    let (mut w, g) = (vec![1f32; 2], vec![0.5f32; 2]);
    for max in [f64::NAN, -1.0, 0.0, -0.0] {
        let options = StepOptions { clip_global_norm: Some(max), skip_non_finite: false };
        let err = updater.step(&mut [Param::dense(0, &[2], &mut w, &g)], options).unwrap_err();
        assert!(err.to_string().contains("clip_global_norm"), "{max}: {err}");
    }
    assert_eq!((updater.num_update(), &w), (0, &vec![1.0; 2]));
    // Infinity clips nothing.
    let options = StepOptions { clip_global_norm: Some(f64::INFINITY), skip_non_finite: false };
    assert_eq!(updater.step(&mut [Param::dense(0, &[2], &mut w, &g)], options).unwrap().factor, 1.0);
}

fn updater() -> Updater {
    let scheduler = json!({"type": "factor", "step": 1, "factor": 0.5, "base_lr": 0.1});
    Updater::new(adamant::create("adam", &json!({"lr_scheduler": scheduler})).unwrap())
}

#[test]
fn a_step_with_a_non_finite_gradient_is_skipped_and_changes_nothing() {
    let mut updater = updater();
    let (mut w, good) = (vec![1f32; 4], vec![0.5f32; 4]);
    updater.step(&mut [Param::dense(0, &[4], &mut w, &good)], StepOptions::default()).unwrap();
    let before =
        (w.clone(), updater.num_update(), updater.optimizer().learning_rate(), updater.state(0).cloned());
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let g = vec![0.5, bad, 0.5, 0.5];
        let options = StepOptions { clip_global_norm: Some(1.0), skip_non_finite: true };
        let report = updater.step(&mut [Param::dense(0, &[4], &mut w, &g)], options).unwrap();
        assert!(report.skipped, "{bad}: the caller is told");
        let now =
            (w.clone(), updater.num_update(), updater.optimizer().learning_rate(), updater.state(0).cloned());
        assert_eq!(format!("{now:?}"), format!("{before:?}"), "{bad}: something changed");
    }
}

#[test]
fn clipping_scales_the_step_as_clipping_the_gradients_does() {
    let g = values(5000, 3);
    let norm = g.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let max_norm = norm / 4.0;
    let factor = max_norm / (norm + 1e-6);
    let (mut clipped, mut by_hand) = (vec![0.25f32; 5000], vec![0.25f32; 5000]);
    let (mut a, mut b) = (updater(), updater());
    let options = StepOptions { clip_global_norm: Some(max_norm), skip_non_finite: false };
    let report = a.step(&mut [Param::dense(0, &[5000], &mut clipped, &g)], options).unwrap();
    assert!((report.factor - factor).abs() < 1e-6 * factor && !report.skipped);
    let scaled: Vec<f32> = g.iter().map(|&x| (f64::from(x) * factor) as f32).collect();
    b.update(&mut [Param::dense(0, &[5000], &mut by_hand, &scaled)]).unwrap();
    for (x, y) in clipped.iter().zip(&by_hand) {
        assert!((x - y).abs() <= 1e-6 * y.abs().max(1e-3), "{x} vs {y}");
    }
    // rescale_grad is back as it was.
    assert_eq!(a.optimizer().base().config().rescale_grad, 1.0);
    // A norm under the bound changes nothing.
    let options = StepOptions { clip_global_norm: Some(norm * 2.0), skip_non_finite: false };
    let report = a.step(&mut [Param::dense(0, &[5000], &mut clipped, &g)], options).unwrap();
    assert_eq!(report.factor, 1.0);
}
