//! Hostile and degenerate input from public bug reports against optimizer and tensor libraries:
//! each gets a typed error or the right value, never a panic, a hang or a NaN, and after an
//! error nothing has changed.

mod common;

use adamant::{
    AdamConfig, DType, Error, Grad, OptimizerConfig, Param, RowSparseRef, State, TensorMut, TensorRef,
    Updater,
};
use common::to_buffer;
use serde_json::{json, Value};

const HUGE: usize = 1 << 32;

fn updater(config: Value) -> Updater {
    Updater::new(adamant::create("adam", &config).unwrap())
}

/// Counters, `num_update` and states: what an update may change besides the weights.
type Counters = (Vec<(usize, u64)>, u64, Vec<(usize, State)>);

fn counters(updater: &Updater) -> Counters {
    let base = updater.optimizer().base();
    let states = updater.states().into_iter().map(|(i, s)| (i, s.clone())).collect();
    (base.update_counts().into_iter().collect(), base.num_update(), states)
}

const DTYPES: [DType; 4] = [DType::F16, DType::BF16, DType::F32, DType::F64];

/// For every dtype and both loops: a batch of a valid float32 parameter 0 and, as parameter
/// 1, an empty weight of `shape` with a dense gradient (or, with `rows`, a row-sparse one of
/// those rows) is refused with `expected`, and no weight, state or counter changed.
#[track_caller]
fn refused(config: Value, shape: &[usize], rows: Option<&[i64]>, expected: &Error) {
    for dtype in DTYPES {
        for fused in [true, false] {
            let mut config = config.clone();
            config["use_fused_step"] = json!(fused);
            let mut updater = updater(config);
            let (mut w0, g0) = (vec![0.5f32; 3], vec![0.25f32; 3]);
            updater.update(&mut [Param::dense(0, &[3], &mut w0, &g0)]).unwrap();
            let before = (counters(&updater), w0.clone());
            let mut w1 = to_buffer(&[], dtype);
            let values = to_buffer(&vec![0.5; rows.map_or(0, |r| 2 * r.len())], dtype);
            let grad = match rows {
                None => Grad::Dense(TensorRef { shape, data: values.as_ref() }),
                Some(row_indices) => {
                    Grad::RowSparse(RowSparseRef { shape, row_indices, values: values.as_ref() })
                }
            };
            let err = updater
                .update(&mut [
                    Param::dense(0, &[3], &mut w0, &g0),
                    Param::new(1, TensorMut { shape, data: w1.as_mut() }, grad),
                ])
                .unwrap_err();
            assert_eq!(&err, expected, "{dtype}, fused {fused}");
            assert!((counters(&updater), w0.clone()) == before, "{dtype}, fused {fused}: something changed");
        }
    }
}

fn overflow(shape: &[usize]) -> Error {
    Error::ShapeOverflow { index: 1, shape: shape.to_vec(), bits: usize::BITS }
}

#[test]
fn a_shape_whose_product_overflows_is_refused_for_dense_gradients() {
    // [2^32, 2^32] holds 2^64 elements, which a plain product wraps to 0 (matching empty data).
    for shape in [vec![HUGE, HUGE], vec![usize::MAX, 2], vec![2, 2, 1 << 62], vec![HUGE, HUGE, 1]] {
        refused(json!({}), &shape, None, &overflow(&shape));
    }
}

#[test]
fn a_row_sparse_weight_whose_shape_overflows_is_refused_lazy_and_standard() {
    // [2^63, 2] wraps to 0 elements; a gradient for row 5 once panicked (lazy) or looped
    // forever (standard, fused).
    let shape = [1usize << 63, 2];
    for lazy in [true, false] {
        refused(json!({"lazy_update": lazy}), &shape, Some(&[5]), &overflow(&shape));
        refused(json!({"lazy_update": lazy}), &[HUGE, HUGE, 2], Some(&[1, 0]), &overflow(&[HUGE, HUGE, 2]));
    }
}

#[test]
fn zero_element_shapes_with_huge_dimensions_are_fine_and_do_not_hang() {
    // A zero dimension makes any shape empty; the standard update must not walk 2^62 empty
    // rows either.
    for lazy in [true, false] {
        for fused in [true, false] {
            let mut updater = updater(json!({"lazy_update": lazy, "use_fused_step": fused}));
            let (shape, mut w, values) = ([1usize << 62, 0], Vec::<f32>::new(), Vec::<f32>::new());
            let rows = [(1i64 << 62) - 1, 5];
            updater.update(&mut [Param::row_sparse(0, &shape, &mut w, &rows, &values)]).unwrap();
            let shape = [0, 1 << 63, 1 << 63];
            updater.update(&mut [Param::dense(1, &shape, &mut w, &values)]).unwrap();
            // Row-sparse too: a table of no rows lists none, however wide a row would be.
            updater.update(&mut [Param::row_sparse(2, &shape, &mut w, &[], &values)]).unwrap();
            let err = updater.update(&mut [Param::row_sparse(3, &shape, &mut w, &[0], &values)]).unwrap_err();
            assert_eq!(err, Error::RowIndexOutOfRange { index: 3, row: 0, rows: 0 });
            assert_eq!(updater.optimizer().base().update_count(0), Some(1));
            assert_eq!(updater.optimizer().base().update_count(2), Some(1));
            assert_eq!(updater.optimizer().base().update_count(3), None, "the refused one is not counted");
        }
    }
}

#[test]
fn a_state_file_with_huge_shapes_is_refused_with_a_typed_error() {
    let mut updater = updater(json!({}));
    let (mut w, g) = (vec![1.0f32; 4], vec![0.5f32; 4]);
    updater.update(&mut [Param::dense(0, &[4], &mut w, &g)]).unwrap();
    let mut file = Vec::new();
    updater.save_to(&mut file).unwrap();
    // Rewrite the header: claim a shape of 2^64 elements for the arrays and the parameter.
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&file[8..8 + header_len]).unwrap();
    for (from, to) in
        [("[4]", "[4294967296,4294967296]"), ("\\\"shape\\\":[4]", "\\\"shape\\\":[4294967296,4294967296]")]
    {
        let forged = header.replace(from, to);
        assert_ne!(forged, header, "the header holds {from}");
        let mut bytes = (forged.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(forged.as_bytes());
        bytes.extend_from_slice(&file[8 + header_len..]);
        match Updater::load_from(&bytes[..], &[]) {
            Err(Error::StateFile { .. }) => {}
            other => panic!("{from} -> {to}: expected a state-file error, got {other:?}"),
        }
    }
}

/// The reason of an `InvalidHyperParameter` error for `name`.
#[track_caller]
fn invalid(result: Result<impl std::fmt::Debug, Error>, name: &str) -> String {
    match result {
        Err(Error::InvalidHyperParameter { name: got, reason, .. }) if got == name => reason,
        other => panic!("expected {name} to be refused, got {other:?}"),
    }
}

#[test]
fn hyper_parameters_degenerate_in_float32_are_refused_at_construction() {
    // Each of these, accepted, once turned float32 weights [1, -2] into [NaN, NaN] or froze or
    // threw them in one step.
    for (config, name, becomes) in [
        (json!({"learning_rate": 1e40}), "learning_rate", "becomes inf in float32"),
        (json!({"wd": 1e39}), "wd", "becomes inf in float32"),
        (json!({"rescale_grad": 1e39}), "rescale_grad", "becomes inf in float32"),
        (json!({"epsilon": 1e-50}), "epsilon", "becomes 0 in float32"),
        (json!({"epsilon": 0.0}), "epsilon", "must be > 0"),
        (json!({"beta2": 0.99999999}), "beta2", "becomes 1 in float32"),
        (json!({"beta1": 0.99999999}), "beta1", "becomes 1 in float32"),
        (json!({"clip_gradient": 1e-50}), "clip_gradient", "clip every gradient to 0"),
        (json!({"clip_gradient": 1e39}), "clip_gradient", "becomes inf in float32"),
        (
            json!({"lr_scheduler": {"type": "cosine", "max_update": 10, "base_lr": 1e39}}),
            "base_lr",
            "at most 3.4e38",
        ),
        (json!({"lr_scheduler": {"type": "poly", "max_update": 10, "pwr": -1}}), "pwr", ">= 0"),
    ] {
        let reason = invalid(adamant::create("adam", &config), name);
        assert!(reason.contains(becomes), "{config}: {reason}");
    }
    // The error names the value given.
    let err = adamant::create("adam", &json!({"beta2": 0.99999999})).unwrap_err().to_string();
    assert!(err.starts_with("hyper-parameter beta2 = 0.99999999: becomes 1 in float32"), "{err}");
    // Values just inside stay accepted, and MXNet's float16 arithmetic keeps its epsilon 1e-8
    // that becomes 0 in half precision on purpose.
    for config in [
        json!({"learning_rate": 3e38, "wd": 3e38, "rescale_grad": 3e38}),
        json!({"beta1": 0.9999999, "beta2": 0.9999999, "epsilon": 1.5e-45}),
        json!({"clip_gradient": 1e-45}),
        json!({"half_math": "per_op", "epsilon": 1e-8}),
    ] {
        assert!(adamant::create("adam", &config).is_ok(), "{config}");
    }
}

/// Runs one batch of a valid parameter 0 and parameter 1 under `config`; returns the result
/// and asserts that, on error, nothing changed.
fn one_batch(config: Value) -> Result<(), Error> {
    let mut updater = updater(config);
    let (mut w0, mut w1, g) = (vec![1.0f32, -2.0], vec![1.0f32, -2.0], vec![0.5f32, 0.0]);
    let result =
        updater.update(&mut [Param::dense(0, &[2], &mut w0, &g), Param::dense(1, &[2], &mut w1, &g)]);
    if result.is_err() {
        assert_eq!((w0, w1), (vec![1.0, -2.0], vec![1.0, -2.0]));
        assert_eq!(counters(&updater), (vec![], 0, vec![]), "counters or states changed");
    }
    result
}

#[test]
fn step_scalars_degenerate_in_float32_refuse_the_batch_before_anything_changes() {
    // The bias-corrected rate can exceed the rate given: with beta1 close to 1 and beta2 0,
    // sqrt(1 - beta2) / (1 - beta1) is a million at the first update.
    let reason =
        invalid(one_batch(json!({"learning_rate": 1e38, "beta1": 0.999999, "beta2": 0.0})), "learning_rate");
    assert!(reason.starts_with("parameter 0 at update 1: the bias-corrected rate"), "{reason}");
    assert!(reason.contains("becomes inf in float32"), "{reason}");
    // A multiplier can push one parameter's rate or decay out of range.
    let reason = invalid(
        one_batch(json!({"learning_rate": 1e36, "lr_mult": {"by_index": {"1": 1e10}}})),
        "learning_rate",
    );
    assert!(reason.starts_with("parameter 1 at update 1"), "{reason}");
    let reason = invalid(one_batch(json!({"wd": 1e30, "wd_mult": {"by_index": {"1": 1e10}}})), "wd");
    assert!(reason.starts_with("parameter 1 at update 1: wd * wd_mult = 1e40"), "{reason}");
    // A scheduler's rate is checked as it is reached.
    one_batch(json!({"learning_rate": 3e38, "beta1": 0.9, "beta2": 0.999})).unwrap();
}

#[test]
fn a_refused_batch_leaves_the_scheduler_and_earlier_counts_as_they_were() {
    let config = json!({
        "learning_rate": 1e36, "lr_mult": {"by_index": {"1": 1e10}},
        "lr_scheduler": {"type": "factor", "step": 1, "factor": 0.5},
    });
    let mut updater = updater(config);
    let (mut w0, mut w1, g) = (vec![1.0f32], vec![1.0f32], vec![0.5f32]);
    for _ in 0..3 {
        updater.update(&mut [Param::dense(0, &[1], &mut w0, &g)]).unwrap();
    }
    let (rate, before) = (updater.optimizer().learning_rate(), counters(&updater));
    // Parameter 1's rate is 1e46 / 2^k: refused for a while.
    let batch_err =
        updater.update(&mut [Param::dense(0, &[1], &mut w0, &g), Param::dense(1, &[1], &mut w1, &g)]);
    assert!(matches!(batch_err, Err(Error::InvalidHyperParameter { name: "learning_rate", .. })));
    assert_eq!((updater.optimizer().learning_rate(), counters(&updater)), (rate, before));
    assert_eq!(w1, [1.0]);
}

#[test]
fn poly_and_cosine_asked_first_past_max_update_give_their_final_rate() {
    let mut walked =
        adamant::CosineScheduler { base_lr: 0.1, final_lr: 0.001, ..adamant::CosineScheduler::new(1000) }
            .build()
            .unwrap();
    let walked_rate = (0..=1500).map(|n| walked.lr(n)).last().unwrap();
    let mut jumped =
        adamant::CosineScheduler { base_lr: 0.1, final_lr: 0.001, ..adamant::CosineScheduler::new(1000) }
            .build()
            .unwrap();
    assert_eq!(jumped.lr(1500), walked_rate);
    assert_eq!(walked_rate, 0.001);
    // An Adam resumed at update 1500 trains at the final rate: one float64 step on w = 1, g = 1
    // moves w by lr_t * 0.1 / sqrt(0.001) with lr_t = 0.001 * sqrt(1 - 0.999^1501) / (1 - 0.9^1501).
    let scheduler = json!({"type": "cosine", "max_update": 1000, "base_lr": 0.1, "final_lr": 0.001});
    for scheduler in
        [scheduler.clone(), json!({"type": "poly", "max_update": 1000, "base_lr": 0.1, "final_lr": 0.001})]
    {
        let mut updater = updater(json!({"lr_scheduler": scheduler, "begin_num_update": 1500}));
        let (mut w, g) = ([1.0f64], [1.0f64]);
        updater.update(&mut [Param::dense(0, &[1], &mut w, &g)]).unwrap();
        let moved = 1.0 - w[0];
        assert!((moved - 0.00279).abs() < 5e-5, "{scheduler}: moved {moved}, not 0.2788");
    }
}

#[test]
fn every_scheduler_survives_begin_num_update_near_the_counters_end() {
    for scheduler in [
        json!({"type": "factor", "step": 1, "factor": 0.9, "stop_factor_lr": 1e-6, "base_lr": 0.1}),
        json!({"type": "factor", "step": 3, "factor": 1.0, "base_lr": 0.1, "warmup_steps": 5}),
        json!({"type": "multifactor", "step": [1, 10, 1000], "factor": 0.5, "base_lr": 0.1}),
        json!({"type": "poly", "max_update": 100, "base_lr": 0.1, "final_lr": 0.01, "warmup_steps": 10}),
        json!({"type": "cosine", "max_update": 100, "base_lr": 0.1, "final_lr": 0.01}),
    ] {
        let mut updater = updater(json!({"lr_scheduler": scheduler, "begin_num_update": u64::MAX - 1}));
        let (mut w, g) = ([1.0f32], [1.0f32]);
        for _ in 0..3 {
            updater.update(&mut [Param::dense(0, &[1], &mut w, &g)]).unwrap();
        }
        let base = updater.optimizer().base();
        assert_eq!((base.num_update(), base.update_count(0)), (u64::MAX, Some(u64::MAX)), "{scheduler}");
        assert!(w[0] < 1.0 && w[0].is_finite(), "{scheduler}: {}", w[0]);
    }
}

/// Adam refuses a configuration with NaN or infinities through the Rust API too.
#[test]
fn non_finite_values_from_rust_are_refused() {
    for (config, name) in [
        (AdamConfig { epsilon: f64::NAN, ..AdamConfig::default() }, "epsilon"),
        (AdamConfig { beta1: f64::NEG_INFINITY, ..AdamConfig::default() }, "beta1"),
        (
            AdamConfig {
                base: OptimizerConfig { clip_gradient: Some(f64::NAN), ..OptimizerConfig::default() },
                ..AdamConfig::default()
            },
            "clip_gradient",
        ),
    ] {
        invalid(config.build().map(|a| a.name()), name);
    }
}
